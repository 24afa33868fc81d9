"""Gradient-boosted trees as flat arrays of numbers, evaluated in NumPy.

The loss model of a regressor's estimator is fitted with LightGBM (when installed) or scikit-learn's
HistGradientBoostingRegressor, then copied into the arrays below, so the stored estimator is plain
JSON -- nothing is unpickled when a monitor loads it, and applying it needs neither library.
Only numeric splits occur: categorical features reach the trees as integer codes.

LightGBM's trees may have linear leaves (``linear_tree``): a leaf's output is then a constant plus
a linear function of some features, and the leaf's plain value when one of those is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["FlatForest", "fit_forest"]


@dataclass
class FlatForest:
    """Trees in one set of arrays: node i splits on ``feature[i]`` at ``threshold[i]`` (go ``left`` when
    x <= threshold; a missing value goes left when ``missing_left[i]``); a leaf has ``feature`` -1 and
    its ``value``. ``roots`` are the first node of each tree; the prediction is ``base`` plus the
    leaf values."""

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    missing_left: np.ndarray
    roots: np.ndarray
    base: float = 0.0
    lightgbm_text: str | None = None  # LightGBM's own text format, parsed (never unpickled) when installed
    const: np.ndarray | None = None  # linear leaves only (None: every leaf is a constant)
    coef: np.ndarray | None = None
    _booster: Any = None

    def _lightgbm(self) -> Any:
        if self._booster is None and self.lightgbm_text and _lightgbm_available():
            import lightgbm

            self._booster = lightgbm.Booster(model_str=self.lightgbm_text)
        return self._booster

    def predict(self, X: np.ndarray) -> np.ndarray:
        booster = self._lightgbm()
        if booster is not None:  # the same trees, in C++: several times faster than the NumPy walk
            return np.asarray(booster.predict(X, num_threads=_predict_threads(len(X))), dtype=np.float64)
        return self.walk(X)

    def walk(self, X: np.ndarray) -> np.ndarray:
        """The trees' prediction in NumPy alone."""
        n, trees = X.shape[0], len(self.roots)
        # one entry per (row, tree) still inside its tree; entries that reach a leaf drop out
        row = np.repeat(np.arange(n), trees)
        node = np.tile(self.roots, n)
        out = np.zeros(n * trees)
        where = np.arange(n * trees)
        while len(where):
            f = self.feature[node]
            leaf = f < 0
            if leaf.any():
                out[where[leaf]] = self._leaf_output(node[leaf], X[row[leaf]])
                keep = ~leaf
                where, row, node, f = where[keep], row[keep], node[keep], f[keep]
            if not len(where):
                break
            x = X[row, f]
            go_left = np.where(np.isnan(x), self.missing_left[node], x <= self.threshold[node])
            node = np.where(go_left, self.left[node], self.right[node])
        return self.base + out.reshape(n, trees).sum(axis=1)

    def _leaf_output(self, nodes: np.ndarray, x: np.ndarray) -> np.ndarray:
        if self.coef is None or self.const is None:
            return self.value[nodes]
        coef = self.coef[nodes]
        missing = np.isnan(x)
        linear = self.const[nodes] + (coef * np.where(missing, 0.0, x)).sum(axis=1)
        # LightGBM's rule: a missing value among a leaf's features falls back to its plain value
        return np.where((missing & (coef != 0)).any(axis=1), self.value[nodes], linear)

    def to_dict(self) -> dict[str, Any]:
        return {"feature": self.feature.tolist(), "threshold": self.threshold.tolist(), "left": self.left.tolist(),
                "right": self.right.tolist(), "value": self.value.tolist(),
                "missing_left": self.missing_left.astype(int).tolist(), "roots": self.roots.tolist(),
                "base": self.base, "lightgbm_text": self.lightgbm_text,
                "const": None if self.const is None else self.const.tolist(),
                "coef": None if self.coef is None else self.coef.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FlatForest:
        return cls(np.asarray(d["feature"], dtype=np.int64), np.asarray(d["threshold"], dtype=np.float64),
                   np.asarray(d["left"], dtype=np.int64), np.asarray(d["right"], dtype=np.int64),
                   np.asarray(d["value"], dtype=np.float64), np.asarray(d["missing_left"], dtype=bool),
                   np.asarray(d["roots"], dtype=np.int64), float(d["base"]), d.get("lightgbm_text"),
                   None if d.get("const") is None else np.asarray(d["const"], dtype=np.float64),
                   None if d.get("coef") is None else np.asarray(d["coef"], dtype=np.float64))


class _Builder:
    def __init__(self, features: int = 0) -> None:
        self.features = features
        self.linear: dict[int, tuple[float, dict[int, float]]] = {}  # node -> (const, {feature: coef})
        self.feature: list[int] = []
        self.threshold: list[float] = []
        self.left: list[int] = []
        self.right: list[int] = []
        self.value: list[float] = []
        self.missing_left: list[bool] = []
        self.roots: list[int] = []

    def node(self) -> int:
        self.feature.append(-1)
        self.threshold.append(0.0)
        self.left.append(-1)
        self.right.append(-1)
        self.value.append(0.0)
        self.missing_left.append(False)
        return len(self.feature) - 1

    def lightgbm(self, tree: dict[str, Any]) -> int:
        i = self.node()
        if "leaf_value" in tree and "split_feature" not in tree:
            self.value[i] = float(tree["leaf_value"])
            if "leaf_const" in tree:
                coef = dict(zip((int(f) for f in tree.get("leaf_features", [])),
                                (float(c) for c in tree.get("leaf_coeff", [])), strict=True))
                self.linear[i] = (float(tree["leaf_const"]), coef)
            return i
        self.feature[i] = int(tree["split_feature"])
        self.threshold[i] = float(tree["threshold"])
        # LightGBM: missing_type None turns NaN into 0 (we compare 0 <= threshold), else NaN goes to default
        missing = tree.get("missing_type", "None")
        self.missing_left[i] = bool(tree.get("default_left", True)) if missing != "None" else self.threshold[i] >= 0.0
        self.left[i] = self.lightgbm(tree["left_child"])
        self.right[i] = self.lightgbm(tree["right_child"])
        return i

    def forest(self, base: float) -> FlatForest:
        const = coef = None
        if self.linear:
            const = np.asarray(self.value, dtype=np.float64)  # a constant leaf: const = value, no coefficients
            coef = np.zeros((len(self.value), self.features))
            for i, (c, by_feature) in self.linear.items():
                const[i] = c
                for f, v in by_feature.items():
                    coef[i, f] = v
        return FlatForest(np.asarray(self.feature, dtype=np.int64), np.asarray(self.threshold, dtype=np.float64),
                          np.asarray(self.left, dtype=np.int64), np.asarray(self.right, dtype=np.int64),
                          np.asarray(self.value, dtype=np.float64), np.asarray(self.missing_left, dtype=bool),
                          np.asarray(self.roots, dtype=np.int64), base, const=const, coef=coef)


def _from_lightgbm(booster: Any) -> FlatForest:
    b = _Builder(booster.num_feature())
    for info in booster.dump_model()["tree_info"]:
        b.roots.append(b.lightgbm(info["tree_structure"]))
    forest = b.forest(0.0)
    forest.lightgbm_text = booster.model_to_string()
    return forest


def _from_sklearn(model: Any) -> FlatForest:
    b = _Builder()
    for (predictor,) in model._predictors:
        nodes = predictor.nodes
        offset = len(b.feature)
        b.roots.append(offset)
        for node in nodes:
            i = b.node()
            if node["is_leaf"]:
                b.value[i] = float(node["value"])
            else:
                b.feature[i] = int(node["feature_idx"])
                b.threshold[i] = float(node["num_threshold"])
                b.missing_left[i] = bool(node["missing_go_to_left"])
                b.left[i], b.right[i] = offset + int(node["left"]), offset + int(node["right"])
    return b.forest(float(np.ravel(model._baseline_prediction)[0]))


def _lightgbm_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("lightgbm") is not None


def _predict_threads(rows: int) -> int:
    """Threads for one prediction: one per 1,000 rows up to the cores. A small window pays more for
    waking threads than it saves; a 5,000-row window on 2 cores takes half the time (12.4 -> 6.5 ms
    for three loss models of 30 trees in ``benchmarks/estimation.py``), as NannyML's LightGBM, which uses every
    core, does too. Rows are predicted independently, so the answer does not depend on it."""
    import os

    return max(1, min(os.cpu_count() or 1, rows // 1000))


def fit_forest(X: np.ndarray, y: np.ndarray, *, engine: str = "auto", seed: int = 0, trees: int = 16,
               leaves: int = 20, linear: bool = True) -> tuple[FlatForest, str]:
    """(the fitted trees as arrays, the library that fitted them). ``engine``: auto, lightgbm, sklearn.

    Each window pays for applying the trees to its rows (in LightGBM about 28 ns per row and tree),
    so they are few: 16 of 20 leaves, with a learning rate of 6.4 / trees (0.4; at most 0.4). Over
    the five seeds of ``benchmarks/estimation.py`` they estimate MAE / RMSE / MAPE as well as 30
    trees of 15 leaves at a rate of 0.2 did (errors 1.003 / 0.996 / 1.006 of theirs) at 57 % of the
    cost per window; 20 x 15 at 0.3 missed RMSE by 5 % more. With LightGBM the leaves are linear
    (``linear``): a row's loss often grows smoothly with the features (noise that widens with a
    feature), and a window moved by covariate shift sits at the reference's edge, where constant
    leaves flatten out and linear ones follow the trend (on average: how far past the edge a given
    fit's line holds varies from fit to fit: see
    ``test_linear_leaves_follow_the_loss_past_the_reference_edge``).
    In ``benchmarks/estimation.py`` that estimated MAE, RMSE and MAPE better than NannyML's 100
    constant-leaf trees of 31 leaves. A leaf keeps 1 % of the rows, at least 50 and at most 100: the
    targets are single rows' losses, noisy (squared errors heavy-tailed), and a leaf's line needs
    rows enough to be stable -- with 20, as LightGBM's default, RMSE estimates from 3,000 reference
    rows were 10 % worse than constant leaves'. scikit-learn's trees have constant leaves only."""
    rate = min(6.4 / max(trees, 1), 0.4)
    min_leaf = int(np.clip(len(y) // 100, 50, 100))
    if engine == "lightgbm" or (engine == "auto" and _lightgbm_available()):
        import lightgbm

        params = {"objective": "regression", "learning_rate": rate, "num_leaves": leaves,
                  "min_data_in_leaf": min_leaf, "linear_tree": linear, "seed": seed, "verbosity": -1,
                  "num_threads": 1, "deterministic": True}
        booster = lightgbm.train(params, lightgbm.Dataset(X, y, params={"linear_tree": linear}),
                                 num_boost_round=trees)
        return _from_lightgbm(booster), "lightgbm"
    from sklearn.ensemble import HistGradientBoostingRegressor

    model = HistGradientBoostingRegressor(max_iter=trees, learning_rate=rate, max_leaf_nodes=leaves,
                                          min_samples_leaf=min_leaf, random_state=seed,
                                          early_stopping=False).fit(X, y)
    return _from_sklearn(model), "sklearn"
