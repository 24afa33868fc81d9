"""Direct loss estimation (DLE) for regressors: a model of each row's error, applied without labels.

On labeled reference rows, gradient-boosted trees learn the absolute error |y - y_hat| and the
squared error (y - y_hat)^2 from the features and the prediction (and, where no reference label is
0, the absolute percentage error |y - y_hat| / |y| for MAPE). A window's estimated MAE is the mean
of the predicted absolute errors, its RMSE the root of the mean predicted squared error.

The absolute percentage error is a target of its own, as in NannyML's DLE: |e| / |y| is not
|e| / |y_hat| where y comes near 0, and a model of |e| alone cannot know which rows those are.

Fitting: 80 % of the reference rows train loss models whose misses on the other 20 % measure how far
a row's true loss strays from its predicted one; the loss models kept are then fitted on all the
rows (a fifth more data to learn from; the misses they would show are, if anything, smaller, so the
band stays on the safe side). The band: the realized
metric of a window of n rows is a mean of n losses, so its standard error is sqrt(sum of the rows'
loss variances) / n. A row's variance follows its predicted losses (|e|: E[e^2] - E[|e|]^2; e^2:
2 E[e^2]^2, as for a normal error; the percentage error: |e|'s over the squared prediction), scaled
so that on the held-out 20 % the variances add up to the squared misses actually seen there -- a
noisier region of the features gets a wider band.

Categorical features become integer codes (the reference's categories, sorted; an unseen one is
missing). Everything fitted is numbers: see ``to_dict``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shipyard.errors import InvalidInput
from shipyard.monitoring._trees import FlatForest, fit_forest

__all__ = ["RegWindowSummary", "RegressorEstimator"]

REG_METRICS = ("mae", "rmse", "mape")


def _columns(X: Any) -> dict[str, np.ndarray]:
    if hasattr(X, "columns") and hasattr(X, "to_numpy"):
        return {str(c): np.asarray(X[c].to_numpy()) for c in X.columns}
    if isinstance(X, dict):
        return {str(k): np.asarray(v) for k, v in X.items()}
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise InvalidInput(f"features must be 2-D, a DataFrame or a dict of columns, got shape {arr.shape}")
    return {f"f{i}": arr[:, i] for i in range(arr.shape[1])}


@dataclass
class RegWindowSummary:
    """Sums over a window's rows (merge by adding, exact): predicted absolute errors, squared errors,
    percentage errors, and the squared standard errors' numerators."""

    n: int
    abs_sum: float
    sq_sum: float
    ape_sum: float | None
    var: dict[str, float] = field(default_factory=dict)  # per-row loss variance x n, summed

    def merge(self, other: RegWindowSummary) -> RegWindowSummary:
        ape = None if self.ape_sum is None or other.ape_sum is None else self.ape_sum + other.ape_sum
        var = {m: self.var.get(m, 0.0) + other.var.get(m, 0.0) for m in set(self.var) | set(other.var)}
        return RegWindowSummary(self.n + other.n, self.abs_sum + other.abs_sum, self.sq_sum + other.sq_sum, ape, var)


def _relative_bias(actual: np.ndarray, predicted: np.ndarray, groups: int = 10) -> float:
    """How far the loss model's mean is off, relative to it, within a tenth of the rows sorted by
    predicted loss (root mean square over the tenths, less what sampling noise alone explains). A
    window drawn from one region of the features inherits that region's error: it is added to the
    band (it does not shrink with the window's size)."""
    if len(actual) < 10 * groups:
        return 0.0
    order = np.argsort(predicted)
    excess = []
    for part in np.array_split(order, groups):
        mean_pred = float(np.mean(predicted[part]))
        if mean_pred <= 0:
            continue
        rel = (float(np.mean(actual[part])) - mean_pred) / mean_pred
        noise = float(np.var(actual[part] - predicted[part])) / len(part) / mean_pred**2
        excess.append(rel**2 - noise)
    return float(np.sqrt(max(float(np.mean(excess)), 0.0))) if excess else 0.0


