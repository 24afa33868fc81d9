"""Which test each column gets, and the test registry.

The automatic choice follows Evidently's defaults (``n`` = rows in the reference):

======================  ====================================  ==========================================
column                  n <= 1000                             n > 1000
======================  ====================================  ==========================================
numeric                 KS, drift when p <= 0.05              Wasserstein / reference std >= 0.1
numeric, <= 5 values    KS, p <= 0.05                         Jensen-Shannon (natural log) >= 0.1
categorical             chi-square (2 x k table), p <= 0.05   Jensen-Shannon >= 0.1
binary                  two-proportion z-test, p <= 0.05      Jensen-Shannon >= 0.1
======================  ====================================  ==========================================

One exception: when either side is a profile, a small numeric reference gets Wasserstein / std >= 0.1
instead of KS, because a KS p-value from a sketch is not valid. Every choice can be overridden per column
(``compare(test={"col": "psi"}, thresholds={"col": 0.2})``).
"""

from __future__ import annotations

from typing import Any

from ._base import DriftTest
from ._columns import BINARY, CATEGORICAL, ColumnData, NumericData
from ._count_tests import FEW_VALUES, ChiSquareTest, JensenShannonTest, PSITest, ZTest
from ._errors import DriftInputError
from ._numeric_tests import AndersonDarlingTest, KSTest, WassersteinTest
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


def auto_test(ref: ColumnData | ColumnProfile, num_rows: int, profiled: bool) -> DriftTest:
    """The default test for a reference column (see the module docstring)."""
    small = num_rows <= SMALL_REFERENCE
    if ref.kind == BINARY:
        return ZTest() if small else JensenShannonTest()
    if ref.kind == CATEGORICAL:
        return ChiSquareTest() if small else JensenShannonTest()
    if small:
        return WassersteinTest() if profiled else KSTest()
    return JensenShannonTest() if few_values(ref) else WassersteinTest()


def pick_test(
    name: str, ref: ColumnData | ColumnProfile, num_rows: int, profiled: bool,
    test: Any, thresholds: Any,
) -> DriftTest:
    """Apply the user's overrides (per column, or one test for every column it applies to) to the default."""
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
