"""What every MLflow route shares: reading a request message, MLflow's error answers, and shipyard
entities written as MLflow's proto3 JSON.

MLflow's REST conventions (captured from the 3.17 client, see docs/server.md "MLflow clients"):
``GET`` sends the request message as query parameters (repeated keys for lists), the other methods a
JSON body (``DELETE`` too); answers are proto3 JSON (ids as strings, int64 as numbers, enums by name,
NaN as ``"NaN"``); errors are ``{"error_code", "message"}`` with the HTTP status MLflow gives that
code (the client's control flow reads ``error_code``: ``RESOURCE_DOES_NOT_EXIST`` makes
``set_experiment`` create the experiment, ``RESOURCE_ALREADY_EXISTS`` is what ``register_model``
tolerates).
"""

from __future__ import annotations

import base64
import math
import re
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from shipyard.errors import (
    AlreadyExists,
    Conflict,
    InvalidInput,
    NotFound,
    ShipyardError,
    StoreUnavailable,
    Unauthenticated,
)
from shipyard.server._errors import error_response
from shipyard.store._wire import ARTIFACT_SCHEME

if TYPE_CHECKING:
    from fastapi.params import Depends

    from shipyard import entities as e
    from shipyard.store.base import Store

__all__ = ["DEFAULT_EXPERIMENT_NAME", "INTERNAL_TAG_PREFIX", "MLFLOW_ARTIFACT_SCHEME", "Message", "MlflowRoute",
           "add_rpc", "dataset_in", "experiment_id", "experiment_json", "float_in", "float_out", "mlflow_uri", "now_ms",
           "ok", "run_info_json", "run_json", "store_of", "tag_list", "to_root_uri"]

MLFLOW_ARTIFACT_SCHEME = "mlflow-artifacts:"
#: Tags shipyard keeps for the MLflow face (logged models, stages); hidden from MLflow answers and
#: reserved (``shipyard.``): over shipyard's own API only admins may write them.
INTERNAL_TAG_PREFIX = "shipyard.mlflow."
DEFAULT_EXPERIMENT_NAME = "Default"

# error_code -> the HTTP status MLflow answers it with (mlflow/protos/databricks.proto's mapping).
_STATUS = {"RESOURCE_DOES_NOT_EXIST": 404, "RESOURCE_ALREADY_EXISTS": 400, "INVALID_PARAMETER_VALUE": 400,
           "INVALID_STATE": 400, "UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403,
           "TEMPORARILY_UNAVAILABLE": 503}


def _mlflow_error(exc: ShipyardError) -> Response:
    if isinstance(exc, NotFound):
        code = "RESOURCE_DOES_NOT_EXIST"
    elif isinstance(exc, AlreadyExists):
        code = "RESOURCE_ALREADY_EXISTS"
    elif isinstance(exc, InvalidInput):  # FilterSyntaxError included
        code = "INVALID_PARAMETER_VALUE"
    elif isinstance(exc, Conflict):
        code = "INVALID_STATE"
    elif isinstance(exc, StoreUnavailable):
        code = "TEMPORARILY_UNAVAILABLE"
    else:
        code = exc.error_code
    status = _STATUS.get(code, exc.http_status)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return error_response(status, code, exc.message, headers)


