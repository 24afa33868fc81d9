"""``compare``: drift of every column between a reference and a current data set (raw or profiled)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ._auto import pick_test
from ._base import DriftTest, TestResult
from ._columns import CategoricalData, ColumnData, NumericData, column_data, table_columns
from ._count_tests import profile_counts
from ._errors import DriftInputError
from ._profile import ColumnProfile, DatasetProfile
from ._report import ColumnDrift, DriftReport
from ._stats import benjamini_hochberg

PLOT_BINS = 20
PLOT_CATEGORIES = 20
PARALLEL_MIN_ROWS = 50_000  # raw columns at least this long are compared in threads, one per CPU
PARALLEL_MAX = 4  # each thread holds one column's sorted copies (2 x 8 bytes a row)


def _side(data: Any) -> tuple[dict[str, Any], int, bool]:
    if isinstance(data, DatasetProfile):
        return dict(data.columns), data.num_rows, True
    raw = table_columns(data)
    return raw, (len(next(iter(raw.values()))) if raw else 0), False


def _numeric_hist(ref: ColumnData | ColumnProfile, cur: ColumnData | ColumnProfile) -> dict[str, Any]:
    def support(x: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """Sorted values (or sketch midpoints) and, for a sketch, the counts below each (cumulative, from 0)."""
        if isinstance(x, NumericData):
            return x.values, None
        if x.count == 0 or x.sketch is None:
            return np.empty(0), None
        return x.sketch.midpoints(x.min, x.max), x.sketch.counts_below()

    (rv, rw), (cv, cw) = support(ref), support(cur)
    both = [a for a in (rv, cv) if a.size]
    if not both:
        return {"kind": "numeric", "edges": [], "reference": [], "current": []}
    lo = min(float(a[0]) for a in both)
    hi = max(float(a[-1]) for a in both)
    edges = np.arange(PLOT_BINS + 1) * (((hi if hi > lo else lo + 1.0) - lo) / PLOT_BINS) + lo  # = linspace
    edges[-1] = hi if hi > lo else lo + 1.0

    def shares(v: np.ndarray, below: np.ndarray | None) -> list[float]:
        if v.size == 0:
            return [0.0] * PLOT_BINS
        pos = np.empty(PLOT_BINS + 1, dtype=np.intp)  # values below each edge; the last bin takes the rest
        pos[0], pos[-1] = 0, v.size
        pos[1:-1] = np.searchsorted(v, edges[1:-1], side="left")  # sorted values or sorted midpoints
        cum = pos if below is None else below[pos]
        return ((cum[1:] - cum[:-1]) / max(int(cum[-1]), 1)).round(6).tolist()

    return {"kind": "numeric", "edges": edges.tolist(), "reference": shares(rv, rw),
            "current": shares(cv, cw)}


def _category_hist(ref: ColumnData | ColumnProfile, cur: ColumnData | ColumnProfile) -> dict[str, Any]:
    def counts(x: Any) -> dict[str, int]:
        return x.counts if isinstance(x, CategoricalData) else profile_counts(x)

    rc, cc = counts(ref), counts(cur)
    total = {k: rc.get(k, 0) + cc.get(k, 0) for k in {**rc, **cc}}
    keys = sorted(total, key=lambda k: (-total[k], k))[:PLOT_CATEGORIES]
    rs, cs = max(sum(rc.values()), 1), max(sum(cc.values()), 1)
    ref_sh = [rc.get(k, 0) / rs for k in keys]
    cur_sh = [cc.get(k, 0) / cs for k in keys]
    if len(total) > len(keys):
        keys.append("(other)")
        ref_sh.append(1.0 - sum(ref_sh) if rc else 0.0)
        cur_sh.append(1.0 - sum(cur_sh) if cc else 0.0)
    return {"kind": "categorical", "categories": keys,
            "reference": [round(x, 6) for x in ref_sh], "current": [round(x, 6) for x in cur_sh]}


def _workers(columns: int, rows: int) -> int:
    """Threads for raw data: one per CPU (at most PARALLEL_MAX) when the data is large enough to pay."""
    if rows < PARALLEL_MIN_ROWS or columns < 2:
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(columns, cpus, PARALLEL_MAX))


def _share(missing: int, count: int) -> float:
    return missing / (missing + count) if missing + count else 0.0


def compare(
    reference: Any,
    current: Any,
    *,
    test: str | DriftTest | dict[str, str | DriftTest] | None = None,
    columns: list[str] | None = None,
    thresholds: float | dict[str, float] | None = None,
    prediction: str | None = None,
    target: str | None = None,
    drift_share: float = 0.5,
    correction: str | None = None,
    alpha: float | None = None,
) -> DriftReport:
    """Test every column of ``current`` against ``reference`` and decide dataset drift.

    ``reference``/``current``: pandas DataFrames, dicts of arrays, 2-D arrays, pyarrow Tables or
    ``DatasetProfile``s. ``test``: None for the automatic choice (see ``shipyard.drift._auto``), a name
    ("ks", "wasserstein", "psi", "jensenshannon", "chisquare", "ztest", "anderson") or a DriftTest used
    on every column it applies to (others keep the automatic choice), or a dict column -> test.
    ``thresholds``: one value for the forced test, or a dict column -> threshold. ``prediction`` and
    ``target`` name the model-output and label columns: they are tested and reported
    (``report.prediction_drift``, ``report.target_drift``) but not counted in the dataset drift share.
    ``alpha`` (default 0.05): the false-alarm rate every column's verdict is calibrated to (a test given
    with its own ``alpha`` keeps it). Dataset drift: share of drifted feature columns (among those that
    could decide) > ``drift_share``. ``correction="bh"`` applies Benjamini-Hochberg across the p-value
    tests before deciding each column.
    """
    if alpha is not None and not 0.0 < alpha < 1.0:
        raise DriftInputError(f"alpha must lie in (0, 1), got {alpha}")
    if correction not in (None, "bh", "fdr_bh"):
        raise DriftInputError(f"unknown correction {correction!r}; use None or 'bh'")
    ref_cols, ref_rows, ref_prof = _side(reference)
    cur_cols, cur_rows, cur_prof = _side(current)
    profiled = ref_prof or cur_prof
    roles = {c: r for c, r in ((prediction, "prediction"), (target, "target")) if c is not None}
    names = list(columns) if columns is not None else list(ref_cols)
    names += [c for c in roles if c not in names]
    absent = [c for c in names if c not in ref_cols or c not in cur_cols]
    if absent:
        raise DriftInputError(f"columns missing from the reference or the current data: {absent}")
    if isinstance(test, dict) and (unknown := [c for c in test if c not in names]):
        raise DriftInputError(f"test given for unknown columns: {unknown}")

    def one(name: str) -> ColumnDrift:
        ref = ref_cols[name] if ref_prof else column_data(ref_cols[name])
        cur = cur_cols[name] if cur_prof else column_data(cur_cols[name], ref.kind)
        drift_test = pick_test(name, ref, ref_rows, profiled, test, thresholds, alpha)
        result: TestResult = drift_test.fit(ref).test(cur)
        numeric = ref.kind == "numeric"
        hist = _numeric_hist(ref, cur) if numeric else _category_hist(ref, cur)
        return ColumnDrift(
            column=name, type=ref.kind, role=roles.get(name, "feature"), test=result.test,
            statistic=result.statistic, p_value=result.p_value, threshold=result.threshold,
            drifted=result.drifted, reason=result.reason, effect_size=result.effect_size,
            reference_count=ref.count, current_count=cur.count,
            reference_missing_share=_share(ref.missing, ref.count),
            missing_share=_share(cur.missing, cur.count), statistic_name=result.statistic_name,
            alpha=result.alpha, floor=result.floor, null_quantile=result.null_quantile, histogram=hist,
        )

    workers = _workers(len(names), 0 if profiled else max(ref_rows, cur_rows))
    if workers > 1:  # sorting and counting release the GIL: columns go in parallel, in order
        with ThreadPoolExecutor(workers) as pool:
            rows = list(pool.map(one, names))
    else:
        rows = [one(name) for name in names]
    if correction is not None:
        rows = _adjust(rows)
    return DriftReport.from_rows(rows, drift_share)


def _adjust(rows: list[ColumnDrift]) -> list[ColumnDrift]:
    idx = [i for i, r in enumerate(rows) if r.p_value is not None and r.role == "feature"]
    adjusted = benjamini_hochberg([rows[i].p_value for i in idx])  # type: ignore[misc]
    out = list(rows)
    for i, p in zip(idx, adjusted, strict=True):
        r = rows[i]
        drifted = p < r.threshold and (r.floor is None or r.effect_size is None or r.effect_size > r.floor)
        out[i] = r.replace(adjusted_p_value=p, drifted=drifted)
    return out
