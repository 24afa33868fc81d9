"""Profiles: compact, mergeable, JSON-serializable summaries of a data set's columns.

A numeric column keeps count, missing, min/max, mean and the sum of squared deviations (merged with
Chan's parallel algorithm), ``N_BINS`` bins at the reference's quantiles with their counts (for PSI and
Jensen-Shannon), the distinct values while there are at most ``MAX_DISTINCT`` of them, and a sketch (see
``_sketch``) for approximate KS and Wasserstein. A categorical or binary column keeps its category counts,
at most ``MAX_CATEGORIES`` of them, the rest in an ``other`` bucket. A numeric column also keeps a
uniform random sample of at most ``SAMPLE_SIZE`` values (all of them when there are fewer), on which KS
runs its exact test from a profile. Made with ``reference=``, a profile
reuses the reference's bin edges and category set, so windows and replicas profiled against one reference
merge exactly and compare exactly. Format: ``DatasetProfile.to_dict()``; ``FORMAT_VERSION`` is in it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._columns import NUMERIC, CategoricalData, ColumnData, NumericData, column_data, table_columns
from ._errors import DriftInputError
from ._sketch import Sketch
from ._stats import few_distinct

FORMAT = "shipyard.drift.profile"
FORMAT_VERSION = 1
N_BINS = 10
MAX_DISTINCT = 20
MAX_CATEGORIES = 100
SAMPLE_SIZE = 2000  # values kept for KS from a profile: about 40 kB of JSON per numeric column


@dataclass
class ColumnProfile:
    """Summary of one column; ``kind`` is "numeric", "categorical" or "binary"."""

    kind: str
    dtype: str
    count: int
    missing: int
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    m2: float | None = None
    bin_edges: list[float] = field(default_factory=list)
    bin_counts: list[int] = field(default_factory=list)
    edges_from_reference: bool = False
    distinct: dict[float, int] | None = None
    sketch: Sketch | None = None
    categories: dict[str, int] = field(default_factory=dict)
    other: int = 0
    categories_from_reference: bool = False
    sample: np.ndarray | None = None  # sorted; all the values when ``sample.size == count``

    @property
    def sample_is_complete(self) -> bool:
        """Whether ``sample`` holds every non-missing value (then a test on it is the exact raw test)."""
        return self.sample is not None and self.sample.size == self.count

    @property
    def variance(self) -> float | None:
        """Population variance (ddof=0) of the non-missing values; None when there are none."""
        return None if not self.count or self.m2 is None else self.m2 / self.count

    @property
    def std(self) -> float | None:
        var = self.variance
        return None if var is None else math.sqrt(max(var, 0.0))

    @classmethod
    def from_data(cls, data: ColumnData, reference: ColumnProfile | None = None,
                  sample_size: int = SAMPLE_SIZE) -> ColumnProfile:
        if isinstance(data, NumericData):
            return _numeric_profile(data, reference, sample_size)
        return _categorical_profile(data, reference)

    def merge(self, other: ColumnProfile) -> ColumnProfile:
        """Profile of both columns' data together (exact; see the module docstring for the conditions)."""
        if self.kind != other.kind:
            raise DriftInputError(f"cannot merge a {self.kind} column profile with a {other.kind} one")
        if self.kind == NUMERIC:
            return _merge_numeric(self, other)
        return _merge_categorical(self, other)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "dtype": self.dtype, "count": self.count,
                             "missing": self.missing}
        if self.kind == NUMERIC:
            d.update(
                min=self.min, max=self.max, mean=self.mean, m2=self.m2,
                bin_edges=list(self.bin_edges), bin_counts=list(self.bin_counts),
                edges_from_reference=self.edges_from_reference,
                distinct=(None if self.distinct is None
                          else [[k, v] for k, v in sorted(self.distinct.items())]),
                sketch=(self.sketch or Sketch.empty()).to_dict(),
                sample=None if self.sample is None else self.sample.tolist(),
            )
        else:
            d.update(categories=dict(self.categories), other=self.other,
                     categories_from_reference=self.categories_from_reference)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ColumnProfile:
        base = {"kind": d["kind"], "dtype": d["dtype"], "count": int(d["count"]),
                "missing": int(d["missing"])}
        if d["kind"] == NUMERIC:
            distinct = d.get("distinct")
            return cls(
                **base, min=d["min"], max=d["max"], mean=d["mean"], m2=d["m2"],
                bin_edges=[float(x) for x in d["bin_edges"]], bin_counts=[int(x) for x in d["bin_counts"]],
                edges_from_reference=bool(d["edges_from_reference"]),
                distinct=None if distinct is None else {float(k): int(v) for k, v in distinct},
                sketch=Sketch.from_dict(d["sketch"]),
                sample=None if d.get("sample") is None else np.sort(np.asarray(d["sample"], dtype=np.float64)),
            )
        return cls(**base, categories={str(k): int(v) for k, v in d["categories"].items()},
                   other=int(d["other"]), categories_from_reference=bool(d["categories_from_reference"]))