class MlflowRoute(APIRoute):
    """A route whose shipyard errors (auth included) answer with MLflow's codes and statuses, and
    which also takes the token as the password of HTTP Basic auth (``MLFLOW_TRACKING_USERNAME`` /
    ``MLFLOW_TRACKING_PASSWORD``, MLflow's other way to send credentials; the user name is ignored)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                if request.headers.get("authorization", "")[:6].lower() == "basic ":
                    await run_in_threadpool(_basic_auth, request)
                return await handler(request)
            except ShipyardError as exc:
                return _mlflow_error(exc)

        return handle


def _basic_auth(request: Request) -> None:
    """With auth on and a Basic header, the request acts as the token given as its password (the
    role checks then run as for a bearer token); a bad one is a 401 like a bad bearer token."""
    authenticator = request.app.state.authenticator
    header = request.headers.get("authorization", "")
    if authenticator is None or header[:6].lower() != "basic ":
        return
    try:
        _, _, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
    except (ValueError, UnicodeError):
        raise Unauthenticated("invalid Basic credentials") from None
    principal = authenticator.authenticate(password)
    if principal is None:
        raise Unauthenticated("invalid or revoked token")
    request.state.principal = principal


class Message:
    """One request message: the query parameters of a GET, the JSON body otherwise."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data

    @classmethod
    async def read(cls, request: Request) -> Message:
        if request.method == "GET":
            data: dict[str, Any] = {}
            for key, value in request.query_params.multi_items():
                if key in data:
                    data[key] = [*data[key], value] if isinstance(data[key], list) else [data[key], value]
                else:
                    data[key] = value
            return cls(data)
        raw = await request.body()
        if not raw.strip():
            return cls({})
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise InvalidInput("the request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise InvalidInput("the request body must be a JSON object")
        return cls(body)

    def get(self, *keys: str) -> Any:
        for key in keys:
            value = self.data.get(key)
            if value is not None and value != "":
                return value
        return None

    def text(self, *keys: str, default: str | None = None) -> str | None:
        value = self.get(*keys)
        if value is None:
            return default
        if isinstance(value, list | dict):
            raise InvalidInput(f"parameter {keys[0]!r} must be a string")
        return str(value)

    def need(self, *keys: str) -> str:
        value = self.text(*keys)
        if value is None:
            raise InvalidInput(f"Missing value for required parameter '{keys[0]}'")
        return value

    def number(self, key: str, default: int | None = None) -> int | None:
        value = self.get(key)
        if value is None:
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise InvalidInput(f"parameter {key!r} must be an integer, got {str(value)[:40]!r}") from None

    def flag(self, key: str, default: bool = False) -> bool:
        value = self.get(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        return str(value).lower() in ("true", "1")

    def items(self, key: str) -> list[Any]:
        value = self.get(key)
        if value is None:
            return []
        return value if isinstance(value, list) else [value]

    def objects(self, key: str) -> list[dict[str, Any]]:
        found = self.items(key)
        if not all(isinstance(item, dict) for item in found):
            raise InvalidInput(f"parameter {key!r} must be a list of objects")
        return found

    def tags(self, key: str = "tags") -> dict[str, str]:
        """A ``[{"key", "value"}]`` list as a dict."""
        out: dict[str, str] = {}
        for item in self.objects(key):
            if not isinstance(item.get("key"), str):
                raise InvalidInput(f"each of {key!r} needs a string 'key'")
            out[item["key"]] = "" if item.get("value") is None else str(item["value"])
        return out


Handler = Callable[[Request, Message], Any]


def add_rpc(router: APIRouter, method: str, path: str, role: Depends, summary: str) -> Callable[[Handler], Handler]:
    """Register ``fn(request, message)`` (run in a worker thread: the store is blocking) as an MLflow
    RPC; it returns a JSON-able dict or a Response."""

    def register(fn: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            message = await Message.read(request)
            result = await run_in_threadpool(fn, request, message)
            return result if isinstance(result, Response) else ok(result)

        # The spec names the path parameters and, for the methods with a body, a JSON object: MLflow's
        # messages are described by MLflow's protos, not repeated here.
        params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                  for n in re.findall(r"{(\w+)}", path)]
        extra: dict[str, Any] = {"parameters": params}
        if method != "GET":
            extra["requestBody"] = {"content": {"application/json": {"schema": {"type": "object"}}}}
        router.add_api_route(path, endpoint, methods=[method], dependencies=[role], summary=summary,
                             name=f"mlflow_{fn.__name__}_{method.lower()}", response_class=Response,
                             openapi_extra=extra)
        return fn

    return register


def ok(data: Any = None) -> Response:
    return Response(orjson.dumps({} if data is None else data), media_type="application/json")


def store_of(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


def now_ms() -> int:
    return int(time.time() * 1000)


def experiment_id(store: Store, eid: str) -> str:
    """MLflow's default experiment "0" (where runs go without ``set_experiment``) is shipyard's
    "Default" experiment, created on first use."""
    if eid != "0":
        return eid
    found = store.get_experiment_by_name(DEFAULT_EXPERIMENT_NAME)
    if found is not None:
        return found.experiment_id
    try:
        return store.create_experiment(DEFAULT_EXPERIMENT_NAME)
    except AlreadyExists:  # another request created it first
        again = store.get_experiment_by_name(DEFAULT_EXPERIMENT_NAME)
        if again is None:
            raise
        return again.experiment_id


def mlflow_uri(request: Request, uri: str) -> str:
    """An artifact location as MLflow clients reach it: ``mlflow-artifacts:/<path>`` (uploaded and
    downloaded through this server) for a root on the server's disk, the object store's URL otherwise."""
    api = request.app.state.locations.to_api(uri)
    if api.startswith(ARTIFACT_SCHEME):
        return MLFLOW_ARTIFACT_SCHEME + "/" + api[len(ARTIFACT_SCHEME):].lstrip("/")
    return str(api)


def to_root_uri(request: Request, uri: str) -> str:
    """The reverse of :func:`mlflow_uri`."""
    if uri.startswith(MLFLOW_ARTIFACT_SCHEME):
        uri = ARTIFACT_SCHEME + "/" + uri[len(MLFLOW_ARTIFACT_SCHEME):].lstrip("/")
    return str(request.app.state.locations.from_api(uri))


def float_out(value: float) -> float | str:
    """Proto3 JSON spells the non-finite doubles as strings."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def float_in(value: Any, what: str) -> float:
    if isinstance(value, bool):
        raise InvalidInput(f"{what} must be a number")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)  # "NaN", "Infinity", "-Infinity" and numbers sent as text
        except ValueError:
            pass
    raise InvalidInput(f"{what} must be a number, got {str(value)[:40]!r}")


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in tags.items() if not k.startswith(INTERNAL_TAG_PREFIX)]


def experiment_json(request: Request, exp: e.Experiment) -> dict[str, Any]:
    return {"experiment_id": exp.experiment_id, "name": exp.name,
            "artifact_location": mlflow_uri(request, exp.artifact_location), "lifecycle_stage": exp.lifecycle_stage,
            "last_update_time": exp.last_update_time, "creation_time": exp.creation_time,
            "tags": tag_list(exp.tags)}


def run_info_json(request: Request, info: e.RunInfo) -> dict[str, Any]:
    out: dict[str, Any] = {"run_id": info.run_id, "run_uuid": info.run_id, "experiment_id": info.experiment_id,
                           "run_name": info.run_name, "user_id": info.user_id, "status": info.status,
                           "start_time": info.start_time, "artifact_uri": mlflow_uri(request, info.artifact_uri),
                           "lifecycle_stage": info.lifecycle_stage}
    if info.end_time is not None:
        out["end_time"] = info.end_time
    return out


def _dataset_json(d: e.DatasetInput) -> dict[str, Any]:
    profile = dict(d.profile or {})
    source_type = str(profile.pop(_SOURCE_TYPE, "") or "")
    schema: Any = d.schema
    if len(schema) == 1 and isinstance(schema[0], dict) and "mlflow_schema" in schema[0]:
        schema = schema[0]["mlflow_schema"]  # kept verbatim when it was not MLflow's column spec
    elif schema:
        schema = {"mlflow_colspec": schema}
    dataset = {"name": d.name, "digest": d.digest, "source_type": source_type, "source": d.source,
               "schema": schema if isinstance(schema, str) else (orjson.dumps(schema).decode() if schema else ""),
               "profile": orjson.dumps(profile).decode() if profile else ""}
    tags = [{"key": "mlflow.data.context", "value": d.context}] if d.context else []
    return {"tags": tags, "dataset": dataset}


_SOURCE_TYPE = "mlflow.source_type"


def dataset_in(item: Mapping[str, Any]) -> e.DatasetInput:
    """MLflow's ``DatasetInput`` as shipyard's: its schema's column spec and profile become shipyard's
    (``num_rows`` from the profile), its source type is kept in the profile."""
    from shipyard import entities as e

    dataset = item.get("dataset")
    if not isinstance(dataset, dict) or not isinstance(dataset.get("name"), str) or \
            not isinstance(dataset.get("digest"), str):
        raise InvalidInput("each dataset input needs a dataset with a name and a digest")
    context = ""
    for tag in item.get("tags") or []:
        if isinstance(tag, dict) and tag.get("key") == "mlflow.data.context":
            context = str(tag.get("value") or "")
    schema: list[dict[str, Any]] = []
    raw_schema = dataset.get("schema") or ""
    if raw_schema:
        try:
            parsed = orjson.loads(raw_schema)
        except orjson.JSONDecodeError:
            parsed = None
        colspec = parsed.get("mlflow_colspec") if isinstance(parsed, dict) else None
        if isinstance(colspec, list) and all(isinstance(c, dict) for c in colspec):
            schema = colspec
        else:
            schema = [{"mlflow_schema": str(raw_schema)}]
    profile: dict[str, Any] = {}
    if dataset.get("profile"):
        try:
            loaded = orjson.loads(dataset["profile"])
            profile = loaded if isinstance(loaded, dict) else {}
        except orjson.JSONDecodeError:
            profile = {}
    if dataset.get("source_type"):
        profile[_SOURCE_TYPE] = str(dataset["source_type"])
    rows = profile.get("num_rows")
    return e.DatasetInput(name=dataset["name"], digest=dataset["digest"], context=context,
                          source=str(dataset.get("source") or ""),
                          num_rows=rows if isinstance(rows, int) and rows >= 0 else 0, schema=schema,
                          profile=profile or None)


def run_json(request: Request, run: e.Run, metrics: Iterable[e.Metric] | None = None,
             outputs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A run as MLflow's ``Run``. ``metrics``: the points to give (a new run's: none); otherwise each
    metric's latest value, with step and timestamp 0: the store's run carries values only, and
    reading each history on every ``runs/get`` (the client asks before each artifact upload) would
    cost a query per metric. ``metrics/get-history`` has the points."""
    tags = dict(run.data.tags)
    # Runs logged by shipyard's own SDK: the system tags MLflow clients and their filters expect.
    tags.setdefault("mlflow.runName", run.info.run_name)
    if run.info.parent_run_id:
        tags.setdefault("mlflow.parentRunId", run.info.parent_run_id)
    if metrics is None:
        metric_list = [{"key": k, "value": float_out(v), "timestamp": 0, "step": 0}
                       for k, v in run.data.metrics.items()]
    else:
        metric_list = [{"key": m.key, "value": float_out(m.value), "timestamp": m.timestamp, "step": m.step}
                       for m in metrics]
    out: dict[str, Any] = {
        "info": run_info_json(request, run.info),
        "data": {"metrics": metric_list, "params": [{"key": k, "value": v} for k, v in run.data.params.items()],
                 "tags": tag_list(tags)},
        "inputs": {"dataset_inputs": [_dataset_json(d) for d in run.inputs.datasets]},
    }
    if outputs:
        out["outputs"] = {"model_outputs": outputs}
    return out
