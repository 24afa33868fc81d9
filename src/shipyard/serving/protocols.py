"""Request and answer shapes of the three protocols the app speaks, as plain functions.

- native (``POST /v1/deployments/{name}/predict``): ``{"records": [{col: v}, ...]}``,
  ``{"columns": {col: [v, ...]}}`` or ``{"inputs": <records | columns | 2-D list>}``, plus an
  optional ``"routing_key"``; MLflow's four keys are accepted there too.
- MLflow scoring (``POST /invocations``): ``dataframe_split`` (``{"columns", "data"[, "index"]}``),
  ``dataframe_records`` (list of records), ``instances`` and ``inputs`` (records, a dict of columns
  or a 2-D list); answered as ``{"predictions": [...]}`` like ``mlflow models serve``.
- Open Inference Protocol V2: ``{"id"?, "inputs": [{"name", "shape", "datatype", "data"}, ...],
  "outputs"?: [{"name"}]}`` with one tensor per column (shape ``[n]`` or ``[n, 1]``) or one 2-D
  tensor ``[n, k]`` matched to the signature by position; ``data`` flat (row-major) or nested.

Parsing turns every shape into what ``PyFuncModel`` takes (records, a dict of columns, or a 2-D
array) without pandas, so validation and conversion happen once, in the model's adapter.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from shipyard.errors import InvalidInput, ShipyardError

__all__ = [
    "PayloadTooLarge", "PredictionFailed", "ServiceUnavailable", "parse_json", "parse_rows", "parse_v2",
    "row_count", "tensor_datatype", "v2_outputs",
]


class PayloadTooLarge(ShipyardError):
    error_code = "REQUEST_TOO_LARGE"
    http_status = 413


class PredictionFailed(ShipyardError):
    """The model raised on input that passed validation; the message names the request ids."""

    error_code = "PREDICTION_FAILED"
    http_status = 500

    def __init__(self, message: str, request_ids: list[str]) -> None:
        super().__init__(message)
        self.request_ids = request_ids

    def to_dict(self) -> dict[str, Any]:  # type: ignore[override]
        return {**super().to_dict(), "request_ids": self.request_ids}


class ServiceUnavailable(ShipyardError):
    error_code = "NOT_READY"
    http_status = 503


def parse_json(body: bytes) -> Any:
    """The JSON document of a request body; empty or malformed bodies are 400s."""
    if not body.strip():
        raise InvalidInput("empty request body: send a JSON document")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"malformed JSON: {exc}") from None


def _rows_of(value: Any, key: str) -> Any:
    """Records, a dict of columns, or a 2-D list -> the same, ready for PyFuncModel."""
    if isinstance(value, dict):
        if not value:
            raise InvalidInput(f"{key!r} has no columns")
        return value
    if isinstance(value, list):
        if not value:
            raise InvalidInput(f"{key!r} has no rows")
        if isinstance(value[0], dict):
            return value
        if isinstance(value[0], list):
            return _array(value, key)
        return _array([value], key)  # one flat row
    raise InvalidInput(f"{key!r} must be a list of records, a dict of columns or a 2-D list, "
                       f"not {type(value).__name__}")


def _array(rows: list[Any], key: str) -> np.ndarray:
    arr: np.ndarray | None
    try:
        arr = np.array(rows)
    except ValueError:
        arr = None
    if arr is None or arr.ndim < 2 or arr.dtype == object:  # [n, k] rows, or [n, ...] tensors for image models
        raise InvalidInput(f"{key!r} rows must all have the same number of values")
    return arr


def _split(doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict) or not isinstance(doc.get("columns"), list) or not isinstance(doc.get("data"), list):
        raise InvalidInput("'dataframe_split' must be {'columns': [...], 'data': [[...], ...]}")
    columns, data = doc["columns"], doc["data"]
    if not data:
        raise InvalidInput("'dataframe_split' has no rows")
    if any(not isinstance(row, list) or len(row) != len(columns) for row in data):
        raise InvalidInput(f"every row of 'dataframe_split.data' must have {len(columns)} values, one per column")
    return {str(c): list(vals) for c, vals in zip(columns, zip(*data, strict=True), strict=True)}


_KEYS = ("records", "columns", "inputs", "instances", "dataframe_records", "dataframe_split")


def parse_rows(doc: Any) -> Any:
    """The rows of a native or MLflow request body (see the module docstring)."""
    if type(doc) is dict and len(doc) == 1:  # the common body, {"records": [{...}]}: no key search
        records = doc.get("records")
        if type(records) is list and len(records) == 1 and type(records[0]) is dict:
            return records
    if not isinstance(doc, dict):
        if isinstance(doc, list):  # a bare list of records, as some MLflow clients send
            return _rows_of(doc, "body")
        raise InvalidInput(f"request body must be a JSON object with one of {list(_KEYS)}")
    found = [k for k in _KEYS if k in doc]
    if len(found) != 1:
        raise InvalidInput(f"request body must have exactly one of {list(_KEYS)}, got {sorted(doc)}")
    key = found[0]
    if key == "dataframe_split":
        return _split(doc[key])
    if key in ("records", "dataframe_records") and (
            not isinstance(doc[key], list) or not all(isinstance(r, dict) for r in doc[key])):
        raise InvalidInput(f"{key!r} must be a list of {{column: value}} records")
    if key == "columns" and not isinstance(doc[key], dict):
        raise InvalidInput("'columns' must be a dict of column -> list of values")
    return _rows_of(doc[key], key)


def row_count(data: Any) -> int:
    """How many rows parsed input holds (an upper bound for shapes the model's adapter may still
    refuse), without converting it: the row cap is checked before any work is done."""
    if isinstance(data, list):
        return len(data)
    if isinstance(data, np.ndarray):
        return int(data.shape[0]) if data.ndim else 1
    if isinstance(data, dict):
        return max((len(v) if hasattr(v, "__len__") and not isinstance(v, str | bytes | dict) else 1
                    for v in data.values()), default=0)
    return len(data) if hasattr(data, "__len__") else 1


# --- Open Inference Protocol V2 ------------------------------------------------------------------

_V2_DTYPES = {
    "BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
    "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64,
    "FP16": np.float16, "FP32": np.float32, "FP64": np.float64, "BYTES": object,
}
_SIG_TO_V2 = {"bool": "BOOL", "string": "BYTES", "datetime": "BYTES", "object": "BYTES"}


def _tensor(spec: Any, i: int) -> tuple[str, np.ndarray]:
    if not isinstance(spec, dict) or not {"name", "shape", "datatype", "data"} <= spec.keys():
        raise InvalidInput(f"inputs[{i}] must have 'name', 'shape', 'datatype' and 'data'")
    name, shape, dtype = str(spec["name"]), spec["shape"], spec["datatype"]
    if dtype not in _V2_DTYPES:
        raise InvalidInput(f"input {name!r}: unsupported datatype {dtype!r} (one of {sorted(_V2_DTYPES)})")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape) or not shape:
        raise InvalidInput(f"input {name!r}: shape must be a list of sizes [n, ...], got {shape!r}")
    try:
        arr: np.ndarray = np.asarray(spec["data"], dtype=_V2_DTYPES[dtype])
    except (ValueError, TypeError, OverflowError) as exc:  # 2**64 as INT64: refused, not wrapped
        raise InvalidInput(f"input {name!r}: data is not {dtype}: {exc}") from None
    if arr.size != int(np.prod(shape)):
        raise InvalidInput(f"input {name!r}: {arr.size} values do not fill shape {shape}")
    return name, arr.reshape(shape)


def parse_v2(doc: Any, columns: list[str] | None) -> Any:
    """A V2 infer request's inputs -> a dict of columns or a 2-D array for the model."""
    if not isinstance(doc, dict) or not isinstance(doc.get("inputs"), list) or not doc["inputs"]:
        raise InvalidInput("a V2 infer request needs 'inputs': a list of {name, shape, datatype, data} tensors")
    tensors = [_tensor(spec, i) for i, spec in enumerate(doc["inputs"])]
    if len(tensors) == 1 and tensors[0][1].ndim > 2:  # one image/sequence tensor, batch first
        return tensors[0][1]
    if len(tensors) == 1 and tensors[0][1].ndim == 2 and (columns is None or tensors[0][0] not in columns
                                                          or len(columns) != 1):
        arr = tensors[0][1]
        return arr.astype(object) if arr.dtype == object else arr
    out: dict[str, Any] = {}
    for name, arr in tensors:
        if arr.ndim > 2:
            raise InvalidInput(f"input {name!r}: a tensor of rank {arr.ndim} must be the request's only input")
        if arr.ndim == 2:
            if arr.shape[1] != 1:
                raise InvalidInput(f"input {name!r}: a named column tensor must have shape [n] or [n, 1]")
            arr = arr[:, 0]
        out[name] = arr
    return out


