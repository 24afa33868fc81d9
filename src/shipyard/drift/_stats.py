"""The statistics themselves, on sorted values or on counts; scipy is imported lazily.

KS and Wasserstein come from ONE merged sort of both samples (a stable argsort of two sorted runs is a
merge). Conventions: Wasserstein is the 1-D earth mover's distance (``scipy.stats.wasserstein_distance``);
PSI and Jensen-Shannon use the natural log unless told otherwise; chi-square is the two-sample test of
homogeneity on the 2 x k table of counts (``scipy.stats.chi2_contingency`` without Yates' correction).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np

PSI_EPS = 1e-4  # proportions of 0 are replaced by this in PSI (as Evidently does)
KS_EXACT_MAX_N = 10_000  # scipy's ks_2samp uses its exact distribution up to this sample size


def ks_wasserstein(
    u: np.ndarray, v: np.ndarray, u_weights: np.ndarray | None = None, v_weights: np.ndarray | None = None,
    *, ks: bool = True,
) -> tuple[float, float]:
    """(KS distance D, Wasserstein-1 distance) of two sorted samples, optionally weighted (point masses).

    ``ks=False`` skips D (returned as NaN) when only the Wasserstein distance is wanted.
    """
    all_values = np.concatenate([u, v])
    order = np.argsort(all_values, kind="stable")
    values = all_values[order]
    if u_weights is None or v_weights is None:
        from_u = order < u.size
        cdf_u = np.cumsum(from_u) / u.size
        cdf_v = np.cumsum(~from_u) / v.size
        diff = np.abs(cdf_u - cdf_v)
    else:  # F_u - F_v is the running sum of the weights, taken positive for u and negative for v
        signed = np.concatenate([u_weights / u_weights.sum(), v_weights / -v_weights.sum()])
        diff = np.abs(np.cumsum(signed[order]))
    steps = values[1:] - values[:-1]
    wasserstein = float((diff[:-1] * steps).sum()) if values.size > 1 else 0.0  # no BLAS (see below)
    if not ks:
        return math.nan, wasserstein
    group_end = np.empty(values.size, dtype=bool)
    group_end[:-1] = values[1:] != values[:-1]
    group_end[-1] = True
    return float(diff[group_end].max()), wasserstein


def wasserstein_sorted(u: np.ndarray, v: np.ndarray) -> float:
    """Wasserstein-1 distance of two sorted samples, without merging them.

    It is the integral of |Q_u(t) - Q_v(t)| over t in (0, 1] (Q: quantile functions, the same as the
    integral of |F_u(x) - F_v(x)| that ``scipy.stats.wasserstein_distance`` sums). Equal sizes: the mean
    of |u_i - v_i|. Otherwise on the grid t = k / (n m): Q_u is constant on [i m, (i + 1) m), Q_v on
    [j n, (j + 1) n); the merged breakpoints are placed by arithmetic, not sorted (O(n + m)).
    """
    n, m = u.size, v.size
    if n == m:
        return float(np.abs(u - v).sum() / n)
    g = math.gcd(n, m)
    a, b = m // g, n // g  # breakpoints i * a (u) and j * b (v) on a grid of n * m / g steps
    i = np.arange(n, dtype=np.int64)
    j = np.arange(m, dtype=np.int64)
    starts = np.empty(n + m, dtype=np.int64)
    # a u-breakpoint goes after the v-breakpoints below it, a v-breakpoint after the u-breakpoints at or below
    starts[i + (i * a + (b - 1)) // b] = i * a
    starts[j + (j * b) // a + 1] = j * b
    del i, j
    widths = np.empty(n + m, dtype=np.float64)
    np.subtract(starts[1:], starts[:-1], out=widths[:-1])
    widths[-1] = n * a - starts[-1]
    gaps = np.abs(u[starts // a] - v[starts // b])
    # a plain (pairwise) sum, not np.dot: multi-threaded BLAS is slow on a loaded machine, and less exact
    return float(np.multiply(gaps, widths, out=gaps).sum() / (n * a))


def ks_pvalue(u: np.ndarray, v: np.ndarray, d: float) -> float:
    """Two-sided p-value of the two-sample KS test, as ``scipy.stats.ks_2samp(method='auto')`` gives it."""
    from scipy import stats

    n1, n2 = u.size, v.size
    if max(n1, n2) <= KS_EXACT_MAX_N:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scipy falls back to the asymptotic form with a warning
            return float(stats.ks_2samp(u, v).pvalue)
    m, n = sorted([float(n1), float(n2)], reverse=True)
    return float(min(1.0, max(0.0, stats.kstwo.sf(d, np.round(m * n / (m + n))))))


def anderson_ksamp(u: np.ndarray, v: np.ndarray) -> tuple[float, float, bool]:
    """(statistic, p-value, capped) of scipy's k-sample Anderson-Darling test (midrank variant)."""
    import inspect

    from scipy import stats

    kwargs = {"variant": "midrank"} if "variant" in inspect.signature(stats.anderson_ksamp).parameters else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "p-value capped" / "floored" warnings
        res = stats.anderson_ksamp([u, v], **kwargs)
    p = float(res.pvalue)
    return float(res.statistic), p, p <= 0.001 or p >= 0.25


