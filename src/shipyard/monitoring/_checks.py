"""The checks of one monitor run on one model version's rows of a window.

Each check yields entries ``{"check", "metric", "value", "threshold", "op", "passed", "reason"}``:
``passed`` is True, False (the check crossed its threshold: an alert) or None (not decided: too few
rows, no feedback yet, no reference, or a metric recorded without a threshold). A None never opens
or resolves an incident.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shipyard.drift import DriftInputError, compare
from shipyard.drift._columns import column_data
from shipyard.monitoring._metrics import passes, performance
from shipyard.serving._predlog_schema import FEATURE_PREFIX

if TYPE_CHECKING:
    from shipyard.drift import DatasetProfile

__all__ = ["WindowChecks", "labeled", "probabilities", "run_checks", "split_failed"]


def _entry(check: str, metric: str, value: float | None, threshold: float | None = None, op: str | None = None,
           passed: bool | None = None, reason: str | None = None, **detail: Any) -> dict[str, Any]:
    out = {"check": check, "metric": metric, "value": None if value is None else float(value),
           "threshold": threshold, "op": op, "passed": passed, "reason": reason}
    out.update(detail)
    return out


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
    """Runs every enabled check of ``spec`` on ``table`` (one version's rows of the window)."""

    def __init__(self, spec: dict[str, Any], table: pa.Table, reference: DatasetProfile | None,
                 prediction_reference: DatasetProfile | None) -> None:
        self.spec, self.checks = spec, spec["checks"]
        self.reference, self.prediction_reference = reference, prediction_reference
        self.rows = table.num_rows
        self.ok, self.errors = split_failed(table)
        self.features = {name[len(FEATURE_PREFIX):]: name for name in table.column_names
                         if name.startswith(FEATURE_PREFIX)}
        self.entries: list[dict[str, Any]] = []
        self.feature_rows: list[dict[str, Any]] = []
        self.labeled = 0

    def run(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        for name in ("feature_drift", "prediction_drift", "performance", "data_quality", "service"):
            if self.checks.get(name) is not False:
                getattr(self, f"_{name}")(self.checks[name])
        return self.entries, self.feature_rows

    def _too_few(self) -> str | None:
        if self.ok.num_rows < self.spec["min_rows"]:
            return f"{self.ok.num_rows} answered rows, fewer than min_rows={self.spec['min_rows']}"
        return None

    # --- drift -----------------------------------------------------------------------------------

    def _feature_drift(self, cfg: dict[str, Any]) -> None:
        threshold = cfg["share"]
        if self.reference is None:
            self.entries.append(_entry("feature_drift", "drift_share", None, threshold, "max",
                                       reason="no reference profile (log the model with training_data=)"))
            return
        wanted = cfg["columns"] or list(self.reference.columns)
        columns = [c for c in wanted if c in self.features and c in self.reference.columns]
        reason = self._too_few() or (None if columns else "no feature of the reference is in the log")
        if reason:
            self.entries.append(_entry("feature_drift", "drift_share", None, threshold, "max", reason=reason))
            return
        current = {c: _numpy(self.ok[self.features[c]]) for c in columns}
        try:
            report = compare(self.reference, current, columns=columns, test=cfg["test"],
                             thresholds=cfg["thresholds"] or None, drift_share=threshold if threshold else 1e-12,
                             correction=cfg["correction"])
        except DriftInputError as exc:
            self.entries.append(_entry("feature_drift", "drift_share", None, threshold, "max", reason=str(exc)))
            return
        self.feature_rows = [row.to_dict() for row in report.rows]
        passed = None if threshold is None else not report.dataset_drift
        self.entries.append(_entry("feature_drift", "drift_share", report.drift_share, threshold, "max", passed,
                                   drifted=report.drifted_columns))

    def _prediction_drift(self, cfg: dict[str, Any]) -> None:
        ref = self.prediction_reference
        if ref is None or "prediction" not in ref.columns:
            self.entries.append(_entry("prediction_drift", "statistic", None,
                                       reason="no prediction profile (log the model with training_data=)"))
            return
        reason = self._too_few()
        if reason:
            self.entries.append(_entry("prediction_drift", "statistic", None, reason=reason))
            return
        current = {"prediction": _numpy(self.ok["prediction"])}
        try:
            row = compare(ref, current, columns=["prediction"], test=cfg["test"],
                          thresholds=cfg["threshold"]).rows[0]
        except DriftInputError as exc:
            self.entries.append(_entry("prediction_drift", "statistic", None, reason=str(exc)))
            return
        # a p-value test drifts when p < threshold, a distance when statistic >= threshold
        metric, value, op = ("p_value", row.p_value, "min") if row.p_value is not None else \
            ("statistic", row.statistic, "max")
        self.entries.append(_entry("prediction_drift", metric, value, row.threshold, op,
                                   None if value is None else not row.drifted, row.reason, test=row.test,
                                   statistic=row.statistic, histogram=row.histogram))

    # --- quality from feedback -------------------------------------------------------------------

    def _performance(self, cfg: dict[str, Any]) -> None:
        with_labels = labeled(self.ok)
        self.labeled = with_labels.num_rows
        thresholds = {m: next(iter(t.items())) for m, t in cfg.items()}
        if self.labeled < self.spec["min_labeled"]:
            why = f"{self.labeled} labeled rows, fewer than min_labeled={self.spec['min_labeled']}"
            for metric, (op, bound) in thresholds.items():
                self.entries.append(_entry(f"performance.{metric}", metric, None, bound, op, reason=why))
            return
        y_true, y_pred = _numpy(with_labels["label"]), _numpy(with_labels["prediction"])
        proba = probabilities(with_labels)
        skipped: dict[str, str] = {}
        metrics = performance(y_true, y_pred, proba, self.spec["task"], skipped)
        for metric, value in metrics.items():
            op, bound = thresholds.get(metric, (None, None))
            passed = None if op is None else passes(op, value, bound)
            self.entries.append(_entry(f"performance.{metric}", metric, value, bound, op, passed))
        for metric, (op, bound) in thresholds.items():
            if metric not in metrics:
                why = skipped.get(metric) or skipped.get("*") or f"{metric} does not apply to this model's task"
                self.entries.append(_entry(f"performance.{metric}", metric, None, bound, op, reason=why))

    # --- data quality and service health ---------------------------------------------------------

    def _data_quality(self, cfg: dict[str, Any]) -> None:
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
                counts = column_data(_numpy(values), ref.kind).counts  # keyed as the reference's categories
                new_categories[name] = sum(c for k, c in counts.items() if k not in ref.categories) / n
        for metric, shares in (("missing_share", missing), ("out_of_range_share", out_of_range),
                               ("new_category_share", new_categories)):
            if not shares:
                continue
            worst = max(shares, key=shares.__getitem__)
            bound = cfg[metric]
            value = shares[worst]
            self.entries.append(_entry(f"data_quality.{metric}", metric, value, bound, "max",
                                       None if bound is None else value <= bound, column=worst,
                                       columns={k: round(v, 6) for k, v in shares.items()}))

    def _service(self, cfg: dict[str, Any]) -> None:
        if self.rows:
            rate = self.errors / self.rows
            bound = cfg["error_rate"]
            self.entries.append(_entry("service.error_rate", "error_rate", rate, bound, "max",
                                       None if bound is None else rate <= bound, errors=self.errors))
        if self.ok.num_rows and "latency_ms" in self.ok.column_names:
            latency = self.ok["latency_ms"].to_numpy()
            p99 = float(np.percentile(latency, 99))
            bound = cfg["p99_latency_ms"]
            self.entries.append(_entry("service.p99_latency_ms", "p99_latency_ms", p99, bound, "max",
                                       None if bound is None else p99 <= bound))


def probabilities(table: pa.Table) -> np.ndarray | None:
    """Class probabilities as a 2-D array, or None when some row has none or widths differ."""
    if "probabilities" not in table.column_names or table["probabilities"].null_count:
        return None
    rows = table["probabilities"].to_pylist()
    widths = {len(r) for r in rows}
    return np.asarray(rows, dtype=float) if len(widths) == 1 else None


def run_checks(
    spec: dict[str, Any], table: pa.Table, reference: DatasetProfile | None,
    prediction_reference: DatasetProfile | None,
) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]], int]:
    """(status, check entries, per-feature drift rows, labeled rows) for one version's window."""
    checks = WindowChecks(spec, table, reference, prediction_reference)
    entries, features = checks.run()
    if table.num_rows == 0:
        status = "no_data"
    else:
        status = "alert" if any(e["passed"] is False for e in entries) else "ok"
    return status, entries, features, checks.labeled
