"""Entities on the wire: dataclasses to JSON-able values and back, exactly.

The server encodes what the store returns with :func:`to_wire`; :class:`~shipyard.store.rest.RestStore`
rebuilds the same dataclasses with :func:`from_wire`, so ``from_wire(Run, to_wire(run)) == run``.

JSON has no NaN or infinities, and metric values need them: a float in a field typed ``float``
(metric values, alert values, route weights) travels as a number when finite and as one of the
strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` otherwise (the spelling of JavaScript and of
MLflow's JSON). Free-form values (``dict[str, Any]``: monitor specs, dataset profiles, labels) are
encoded like the SQL store encodes them (orjson: NaN becomes null), so both stores answer the same.

Fields that hold artifact locations go through an optional ``uri_map`` in both directions: the
server turns its artifact root into ``shipyard-artifacts:/...`` and the REST client turns that into
the server's artifact URL.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar, Union

__all__ = ["ARTIFACT_SCHEME", "URI_FIELDS", "decode_float", "encode_float", "from_wire", "to_wire"]

T = TypeVar("T")
Codec = Callable[[Any, Any], Any]  # (value, uri_map) -> value

ARTIFACT_SCHEME = "shipyard-artifacts:"
NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
# (class name, field) pairs that hold an artifact location.
URI_FIELDS = frozenset({
    ("Experiment", "artifact_location"), ("RunInfo", "artifact_uri"), ("ModelVersion", "source"),
    ("TaskRun", "output_uri"),
})


def encode_float(value: Any) -> Any:
    """A float as JSON: itself when finite, else "NaN" / "Infinity" / "-Infinity"."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if value is not None and not isinstance(value, int | float | str | bool):
        return float(value)  # numpy scalars
    return value


def decode_float(value: Any) -> Any:
    """The inverse of :func:`encode_float`; anything else unrecognised is left for validation to refuse."""
    if isinstance(value, str):
        return NON_FINITE.get(value, value)
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def to_wire(obj: Any, uri_map: Callable[[str], str] | None = None) -> Any:
    """A dataclass (or list of them) as JSON-able data; ``uri_map`` rewrites artifact locations."""
    if isinstance(obj, list | tuple):
        return [to_wire(item, uri_map) for item in obj]
    if obj is None:
        return None
    encode, _ = _class_codec(type(obj))
    return encode(obj, uri_map)


def from_wire(cls: type[T], data: Any, uri_map: Callable[[str], str] | None = None) -> T:
    """Rebuild a ``cls`` from what :func:`to_wire` made of one."""
    _, decode = _class_codec(cls)
    return decode(data, uri_map)  # type: ignore[no-any-return]


# -- per-type codecs, built once per class ---------------------------------------------------------

def _identity(value: Any, uri_map: Any) -> Any:
    return value


def _float_enc(value: Any, uri_map: Any) -> Any:
    return encode_float(value)


def _float_dec(value: Any, uri_map: Any) -> Any:
    return decode_float(value)


def _uri(value: Any, uri_map: Any) -> Any:
    return uri_map(value) if uri_map is not None and isinstance(value, str) else value


def _type_codec(tp: Any) -> tuple[Codec, Codec]:
    """(encoder, decoder) for a field type; identity for types with no float and no dataclass in them."""
    origin = typing.get_origin(tp)
    if tp is float:
        return _float_enc, _float_dec
    if dataclasses.is_dataclass(tp):
        return _class_codec(tp)  # type: ignore[arg-type]
    if origin in (Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(inner) == 1:
            enc, dec = _type_codec(inner[0])
            if enc is _identity:
                return _identity, _identity
            return (lambda v, m: None if v is None else enc(v, m)), (lambda v, m: None if v is None else dec(v, m))
        return _identity, _identity
    if origin is list:
        (item,) = typing.get_args(tp)
        enc, dec = _type_codec(item)
        if enc is _identity:
            return (lambda v, m: list(v)), (lambda v, m: list(v))
        return (lambda v, m: [enc(x, m) for x in v]), (lambda v, m: [dec(x, m) for x in v])
    if origin is dict:
        _, item = typing.get_args(tp)
        enc, dec = _type_codec(item)
        if enc is _identity:
            return (lambda v, m: dict(v)), (lambda v, m: dict(v))
        return ((lambda v, m: {k: enc(x, m) for k, x in v.items()}),
                (lambda v, m: {k: dec(x, m) for k, x in v.items()}))
    return _identity, _identity


_CODECS: dict[type, tuple[Codec, Codec]] = {}


def _class_codec(cls: type) -> tuple[Codec, Codec]:
    codec = _CODECS.get(cls)
    if codec is not None:
        return codec
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not an entity dataclass")
    hints = typing.get_type_hints(cls)
    plan: list[tuple[str, Codec, Codec]] = []
    for f in dataclasses.fields(cls):
        if (cls.__name__, f.name) in URI_FIELDS:
            plan.append((f.name, _uri, _uri))
        else:
            plan.append((f.name, *_type_codec(hints[f.name])))

    def encode(obj: Any, uri_map: Any) -> dict[str, Any]:
        return {name: enc(getattr(obj, name), uri_map) for name, enc, _ in plan}

    def decode(data: Any, uri_map: Any) -> Any:
        if not isinstance(data, dict):
            raise TypeError(f"expected an object for {cls.__name__}, got {type(data).__name__}")
        return cls(**{name: dec(data[name], uri_map) for name, _, dec in plan if name in data})

    _CODECS[cls] = (encode, decode)
    return encode, decode
