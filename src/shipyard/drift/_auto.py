"""Which test each column gets, and the test registry.

The automatic choice (``n`` = rows in the reference; every verdict calibrated to ``alpha``, 0.05):

=============================  ==============================================================================
column                         test
=============================  ==============================================================================
binary                         chi-square on the 2 x 2 table: p < alpha and Cohen's w > 0.1
categorical, <= 5 categories   chi-square on the 2 x k table: p < alpha and Cohen's w > 0.1
categorical, more              Jensen-Shannon distance > max(null quantile at this size, 0.1)
numeric, <= 5 values           chi-square on the values: p < alpha and Cohen's w > 0.1
numeric, n <= 1000             KS: p < alpha (exact test; from a profile on its stored sample, which holds
                               every value of such a reference)
numeric, n > 1000              Wasserstein / std > max(null quantile at this size, 0.1)
=============================  ==============================================================================

Why: a share change of a binary or few-class column (a classifier's predictions) is what chi-square is
built for; Jensen-Shannon >= 0.1 misses a positive share moving from 0.17 to 0.27. KS's exact p-value is
the most powerful general test for a small reference; for a large one, a p-value flags negligible
shifts on large windows, hence a distance with an effect floor (``_null`` explains the null quantile).
A profile without a usable sample gets Wasserstein instead of KS. Every choice can be overridden per
column (``compare(test={"col": "psi"}, thresholds={"col": 0.2})``).
"""

from __future__ import annotations

from typing import Any

from ._base import DriftTest
from ._columns import BINARY, CATEGORICAL, CategoricalData, ColumnData, NumericData
from ._count_tests import FEW_VALUES, ChiSquareTest, JensenShannonTest, PSITest, ZTest
from ._errors import DriftInputError
from ._numeric_tests import AndersonDarlingTest, KSTest, WassersteinTest, usable_sample
from ._profile import ColumnProfile
from ._stats import few_distinct

SMALL_REFERENCE = 1000

TESTS: dict[str, type[DriftTest]] = {
    "anderson": AndersonDarlingTest,
    "chisquare": ChiSquareTest,
    "jensenshannon": JensenShannonTest,
    "ks": KSTest,
    "psi": PSITest,
    "wasserstein": WassersteinTest,
    "ztest": ZTest,
}
ALIASES = {"ad": "anderson", "chi2": "chisquare", "js": "jensenshannon", "z": "ztest",
           "wasserstein_distance": "wasserstein", "ks_2samp": "ks", "anderson_ksamp": "anderson"}


def make_test(spec: str | DriftTest, threshold: float | None = None) -> DriftTest:
    """A fresh test from a name (or alias) or a DriftTest instance (copied with its params)."""
    if isinstance(spec, DriftTest):
        test = type(spec)(**spec.get_params())
    else:
        name = ALIASES.get(spec.lower(), spec.lower())
        if name not in TESTS:
            raise DriftInputError(f"unknown drift test {spec!r}; use one of {sorted(TESTS)}")
        test = TESTS[name]()
    if threshold is not None:
        test.set_params(threshold=threshold)
    return test


def few_values(ref: ColumnData | ColumnProfile) -> bool:
    """Whether a numeric reference has at most FEW_VALUES distinct values."""
    if isinstance(ref, NumericData):
        return few_distinct(ref.values, FEW_VALUES) is not None
    if isinstance(ref, ColumnProfile):
        return ref.distinct is not None and len(ref.distinct) <= FEW_VALUES
    return False


def few_categories(ref: ColumnData | ColumnProfile) -> bool:
    """Whether a categorical reference has at most FEW_VALUES categories (an "other" bucket counts)."""
    if isinstance(ref, CategoricalData):
        return len(ref.counts) <= FEW_VALUES
    if isinstance(ref, ColumnProfile):
        return len(ref.categories) + (1 if ref.other else 0) <= FEW_VALUES
    return False


def auto_test(ref: ColumnData | ColumnProfile, num_rows: int, profiled: bool = False) -> DriftTest:
    """The default test for a reference column (see the module docstring)."""
    if ref.kind == BINARY:
        return ChiSquareTest()
    if ref.kind == CATEGORICAL:
        return ChiSquareTest() if few_categories(ref) else JensenShannonTest()
    if few_values(ref):
        return ChiSquareTest()
    if num_rows <= SMALL_REFERENCE and (not isinstance(ref, ColumnProfile) or usable_sample(ref) is not None):
        return KSTest()
    return WassersteinTest()


def pick_test(
    name: str, ref: ColumnData | ColumnProfile, num_rows: int, profiled: bool,
    test: Any, thresholds: Any, alpha: float | None = None,
) -> DriftTest:
    """Apply the user's overrides (per column, or one test for every column it applies to) to the default."""
    chosen = _pick(name, ref, num_rows, profiled, test, thresholds)
    if alpha is not None and chosen.alpha is None:
        chosen.set_params(alpha=alpha)
    return chosen


def _pick(name: str, ref: ColumnData | ColumnProfile, num_rows: int, profiled: bool,
          test: Any, thresholds: Any) -> DriftTest:
    threshold = thresholds.get(name) if isinstance(thresholds, dict) else thresholds
    if isinstance(test, dict) and name in test:
        chosen = make_test(test[name], threshold)
        if ref.kind not in chosen.kinds:
            raise DriftInputError(f"column {name!r} is {ref.kind}; {chosen.name} takes "
                                  f"{', '.join(chosen.kinds)} columns")
        return chosen
    if test is not None and not isinstance(test, dict):
        chosen = make_test(test, threshold)
        if ref.kind in chosen.kinds:
            return chosen
    chosen = auto_test(ref, num_rows, profiled)
    if not (isinstance(thresholds, dict) or test is None or isinstance(test, dict)):
        threshold = None  # one float threshold meant for a forced test does not apply to other tests
    if threshold is not None:
        chosen.set_params(threshold=threshold)
    return chosen