def tensor_datatype(arr: np.ndarray) -> str:
    kind, size = arr.dtype.kind, arr.dtype.itemsize
    if kind == "b":
        return "BOOL"
    if kind in "iuf":
        return {"i": "INT", "u": "UINT", "f": "FP"}[kind] + str(size * 8)
    return "BYTES"


def signature_datatype(sig_type: str) -> str:
    return _SIG_TO_V2.get(sig_type) or tensor_datatype(np.empty(0, dtype=sig_type))


def v2_outputs(preds: np.ndarray, proba: np.ndarray | None, wanted: Any) -> list[dict[str, Any]]:
    """The ``outputs`` of a V2 answer: ``predict`` and, for classifiers, ``predict_proba``."""
    outputs = [{"name": "predict", "shape": list(preds.shape), "datatype": tensor_datatype(preds),
                "data": preds.ravel().tolist()}]
    if proba is not None:
        outputs.append({"name": "predict_proba", "shape": list(proba.shape), "datatype": tensor_datatype(proba),
                        "data": proba.ravel().tolist()})
    if isinstance(wanted, list) and wanted:
        names = {o.get("name") for o in wanted if isinstance(o, dict)}
        unknown = names - {o["name"] for o in outputs}
        if unknown:
            raise InvalidInput(f"unknown outputs {sorted(map(str, unknown))}; this model has "
                               f"{[o['name'] for o in outputs]}")
        outputs = [o for o in outputs if o["name"] in names]
    return outputs