def _rng(*seed: int) -> np.random.Generator:
    return np.random.default_rng([20261207, *seed])  # reproducible: the same data gives the same profile


def _sample(v: np.ndarray, size: int) -> np.ndarray:
    """A uniform random sample of at most ``size`` of the sorted values ``v`` (sorted)."""
    if v.size <= size:
        return v.copy()
    idx = _rng(v.size, size).choice(v.size, size, replace=False)
    idx.sort()
    return v[idx]


def _merge_samples(a: ColumnProfile, b: ColumnProfile) -> np.ndarray | None:
    """A uniform sample of the union from uniform samples of each side (hypergeometric split)."""
    if a.sample is None or b.sample is None:
        return None
    if a.sample_is_complete and b.sample_is_complete and a.count + b.count <= SAMPLE_SIZE:
        return np.sort(np.concatenate([a.sample, b.sample]))
    size = min(max(a.sample.size, b.sample.size, SAMPLE_SIZE if a.sample_is_complete and b.sample_is_complete
                   else 0), a.count + b.count)
    rng = _rng(a.count, b.count, size)
    from_a = int(rng.hypergeometric(a.count, b.count, size)) if a.count and b.count else (size if a.count else 0)
    from_a = min(max(from_a, size - b.sample.size), a.sample.size)
    from_b = min(size - from_a, b.sample.size)
    parts = [s[np.sort(rng.choice(s.size, k, replace=False))] for s, k in ((a.sample, from_a), (b.sample, from_b))]
    return np.sort(np.concatenate(parts))


def _numeric_profile(data: NumericData, reference: ColumnProfile | None,
                     sample_size: int = SAMPLE_SIZE) -> ColumnProfile:
    v = data.values
    sketch = Sketch.from_sorted(v)
    prof = ColumnProfile(NUMERIC, data.dtype, data.count, data.missing, sketch=sketch,
                         sample=_sample(v, sample_size))
    if v.size:
        mean = float(v.mean())
        prof.min, prof.max, prof.mean = float(v[0]), float(v[-1]), mean
        dev = v - mean
        prof.m2 = float(np.square(dev, out=dev).sum())  # not np.dot: BLAS threads stall on a busy box
        uniq = few_distinct(v, MAX_DISTINCT)  # v is sorted: no np.unique (a second sort)
        if uniq is not None:
            cnt = np.diff(np.searchsorted(v, uniq, side="left"), append=v.size)
            prof.distinct = dict(zip(uniq.tolist(), cnt.tolist(), strict=True))
    else:
        prof.distinct = {}
    if reference is not None:
        from ._stats import bin_counts

        edges = np.asarray(reference.bin_edges, dtype=np.float64)
        prof.bin_edges, prof.edges_from_reference = edges.tolist(), True
        prof.bin_counts = bin_counts(v, edges).astype(np.int64).tolist()
    else:
        _own_bins(prof)
    return prof


def _own_bins(prof: ColumnProfile) -> None:
    sketch = prof.sketch or Sketch.empty()
    edges = sketch.quantile_edges(N_BINS)
    prof.bin_edges, prof.edges_from_reference = edges.tolist(), False
    prof.bin_counts = sketch.bin_counts(edges).astype(np.int64).tolist()


def _merge_numeric(a: ColumnProfile, b: ColumnProfile) -> ColumnProfile:
    out = ColumnProfile(NUMERIC, a.dtype if a.dtype == b.dtype else f"{a.dtype}|{b.dtype}",
                        a.count + b.count, a.missing + b.missing)
    if not a.count or not b.count:
        src = a if a.count else b
        out.min, out.max, out.mean, out.m2 = src.min, src.max, src.mean, src.m2
    else:
        n = a.count + b.count
        delta = b.mean - a.mean  # type: ignore[operator]
        out.min, out.max = min(a.min, b.min), max(a.max, b.max)  # type: ignore[type-var]
        out.mean = a.mean + delta * b.count / n  # type: ignore[operator]
        out.m2 = a.m2 + b.m2 + delta * delta * a.count * b.count / n  # type: ignore[operator]
    if a.distinct is None or b.distinct is None:
        out.distinct = None
    else:
        merged = dict(a.distinct)
        for k, v in b.distinct.items():
            merged[k] = merged.get(k, 0) + v
        out.distinct = merged if len(merged) <= MAX_DISTINCT else None
    out.sample = _merge_samples(a, b)
    sa, sb = a.sketch or Sketch.empty(), b.sketch or Sketch.empty()
    out.sketch = sa.merge(sb, out.min, out.max) if out.count else Sketch.empty()  # type: ignore[arg-type]
    if a.edges_from_reference or b.edges_from_reference:
        if a.bin_edges != b.bin_edges or a.edges_from_reference != b.edges_from_reference:
            raise DriftInputError("cannot merge profiles with different bin edges; profile both with "
                                  "the same reference= profile")
        out.bin_edges, out.edges_from_reference = list(a.bin_edges), True
        out.bin_counts = [x + y for x, y in zip(a.bin_counts, b.bin_counts, strict=True)]
    else:
        _own_bins(out)
    return out


