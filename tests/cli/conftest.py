"""Run ``shipyard`` in-process against the per-test store of the root conftest's ``shipyard_home``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

import shipyard
from shipyard.cli import main


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return orjson.loads(self.out)


Cli = Callable[..., Result]


@pytest.fixture
def cli(shipyard_home: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    def run(*argv: str) -> Result:
        capsys.readouterr()  # drop anything printed while the test set up its data
        code = main(list(argv))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def empty_store(shipyard_home: Path) -> Path:
    """The per-test store, created and empty (read commands refuse a store that does not exist)."""
    shipyard.Client().store  # opening a SQLite store creates it  # noqa: B018
    return shipyard_home


@dataclass
class Data:
    experiment_id: str
    run_ids: list[str]  # rf-1 (loss 0.3), rf-2 (loss 0.1)


@pytest.fixture
def data(shipyard_home: Path) -> Data:
    """Experiment ``churn`` with two finished runs and model ``churn`` with versions 1 and 2."""
    import numpy as np

    shipyard.set_experiment("churn")
    run_ids = []
    for name, loss, depth in (("rf-1", 0.3, 4), ("rf-2", 0.1, 8)):
        with shipyard.start_run(run_name=name) as run:
            shipyard.log_params({"max_depth": depth, "model": "rf"})
            shipyard.log_metric("loss", loss)
            shipyard.set_tag("team", "growth")
            shipyard.log_input({"age": np.arange(10)}, name="train-set", profile=False)
            run_ids.append(run.info.run_id)
    client = shipyard.Client()
    client.create_registered_model("churn", description="churn classifier")
    for run_id in run_ids:
        client.create_model_version("churn", source=f"runs:/{run_id}/model", run_id=run_id)
    experiment = client.get_experiment_by_name("churn")
    assert experiment is not None
    return Data(experiment.experiment_id, run_ids)
