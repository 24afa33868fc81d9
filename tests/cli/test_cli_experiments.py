from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.cli.conftest import Cli



def test_create_prints_the_id_and_list_shows_it(cli: Cli) -> None:
    created = cli("experiments", "create", "churn", "--artifact-location", "/data/churn")
    assert created.code == 0
    experiment_id = created.out.strip()
    assert len(experiment_id) == 32

    listed = cli("experiments", "list", "--json")
    assert listed.code == 0
    (only,) = listed.json()
    assert only["experiment_id"] == experiment_id
    assert only["name"] == "churn"
    assert only["artifact_location"] == "/data/churn"
    assert only["lifecycle_stage"] == "active"

    table = cli("experiments", "list")
    assert experiment_id in table.out
    assert "churn" in table.out
    assert "/data/churn" in table.out


def test_list_all_includes_deleted(cli: Cli) -> None:
    import shipyard

    keep = cli("experiments", "create", "keep").out.strip()
    gone = cli("experiments", "create", "gone").out.strip()
    shipyard.Client().delete_experiment(gone)
    assert [e["experiment_id"] for e in cli("experiments", "list", "--json").json()] == [keep]
    listed = cli("experiments", "list", "--all", "--json").json()
    everything = {e["experiment_id"]: e["lifecycle_stage"] for e in listed}
    assert everything == {keep: "active", gone: "deleted"}
    assert "deleted" in cli("experiments", "list", "--all").out


def test_create_twice_is_an_error(cli: Cli) -> None:
    assert cli("experiments", "create", "churn").code == 0
    again = cli("experiments", "create", "churn")
    assert again.code == 1
    assert again.out == ""
    assert again.err.startswith("error: ")
    assert "churn" in again.err


def test_create_json(cli: Cli) -> None:
    result = cli("experiments", "create", "churn", "--json").json()
    assert result["name"] == "churn"
    assert len(result["experiment_id"]) == 32
