"""scikit-learn's own prediction formulas, run without its per-call overhead on a checked input.

Serving calls a model once per batch, on a float64 array the signature check has already
validated, and for the commonest models scikit-learn spends more on each call's bookkeeping than
on the arithmetic:

- a LogisticRegression validates its input in ``predict`` and again in ``predict_proba`` (about
  40 us each, more than the arithmetic for 64 rows), and serving wants both:
  :func:`from_scores` gives both from one decision pass (in a ``Pipeline``, after its transforms
  ran once: a scaler and a LogisticRegression, 956 -> 313 us a batch);
- a random forest (or extra trees) hands each tree to joblib's ``Parallel`` even with
  ``n_jobs=1``: about 90 us a tree, 9 ms for 100 trees on one row, against 6 us for the tree's own
  Cython traversal. :class:`ForestRoute` loops over the trees itself (on float64 or integer
  input: the float32 the trees compare is what scikit-learn's own validation makes of both).

These are scikit-learn's formulas, step for step and in its order of summation, so the answers
are the same bits; the caller still compares them with scikit-learn's own call once, on the first
batch, and drops the route for good on any difference (a scikit-learn whose formulas changed).
Anything the formulas were not written for -- a DataFrame, another dtype, a value scikit-learn
refuses or treats apart (an infinity, a NaN, a float64 beyond float32's range for a tree) -- goes to
scikit-learn unchanged, and so gets its answer or its error.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["ForestRoute", "OnePass", "Verified", "forest_route", "from_scores", "one_pass", "same", "scores",
           "with_forest_route"]

logger = logging.getLogger(__name__)

#: Classifiers whose ``predict`` and ``predict_proba`` are both functions of one ``decision_function``
#: call (:func:`from_scores` repeats scikit-learn's own formulas); exact classes, not subclasses.
_ONE_PASS = frozenset({"sklearn.linear_model._logistic.LogisticRegression"})

#: Forests whose ``predict`` / ``predict_proba`` average their trees' ``tree_.predict`` (exact classes:
#: a subclass may predict otherwise).
_FOREST_CLASSIFIERS = frozenset({"sklearn.ensemble._forest.RandomForestClassifier",
                                 "sklearn.ensemble._forest.ExtraTreesClassifier"})
_FOREST_REGRESSORS = frozenset({"sklearn.ensemble._forest.RandomForestRegressor",
                                "sklearn.ensemble._forest.ExtraTreesRegressor"})


def _name(est: Any) -> str:
    cls = type(est)
    return f"{cls.__module__}.{cls.__qualname__}"


def _pipeline_steps(model: Any) -> list[Any] | None:
    """A scikit-learn ``Pipeline``'s ``(name, step)`` list, or None for anything else (or no steps)."""
    steps = getattr(model, "steps", None)
    return steps if _name(model) == "sklearn.pipeline.Pipeline" and isinstance(steps, list) and steps else None


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Same dtype, shape and bytes (not just equal values: the answer is serialized from them)."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _shaped(data: Any, width: int) -> bool:
    """A 2-D array of ``width`` columns and at least one row (scikit-learn refuses an empty one)."""
    return type(data) is np.ndarray and data.ndim == 2 and data.shape[1] == width and data.shape[0] > 0


def _checked(data: Any, width: int) -> bool:
    """A float64 2-D array of ``width`` columns whose values are all finite (what the signature
    check hands the model, and what scikit-learn's validation would pass unchanged)."""
    return (_shaped(data, width) and data.dtype == np.float64
            and math.isfinite(np.add.reduce(data, axis=None)))  # a sum is finite when every value is


# -- LogisticRegression: both outputs from one decision pass ------------------------------------


OnePass = Callable[[Any], tuple[np.ndarray, np.ndarray]]


def _one_pass_model(est: Any) -> bool:
    return _name(est) in _ONE_PASS and getattr(est, "classes_", None) is not None


def one_pass(predict: Any, proba: Any) -> OnePass | None:
    """``data -> (predict(data), predict_proba(data))`` from one decision pass, when ``predict``
    and ``predict_proba`` are a LogisticRegression's, or a ``Pipeline``'s that ends in one (its
    transforms then run once, not once per output); else None."""
    owner = getattr(predict, "__self__", None)
    if owner is None or getattr(proba, "__self__", None) is not owner:
        return None
    est: Any = owner
    steps = _pipeline_steps(est)
    if steps is not None:
        final = steps[-1][1]
        if not _one_pass_model(final):
            return None
        if len(steps) == 1:
            return lambda data: from_scores(final, data)
        head = est[:-1]  # the transforms, as the pipeline's own predict runs them
        return lambda data: from_scores(final, head.transform(data))
    return (lambda data: from_scores(est, data)) if _one_pass_model(est) else None


def from_scores(est: Any, data: Any) -> tuple[np.ndarray, np.ndarray]:
    """(predict, predict_proba) of a LogisticRegression from one ``decision_function`` call:
    ``LinearClassifierMixin.predict`` (the sign, or the argmax, of the scores) and ``predict_proba``
    (``expit`` of the binary score, ``softmax`` of the multiclass ones)."""
    from scipy.special import expit
    from sklearn.utils.extmath import softmax

    decision = scores(est, data)
    if decision.ndim == 1:
        preds = est.classes_.take((decision > 0).astype(np.intp), axis=0)
        positive = expit(decision)
        return preds, np.stack([1 - positive, positive], axis=1)
    preds = est.classes_.take(np.argmax(decision, axis=1), axis=0)
    return preds, softmax(decision, copy=False)


