"""The API's documented models describe exactly what the server sends: same fields as the entities,
and every encoded entity validates against its model."""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from shipyard import entities as e
from shipyard.server.api import schemas
from shipyard.store._wire import to_wire
from tests.store.test_wire import SAMPLES

ENTITIES = [e.Experiment, e.RunInfo, e.RunData, e.DatasetInput, e.RunInputs, e.Run, e.Metric, e.Param, e.RunTag,
            e.ModelVersion, e.RegisteredModel, e.AliasEvent, e.Route, e.DeploymentRevision, e.Deployment,
            e.Feedback, e.TaskRun, e.PipelineRun, e.Monitor, e.CheckResult, e.MonitorResult, e.Alert, e.PolicyEvent,
            e.Rollout]


@pytest.mark.parametrize("cls", ENTITIES, ids=lambda c: c.__name__)
def test_each_entity_has_a_model_with_the_same_fields(cls: type) -> None:
    model = getattr(schemas, cls.__name__)
    documented = {field.alias or name for name, field in model.model_fields.items()}
    assert documented == {f.name for f in dataclasses.fields(cls)}


@pytest.mark.parametrize("entity", SAMPLES, ids=lambda x: type(x).__name__)
def test_encoded_entities_validate_against_their_models(entity: object) -> None:
    model = getattr(schemas, type(entity).__name__)
    model.model_validate_json(orjson.dumps(to_wire(entity)))
