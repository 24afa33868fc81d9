"""Served JSON records take a shortcut (checked per request, one array per batch) that must decide
exactly as the full check does: the same model input for what it accepts, and the full check's
error, naming the column and row, for everything it does not take."""

from __future__ import annotations

import numpy as np
import orjson
import pandas as pd
import pytest

from shipyard.errors import InvalidInput
from shipyard.models import ColSpec, Signature
from shipyard.models._enforce import InputAdapter, RecordRows

FLOATS = Signature(inputs=(ColSpec("a", "float64"), ColSpec("b", "float64"), ColSpec("c", "float64")))


def _same_input(adapter: InputAdapter, requests: list[list[dict]]) -> None:
    parts = [adapter.check_records(records) for records in requests]
    assert all(isinstance(p, RecordRows) for p in parts)
    joined = adapter.join(parts)  # type: ignore[arg-type]
    whole = adapter([rec for records in requests for rec in records])
    if isinstance(whole, pd.DataFrame):
        pd.testing.assert_frame_equal(joined, whole)
    else:
        assert joined.dtype == whole.dtype and joined.flags.writeable
        np.testing.assert_array_equal(joined, whole)


@pytest.mark.parametrize("mode", ["array", "frame"])
def test_a_batch_of_records_joins_into_what_the_full_check_makes(mode: str) -> None:
    adapter = InputAdapter(FLOATS, mode)
    requests = [
        [{"a": 1.5, "b": -2.0, "c": 3}],  # in order, an int among floats
        [{"c": 1.0, "a": 2.0, "b": 3.0}],  # another order: read by name
        [{"a": 0.25, "b": 1e300, "c": -0.0, "extra": "ignored"}],  # an extra key
        [{"a": True, "b": False, "c": 7}, {"a": 4.0, "b": 5.0, "c": 6.0}],  # bools, two rows
        orjson.loads(b'[{"a": 0.1, "b": 0.2, "c": 0.3}]'),  # as the server parses it
        orjson.loads(b'[{"a": 0.4, "b": 0.5, "c": 0.6}]'),  # the same key objects again
    ]
    _same_input(adapter, requests)
    assert len(adapter.check_records(requests[3])) == 2  # type: ignore[arg-type]


def test_a_float32_signature_gets_float32_from_the_join() -> None:
    adapter = InputAdapter(Signature(inputs=(ColSpec("x", "float32"), ColSpec("y", "float32"))), "array")
    rows = adapter.check_records([{"x": 0.1, "y": 2}])
    assert rows is not None
    joined = adapter.join([rows])
    assert joined.dtype == np.float32 and joined.tolist() == adapter([{"x": 0.1, "y": 2}]).tolist()


@pytest.mark.parametrize(("records", "error"), [
    ([{"a": 1.0, "b": 2.0}], "missing column 'c'"),
    ([{"a": 1.0, "b": None, "c": 3.0}], "column 'b' row 0: a value is required"),
    ([{"a": 1.0, "b": 2.0, "c": 3.0}, {"a": float("nan"), "b": 2.0, "c": 3.0}],
     "column 'a' row 1: a value is required"),
    ([{"a": 1.0, "b": "2.0", "c": 3.0}], "column 'b' row 0: expects float64, got str"),
    ([{"a": 1.0, "b": 2.0, "c": 3.0}, ["not", "a", "record"]], "dict records"),
])
def test_what_the_shortcut_does_not_take_gets_the_full_checks_error(records: list[dict], error: str) -> None:
    adapter = InputAdapter(FLOATS, "array")
    assert adapter.check_records(records) is None
    with pytest.raises(InvalidInput, match=error):
        adapter(records)


def test_a_list_in_a_cell_is_left_to_the_full_check() -> None:
    adapter = InputAdapter(FLOATS, "array")
    assert adapter.check_records([{"a": 1.0, "b": [2.0], "c": 3.0}]) is None


def test_huge_integers_and_infinities_are_left_to_the_full_check() -> None:
    adapter = InputAdapter(FLOATS, "array")
    assert adapter.check_records([{"a": 10**400, "b": 1.0, "c": 1.0}]) is None  # beyond float64
    both = [{"a": float("inf"), "b": float("-inf"), "c": 1.0}]  # inf - inf: NaN in a sum, not in the data
    assert adapter.check_records(both) is None
    assert np.isinf(adapter(both)[0, :2]).all()


@pytest.mark.parametrize("columns", [
    (ColSpec("a", "float64"), ColSpec("n", "int64")),  # an integer column: fractions and range are checked
    (ColSpec("a", "float64"), ColSpec("b", "float64", required=False)),  # a column that may be empty
    (ColSpec("a", "float64"), ColSpec("s", "string")),
])
def test_signatures_with_more_than_required_floats_always_take_the_full_check(columns: tuple[ColSpec, ...]) -> None:
    adapter = InputAdapter(Signature(inputs=columns), "array" if columns[1].type != "string" else "frame")
    assert adapter.check_records([{"a": 1.0, "n": 2, "b": 3.0, "s": "x"}]) is None
