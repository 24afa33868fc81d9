"""Sample-size-aware decisions for the distance tests (Wasserstein / std, Jensen-Shannon, PSI).

A distance between a reference of ``m`` rows and a window of ``n`` rows is never 0 on samples of one
distribution: its null distribution shrinks like ``1 / sqrt(n_eff)`` with ``n_eff = m n / (m + n)``. So a
fixed bound (Evidently's "Wasserstein / std >= 0.1") flags most small windows and almost no large ones.
Here the bound at each size is the ``1 - alpha`` quantile of the distance between the reference and
``TRIALS`` windows of ``n_eff`` rows drawn from the reference itself (a parametric bootstrap, the
reference as the population; drawing ``n_eff`` rather than ``n`` rows accounts for the reference's own
sampling noise, exactly so for the quadratic statistics and asymptotically for Wasserstein). The draws
are multinomial counts over the reference's cells (bins or categories) or, for Wasserstein, over
``ATOMS`` equal-mass quantile atoms of the reference; the seed is fixed, so a verdict is reproducible.
A verdict is ``distance > max(null quantile, floor)``: the floor (the test's ``threshold``) keeps very
large windows from flagging negligible shifts.

Quantiles are cached on the reference profile (or fitted test) per test, alpha and ``n_eff``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ._stats import few_distinct

TRIALS = 1000  # the realised false-alarm rate of a column is alpha +- 0.7 points (binomial sd at 5 %)
ATOMS = 256  # equal-mass atoms standing for a numeric reference in the Wasserstein null
_SEED = 20261207


def effective_size(m: int, n: int) -> int:
    """``m n / (m + n)``, at least 1: the size of one sample that fluctuates like the two together."""
    return max(1, round(m * n / (m + n))) if m and n else 1


def cached(owner: Any, key: tuple[Any, ...], compute: Callable[[], float]) -> float:
    """``compute()`` once per ``key`` on ``owner`` (a profile or a test; no module-level state)."""
    store: dict[tuple[Any, ...], float] = owner.__dict__.setdefault("_null_quantiles", {})
    if key not in store:
        store[key] = compute()
    return store[key]


def _rng(n_eff: int, cells: int) -> np.random.Generator:
    return np.random.default_rng([_SEED, n_eff, cells])


def _cuts(total: float) -> np.ndarray:
    """Cell boundaries in rank space: ``ATOMS`` equal-mass cells, the two outer ones split in halves
    down to one row, so that a heavy tail keeps its extreme values (they weigh most in W)."""
    body = np.linspace(0.0, total, ATOMS + 1)
    step = total / ATOMS
    tail = step / 2.0 ** np.arange(1, max(1, int(math.log2(max(step, 1.0)))) + 1)
    return np.unique(np.concatenate([body, tail, total - tail]))


def atoms_from_sorted(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(support, probabilities): the mean of the values in each cell of ``_cuts``, ties merged."""
    n = values.size
    if n <= 2 * ATOMS:
        return _merge_ties(values, np.ones(n))
    distinct = few_distinct(values, 2 * ATOMS)
    if distinct is not None:  # discrete data: its own values, never a mean between two of them
        return distinct, np.diff(np.searchsorted(values, distinct, side="left"), append=n) / n
    cuts = np.round(_cuts(float(n))).astype(np.intp)
    cuts = np.unique(cuts)
    sums = np.concatenate([[0.0], np.cumsum(values)])
    mass = np.diff(cuts).astype(np.float64)
    return _merge_ties((sums[cuts[1:]] - sums[cuts[:-1]]) / mass, mass)


