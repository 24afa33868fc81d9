"""Confidence-based performance estimation (CBPE) for classifiers: quality from probabilities alone.

If the (calibrated) probability of class c for a row is p_c, the row's label is c with probability
p_c, so every count of the confusion matrix has an expected value: E[C[true=i, pred=j]] is the sum
of p_i over the rows predicted j. Accuracy, precision, recall and F1 follow from that expected
matrix (ratios of expectations, as NannyML's CBPE computes them); ROC AUC from the expected ROC
curve: rows ranked by the model's raw score, each weighing p as a positive and 1 - p as a negative.

Calibration: per class, isotonic regression of "the label is c" on the model's probability of c,
fitted on the labeled reference rows (one-vs-rest, rows renormalized for more than two classes).
It is kept only when it helps: the calibration error (``_calibration_error``: the gap between each
tenth's share of a class and its mean probability, beyond what sampling noise explains) of 2-fold
cross-fitted isotonic probabilities must be below the raw probabilities' on the same reference rows,
else the raw probabilities are used (a well-calibrated model gains nothing and would only pick up
the isotonic steps' noise). Brier scores were the test before, but label noise dominates them: over
five data sets of ``benchmarks/estimation.py`` they kept the raw probabilities of a slightly
miscalibrated model four times, and the ROC AUC estimate's error was 1.46x NannyML's (0.0070 against
0.0048); calibrated, it is 0.0049.

The band: the realized metric of a window is random even when every assumption holds (the labels
are draws from the probabilities). The band is +-1.96 standard errors of the realized metric under
independent draws from the calibrated probabilities (delta method, see ``_bands``), widened by the
calibration's own error: the isotonic fit's sampling error where the window's scores fall, or, for
uncalibrated probabilities, their calibration error measured on the reference.

Everything fitted is arrays of numbers (no pickle): see ``to_dict``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shipyard.errors import InvalidInput

__all__ = ["ClassWindowSummary", "ClassifierEstimator"]

_BINS = 256  # score bins of a mergeable window summary (ROC AUC of merged windows)
CLASS_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")


def _as_proba(proba: Any) -> np.ndarray:
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim == 1:
        p = np.column_stack([1.0 - p, p])
    if p.ndim != 2 or p.shape[1] < 2:
        raise InvalidInput(f"probabilities must be n x classes (or the positive class's, 1-D), got {p.shape}")
    if not np.all(np.isfinite(p)):
        raise InvalidInput("probabilities hold NaN or infinite values")
    return p


def _isotonic(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, y)
    xt, yt = np.asarray(iso.X_thresholds_, dtype=np.float64), np.asarray(iso.y_thresholds_, dtype=np.float64)
    # Isotonic regression is a staircase: a step's value is right at its middle and off towards its
    # ends. Interpolating linearly between the steps' middles keeps it monotone and removes most of
    # the staircase's error (a window whose scores sit in one part of a step inherits it otherwise).
    starts = np.flatnonzero(np.r_[True, yt[1:] != yt[:-1]])
    ends = np.r_[starts[1:], len(yt)] - 1
    mid = (xt[starts] + xt[ends]) / 2
    keep = [0] if len(mid) == 1 else []
    if not keep:
        return np.r_[xt[0], mid, xt[-1]], np.r_[yt[0], yt[starts], yt[-1]]
    return xt, yt


def _blocks(x: np.ndarray, y: np.ndarray, size: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """(left edges, variance of the calibrated value) of runs of ``size`` reference rows sorted by
    score: how uncertain the calibration is where a window's scores fall (see ``_calibration_var``)."""
    order = np.argsort(x, kind="mergesort")
    parts = [part for part in np.array_split(order, max(len(x) // size, 1)) if len(part)]
    edges = np.asarray([x[part[0]] for part in parts])
    share = np.asarray([np.mean(y[part]) for part in parts])
    counts = np.asarray([len(part) for part in parts], dtype=np.float64)
    return edges, (share * (1 - share) + 1 / counts) / counts


def _calibrated_columns(k: int) -> range:
    """The probability columns that get a calibrator of their own: the positive one of two classes
    (the other is its complement), every one of more."""
    return range(1, 2) if k == 2 else range(k)


def _brier(p: np.ndarray, onehot: np.ndarray) -> float:
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


@dataclass
class ClassWindowSummary:
    """What one window contributes, as sums: windows (or replicas' shares of one) merge by adding.

    ``confusion[i, j]`` is the expected count of rows of true class i predicted j (exact under
    merging, so accuracy, precision, recall and F1 of merged windows are exact); ``hist[c, b]`` the
    expected positives (p_c) and ``neg[c, b]`` the expected negatives (1 - p_c) of class c among rows
    whose score of c falls in the reference's quantile bin b: ROC AUC of merged windows comes from
    these bins (ties within a bin count half, so it is approximate to about 1/``_BINS``). ``var``
    holds each metric's sampling variance; merged as the variance of a row-weighted mean."""

    n: int
    confusion: np.ndarray
    hist: np.ndarray
    neg: np.ndarray
    var: dict[str, float] = field(default_factory=dict)

    def merge(self, other: ClassWindowSummary) -> ClassWindowSummary:
        n = self.n + other.n
        var = {m: (self.n**2 * self.var.get(m, 0.0) + other.n**2 * other.var.get(m, 0.0)) / max(n, 1) ** 2
               for m in set(self.var) | set(other.var)}
        return ClassWindowSummary(n, self.confusion + other.confusion, self.hist + other.hist,
                                  self.neg + other.neg, var)


def confusion_metrics(confusion: np.ndarray) -> dict[str, float]:
    """Accuracy and precision / recall / F1 (the positive class for two classes, macro otherwise)
    from a (possibly expected) confusion matrix, rows true, columns predicted."""
    k = confusion.shape[0]
    total = confusion.sum()
    out = {"accuracy": float(np.trace(confusion) / total) if total else float("nan")}
    per = []
    for c in (range(k) if k > 2 else [k - 1]):
        tp, predicted, actual = confusion[c, c], confusion[:, c].sum(), confusion[c, :].sum()
        p = tp / predicted if predicted else 0.0
        r = tp / actual if actual else 0.0
        per.append((p, r, 2 * tp / (predicted + actual) if predicted + actual else 0.0))
    out["precision"], out["recall"], out["f1"] = (float(np.mean([x[i] for x in per])) for i in range(3))
    return out


def _binned_auc(pos: np.ndarray, neg: np.ndarray) -> float | None:
    """AUC from expected positives and negatives per score bin, ascending; ties within a bin count half."""
    tp, tn = pos.sum(), neg.sum()
    if tp <= 0 or tn <= 0:
        return None
    below = np.cumsum(neg) - neg
    return float(np.sum(pos * (below + 0.5 * neg)) / (tp * tn))


def expected_auc(score: np.ndarray, p: np.ndarray) -> float | None:
    """Expected ROC AUC: rows ranked by ``score``, each a positive with weight p, a negative with 1 - p."""
    order = np.argsort(score, kind="mergesort")
    s, w = score[order], p[order]
    # group ties so a tied pair counts half, as the rank-sum AUC does
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    pos = np.add.reduceat(w, starts)
    neg = np.add.reduceat(1.0 - w, starts)
    return _binned_auc(pos, neg)


def _auc_and_variance(s: np.ndarray, w: np.ndarray) -> tuple[float | None, float]:
    """(expected ROC AUC, its variance) from the scores ``s`` sorted ascending and each row's
    probability ``w`` of being a positive, in the same order.

    The variance is the delta method's for the realized AUC when each row is a positive with
    probability p: AUC = A / (P N), and a row's label moves A by (negatives below it - positives
    above it, ties half) and P N by N - P."""
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    pos, neg = np.add.reduceat(w, starts), np.add.reduceat(1.0 - w, starts)
    big_p, big_n = float(pos.sum()), float(neg.sum())
    if big_p <= 0 or big_n <= 0:
        return None, float("nan")
    below = np.cumsum(neg) - 0.5 * neg  # negatives below a tie group, its own counting half
    auc = float(pos @ below) / (big_p * big_n)
    above = big_p - np.cumsum(pos) + 0.5 * pos
    g = (below - above) / (big_p * big_n) - auc * (big_n - big_p) / (big_p * big_n)
    # rows of one tie group share its g: sum g^2 p (1 - p) over groups
    v = np.add.reduceat(w * (1 - w), starts)
    return auc, float(np.sum(g**2 * v))


def _calibration_error(p: np.ndarray, onehot: np.ndarray, groups: int = 10) -> float:
    """The probabilities' own error: over tenths of the rows sorted by each class's probability,
    the root mean square of (share of that class - mean probability), less what sampling noise
    alone explains. A window from one region of the scores inherits that region's error, whatever
    its size: it widens every band (see ``_bands``)."""
    excess = []
    for c in range(p.shape[1]):
        order = np.argsort(p[:, c], kind="mergesort")
        for part in np.array_split(order, groups):
            if not len(part):
                continue
            gap = float(np.mean(onehot[part, c]) - np.mean(p[part, c]))
            noise = float(np.mean(p[part, c] * (1 - p[part, c]))) / len(part)
            excess.append(gap**2 - noise)
    return float(np.sqrt(max(float(np.mean(excess)), 0.0))) if excess else 0.0


class ClassifierEstimator:
    """CBPE: ``fit(y, proba, y_pred)`` on labeled reference rows, then ``estimate(proba, y_pred)`` per window.

    ``classes`` are the labels in probability-column order (default 0..k-1); ``calibrate`` is
    "auto" (isotonic when it lowers the cross-fitted Brier score), True or False."""

    task = "classification"

    def __init__(self, *, classes: Any = None, calibrate: bool | str = "auto") -> None:
        self.classes = classes
        self.calibrate = calibrate

    # --- fit -------------------------------------------------------------------------------------

    def fit(self, y: Any, proba: Any, y_pred: Any = None) -> ClassifierEstimator:
        p = _as_proba(proba)
        y = np.asarray(y)
        if len(y) != len(p):
            raise InvalidInput(f"{len(y)} labels for {len(p)} rows of probabilities")
        if len(y) < 50:
            raise InvalidInput(f"estimation needs at least 50 labeled reference rows, got {len(y)}")
        classes = np.asarray(self.classes) if self.classes is not None else np.arange(p.shape[1])
        if len(classes) != p.shape[1]:
            raise InvalidInput(f"{len(classes)} classes for {p.shape[1]} probability columns")
        self.classes_ = classes.tolist()
        column = self._column(y)
        onehot = np.eye(p.shape[1])[column]
        self.calibrators_: list[tuple[np.ndarray, np.ndarray]] | None = None
        self.brier_raw_ = _brier(p / p.sum(axis=1, keepdims=True), onehot)
        self.brier_calibrated_ = self._crossfit_brier(p, onehot)
        # Judged by calibration error beyond sampling noise, not by Brier score: label noise dominates
        # the Brier score, so a small but real miscalibration (one that moves every estimate) hides in it.
        helps = _calibration_error(self._crossfit, onehot) < _calibration_error(self._normalize(p), onehot)
        use = self.calibrate is True or (self.calibrate == "auto" and helps)
        self.blocks_: list[tuple[np.ndarray, np.ndarray]] | None = None
        if use:
            own = _calibrated_columns(p.shape[1])  # the rest: identity (two classes: the complement)
            self.calibrators_ = [_isotonic(p[:, c], onehot[:, c]) if c in own else (np.r_[0.0, 1.0], np.r_[0.0, 1.0])
                                 for c in range(p.shape[1])]
            self.blocks_ = [_blocks(p[:, c], onehot[:, c]) if c in own else (np.r_[0.0], np.r_[0.0])
                            for c in range(p.shape[1])]
        self.calibrated_ = bool(use)
        # what the probabilities used still get wrong, measured on rows they were not fitted on
        used = self._crossfit if use else self._normalize(p)
        self.calibration_error_ = _calibration_error(used, onehot)
        # reference score bins for mergeable summaries: quantiles of each class's raw score
        qs = np.linspace(0, 1, _BINS + 1)[1:-1]
        self.bins_ = np.quantile(p, qs, axis=0).T  # classes x (_BINS - 1)
        pred = self._pred_column(y_pred, p)
        self.reference_ = self._exact(p, pred, column)
        return self

    def _crossfit_brier(self, p: np.ndarray, onehot: np.ndarray) -> float:
        rng = np.random.default_rng(0)
        fold = rng.integers(0, 2, len(p))
        out = np.empty_like(p)
        for f in (0, 1):
            train, test = fold != f, fold == f
            for c in _calibrated_columns(p.shape[1]):
                xt, yt = _isotonic(p[train, c], onehot[train, c])
                out[test, c] = np.interp(p[test, c], xt, yt)
        if p.shape[1] == 2:
            out[:, 0] = 1.0 - out[:, 1]
        self._crossfit = self._normalize(out)
        return _brier(self._crossfit, onehot)

    @staticmethod
    def _normalize(p: np.ndarray) -> np.ndarray:
        total = p.sum(axis=1, keepdims=True)
        flat = np.full_like(p, 1.0 / p.shape[1])
        return np.where(total > 0, p / np.where(total > 0, total, 1.0), flat)

    def _column(self, y: np.ndarray) -> np.ndarray:
        """Each label's probability column (vectorized: a sorted lookup of the classes)."""
        classes = np.asarray(self.classes_)
        if y.dtype.kind == "f" and classes.dtype.kind in "iu" and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        if (y.dtype.kind in "iu") != (classes.dtype.kind in "iu"):
            y = y.astype(str) if classes.dtype.kind not in "iu" else y
            classes = classes.astype(str) if y.dtype.kind not in "iu" else classes
        order = np.argsort(classes, kind="stable")
        known = classes[order]
        at = np.clip(np.searchsorted(known, y), 0, len(known) - 1)
        bad = known[at] != y
        if np.any(bad):
            raise InvalidInput(f"label {y[np.argmax(bad)]!r} is not one of the classes {self.classes_}")
        return order[at].astype(np.int64)

    def _pred_column(self, y_pred: Any, p: np.ndarray) -> np.ndarray:
        """Predicted classes as column indices: the model's own predictions when given (its threshold),
        else the most probable class."""
        if y_pred is None:
            return np.argmax(p, axis=1)
        y_pred = np.asarray(y_pred)
        if len(y_pred) != len(p):
            raise InvalidInput(f"{len(y_pred)} predictions for {len(p)} rows of probabilities")
        if y_pred.dtype.kind == "f" and all(isinstance(c, int) for c in self.classes_):
            y_pred = y_pred.astype(np.int64)
        return self._column(y_pred)

    def _exact(self, p: np.ndarray, pred: np.ndarray, column: np.ndarray) -> dict[str, float]:
        """Realized metrics on labeled rows (the reference's own, for the report)."""
        k = p.shape[1]
        confusion = np.zeros((k, k))
        np.add.at(confusion, (column, pred), 1.0)
        out = confusion_metrics(confusion)
        aucs = [expected_auc(p[:, c], (column == c).astype(float)) for c in (range(k) if k > 2 else [1])]
        found = [a for a in aucs if a is not None]
        if found:
            out["roc_auc"] = float(np.mean(found))
        return out

    # --- estimate --------------------------------------------------------------------------------

    def calibrated(self, proba: Any) -> np.ndarray:
        p = _as_proba(proba)
        self._check_fitted(p.shape[1])
        if self.calibrators_ is None:
            return self._normalize(p)
        if p.shape[1] == 2:  # two classes: the positive class's calibration, the other its complement
            xt, yt = self.calibrators_[1]
            p1 = np.interp(p[:, 1], xt, yt)
            return np.column_stack([1.0 - p1, p1])
        out = np.column_stack([np.interp(p[:, c], xt, yt) for c, (xt, yt) in enumerate(self.calibrators_)])
        return self._normalize(out)

    def _calibrated_sorted(self, raw: np.ndarray, ordered: dict[int, np.ndarray],
                           scores: dict[int, np.ndarray]) -> np.ndarray:
        """``calibrated(raw)`` for two classes, from the positive scores' sort order: interpolating
        sorted scores is several times faster (each lookup starts where the last one ended)."""
        if self.calibrators_ is None or raw.shape[1] != 2:
            return self.calibrated(raw)
        xt, yt = self.calibrators_[1]
        p1 = np.empty(len(raw))
        p1[ordered[1]] = np.interp(scores[1], xt, yt)
        return np.column_stack([1.0 - p1, p1])

    def _check_fitted(self, width: int) -> None:
        if not hasattr(self, "classes_"):
            from shipyard.monitoring._estimate import NotFittedError

            raise NotFittedError("this estimator is not fitted yet: call fit(y, proba) on labeled reference rows")
        if width != len(self.classes_):
            raise InvalidInput(f"{width} probability columns, the estimator was fitted on {len(self.classes_)}")

    def summarize(self, proba: Any, y_pred: Any = None) -> tuple[ClassWindowSummary, dict[str, float]]:
        """(the window's mergeable summary, its estimated metrics with ``<metric>_low``/``_high`` bands)."""
        raw = _as_proba(proba)
        self._check_fitted(raw.shape[1])
        n, k = raw.shape
        classes = range(k) if k > 2 else [1]
        # one sort per class serves the calibration, ROC AUC, its variance, the summary's bins and the
        # calibration's error
        ordered = {c: np.argsort(raw[:, c], kind="stable") for c in classes}
        scores = {c: raw[o, c] for c, o in ordered.items()}  # each class's scores, ascending
        p = self._calibrated_sorted(raw, ordered, scores)
        pred = self._pred_column(y_pred, raw)
        # [true, predicted]: expected count of each true class among the rows predicted each class
        confusion = np.vstack([np.bincount(pred, weights=p[:, i], minlength=k) for i in range(k)])
        metrics = confusion_metrics(confusion)
        auc_var = []
        aucs = []
        for c in classes:
            auc, var = _auc_and_variance(scores[c], p[ordered[c], c])
            aucs.append(auc)
            auc_var.append(var)
        if all(a is not None for a in aucs):
            metrics["roc_auc"] = float(np.mean([a for a in aucs if a is not None]))
        hist = np.zeros((k, _BINS))
        neg = np.zeros((k, _BINS))
        for c in classes:  # two classes: ROC AUC needs the positive class's bins only
            b = np.searchsorted(self.bins_[c], scores[c], side="right")  # sorted needles: fast
            w = p[ordered[c], c]
            hist[c] = np.bincount(b, weights=w, minlength=_BINS)
            neg[c] = np.bincount(b, weights=1.0 - w, minlength=_BINS)
        bands = self._bands(p, pred, metrics, auc_var, scores)
        summary = ClassWindowSummary(n, confusion, hist, neg,
                                     {m: ((hi - lo) / 3.92) ** 2 for m, (lo, hi) in bands.items()})
        out = dict(metrics)
        for m, (lo, hi) in bands.items():
            out[f"{m}_low"], out[f"{m}_high"] = lo, hi
        return summary, out

    def _bands(self, p: np.ndarray, pred: np.ndarray, metrics: dict[str, float], auc_var: list[float],
               scores: dict[int, np.ndarray]) -> dict[str, tuple[float, float]]:
        """Each metric's 95 % band: +-1.96 standard errors of the realized metric when each label is
        an independent draw from ``p`` (delta method; for more classes, one-vs-rest per class and the
        macro average's variance as if the classes were independent)."""
        n, k = p.shape
        q = p[np.arange(n), pred]  # the probability that each row's prediction is right
        var = {"accuracy": float(np.sum(q * (1 - q))) / n**2}
        per: dict[str, list[float]] = {"precision": [], "recall": [], "f1": [], "roc_auc": []}
        for c in (range(k) if k > 2 else [1]):
            w = p[:, c]
            v = w * (1 - w)
            hit = (pred == c).view(np.int8)  # 0 / 1: one bincount sums both sides, no masked copies
            n_pp = float(np.count_nonzero(hit))
            fn, tp = (float(x) for x in np.bincount(hit, weights=w, minlength=2))
            v0, v1 = (float(x) for x in np.bincount(hit, weights=v, minlength=2))
            actual = tp + fn
            per["precision"].append(v1 / n_pp**2 if n_pp else 0.0)
            per["recall"].append((fn**2 * v1 + tp**2 * v0) / actual**4 if actual else 0.0)
            d = n_pp + actual
            per["f1"].append(((2 * (n_pp + fn)) ** 2 * v1 + (2 * tp) ** 2 * v0) / d**4 if d else 0.0)
        per["roc_auc"] = list(auc_var)
        m = len(per["precision"])
        for name, values in per.items():
            var[name] = float(np.sum(values)) / m**2
        cal = self._calibration_var(scores, n) if self.blocks_ is not None else self.calibration_error_**2
        var = {name: v + cal for name, v in var.items()}
        out = {}
        for name, value in var.items():
            if name in metrics and np.isfinite(value):
                half = 1.96 * float(np.sqrt(value))
                out[name] = (metrics[name] - half, metrics[name] + half)
        return out

    def _calibration_var(self, scores: dict[int, np.ndarray], n: int) -> float:
        """The variance a window's estimate inherits from the calibration's own sampling error: the
        calibrated value of a score is about as uncertain as the share of its class among the ~100
        reference rows nearest in score, and a window averages over the stretches its scores fall in
        (errors of one stretch move every row there alike, so they do not shrink with the window)."""
        assert self.blocks_ is not None
        total = 0.0
        for c, s in scores.items():
            edges, var = self.blocks_[c]
            b = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, len(edges) - 1)
            share = np.bincount(b, minlength=len(edges)) / n
            total += float(np.sum(share**2 * var))
        return total / len(scores)

    def estimate(self, proba: Any, y_pred: Any = None) -> dict[str, float]:
        """The window's estimated metrics, each with ``<metric>_low`` and ``<metric>_high``."""
        return self.summarize(proba, y_pred)[1]

    def expected_confusion(self, proba: Any, y_pred: Any = None) -> np.ndarray:
        """The window's expected confusion matrix (rows true class, columns predicted; counts)."""
        return self.summarize(proba, y_pred)[0].confusion

    def from_summary(self, summary: ClassWindowSummary) -> dict[str, float]:
        """Estimated metrics of a (merged) summary: exact for all but ROC AUC (binned)."""
        out = confusion_metrics(summary.confusion)
        k = summary.confusion.shape[0]
        aucs = [_binned_auc(summary.hist[c], summary.neg[c]) for c in (range(k) if k > 2 else [1])]
        if all(a is not None for a in aucs):
            out["roc_auc"] = float(np.mean([a for a in aucs if a is not None]))
        for m, var in summary.var.items():
            if m in out:
                half = 1.96 * float(np.sqrt(var))
                out[f"{m}_low"], out[f"{m}_high"] = out[m] - half, out[m] + half
        return out

    # --- storage ---------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "cbpe", "classes": self.classes_, "calibrated": self.calibrated_,
            "calibrators": None if self.calibrators_ is None else [[x.tolist(), y.tolist()]
                                                                  for x, y in self.calibrators_],
            "bins": self.bins_.tolist(), "brier_raw": self.brier_raw_, "brier_calibrated": self.brier_calibrated_,
            "calibration_error": self.calibration_error_, "reference": self.reference_,
            "blocks": None if self.blocks_ is None else [[e.tolist(), v.tolist()] for e, v in self.blocks_],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassifierEstimator:
        est = cls(classes=data["classes"], calibrate=bool(data["calibrated"]))
        est.classes_ = list(data["classes"])
        est.calibrated_ = bool(data["calibrated"])
        cal = data.get("calibrators")
        est.calibrators_ = None if cal is None else [(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
                                                     for x, y in cal]
        est.bins_ = np.asarray(data["bins"], dtype=np.float64)
        est.brier_raw_, est.brier_calibrated_ = float(data["brier_raw"]), float(data["brier_calibrated"])
        est.reference_ = {k: float(v) for k, v in data.get("reference", {}).items()}
        est.calibration_error_ = float(data.get("calibration_error", 0.0))
        blocks = data.get("blocks")
        est.blocks_ = None if blocks is None else [(np.asarray(e, dtype=np.float64), np.asarray(v, dtype=np.float64))
                                                   for e, v in blocks]
        return est