def _categorical_profile(data: CategoricalData, reference: ColumnProfile | None) -> ColumnProfile:
    prof = ColumnProfile(data.kind, data.dtype, data.count, data.missing)
    if reference is not None:
        prof.categories = {k: data.counts.get(k, 0) for k in reference.categories}
        prof.other = data.count - sum(prof.categories.values())
        prof.categories_from_reference = True
    else:
        prof.categories, prof.other = _top(data.counts, 0)
    return prof


def _top(counts: dict[str, int], other: int) -> tuple[dict[str, int], int]:
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = dict(ranked[:MAX_CATEGORIES])
    return kept, other + sum(v for _, v in ranked[MAX_CATEGORIES:])


def _merge_categorical(a: ColumnProfile, b: ColumnProfile) -> ColumnProfile:
    out = ColumnProfile(a.kind, a.dtype if a.dtype == b.dtype else f"{a.dtype}|{b.dtype}",
                        a.count + b.count, a.missing + b.missing)
    if a.categories_from_reference or b.categories_from_reference:
        same = a.categories_from_reference == b.categories_from_reference
        if list(a.categories) != list(b.categories) or not same:
            raise DriftInputError("cannot merge profiles with different category sets; profile both with "
                                  "the same reference= profile")
        out.categories = {k: a.categories[k] + b.categories[k] for k in a.categories}
        out.other, out.categories_from_reference = a.other + b.other, True
        return out
    merged = dict(a.categories)
    for k, v in b.categories.items():
        merged[k] = merged.get(k, 0) + v
    out.categories, out.other = _top(merged, a.other + b.other)
    return out


@dataclass
class DatasetProfile:
    """Profiles of a data set's columns: ``num_rows`` and ``columns`` (name -> ColumnProfile)."""

    num_rows: int
    columns: dict[str, ColumnProfile]

    def merge(self, other: DatasetProfile) -> DatasetProfile:
        """Profile of both data sets stacked (windows over time, or serving replicas)."""
        if list(self.columns) != list(other.columns):
            raise DriftInputError(f"cannot merge profiles of different columns: {list(self.columns)} "
                                  f"and {list(other.columns)}")
        cols = {name: col.merge(other.columns[name]) for name, col in self.columns.items()}
        return DatasetProfile(self.num_rows + other.num_rows, cols)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable dict (plain types only, no NaN or inf)."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "num_rows": self.num_rows,
            "columns": {name: col.to_dict() for name, col in self.columns.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatasetProfile:
        if d.get("format") != FORMAT:
            raise DriftInputError(f"not a {FORMAT} dict (format={d.get('format')!r})")
        if int(d.get("format_version", 0)) > FORMAT_VERSION:
            raise DriftInputError(f"profile format version {d['format_version']} is newer than this "
                                  f"shipyard reads ({FORMAT_VERSION}); upgrade shipyard")
        cols = {str(name): ColumnProfile.from_dict(c) for name, c in d["columns"].items()}
        return cls(int(d["num_rows"]), cols)


def profile(data: Any, *, columns: list[str] | None = None,
            reference: DatasetProfile | None = None, sample_size: int = SAMPLE_SIZE) -> DatasetProfile:
    """Profile a DataFrame, dict of arrays, 2-D array (columns f0, f1, ... or ``columns``) or pyarrow Table.

    With ``reference``, each column takes the reference column's kind, bin edges and category set (a column
    the reference lacks is profiled on its own), so the profiles compare and merge exactly.
    """
    raw = table_columns(data, columns)
    num_rows = len(next(iter(raw.values()))) if raw else 0
    out: dict[str, ColumnProfile] = {}
    for name, col in raw.items():
        ref = reference.columns.get(name) if reference is not None else None
        out[name] = ColumnProfile.from_data(column_data(col, ref.kind if ref else None), ref, sample_size)
    return DatasetProfile(num_rows, out)
