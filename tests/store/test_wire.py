"""Entities survive the trip to JSON and back exactly: what RestStore returns equals what SqlStore did."""

from __future__ import annotations

import math

import orjson
import pytest

from shipyard import entities as e
from shipyard.store._wire import from_wire, to_wire

SAMPLES = [
    e.Experiment("e1", "churn", "/art/e1", "deleted", {"team": "x"}, 1, 2),
    e.Run(e.RunInfo("r" * 32, "e1", "rf", "FINISHED", 5, None, "/art/e1/r/artifacts", parent_run_id="p"),
          e.RunData({"loss": 0.25, "nan": math.inf, "neg": -math.inf, "zero": -0.0, "big": 1e308},
                    {"lr": "0.1"}, {"t": "v"}),
          e.RunInputs([e.DatasetInput("train", "abc", "training", "s3://x", 10, [{"name": "x", "dtype": "f8"}],
                                      {"columns": {"x": {"mean": 1.5}}}, "y")])),
    e.Metric("m", 0.5, 10, 3),
    e.ModelVersion("churn", 3, "runs:/r/model", "r", 1, 2, "d", "READY", {"k": "v"}, ["champion"], True),
    e.RegisteredModel("churn", 1, 2, "d", {"k": "v"}, {"champion": 3},
                      [e.ModelVersion("churn", 3, "/m", None, 1, 2)]),
    e.AliasEvent("churn", "champion", None, 2, 5, "retired"),
    e.Deployment("api", e.DeploymentRevision("api", 2, [e.Route("churn", 1, 90.0), e.Route("churn", 2, 10, "c")],
                                             [e.Route("churn", 3, 100.0)], {"max_batch_size": 8}, 5, "ann", "why", 1),
                 1, 5, "desc"),
    e.Feedback("api", "req-1", {"y": [1, 2]}, 7),
    e.PipelineRun("p" * 32, "etl", "FAILED", {"day": "2026-01-01", "n": 3}, 1, "schedule", 5, 6, 7, True, "boom",
                  [e.TaskRun("p" * 32, "train[2]", "train", "FAILED", 2, 1, 2, "E", "user", "tb", "logs", "k" * 64,
                             "/art/out", "r" * 32)]),
    e.Monitor("m", "api", {"window": {"rows": 100}, "schedule": "every 10m"}, 1, 2, "d"),
    e.MonitorResult("m", 5, "churn", 1, "alert", 10, 5, 1, 5,
                    [e.CheckResult("a", "p_value", 0.01, 0.05, "min", False, None, "chisquare", 12.5, {"x": [1]})],
                    [{"column": "x", "statistic": 0.3}], "id"),
    e.Alert("a" * 32, "m", "performance.accuracy", "churn", 1, "OPEN", 5, math.nan, 0.75, "low", None, "",
            [{"channel": "log", "ok": True}]),
]


@pytest.mark.parametrize("entity", SAMPLES, ids=lambda x: type(x).__name__)
def test_every_entity_round_trips_through_json(entity: object) -> None:
    wire = orjson.loads(orjson.dumps(to_wire(entity)))
    back = from_wire(type(entity), wire)
    if isinstance(entity, e.Alert):  # NaN != NaN: compare the rest, and the NaN as NaN
        assert math.isnan(back.value) and back.threshold == 0.75 and back.deliveries == entity.deliveries
    else:
        assert back == entity
    if isinstance(entity, e.Run):
        assert math.copysign(1, back.data.metrics["zero"]) == -1  # -0.0 stays negative


def test_non_finite_floats_travel_as_strings_and_free_form_data_as_json() -> None:
    wire = to_wire(e.RunData({"a": math.nan, "b": math.inf, "c": -math.inf, "d": 1.0}))
    assert wire["metrics"] == {"a": "NaN", "b": "Infinity", "c": "-Infinity", "d": 1.0}
    assert math.isnan(from_wire(e.RunData, wire).metrics["a"])
    # free-form dicts are left to JSON (NaN -> null, as the SQL store keeps them)
    assert orjson.loads(orjson.dumps(to_wire(e.Monitor("m", "d", {"x": math.nan}))))["spec"] == {"x": None}


def test_artifact_locations_are_mapped_both_ways() -> None:
    run = SAMPLES[1]
    wire = to_wire(run, lambda uri: "shipyard-artifacts:" + uri[4:] if uri.startswith("/art/") else uri)
    assert wire["info"]["artifact_uri"] == "shipyard-artifacts:/e1/r/artifacts"
    assert wire["inputs"]["datasets"][0]["source"] == "s3://x"  # not an artifact location
    back = from_wire(e.Run, wire, lambda uri: "/art" + uri[19:] if uri.startswith("shipyard-artifacts:") else uri)
    assert back == run
