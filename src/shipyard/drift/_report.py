"""The drift report: one ``ColumnDrift`` per column and the dataset verdict."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

TABLE_FIELDS = ("column", "type", "role", "test", "statistic_name", "statistic", "p_value", "threshold",
                "drifted", "reason", "effect_size", "alpha", "floor", "null_quantile", "adjusted_p_value",
                "reference_missing_share", "missing_share", "reference_count", "current_count")


@dataclass(frozen=True)
class ColumnDrift:
    """One row of the report. ``histogram`` holds both sides' shares on shared bins, for plotting.

    ``test`` and ``statistic_name`` name what ``statistic`` is (``chisquare``/``chi2``, ``ks``/``D``,
    ``wasserstein``/``wasserstein/std``, ``jensenshannon``/``js_distance``, ``psi``/``psi``, ...).
    ``drifted`` is True, False or None (the test cannot decide; ``reason`` says why). ``threshold`` is what
    the verdict compared with: ``alpha`` for a p-value test (drift when p < alpha), the larger of
    ``null_quantile`` and ``floor`` for a distance (drift when statistic > threshold); equal passes.
    Chi-square also needs ``effect_size`` (Cohen's w) > ``floor``.
    """

    column: str
    type: str
    role: str
    test: str
    statistic: float | None
    p_value: float | None
    threshold: float
    drifted: bool | None
    reason: str | None
    effect_size: float | None
    reference_count: int
    current_count: int
    reference_missing_share: float
    missing_share: float
    adjusted_p_value: float | None = None
    statistic_name: str = ""
    alpha: float | None = None
    floor: float | None = None
    null_quantile: float | None = None
    histogram: dict[str, Any] = field(default_factory=dict, repr=False)

    def replace(self, **changes: Any) -> ColumnDrift:
        return dataclasses.replace(self, **changes)

    def to_dict(self, histogram: bool = True) -> dict[str, Any]:
        d = {name: getattr(self, name) for name in TABLE_FIELDS}
        if histogram:
            d["histogram"] = self.histogram
        return d


@dataclass(frozen=True)
class DriftReport:
    """Result of ``compare``: per-column results and whether the data set drifted.

    ``drift_share`` is the share of drifted feature columns among those that could decide; the data set
    drifted when it is above ``drift_share_threshold`` (equal passes). ``dataset_drift`` is None when
    no feature column could decide.
    """

    columns: dict[str, ColumnDrift]
    dataset_drift: bool | None
    drift_share: float
    drift_share_threshold: float
    number_of_columns: int
    number_of_drifted_columns: int
    number_of_undecided_columns: int = 0

    @classmethod
    def from_rows(cls, rows: list[ColumnDrift], threshold: float) -> DriftReport:
        features = [r for r in rows if r.role == "feature"]
        decided = [r for r in features if r.drifted is not None]
        drifted = sum(bool(r.drifted) for r in decided)
        share = drifted / len(decided) if decided else 0.0
        verdict = (share > threshold) if decided else (None if features else False)
        return cls({r.column: r for r in rows}, verdict, share, threshold, len(features), drifted,
                   len(features) - len(decided))

    @property
    def rows(self) -> list[ColumnDrift]:
        return list(self.columns.values())

    @property
    def drifted_columns(self) -> list[str]:
        return [r.column for r in self.rows if r.drifted and r.role == "feature"]

    @property
    def prediction_drift(self) -> ColumnDrift | None:
        """The prediction column's result, when ``compare(prediction=...)`` named one."""
        return next((r for r in self.rows if r.role == "prediction"), None)

    @property
    def target_drift(self) -> ColumnDrift | None:
        """The target column's result, when ``compare(target=...)`` named one."""
        return next((r for r in self.rows if r.role == "target"), None)

    def to_dict(self, histograms: bool = True) -> dict[str, Any]:
        """JSON-serializable summary (None where a value is undefined, never NaN)."""
        return {
            "dataset_drift": self.dataset_drift,
            "drift_share": self.drift_share,
            "drift_share_threshold": self.drift_share_threshold,
            "number_of_columns": self.number_of_columns,
            "number_of_drifted_columns": self.number_of_drifted_columns,
            "number_of_undecided_columns": self.number_of_undecided_columns,
            "columns": [r.to_dict(histograms) for r in self.rows],
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)

    def to_pandas(self) -> Any:
        """One row per column: column, type, role, test, statistic, p_value, threshold, drifted, ..."""
        import pandas as pd

        return pd.DataFrame([r.to_dict(histogram=False) for r in self.rows], columns=list(TABLE_FIELDS))

    def to_html(self, path: Any = None) -> str:
        """A self-contained HTML page (inline SVG and CSS, no network); also written to ``path`` if given."""
        from ._html import render

        page = render(self)
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(page)
        return page

    def _repr_html_(self) -> str:
        return self.to_html()
