from __future__ import annotations

from typing import TYPE_CHECKING

import shipyard

if TYPE_CHECKING:
    from pathlib import Path

    from tests.cli.conftest import Cli, Data


def test_list_json_and_table(cli: Cli, data: Data) -> None:
    shipyard.Client().set_registered_model_alias("churn", "champion", 1)
    result = cli("models", "list", "--json")
    assert result.code == 0
    (model,) = result.json()
    assert model["name"] == "churn"
    assert model["description"] == "churn classifier"
    assert model["aliases"] == {"champion": 1}
    assert 2 in [v["version"] for v in model["latest_versions"]]

    table = cli("models", "list")
    (row,) = [line for line in table.out.splitlines() if line.split()[:1] == ["churn"]]
    assert row.split()[1] == "2"
    assert "champion->v1" in row
    assert "churn classifier" in row


def test_list_empty(cli: Cli, empty_store: Path) -> None:
    assert cli("models", "list", "--json").json() == []


def test_versions(cli: Cli, data: Data) -> None:
    result = cli("models", "versions", "churn", "--json")
    assert result.code == 0
    versions = {v["version"]: v for v in result.json()}
    assert set(versions) == {1, 2}
    assert versions[1]["run_id"] == data.run_ids[0]
    assert versions[2]["source"] == f"runs:/{data.run_ids[1]}/model"
    assert versions[2]["status"] == "READY"

    table = cli("models", "versions", "churn").out
    assert f"runs:/{data.run_ids[0]}/model" in table
    assert data.run_ids[1] in table


def test_alias_set_show_and_delete(cli: Cli, data: Data) -> None:
    first = cli("models", "alias", "set", "churn", "champion", "1", "--reason", "first deploy")
    assert first.code == 0
    assert "churn@champion -> version 1" in first.out
    moved = cli("models", "alias", "set", "churn", "champion", "2", "--reason", "better loss", "--json")
    assert moved.json() == {"name": "churn", "alias": "champion", "version": 2, "previous_version": 1}
    assert shipyard.Client().get_model_version_by_alias("churn", "champion").version == 2

    shown = cli("models", "show", "churn", "--json").json()
    assert shown["aliases"] == {"champion": 2}
    assert [v["version"] for v in shown["versions"]] == [2, 1]
    assert [(e["alias"], e["previous_version"], e["version"], e["reason"]) for e in shown["alias_history"]] == [
        ("champion", None, 1, "first deploy"), ("champion", 1, 2, "better loss")]

    table = cli("models", "show", "churn").out
    for expected in ("churn classifier", "Aliases", "champion", "Versions", data.run_ids[0], "Alias history",
                     "better loss"):
        assert expected in table

    deleted = cli("models", "alias", "delete", "churn", "champion")
    assert deleted.code == 0
    assert "deleted churn@champion (was version 2)" in deleted.out
    assert cli("models", "show", "churn", "--json").json()["aliases"] == {}


def test_alias_to_a_missing_version(cli: Cli, data: Data) -> None:
    result = cli("models", "alias", "set", "churn", "champion", "9")
    assert result.code == 1
    assert result.err.startswith("error: model 'churn' has no version 9")
    assert cli("models", "show", "churn", "--json").json()["aliases"] == {}


def test_alias_to_a_version_that_is_not_a_number(cli: Cli, data: Data) -> None:
    result = cli("models", "alias", "set", "churn", "champion", "two")
    assert result.code == 1
    assert result.err.startswith("error: ")


def test_unknown_model_and_alias(cli: Cli, data: Data) -> None:
    for argv in (["show", "nope"], ["versions", "nope"], ["alias", "set", "nope", "champion", "1"]):
        result = cli("models", *argv)
        assert result.code == 1, argv
        assert result.err.startswith("error: registered model 'nope' not found"), argv
    missing = cli("models", "alias", "delete", "churn", "champion")
    assert missing.code == 1
    assert missing.err.startswith("error: model 'churn' has no alias 'champion'")