def scores(est: Any, data: Any) -> np.ndarray:
    """``est.decision_function(data)``, without its input validation for a checked input
    (``safe_sparse_dot`` of a dense array is ``@``); anything else through ``decision_function``."""
    coef = est.coef_
    if (type(coef) is np.ndarray and coef.dtype == np.float64 and coef.ndim == 2
            and _checked(data, coef.shape[1])):
        decision = data @ coef.T + est.intercept_
        return decision.reshape(-1) if decision.shape[1] == 1 else decision
    return est.decision_function(data)  # type: ignore[no-any-return]


# -- forests: the trees looped over directly ----------------------------------------------------


class ForestRoute:
    """``predict`` / ``predict_proba`` of a fitted single-output forest, as ``ForestClassifier`` and
    ``ForestRegressor`` compute them with one job: each tree's ``tree_.predict`` on the float32
    input, summed in the trees' order, divided by their number; a classifier's prediction is the
    class of the highest mean probability. Each returns None for an input it was not written for."""

    def __init__(self, est: Any, classifier: bool) -> None:
        self.est, self.classifier = est, classifier
        self.width = int(est.n_features_in_)

    def _input(self, data: Any) -> np.ndarray | None:
        if _shaped(data, self.width) and data.dtype.kind in "iu":  # a signature of integer columns
            return data.astype(np.float32)  # every integer is a finite float32
        if not _checked(data, self.width):
            return None
        with np.errstate(over="ignore"):  # float64 values beyond float32's range become infinities,
            rows = data.astype(np.float32)  # as in the forest's own validation, which then refuses them
        return rows if math.isfinite(np.add.reduce(rows, axis=None, dtype=np.float64)) else None

    def predict_proba(self, data: Any) -> np.ndarray | None:
        rows = self._input(data)
        if rows is None or not self.classifier:
            return None
        total = np.zeros((rows.shape[0], int(self.est.n_classes_)), dtype=np.float64)
        for tree in self.est.estimators_:
            total += tree.tree_.predict(rows)[:, :tree.n_classes_]
        total /= len(self.est.estimators_)
        return total

    def predict(self, data: Any) -> np.ndarray | None:
        if self.classifier:
            proba = self.predict_proba(data)
            return None if proba is None else self.est.classes_.take(np.argmax(proba, axis=1), axis=0)
        rows = self._input(data)
        if rows is None:
            return None
        total = np.zeros(rows.shape[0], dtype=np.float64)
        for tree in self.est.estimators_:
            total += tree.tree_.predict(rows)[:, 0]
        total /= len(self.est.estimators_)
        return total


def forest_route(model: Any) -> ForestRoute | None:
    """A :class:`ForestRoute` for a fitted RandomForest or ExtraTrees model that predicts with one job,
    one output and no column names (a model that knows its columns warns on an array; its
    name-free serving copy does not), else None."""
    name = _name(model)
    classifier = name in _FOREST_CLASSIFIERS
    if not (classifier or name in _FOREST_REGRESSORS) or getattr(model, "n_outputs_", None) != 1:
        return None
    # n_jobs > 1 sums the trees on threads in the order they finish: no one order to repeat
    if getattr(model, "n_jobs", None) not in (None, 1) or hasattr(model, "feature_names_in_"):
        return None
    if not getattr(model, "estimators_", None) or getattr(model, "n_features_in_", None) is None:
        return None
    return ForestRoute(model, classifier)


class Verified:
    """``fallback(data)``, answered by ``direct(data)`` wherever that gives an answer (not None).

    The first direct answer is compared with ``fallback``'s: on any difference the direct route
    is dropped for good (logged once) and ``fallback`` answers from then on."""

    def __init__(self, direct: Callable[[Any], np.ndarray | None], fallback: Callable[[Any], Any], what: str) -> None:
        self.direct, self.fallback, self.what = direct, fallback, what
        self.ok: bool | None = None  # None: not compared yet

    def __call__(self, data: Any) -> Any:
        if self.ok is False:
            return self.fallback(data)
        answer = self.direct(data)
        if answer is None:
            return self.fallback(data)
        if self.ok is None:
            want = self.fallback(data)
            self.ok = isinstance(want, np.ndarray) and same(answer, want)
            if not self.ok:
                logger.warning("%s: the direct route does not reproduce scikit-learn's answer; calling it instead",
                               self.what)
                return want
        return answer


def with_forest_route(model: Any) -> Any | None:
    """A shallow copy of ``model`` -- a forest :func:`forest_route` takes, or a scikit-learn
    ``Pipeline`` ending in one -- whose forest answers ``predict`` / ``predict_proba`` through its
    route (:class:`Verified` against the forest's own methods); None when there is no such forest.

    In a pipeline the steps before the forest run as they are; what they hand the forest takes the
    route when it is a checked array (a step with pandas output hands it a DataFrame, which does not)."""
    steps = _pipeline_steps(model)
    if steps is not None:
        name, final = steps[-1]
        routed = with_forest_route(final) if _pipeline_steps(final) is None else None
        if routed is None:
            return None
        pipeline = copy.copy(model)
        pipeline.steps = [*steps[:-1], (name, routed)]
        return pipeline
    route = forest_route(model)
    if route is None:
        return None
    forest = copy.copy(model)
    what = type(model).__name__
    forest.predict = Verified(route.predict, model.predict, what)
    if route.classifier:
        forest.predict_proba = Verified(route.predict_proba, model.predict_proba, what)
    return forest