class RegressorEstimator:
    """DLE: ``fit(X, y_pred, y)`` on labeled reference rows, then ``estimate(X, y_pred)`` per window.

    ``engine``: "auto" (LightGBM if installed, else scikit-learn), "lightgbm" or "sklearn";
    ``trees`` and ``leaves`` size each loss model, ``linear`` gives LightGBM's trees linear leaves
    (see ``_trees.fit_forest``)."""

    task = "regression"

    def __init__(self, *, engine: str = "auto", seed: int = 0, trees: int = 16, leaves: int = 20,
                 linear: bool = True) -> None:
        self.engine = engine
        self.seed = seed
        self.trees = trees
        self.leaves = leaves
        self.linear = linear

    def _matrix(self, X: Any, y_pred: Any) -> np.ndarray:
        cols = _columns(X)
        y_pred = np.asarray(y_pred, dtype=np.float64)
        out = np.empty((len(y_pred), len(self.features_) + 1))
        for j, name in enumerate(self.features_):
            if name not in cols:
                raise InvalidInput(f"the window has no feature {name!r} that the estimator was fitted on")
            v = cols[name]
            if len(v) != len(y_pred):
                raise InvalidInput(f"feature {name!r} has {len(v)} rows for {len(y_pred)} predictions")
            cats = self.categories_.get(name)
            if cats is not None:
                lookup = {c: i for i, c in enumerate(cats)}
                out[:, j] = [lookup.get(str(x), np.nan) for x in v.tolist()]
            else:
                out[:, j] = v.astype(np.float64)
        out[:, -1] = y_pred
        return out

    def fit(self, X: Any, y_pred: Any, y: Any) -> RegressorEstimator:
        cols = _columns(X)
        y = np.asarray(y, dtype=np.float64)
        y_pred = np.asarray(y_pred, dtype=np.float64)
        if len(y) != len(y_pred) or any(len(v) != len(y) for v in cols.values()):
            raise InvalidInput("features, predictions and labels must have the same number of rows")
        if len(y) < 100:
            raise InvalidInput(f"estimation needs at least 100 labeled reference rows, got {len(y)}")
        self.features_ = list(cols)
        self.categories_ = {name: sorted({str(x) for x in v.tolist()}) for name, v in cols.items()
                            if v.dtype.kind not in "iufb"}
        M = self._matrix(cols, y_pred)
        err = y - y_pred
        targets = {"abs": np.abs(err), "sq": err**2}
        if np.all(np.abs(y) > 1e-12):
            targets["ape"] = np.abs(err) / np.abs(y)
        split = np.random.default_rng(self.seed).random(len(y)) < 0.8
        held: dict[str, np.ndarray] = {}
        for name, target in targets.items():
            forest, _ = self._fit_forest(M[split], target[split])
            held[name] = forest.predict(M[~split])
        self.forests_: dict[str, FlatForest] = {}
        for name, target in targets.items():
            self.forests_[name], self.engine_ = self._fit_forest(M, target)
        # spread_: how much a row's true loss varies per unit of the variance its predictions imply
        self.spread_ = {}
        model_var = self._row_variance(held, y_pred[~split])
        self.model_error_ = {}
        for name, target in targets.items():
            miss = float(np.mean((target[~split] - held[name]) ** 2))
            self.spread_[name] = miss / max(float(np.mean(model_var[name])), 1e-300)
            self.model_error_[name] = _relative_bias(target[~split], held[name])
        self.reference_ = {"mae": float(np.mean(targets["abs"])), "rmse": float(np.sqrt(np.mean(targets["sq"])))}
        if "ape" in targets:
            self.reference_["mape"] = float(np.mean(targets["ape"]))
        return self

    def _fit_forest(self, M: np.ndarray, target: np.ndarray) -> tuple[FlatForest, str]:
        return fit_forest(M, target, engine=self.engine, seed=self.seed, trees=self.trees, leaves=self.leaves,
                          linear=self.linear)

    def summarize(self, X: Any, y_pred: Any) -> tuple[RegWindowSummary, dict[str, float]]:
        if not hasattr(self, "forests_"):
            from shipyard.monitoring._estimate import NotFittedError

            raise NotFittedError("this estimator is not fitted yet: call fit(X, y_pred, y) on labeled reference rows")
        M = self._matrix(X, y_pred)
        n = len(M)
        if n == 0:
            raise InvalidInput("the window has no rows")
        loss = {name: forest.predict(M) for name, forest in self.forests_.items()}
        abs_, sq = np.maximum(loss["abs"], 0.0), np.maximum(loss["sq"], 0.0)
        ape = np.maximum(loss["ape"], 0.0) if "ape" in loss else None
        row_var = self._row_variance(loss, M[:, -1])
        var = {name: self.spread_[name] * float(np.sum(row_var[name])) for name in self.forests_}
        ape_sum = None if ape is None else float(ape.sum())
        summary = RegWindowSummary(n, float(abs_.sum()), float(sq.sum()), ape_sum, var)
        return summary, self.from_summary(summary)

    @staticmethod
    def _row_variance(loss: dict[str, np.ndarray], y_pred: np.ndarray) -> dict[str, np.ndarray]:
        """Each row's loss variance up to a factor (see the module's doc)."""
        abs_, sq = np.maximum(loss["abs"], 0.0), np.maximum(loss["sq"], 0.0)
        var_abs = np.maximum(sq - abs_**2, 0.0) + 1e-12 * (1 + sq)
        out = {"abs": var_abs, "sq": 2 * sq**2 + 1e-12}
        if "ape" in loss:
            out["ape"] = var_abs / np.maximum(y_pred**2, 1e-12)
        return out

    def from_summary(self, s: RegWindowSummary) -> dict[str, float]:
        """Estimated metrics with 95 % bands of a (merged) summary; exact under merging."""
        out: dict[str, float] = {}
        mae, mse = s.abs_sum / s.n, s.sq_sum / s.n
        means = {"abs": mae, "sq": mse, "ape": (s.ape_sum or 0.0) / s.n}
        bias = getattr(self, "model_error_", {})
        se = {name: float(np.sqrt(v / s.n**2 + (bias.get(name, 0.0) * means[name]) ** 2))
              for name, v in s.var.items()}
        out["mae"], out["mae_low"], out["mae_high"] = mae, mae - 1.96 * se["abs"], mae + 1.96 * se["abs"]
        rmse = float(np.sqrt(mse))
        lo, hi = max(mse - 1.96 * se["sq"], 0.0), mse + 1.96 * se["sq"]
        out["rmse"], out["rmse_low"], out["rmse_high"] = rmse, float(np.sqrt(lo)), float(np.sqrt(hi))
        if s.ape_sum is not None and "ape" in se:
            mape = s.ape_sum / s.n
            out["mape"], out["mape_low"], out["mape_high"] = mape, mape - 1.96 * se["ape"], mape + 1.96 * se["ape"]
        return out

    def estimate(self, X: Any, y_pred: Any) -> dict[str, float]:
        """The window's estimated MAE, RMSE (and MAPE), each with ``<metric>_low`` / ``<metric>_high``."""
        return self.summarize(X, y_pred)[1]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "dle", "engine": self.engine_, "features": self.features_, "categories": self.categories_,
                "forests": {k: f.to_dict() for k, f in self.forests_.items()}, "spread": self.spread_,
                "model_error": self.model_error_, "reference": self.reference_}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RegressorEstimator:
        est = cls(engine=str(data.get("engine", "auto")))
        est.engine_ = str(data.get("engine", "auto"))
        est.features_ = list(data["features"])
        est.categories_ = {k: list(v) for k, v in data.get("categories", {}).items()}
        est.forests_ = {k: FlatForest.from_dict(v) for k, v in data["forests"].items()}
        est.spread_ = {k: float(v) for k, v in data["spread"].items()}
        est.model_error_ = {k: float(v) for k, v in data.get("model_error", {}).items()}
        est.reference_ = {k: float(v) for k, v in data.get("reference", {}).items()}
        return est