def atoms_from_cumulative(points: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same from a histogram (sorted ``points`` with ``counts``: a profile's sketch)."""
    counts = counts.astype(np.float64)
    total = float(counts.sum())
    if points.size <= 2 * ATOMS:
        return _merge_ties(points, counts)
    cuts = _cuts(total)
    cum_n = np.concatenate([[0.0], np.cumsum(counts)])
    cum_s = np.concatenate([[0.0], np.cumsum(counts * points)])

    def upto(rank: np.ndarray) -> np.ndarray:  # sum of the ``rank`` smallest values (linear within a bin)
        i = np.clip(np.searchsorted(cum_n, rank, side="right") - 1, 0, points.size - 1)
        return cum_s[i] + (rank - cum_n[i]) * points[i]

    sums = upto(cuts)
    mass = np.diff(cuts)
    keep = mass > 0
    return _merge_ties((np.diff(sums) / np.where(keep, mass, 1.0))[keep], mass[keep])


def _merge_ties(x: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(x, kind="stable")
    x, weight = x[order], weight[order]
    support, start = np.unique(x, return_index=True)
    probs = np.add.reduceat(weight, start)
    return support, probs / probs.sum()


def _window_counts(rng: np.random.Generator, probs: np.ndarray, n: int) -> np.ndarray:
    """(TRIALS, k) multinomial counts of n draws; small windows by drawing rows (cheaper than k binomials)."""
    k = probs.size
    if n * 2 > k:
        return rng.multinomial(n, probs, size=TRIALS)
    cells = np.searchsorted(np.cumsum(probs)[:-1], rng.random((TRIALS, n)), side="right")
    flat = (cells + (np.arange(TRIALS) * k)[:, None]).ravel()
    return np.bincount(flat, minlength=TRIALS * k).reshape(TRIALS, k)


def wasserstein_bound(support: np.ndarray, probs: np.ndarray, n_eff: int, alpha: float) -> float:
    """A cheap upper bound of ``wasserstein_quantile``: E[W] <= sum sqrt(F (1 - F) / n) dx (Jensen), plus
    McDiarmid's deviation (one of n draws moves W by at most range / n). When it is below the floor,
    the floor decides and no simulation is needed (large windows of a light-tailed column)."""
    if support.size < 2:
        return 0.0
    cdf = np.cumsum(probs[:-1])
    gaps = np.diff(support)
    mean = float(np.sqrt(cdf * (1.0 - cdf) / n_eff) @ gaps)
    spread = float(support[-1] - support[0]) * math.sqrt(math.log(1.0 / alpha) / (2.0 * n_eff))
    return mean + spread


def wasserstein_quantile(support: np.ndarray, probs: np.ndarray, n_eff: int, alpha: float) -> float:
    """``1 - alpha`` quantile of W(reference, window of n_eff rows drawn from it) (not divided by std)."""
    if support.size < 2:
        return 0.0
    counts = _window_counts(_rng(n_eff, support.size), probs, n_eff)
    diff = np.cumsum(counts[:, :-1], axis=1) / n_eff - np.cumsum(probs[:-1])
    dist = np.abs(diff) @ np.diff(support)
    return float(np.quantile(dist, 1.0 - alpha))


def counts_quantile(reference: np.ndarray, n_eff: int, alpha: float,
                    score: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> float:
    """``1 - alpha`` quantile of ``score(reference, window)`` over windows of n_eff rows from the reference.

    ``score`` takes the reference counts (k,) and window counts (TRIALS, k) and returns (TRIALS,).
    """
    probs = reference / reference.sum()
    keep = probs > 0  # cells empty in the reference never receive a draw; they score 0 on both sides
    if int(keep.sum()) < 2:
        return 0.0
    counts = _window_counts(_rng(n_eff, int(keep.sum())), probs[keep], n_eff)
    return float(np.quantile(score(reference[keep], counts.astype(np.float64)), 1.0 - alpha))


def js_rows(r: np.ndarray, c: np.ndarray, base: float = math.e) -> np.ndarray:
    """Jensen-Shannon distance of one count vector ``r`` and each row of ``c`` (as ``_stats.jensen_shannon``)."""
    p = r / r.sum()
    q = c / c.sum(axis=1, keepdims=True)
    m = (p + q) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0) / m), 0.0).sum(axis=1)
        kl_q = np.where(q > 0, q * np.log(np.where(q > 0, q, 1.0) / m), 0.0).sum(axis=1)
    return np.sqrt(np.maximum((kl_p + kl_q) / 2.0 / math.log(base), 0.0))


def psi_rows(r: np.ndarray, c: np.ndarray, eps: float) -> np.ndarray:
    """PSI of one count vector ``r`` and each row of ``c`` (as ``_stats.psi``)."""
    p = np.maximum(r / r.sum(), eps)
    q = np.maximum(c / c.sum(axis=1, keepdims=True), eps)
    return ((q - p) * np.log(q / p)).sum(axis=1)
