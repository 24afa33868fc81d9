from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

import shipyard

if TYPE_CHECKING:
    from pathlib import Path

    from tests.cli.conftest import Cli, Data


def test_list_json(cli: Cli, data: Data) -> None:
    result = cli("runs", "list", "--json")
    assert result.code == 0
    runs = {r["run_name"]: r for r in result.json()}
    assert set(runs) == {"rf-1", "rf-2"}
    rf1 = runs["rf-1"]
    assert rf1["run_id"] == data.run_ids[0]
    assert rf1["experiment_id"] == data.experiment_id
    assert rf1["status"] == "FINISHED"
    assert rf1["metrics"] == {"loss": 0.3}
    assert rf1["params"] == {"max_depth": "4", "model": "rf"}
    assert rf1["tags"]["team"] == "growth"
    assert rf1["duration_ms"] == rf1["end_time"] - rf1["start_time"]
    assert [d["name"] for d in rf1["datasets"]] == ["train-set"]
    assert "profile" not in rf1["datasets"][0]


def test_list_table(cli: Cli, data: Data) -> None:
    result = cli("runs", "list")
    assert result.code == 0
    header = result.out.splitlines()[0]
    for column in ("Run ID", "Name", "Status", "Start time", "Duration", "metrics.loss", "params.max_depth",
                   "params.model"):
        assert column in header
    lines = {line.split()[0]: line for line in result.out.splitlines()[2:]}
    assert set(lines) == set(data.run_ids)
    assert lines[data.run_ids[1]].split()[1:3] == ["rf-2", "FINISHED"]
    assert "0.1" in lines[data.run_ids[1]].split()
    assert "8" in lines[data.run_ids[1]].split()


def test_filter_order_and_max_results(cli: Cli, data: Data) -> None:
    only = cli("runs", "list", "--experiment", "churn", "--filter", "metrics.loss < 0.2", "--json").json()
    assert [r["run_name"] for r in only] == ["rf-2"]
    ordered = cli("runs", "list", "--order-by", "metrics.loss DESC", "--json").json()
    assert [r["run_name"] for r in ordered] == ["rf-1", "rf-2"]
    ordered = cli("runs", "list", "--order-by", "metrics.loss ASC", "--json").json()
    assert [r["run_name"] for r in ordered] == ["rf-2", "rf-1"]
    first = cli("runs", "list", "--order-by", "params.max_depth", "--max-results", "1", "--json")
    assert [r["run_name"] for r in first.json()] == ["rf-1"]
    assert "more match" in first.err


def test_experiment_by_id_and_other_experiments(cli: Cli, data: Data) -> None:
    shipyard.set_experiment("other")
    with shipyard.start_run(run_name="elsewhere"):
        pass
    by_id = cli("runs", "list", "--experiment-id", data.experiment_id, "--json").json()
    assert {r["run_name"] for r in by_id} == {"rf-1", "rf-2"}
    by_name = cli("runs", "list", "--experiment", "other", "--json").json()
    assert [r["run_name"] for r in by_name] == ["elsewhere"]
    everything = cli("runs", "list", "--json").json()
    assert {r["run_name"] for r in everything} == {"rf-1", "rf-2", "elsewhere"}


def test_list_on_an_empty_store(cli: Cli, empty_store: Path) -> None:
    result = cli("runs", "list", "--json")
    assert result.code == 0
    assert result.json() == []


@pytest.mark.parametrize(("argv", "message"), [
    (["--experiment", "nope"], "error: experiment 'nope' not found"),
    (["--experiment-id", "f" * 32], "error: experiment"),
    (["--filter", "metrics.loss <<< 1"], "error: "),
    (["--order-by", "metrics.loss SIDEWAYS"], "error: "),
])
def test_list_errors(cli: Cli, data: Data, argv: list[str], message: str) -> None:
    result = cli("runs", "list", *argv, "--json")
    assert result.code == 1
    assert result.out == ""
    assert result.err.startswith(message)
    assert "Traceback" not in result.err


def test_malformed_filter_points_at_the_problem(cli: Cli, data: Data) -> None:
    result = cli("runs", "list", "--filter", "metrics.loss >>")
    assert result.code == 1
    assert "position" in result.err
    assert "metrics.loss >>" in result.err


def test_show_json(cli: Cli, data: Data) -> None:
    result = cli("runs", "show", data.run_ids[1], "--json")
    assert result.code == 0
    run = result.json()
    assert run["run_id"] == data.run_ids[1]
    assert run["run_name"] == "rf-2"
    assert run["metrics"] == {"loss": 0.1}
    assert run["params"] == {"max_depth": "8", "model": "rf"}
    (dataset,) = run["datasets"]
    assert dataset["name"] == "train-set"
    assert dataset["num_rows"] == 10
    assert dataset["context"] == "training"
    assert dataset["schema"] == [{"name": "age", "dtype": "int64"}]


def test_show_table(cli: Cli, data: Data) -> None:
    result = cli("runs", "show", data.run_ids[0])
    assert result.code == 0
    out = result.out
    for expected in (data.run_ids[0], "rf-1", "FINISHED", f"churn ({data.experiment_id})", "Params",
                     "max_depth", "Metrics", "loss", "0.3", "Tags", "growth", "Datasets", "train-set", "training"):
        assert expected in out


def test_show_unknown_run(cli: Cli, empty_store: Path) -> None:
    result = cli("runs", "show", "0" * 32)
    assert result.code == 1
    assert result.out == ""
    assert result.err.startswith(f"error: run '{'0' * 32}' not found")