def counts_table(ref: dict[str, int], cur: dict[str, int]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Aligned count vectors over the union of categories (reference order first)."""
    keys = list(ref) + [k for k in cur if k not in ref]
    return (
        keys,
        np.array([ref.get(k, 0) for k in keys], dtype=np.float64),
        np.array([cur.get(k, 0) for k in keys], dtype=np.float64),
    )


def chi2_homogeneity(r: np.ndarray, c: np.ndarray) -> tuple[float, float, int]:
    """(chi-square, p-value, dof) of the 2 x k contingency table; empty categories are dropped."""
    from scipy.special import chdtrc

    keep = (r + c) > 0
    r, c = r[keep], c[keep]
    if r.size < 2:
        return 0.0, 1.0, 0
    table = np.vstack([r, c])
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    stat = float(((table - expected) ** 2 / expected).sum())
    dof = r.size - 1
    return stat, float(chdtrc(dof, stat)), dof


def two_proportion_z(success_r: float, n_r: float, success_c: float, n_c: float) -> tuple[float, float]:
    """(z, two-sided p) of the pooled two-proportion z-test; (0, 1) when the pooled share is 0 or 1."""
    from scipy.special import ndtr

    pooled = (success_r + success_c) / (n_r + n_c)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n_r + 1.0 / n_c))
    if se == 0.0:
        return 0.0, 1.0
    z = (success_c / n_c - success_r / n_r) / se
    return float(z), float(min(1.0, 2.0 * ndtr(-abs(z))))


def psi(r: np.ndarray, c: np.ndarray, eps: float = PSI_EPS) -> float:
    """Population Stability Index sum((c - r) * ln(c / r)) of two count vectors; 0 shares become eps."""
    p = np.maximum(r / r.sum(), eps)
    q = np.maximum(c / c.sum(), eps)
    return float(np.sum((q - p) * np.log(q / p)))


def jensen_shannon(r: np.ndarray, c: np.ndarray, base: float = math.e) -> float:
    """Jensen-Shannon DISTANCE (square root of the divergence) of two count vectors, log in ``base``."""
    p = r / r.sum()
    q = c / c.sum()
    m = (p + q) / 2.0

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log(a[nz] / m[nz])))

    div = (kl(p) + kl(q)) / 2.0 / math.log(base)
    return math.sqrt(max(div, 0.0))


def few_distinct(sorted_values: np.ndarray, limit: int) -> np.ndarray | None:
    """The distinct values of a sorted array when there are at most ``limit``, else None (O(limit log n))."""
    out: list[float] = []
    i, n = 0, sorted_values.size
    while i < n:
        if len(out) == limit:
            return None
        x = sorted_values[i]
        out.append(float(x))
        i = int(np.searchsorted(sorted_values, x, side="right"))
    return np.asarray(out, dtype=np.float64)


def distinct_sorted(sorted_values: np.ndarray) -> np.ndarray:
    """The distinct values of a sorted array (``np.unique`` without its sort)."""
    if sorted_values.size == 0:
        return sorted_values
    keep = np.empty(sorted_values.size, dtype=bool)
    keep[0] = True
    np.not_equal(sorted_values[1:], sorted_values[:-1], out=keep[1:])
    return sorted_values[keep]


def quantile_edges(sorted_values: np.ndarray, n_bins: int) -> np.ndarray:
    """Interior bin edges at the reference's quantiles (duplicates from ties removed)."""
    if sorted_values.size == 0:
        return np.empty(0)
    qs = np.quantile(sorted_values, np.linspace(0, 1, n_bins + 1)[1:-1])
    edges = np.unique(qs)
    return edges[edges > sorted_values[0]]


def bin_counts(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts in bins (-inf, e0), [e0, e1), ..., [e_last, inf) of sorted values."""
    idx = np.searchsorted(sorted_values, edges, side="left")
    return np.diff(np.concatenate([[0], idx, [sorted_values.size]])).astype(np.float64)


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (step-up, monotone, capped at 1)."""
    p = np.asarray(p_values, dtype=np.float64)
    n = p.size
    if n == 0:
        return []
    order = np.argsort(p)
    ranked = p[order] * n / np.arange(1, n + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(adjusted, 1.0)
    return out.tolist()
