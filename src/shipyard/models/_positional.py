"""Serve a model fitted on a DataFrame from a NumPy array, when that provably changes nothing.

Why: a scikit-learn estimator fitted on a pandas DataFrame remembers the column names
(``feature_names_in_``) and checks them on every call. Handing it a DataFrame costs the frame's
construction per request and pandas' conversion back to an array inside ``check_array`` (a
logistic regression's ``predict_proba`` on one row: about 0.4 ms on a DataFrame against 0.09 ms on
an array); handing it an array makes it warn on every call that the names are missing. Yet once
the columns are checked by name and put in the fitted order (which the input adapter does before
anything reaches the model), the array *is* what the estimator computes on: its own validation
turns the DataFrame into exactly that array.

So :func:`positional_twin` returns a shallow copy of the model (the fitted arrays are shared, not
copied) whose input step forgot its column names, so it takes the column-ordered array without
a warning, and only when it is safe:

- the signature's columns are the fitted names in the fitted order (names were checked already);
- the names sit on a plain estimator, or on the first step of a Pipeline whose output is not set
  to pandas (a ColumnTransformer or a FunctionTransformer that selects columns by name, or a step
  that hands named frames on, would see different input: those keep getting DataFrames);
- and the copy, fed the array, answers exactly what the original answers fed the DataFrame, with
  no warning and no error, on probe rows (the saved input example, else rows made from the
  signature's types). Anything else keeps the DataFrame path.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["positional_twin"]

_NAMES = "feature_names_in_"
# Steps that route or transform columns by name: given an array they would select other columns (or fail).
_BY_NAME = frozenset(["ColumnTransformer", "FunctionTransformer"])


def _forget_names(estimator: Any) -> Any | None:
    """A shallow copy of ``estimator`` without its fitted column names, or None where that is unsafe."""
    if type(estimator).__name__ in _BY_NAME or _NAMES not in vars(estimator):
        return None
    output = getattr(estimator, "_sklearn_output_config", None) or {}
    if output.get("transform", "default") != "default":  # it hands a named frame to the next step
        return None
    twin = copy.copy(estimator)
    delattr(twin, _NAMES)
    return twin


def _strip(model: Any) -> Any | None:
    steps = getattr(model, "steps", None)
    if isinstance(steps, list) and steps and type(model).__name__ == "Pipeline":
        first_name, first = steps[0]
        stripped = _forget_names(first)
        if stripped is None:
            return None
        twin = copy.copy(model)
        twin.steps = [(first_name, stripped), *steps[1:]]
        return twin
    return _forget_names(model)


def _same(a: Any, b: Any) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind in "fc":
        return bool(np.allclose(a, b, rtol=1e-9, atol=0.0, equal_nan=True))
    return bool(np.array_equal(a, b))


def positional_twin(model: Any, names: Sequence[str], frame: Any, array: np.ndarray,
                    methods: Sequence[str] = ("predict", "predict_proba")) -> Any | None:
    """A copy of ``model`` that takes ``array`` (columns ``names`` in order) and answers as ``model``
    does on ``frame`` (the same rows as a DataFrame), or None where that does not hold.

    ``frame`` and ``array`` are probe rows: each of ``methods`` the model has is called on both
    and must agree exactly, without a warning from the copy."""
    fitted = getattr(model, _NAMES, None)
    if fitted is None or [str(n) for n in fitted] != list(names):
        return None
    twin = _strip(model)
    if twin is None:
        return None
    try:
        for method in methods:
            original: Callable[[Any], Any] | None = getattr(model, method, None)
            if not callable(original):
                continue
            expected = original(frame)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                got = getattr(twin, method)(array)
            if caught or not _same(expected, got):
                return None
    except Exception:  # the copy (or the model) cannot take the probe: keep the DataFrame path
        return None
    return twin
