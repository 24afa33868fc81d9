"""The checks of one monitor run on one model version's rows of a window.

Each check yields a :class:`~shipyard.entities.CheckResult`: ``passed`` is True, False (the check
crossed its threshold: an alert) or None (not decided: too few rows, no feedback yet, no reference,
a drift test that cannot decide from what is stored, or a metric recorded without a threshold). A
None never opens or resolves an incident. Every verdict goes through ``_messages.passes`` (a value
equal to its bound passes), so a result and its message always agree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shipyard.drift import DriftInputError, compare
from shipyard.drift._auto import ALIASES, TESTS
from shipyard.drift._columns import column_data
from shipyard.entities import CheckResult
from shipyard.monitoring._estimated_check import Estimation
from shipyard.monitoring._messages import passes
from shipyard.monitoring._metrics import HIGHER_IS_BETTER, performance
from shipyard.monitoring._spec import (
    DataQualitySettings,
    FeatureDriftSettings,
    MonitorSpec,
    PerformanceSettings,
    PredictionDriftSettings,
    ServiceSettings,
    Threshold,
)
from shipyard.serving._predlog_schema import FEATURE_PREFIX

if TYPE_CHECKING:
    from shipyard.drift import DatasetProfile
    from shipyard.drift._report import ColumnDrift
    from shipyard.monitoring._skew import SkewContext

__all__ = ["WindowChecks", "baseline_thresholds", "labeled", "probabilities", "run_checks", "split_failed"]


def _uses_p_value(test: str) -> bool:
    cls = TESTS.get(ALIASES.get(test, test))
    return bool(cls is not None and cls.uses_p_value)


def column_undecided(row: ColumnDrift) -> bool:
    """Whether a drift row could not decide: the library says so (``drifted`` is None, e.g. KS from a
    profile without enough stored reference sample), or its deciding number is missing."""
    if row.drifted is None:
        return True
    if row.drifted:
        return False
    if row.statistic is None:
        return True
    return _uses_p_value(row.test) and row.p_value is None


def _numpy(column: pa.ChunkedArray) -> np.ndarray:
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return np.asarray(column.to_pylist(), dtype=object)
    if pa.types.is_boolean(column.type):
        return np.asarray(column.to_pylist(), dtype=object) if column.null_count else column.to_numpy()
    return column.to_numpy()  # numbers: nulls become NaN


def split_failed(table: pa.Table) -> tuple[pa.Table, int]:
    """(the rows the model answered, how many it failed on): failed rows carry an ``error``."""
    if not table.num_rows or "error" not in table.column_names:
        return table, 0
    failed = pc.fill_null(pc.is_valid(table["error"]), False)
    return table.filter(pc.invert(failed)), int(pc.sum(failed).as_py() or 0)


def labeled(table: pa.Table) -> pa.Table:
    """The rows that have a feedback label."""
    if "label" not in table.column_names:
        return table.slice(0, 0)
    return table.filter(pc.fill_null(pc.is_valid(table["label"]), False))


class WindowChecks:
    """Runs every enabled check of ``spec`` on ``table`` (one version's rows of the window).

    ``baseline`` holds the version's own validation metrics ({metric: value}); performance metrics
    without an explicit threshold alert when they fall ``relative_drop`` below them."""

    def __init__(self, spec: MonitorSpec, table: pa.Table, reference: DatasetProfile | None,
                 prediction_reference: DatasetProfile | None, baseline: dict[str, float] | None = None,
                 estimation: Estimation | None = None, skew: SkewContext | None = None) -> None:
        self.spec = spec
        self.skew = skew
        self.estimation = estimation or Estimation()
        self.reference, self.prediction_reference = reference, prediction_reference
        self.baseline = dict(baseline or {})
        self.rows = table.num_rows
        self.ok, self.errors = split_failed(table)
        self.features = {name[len(FEATURE_PREFIX):]: name for name in table.column_names
                         if name.startswith(FEATURE_PREFIX)}
        self.entries: list[CheckResult] = []
        self.feature_rows: list[dict[str, Any]] = []
        self.labeled = 0

    def run(self) -> tuple[list[CheckResult], list[dict[str, Any]]]:
        spec = self.spec
        if spec.feature_drift is not None:
            self._feature_drift(spec.feature_drift)
        if spec.prediction_drift is not None:
            self._prediction_drift(spec.prediction_drift)
        if spec.performance is not None:
            self._performance(spec.performance)
        if spec.data_quality is not None:
            self._data_quality(spec.data_quality)
        if spec.service is not None:
            self._service(spec.service)
        if spec.estimated_performance is not None:
            from shipyard.monitoring._estimated_check import estimated_checks

            estimated_checks(self, spec.estimated_performance)
        if spec.feature_skew is not None:
            from shipyard.monitoring._skew import skew_checks

            skew_checks(self, spec.feature_skew, self.skew)
        return self.entries, self.feature_rows

    def _add(self, check: str, metric: str, value: float | None, threshold: float | None = None,
             op: str | None = None, passed: bool | None = None, reason: str | None = None, *,
             test: str | None = None, statistic: float | None = None, **detail: Any) -> None:
        self.entries.append(CheckResult(check, metric, None if value is None else float(value),
                                        None if threshold is None else float(threshold), op, passed, reason,
                                        test, statistic, detail))

    def _too_few(self) -> str | None:
        if self.ok.num_rows < self.spec.min_rows:
            return f"{self.ok.num_rows} answered rows, fewer than min_rows={self.spec.min_rows}"
        return None

    # --- drift -----------------------------------------------------------------------------------

    def _feature_drift(self, cfg: FeatureDriftSettings) -> None:
        threshold = cfg.share
        if self.reference is None:
            self._add("feature_drift", "drift_share", None, threshold, "max",
                      reason="no reference profile (log the model with training_data=)")
            return
        wanted = list(cfg.columns) if cfg.columns else list(self.reference.columns)
        columns = [c for c in wanted if c in self.features and c in self.reference.columns]
        reason = self._too_few() or (None if columns else "no feature of the reference is in the log")
        if reason:
            self._add("feature_drift", "drift_share", None, threshold, "max", reason=reason, test=cfg.test)
            return
        current = {c: _numpy(self.ok[self.features[c]]) for c in columns}
        try:
            report = compare(self.reference, current, columns=columns, test=cfg.test,
                             thresholds=cfg.thresholds or None, correction=cfg.correction)
        except DriftInputError as exc:
            self._add("feature_drift", "drift_share", None, threshold, "max", reason=str(exc), test=cfg.test)
            return
        self.feature_rows = [row.to_dict() for row in report.rows]
        rows = [r for r in report.rows if r.role == "feature"]
        drifted = [r.column for r in rows if r.drifted and not column_undecided(r)]
        undecided = [r.column for r in rows if column_undecided(r)]
        share = len(drifted) / len(rows)
        tests = ", ".join(sorted({r.test for r in rows}))
        passed: bool | None
        why = None
        if threshold is None:
            passed = None
        elif not passes("max", share, threshold):
            passed = False  # drifted already, whatever the undecided columns would say
        elif undecided and not passes("max", (len(drifted) + len(undecided)) / len(rows), threshold):
            passed, why = None, (f"{len(undecided)} of {len(rows)} column(s) undecided, enough to cross the "
                                 f"threshold: {', '.join(undecided)}")
        else:
            passed = True
        self._add("feature_drift", "drift_share", share, threshold, "max", passed, why, test=tests,
                  drifted=drifted, undecided=undecided)

    def _prediction_test(self, cfg: PredictionDriftSettings, ref: DatasetProfile) -> str | None:
        """The forced test, else chi-square on the class counts for binary and categorical predictions
        (integer predictions with few values get it too, see ``_numeric_classes``; a change of class
        shares is what matters; the automatic choice's Jensen-Shannon distance
        above 1,000 reference rows barely moves for a shift of the positive share from 0.17 to 0.27)."""
        if cfg.test is not None:
            return cfg.test
        kind = ref.columns["prediction"].kind
        return "chisquare" if kind in ("binary", "categorical") else None

    def _prediction_drift(self, cfg: PredictionDriftSettings) -> None:
        ref = self.prediction_reference
        if ref is None or "prediction" not in ref.columns:
            self._add("prediction_drift", "statistic", None, cfg.threshold,
                      reason="no prediction profile (log the model with training_data=)", test=cfg.test)
            return
        test = self._prediction_test(cfg, ref)
        reason = self._too_few()
        if reason:
            self._add("prediction_drift", "statistic", None, cfg.threshold, reason=reason, test=test)
            return
        values = _numpy(self.ok["prediction"])
        if test in (None, "chisquare", "chi2") and (counts := class_counts(ref, values)) is not None:
            self._class_shares(cfg, *counts)
            return
        current = {"prediction": values}
        try:
            row = compare(ref, current, columns=["prediction"], test=test, thresholds=cfg.threshold).rows[0]
        except DriftInputError as exc:
            self._add("prediction_drift", "statistic", None, cfg.threshold, reason=str(exc), test=test)
            return
        # one meaning per test: a p-value test passes while p >= alpha, a distance while it is <= its bound
        if _uses_p_value(row.test):
            metric, value, op = "p_value", row.p_value, "min"
        else:
            metric, value, op = row.test, row.statistic, "max"
        undecided = value is None or column_undecided(row)
        passed = None if undecided or value is None else passes(op, value, row.threshold)
        self._add("prediction_drift", metric, value, row.threshold, op, passed,
                  row.reason if undecided or row.reason else None, test=row.test,
                  statistic=row.statistic if metric == "p_value" else None, histogram=row.histogram)

    def _class_shares(self, cfg: PredictionDriftSettings, classes: list[str], reference: np.ndarray,
                      current: np.ndarray) -> None:
        """Chi-square on the class counts, with Cohen's w as the effect-size floor: a change of class
        shares alerts when it is significant (p < alpha) and not negligible (w >= min_effect)."""
        from shipyard.drift._stats import chi2_homogeneity

        stat, p, _ = chi2_homogeneity(reference, current)
        alpha = 0.05 if cfg.threshold is None else cfg.threshold
        r, c = reference / max(reference.sum(), 1), current / max(current.sum(), 1)
        seen = r > 0
        # Cohen's w of the current shares against the reference's; 0.1 is Cohen's "small" effect. A
        # class the reference never predicted makes it at least 1 (a large effect).
        w2 = float(np.sum((c[seen] - r[seen]) ** 2 / r[seen]))
        w = float(np.sqrt(max(w2, 1.0) if c[~seen].sum() > 0 else w2))
        significant = not passes("min", p, alpha)
        passed = not (significant and w >= cfg.min_effect)
        self._add("prediction_drift", "p_value", p, alpha, "min", passed, test="chisquare", statistic=stat,
                  effect_size=w, min_effect=cfg.min_effect,
                  histogram={"kind": "categorical", "categories": classes, "reference": r.round(6).tolist(),
                             "current": c.round(6).tolist()})

    # --- quality from feedback -------------------------------------------------------------------

    def _performance(self, cfg: PerformanceSettings) -> None:
        with_labels = labeled(self.ok)
        self.labeled = with_labels.num_rows
        thresholds = {t.metric: t for t in baseline_thresholds(self.baseline, cfg, self.labeled)}
        thresholds.update({t.metric: t for t in cfg.thresholds})
        if self.labeled < self.spec.min_labeled:
            why = f"{self.labeled} labeled rows, fewer than min_labeled={self.spec.min_labeled}"
            for t in thresholds.values():
                self._add(f"performance.{t.metric}", t.metric, None, t.bound, t.op, reason=why)
            return
        y_true, y_pred = _numpy(with_labels["label"]), _numpy(with_labels["prediction"])
        proba = probabilities(with_labels)
        skipped: dict[str, str] = {}
        metrics = performance(y_true, y_pred, proba, self.spec.task, skipped)
        for metric, value in metrics.items():
            bound = thresholds.get(metric)
            if bound is None:
                self._add(f"performance.{metric}", metric, value)
                continue
            detail: dict[str, Any] = {}
            if cfg.bound(metric) is None:  # a bound from the version's own validation number
                detail = {"baseline": self.baseline[metric], "relative_drop": cfg.relative_drop}
            self._add(f"performance.{metric}", metric, value, bound.bound, bound.op,
                      passes(bound.op, value, bound.bound), **detail)
        for metric, t in thresholds.items():
            if metric not in metrics:
                why = skipped.get(metric) or skipped.get("*") or f"{metric} does not apply to this model's task"
                self._add(f"performance.{metric}", metric, None, t.bound, t.op, reason=why)

    # --- data quality and service health ---------------------------------------------------------

    def _data_quality(self, cfg: DataQualitySettings) -> None:
        if self._too_few():
            return
        missing, out_of_range, new_categories = {}, {}, {}
        for name, column in self.features.items():
            values = self.ok[column]
            n = len(values)
            nan = 0
            if pa.types.is_floating(values.type):  # a missing number may be logged as NaN or as null
                nan = int(pc.sum(pc.fill_null(pc.is_nan(values), False)).as_py() or 0)
            missing[name] = (values.null_count + nan) / n
            ref = self.reference.columns.get(name) if self.reference is not None else None
            if ref is None:
                continue
            numbers = pa.types.is_integer(values.type) or pa.types.is_floating(values.type)
            if ref.kind == "numeric" and ref.min is not None and numbers:
                x = values.to_numpy()
                outside = (x < ref.min) | (x > ref.max)
                out_of_range[name] = float(np.sum(outside)) / n
            elif ref.kind != "numeric" and ref.categories and not ref.other:  # a truncated category set: unknown
                data = column_data(_numpy(values), ref.kind)  # keyed as the reference's categories
                counts: dict[str, int] = getattr(data, "counts", {})
                new_categories[name] = sum(c for k, c in counts.items() if k not in ref.categories) / n
        for metric, shares, bound in (("missing_share", missing, cfg.missing_share),
                                      ("out_of_range_share", out_of_range, cfg.out_of_range_share),
                                      ("new_category_share", new_categories, cfg.new_category_share)):
            if not shares:
                continue
            worst = max(shares, key=shares.__getitem__)
            value = shares[worst]
            self._add(f"data_quality.{metric}", metric, value, bound, "max",
                      None if bound is None else passes("max", value, bound), column=worst,
                      columns={k: round(v, 6) for k, v in shares.items()})

    def _service(self, cfg: ServiceSettings) -> None:
        if self.rows:
            rate = self.errors / self.rows
            bound = cfg.error_rate
            self._add("service.error_rate", "error_rate", rate, bound, "max",
                      None if bound is None else passes("max", rate, bound), errors=self.errors)
        if self.ok.num_rows and "latency_ms" in self.ok.column_names:
            latency = self.ok["latency_ms"].to_numpy()
            p99 = float(np.percentile(latency, 99))
            limit = cfg.p99_latency_ms
            self._add("service.p99_latency_ms", "p99_latency_ms", p99, limit, "max",
                      None if limit is None else passes("max", p99, limit))


FEW_CLASSES = 20  # numeric predictions with at most this many values are class labels


def class_counts(ref: DatasetProfile, values: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray] | None:
    """(classes, reference counts, current counts) per class of predictions that are class labels: binary and
    categorical ones, and integers with at most FEW_CLASSES values (a multi-class model's 0..k);
    None for other predictions (scores, regression)."""
    from shipyard.drift._count_tests import OTHER, profile_counts

    column = ref.columns["prediction"]
    if column.kind != "numeric":
        known = profile_counts(column)
        data = column_data(values, column.kind)
        got: dict[str, int] = {}
        for key, n in getattr(data, "counts", {}).items():
            slot = key if key in known or not column.other else OTHER
            got[slot] = got.get(slot, 0) + n
        keys = sorted(set(known) | set(got))
        return (keys, np.array([known.get(k, 0) for k in keys], dtype=np.float64),
                np.array([got.get(k, 0) for k in keys], dtype=np.float64))
    if not column.distinct or len(column.distinct) > FEW_CLASSES:
        return None
    if values.dtype.kind not in "iuf" or not len(values):
        return None
    numbers = values.astype(np.float64)
    if not np.all(np.isfinite(numbers)) or not np.all(numbers == np.round(numbers)):
        return None
    seen, counts = np.unique(numbers, return_counts=True)
    if len(seen) > 2 * FEW_CLASSES:
        return None
    classes: list[float] = sorted(set(column.distinct) | set(seen.tolist()))
    current: dict[float, int] = dict(zip(seen.tolist(), counts.tolist(), strict=True))
    return ([f"{k:g}" for k in classes], np.array([column.distinct.get(k, 0) for k in classes], dtype=np.float64),
            np.array([current.get(k, 0) for k in classes], dtype=np.float64))


# One headline metric gets the default bound (several noisy metrics, each with its own bound, would
# multiply the false alarms): the first of these the version has a validation number for.
PRIMARY_METRICS = ("roc_auc", "accuracy", "f1", "log_loss", "r2", "mae", "rmse", "mape", "precision", "recall")


def baseline_thresholds(baseline: dict[str, float], cfg: PerformanceSettings, labeled_rows: int) -> list[Threshold]:
    """The default bound: the primary metric ``relative_drop`` worse than the version's own
    validation number, in the metric's direction (accuracy 0.90 with 0.1 -> at least 0.81; MAE 2.0
    -> at most 2.2). For accuracy the margin is at least two standard errors of a share over the
    window's labeled rows, so a small window does not alert on sampling noise alone."""
    if cfg.relative_drop is None:
        return []
    metric = next((m for m in PRIMARY_METRICS if m in baseline and cfg.bound(m) is None), None)
    if metric is None:
        return []
    value = baseline[metric]
    margin = abs(value) * cfg.relative_drop
    if metric == "accuracy" and labeled_rows > 0:
        margin = max(margin, 2 * float(np.sqrt(value * (1 - value) / labeled_rows)))
    if metric in HIGHER_IS_BETTER:
        return [Threshold(metric, "min", value - margin)]
    return [Threshold(metric, "max", value + margin)]


def probabilities(table: pa.Table) -> np.ndarray | None:
    """Class probabilities as a 2-D array, or None when some row has none or widths differ."""
    if "probabilities" not in table.column_names or table["probabilities"].null_count:
        return None
    rows = table["probabilities"].to_pylist()
    widths = {len(r) for r in rows}
    return np.asarray(rows, dtype=float) if len(widths) == 1 else None


def run_checks(
    spec: MonitorSpec | dict[str, Any], table: pa.Table, reference: DatasetProfile | None,
    prediction_reference: DatasetProfile | None, baseline: dict[str, float] | None = None,
    estimation: Estimation | None = None, skew: SkewContext | None = None,
) -> tuple[str, list[CheckResult], list[dict[str, Any]], int]:
    """(status, check results, per-feature drift rows, labeled rows) for one version's window;
    ``skew`` gives the feature-skew check its feature store (without it that check is undecided)."""
    typed = spec if isinstance(spec, MonitorSpec) else MonitorSpec.from_dict(spec)
    checks = WindowChecks(typed, table, reference, prediction_reference, baseline, estimation, skew)
    entries, features = checks.run()
    if table.num_rows == 0:
        status = "no_data"
    else:
        status = "alert" if any(e.passed is False for e in entries) else "ok"
    return status, entries, features, checks.labeled
