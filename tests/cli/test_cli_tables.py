"""Listings at 80-100 columns: every shown cell whole (never ``0.…``), columns hidden with a note
when they do not fit, ``--columns`` and ``--output json|csv`` on list commands."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

import pytest

import shipyard

if TYPE_CHECKING:
    from tests.cli.conftest import Cli


@pytest.fixture
def wide(shipyard_home: object) -> list[str]:
    """Six runs, each with eight long-named metrics of full-precision values and five params."""
    shipyard.set_experiment("wide")
    ids = []
    for i in range(6):
        with shipyard.start_run(run_name=f"sweep-candidate-{i}") as run:
            shipyard.log_params({f"param_number_{j}": j * 1.5 + i for j in range(5)})
            shipyard.log_metrics({f"validation_metric_{j}": 0.123456789 * (j + 1) + i for j in range(8)})
            ids.append(run.info.run_id)
    client = shipyard.Client()
    client.create_registered_model("m")
    client.create_model_version("m", source=f"runs:/{ids[0]}/model", run_id=ids[0])
    for n in range(3):
        client.create_deployment(f"deployment-with-a-long-name-{n}",
                                 routes=[{"model": "m", "version": 1, "weight": 90}],
                                 description="a long description that has to wrap " * 3)
    return ids


@pytest.mark.parametrize("columns", ["80", "100"])
@pytest.mark.parametrize("argv", [["runs", "list"], ["deployments", "list"], ["experiments", "list"],
                                  ["models", "versions", "m"]])
def test_tables_fit_and_no_cell_is_cut(cli: Cli, wide: list[str], monkeypatch: pytest.MonkeyPatch,
                                       columns: str, argv: list[str]) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    result = cli(*argv)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines and all(len(line) <= int(columns) for line in lines)
    assert "…" not in result.out
    if argv[:2] == ["runs", "list"]:
        for run_id in wide:  # every id whole, on one line
            assert any(run_id in line for line in lines)
        # the first metric fits beside the ids and names, and its values are whole
        assert "5.12346" in result.out and "0.123457" in result.out
        assert "hidden to fit" in result.err and "--columns" in result.err and "param_number_2" in result.err


def test_runs_list_columns_and_csv(cli: Cli, wide: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    result = cli("runs", "list", "--columns", "name,metrics.validation_metric_7")
    assert result.code == 0 and "hidden" not in result.err
    assert "Run ID" not in result.out and "sweep-candidate-5" in result.out and "5.98765" in result.out
    rows = list(csv.DictReader(io.StringIO(cli("runs", "list", "--output", "csv").out)))
    assert len(rows) == 6 and {r["Run ID"] for r in rows} == set(wide)
    first = next(r for r in rows if r["Name"] == "sweep-candidate-0")
    # every metric and param, raw values (not rounded for display)
    assert float(first["metrics.validation_metric_7"]) == pytest.approx(0.123456789 * 8)
    assert sum(k.startswith("metrics.") for k in first) == 8 and sum(k.startswith("params.") for k in first) == 5
    picked = cli("runs", "list", "-o", "json", "--columns", "Name,Status").json()
    assert sorted(picked, key=lambda r: r["Name"])[0] == {"Name": "sweep-candidate-0", "Status": "FINISHED"}
    bad = cli("runs", "list", "--columns", "nope")
    assert bad.code == 1 and "no column 'nope'" in bad.err and "metrics.validation_metric_0" in bad.err


def test_every_list_command_takes_output_and_columns() -> None:
    from shipyard.cli import build_parser

    parser = build_parser()
    for argv in (["runs", "list"], ["experiments", "list"], ["models", "list"], ["models", "versions", "m"],
                 ["deployments", "list"], ["deployments", "history", "d"], ["pipelines", "list"],
                 ["pipelines", "runs"], ["tokens", "list"], ["monitors", "list"], ["monitors", "results", "m"],
                 ["monitors", "alerts"], ["policies", "list"], ["policies", "history", "p"], ["features", "list"]):
        args = parser.parse_args([*argv, "--output", "csv", "--columns", "a"])
        assert args.output == "csv" and args.columns == "a"


@pytest.mark.parametrize("columns", ["80", "100"])
def test_history_and_alert_listings_fit_and_export(cli: Cli, wide: list[str], monkeypatch: pytest.MonkeyPatch,
                                                   columns: str) -> None:
    from shipyard.entities import Alert, PolicyEvent, Route

    client = shipyard.Client()
    name = "deployment-with-a-long-name-0"
    client.store.update_deployment(name, routes=[Route("m", 1, 50.0)], created_by="alice",
                                   reason="halve the traffic while the new features are checked " * 2)
    client.store.add_policy_event(PolicyEvent("nightly-retrain", name, "gate_rejected",
                                              message="roc_auc 0.812345 is below the champion's 0.823456"))
    client.store.create_monitor("mon", name, {"window": {"rows": 100}, "checks": {}})
    client.store.open_alert(Alert("", "mon", "performance.roc_auc", "m", 1, "OPEN", 1_767_225_600_000, value=0.712345,
                                  threshold=0.75, message="roc_auc = 0.712345, below the minimum 0.75"))
    monkeypatch.setenv("COLUMNS", columns)
    for argv, whole in ((["deployments", "history", name], ["alice", "m v1"]),
                        (["policies", "history", "nightly-retrain"], ["gate_rejected", "0.812345"]),
                        (["monitors", "alerts"], ["performance.roc_auc", "0.712345"])):
        result = cli(*argv)
        assert result.code == 0, result.err
        assert all(len(line) <= int(columns) for line in result.out.splitlines()), argv
        assert "…" not in result.out and all(text in result.out for text in whole), (argv, result.out)
    rows = list(csv.DictReader(io.StringIO(cli("deployments", "history", name, "-o", "csv").out)))
    assert [r["Revision"] for r in rows] == ["2", "1"] and rows[0]["By"] == "alice"
    assert cli("monitors", "alerts", "-o", "json", "--columns", "Check,State").json() == [
        {"Check": "performance.roc_auc", "State": "OPEN"}]
    picked = cli("policies", "history", "nightly-retrain", "--columns", "event")
    assert picked.code == 0 and "gate_rejected" in picked.out and "0.812345" not in picked.out
