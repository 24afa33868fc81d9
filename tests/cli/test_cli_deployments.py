"""``shipyard deployments``: create, update (only what is given), list, show, history, rollback."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

import pytest

import shipyard
from shipyard.cli._deployments import route_spec

if TYPE_CHECKING:
    from tests.cli.conftest import Cli, Data


@pytest.mark.parametrize(("text", "spec"), [
    ("churn:3", {"model": "churn", "version": 3}),
    ("churn:3:90", {"model": "churn", "version": 3, "weight": 90.0}),
    ("churn@challenger", {"model": "churn", "alias": "challenger"}),
    ("churn@challenger:10", {"model": "churn", "alias": "challenger", "weight": 10.0}),
])
def test_route_spec(text: str, spec: dict[str, object]) -> None:
    assert route_spec(text) == spec


@pytest.mark.parametrize("text", ["churn", "churn:x", "churn:1:ten", "churn:1:2:3", ":1", "churn@", "@a:1"])
def test_bad_route_spec(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="route"):
        route_spec(text)


def test_create_with_canary_shadow_and_batching(cli: Cli, data: Data) -> None:
    shipyard.Client().set_registered_model_alias("churn", "challenger", 2)
    result = cli("deployments", "create", "churn-api", "--route", "churn:1:90", "--route", "churn@challenger:10",
                 "--shadow", "churn:2", "--max-batch-size", "32", "--max-wait-ms", "2", "--reason", "first",
                 "--by", "ana", "--description", "churn scores", "--json")
    assert result.code == 0, result.err
    made = result.json()
    assert made["name"] == "churn-api"
    assert made["revision"] == 1
    current = made["current"]
    assert [(r["model"], r["version"], r["weight"], r["alias"]) for r in current["routes"]] == [
        ("churn", 1, 90.0, None), ("churn", 2, 10.0, "challenger")]
    assert [(r["model"], r["version"]) for r in current["shadow"]] == [("churn", 2)]
    assert current["batching"] == {"max_batch_size": 32, "max_wait_ms": 2}
    assert (current["created_by"], current["reason"]) == ("ana", "first")

    deployment = shipyard.Client().get_deployment("churn-api")
    assert [r.version for r in deployment.current.routes] == [1, 2]
    assert deployment.description == "churn scores"


def test_create_prints_a_line(cli: Cli, data: Data) -> None:
    result = cli("deployments", "create", "api", "--route", "churn:1:90", "--route", "churn:2:10")
    assert result.code == 0, result.err
    assert "created deployment api: revision 1: churn v1 90%, churn v2 10%" in result.out


def test_create_errors(cli: Cli, data: Data) -> None:
    assert cli("deployments", "create", "api").code == 2  # --route is required
    missing = cli("deployments", "create", "api", "--route", "churn:9")
    assert missing.code == 1
    assert missing.err.startswith("error:")
    assert "Traceback" not in missing.err
    unknown_alias = cli("deployments", "create", "api", "--route", "churn@nope")
    assert unknown_alias.code == 1
    assert cli("deployments", "create", "api", "--route", "churn:1").code == 0
    again = cli("deployments", "create", "api", "--route", "churn:1")
    assert again.code == 1
    assert "api" in again.err


def test_update_changes_only_what_is_given(cli: Cli, data: Data) -> None:
    assert cli("deployments", "create", "api", "--route", "churn:1", "--shadow", "churn:2",
               "--max-batch-size", "16").code == 0
    result = cli("deployments", "update", "api", "--max-wait-ms", "5", "--reason", "wait longer", "--json")
    assert result.code == 0, result.err
    current = result.json()["current"]
    assert result.json()["revision"] == 2
    assert current["batching"] == {"max_batch_size": 16, "max_wait_ms": 5}
    assert [(r["version"], r["weight"]) for r in current["routes"]] == [(1, 100.0)]
    assert [r["version"] for r in current["shadow"]] == [2]

    split = cli("deployments", "update", "api", "--route", "churn:1:50", "--route", "churn:2:50", "--json").json()
    assert [(r["version"], r["weight"]) for r in split["current"]["routes"]] == [(1, 50.0), (2, 50.0)]
    assert [r["version"] for r in split["current"]["shadow"]] == [2]
    unshadowed = cli("deployments", "update", "api", "--no-shadow", "--json").json()
    assert unshadowed["current"]["shadow"] == []
    assert unshadowed["revision"] == 4


def test_update_needs_a_change_and_an_existing_deployment(cli: Cli, data: Data) -> None:
    missing = cli("deployments", "update", "nope", "--route", "churn:1")
    assert missing.code == 1
    assert "nope" in missing.err
    assert cli("deployments", "create", "api", "--route", "churn:1").code == 0
    nothing = cli("deployments", "update", "api")
    assert nothing.code == 1
    assert "nothing to change" in nothing.err


def test_list_show_history_and_rollback(cli: Cli, data: Data) -> None:
    assert cli("deployments", "list", "--json").json() == []
    assert "no deployments" in cli("deployments", "list").err
    assert cli("deployments", "create", "api", "--route", "churn:1", "--description", "scores").code == 0
    assert cli("deployments", "update", "api", "--route", "churn:1:90", "--route", "churn:2:10",
               "--reason", "canary").code == 0

    (listed,) = cli("deployments", "list", "--json").json()
    assert (listed["name"], listed["revision"]) == ("api", 2)
    table = cli("deployments", "list").out
    (row,) = [line for line in table.splitlines() if line.split()[:1] == ["api"]]
    assert "churn v1 90%, churn v2 10%" in row
    assert "scores" in row

    shown = cli("deployments", "show", "api", "--json").json()
    assert [r["version"] for r in shown["current"]["routes"]] == [1, 2]
    page = cli("deployments", "show", "api").out
    assert "Deployment api" in page
    assert "canary" in page

    rolled = cli("deployments", "rollback", "api", "--reason", "v2 is worse", "--by", "bo")
    assert rolled.code == 0, rolled.err
    assert "rolled back deployment api: revision 3 (a copy of revision 1): churn v1" in rolled.out
    current = shipyard.Client().get_deployment("api").current
    assert (current.revision, current.rollback_of, current.created_by) == (3, 1, "bo")
    assert [r.version for r in current.routes] == [1]

    history = cli("deployments", "history", "api", "--json").json()
    assert [h["revision"] for h in history] == [3, 2, 1]
    assert history[0]["reason"] == "v2 is worse"
    assert history[0]["rollback_of"] == 1
    text = cli("deployments", "history", "api").out
    assert "rollback to 1: v2 is worse" in text


def test_rollback_without_a_previous_revision_and_unknown_names(cli: Cli, data: Data) -> None:
    assert cli("deployments", "create", "api", "--route", "churn:1").code == 0
    first = cli("deployments", "rollback", "api")
    assert first.code == 1
    assert first.err.startswith("error:")
    for verb in ("show", "history", "rollback"):
        result = cli("deployments", verb, "nope")
        assert result.code == 1, verb
        assert "nope" in result.err


def test_serve_refuses_before_listening(cli: Cli, data: Data) -> None:
    """Usage mistakes and unknown deployments are errors before any port is bound."""
    nothing = cli("serve")
    assert nothing.code == 1
    assert "name the deployments to serve" in nothing.err
    both = cli("serve", "api", "--all")
    assert both.code == 1
    unknown = cli("serve", "nope", "--port", "0")
    assert unknown.code == 1
    assert "nope" in unknown.err
    assert "Traceback" not in unknown.err
    assert cli("serve", "--port", "70000").code == 2
    assert cli("serve", "api", "--workers", "0").code == 2
