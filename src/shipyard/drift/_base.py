"""The drift-test protocol (scikit-learn style) and its result."""

from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from ._columns import CategoricalData, ColumnData, NumericData, column_data
from ._errors import DriftInputError, NotFittedError
from ._profile import ColumnProfile

DEFAULT_ALPHA = 0.05


@dataclass(frozen=True)
class TestResult:
    """Outcome of one drift test on one column.

    ``statistic`` is the value named ``statistic_name`` (``"D"``, ``"wasserstein/std"``, ...); ``drifted``
    is True, False, or None when the test cannot decide (``reason`` says why). ``threshold`` is the
    quantity the verdict compares with: ``alpha`` for a p-value test (drift when p < alpha), for a
    distance the larger of its null quantile at this window size and its ``floor`` (drift when
    statistic > threshold). A value equal to its threshold passes. ``effect_size`` is the test's effect
    (Wasserstein / std for numeric KS/Wasserstein, Cohen's w for chi-square); for chi-square the verdict
    also needs ``effect_size > floor``. ``null_quantile`` is None for a p-value test, and for
    Wasserstein where a bound of it lies below the floor (the floor decides; nothing was simulated).
    """

    __test__ = False  # not a pytest test class

    test: str
    statistic: float | None
    p_value: float | None
    threshold: float
    drifted: bool | None
    reason: str | None = None
    effect_size: float | None = None
    statistic_name: str = ""
    alpha: float | None = None
    floor: float | None = None
    null_quantile: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Input = Any  # array-like, pandas Series, pyarrow array, or ColumnProfile


class DriftTest:
    """Base class: ``__init__`` stores keyword-only params, ``fit(reference) -> self``, ``test(current)``.

    ``reference`` and ``current`` are 1-D array-likes or ``ColumnProfile``s. Raw against raw gives exact
    statistics; as soon as one side is a profile both are compared as profiles (the raw side is profiled
    against the reference), where only what profiles support is computed.

    ``alpha`` (default 0.05) is the false-alarm rate a test is calibrated to. For a p-value test,
    ``threshold`` is another name for ``alpha`` (kept for compatibility); for a distance test it is the
    effect-size floor.
    """

    __test__ = False

    name: ClassVar[str] = ""
    statistic_name: ClassVar[str] = ""
    kinds: ClassVar[tuple[str, ...]] = ()
    uses_p_value: ClassVar[bool] = True
    default_threshold: ClassVar[float] = 0.05

    def __init__(self, *, threshold: float | None = None, alpha: float | None = None) -> None:
        self.threshold = threshold
        self.alpha = alpha

    @classmethod
    def _param_names(cls) -> list[str]:
        params = inspect.signature(cls.__init__).parameters.values()
        return sorted(p.name for p in params if p.name != "self" and p.kind == p.KEYWORD_ONLY)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's parameters, so ``type(t)(**t.get_params())`` rebuilds the test."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> DriftTest:
        for key, value in params.items():
            if key not in self._param_names():
                raise DriftInputError(f"{type(self).__name__} has no parameter {key!r}")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if v is not None)
        return f"{type(self).__name__}({args})"

    def fit(self, reference: Input, *, kind: str | None = None) -> DriftTest:
        """Learn the reference: ``reference_`` (column data or profile), ``alpha_`` and ``threshold_``."""
        if isinstance(reference, ColumnProfile | NumericData | CategoricalData):
            self.reference_: ColumnData | ColumnProfile = reference
        else:
            self.reference_ = column_data(reference, kind)
        if self.reference_.kind not in self.kinds:
            raise DriftInputError(f"{self.name} does not apply to a {self.reference_.kind} column; "
                                  f"it takes {', '.join(self.kinds)} columns")
        self.threshold_ = float(self.default_threshold if self.threshold is None else self.threshold)
        if self.uses_p_value:
            self.alpha_ = float(self.threshold_ if self.alpha is None else self.alpha)
        else:
            self.alpha_ = float(DEFAULT_ALPHA if self.alpha is None else self.alpha)
        if not 0.0 < self.alpha_ < 1.0:
            raise DriftInputError(f"alpha must lie in (0, 1), got {self.alpha_}")
        self._prepare()
        return self

    def _prepare(self) -> None:
        """Precompute what every ``test`` call needs (hook)."""

    def test(self, current: Input) -> TestResult:
        """Test ``current`` against the fitted reference."""
        if not hasattr(self, "reference_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit(reference) first")
        ref = self.reference_
        if isinstance(current, ColumnProfile | NumericData | CategoricalData):
            cur: ColumnData | ColumnProfile = current
        else:
            cur = column_data(current, ref.kind)
        if ref.count == 0:
            return self._undecided("the reference has no non-missing values")
        if cur.count == 0:
            return self._undecided("the current data has no non-missing values")
        if isinstance(ref, ColumnProfile) or isinstance(cur, ColumnProfile):
            ref_p = ref if isinstance(ref, ColumnProfile) else self._ref_profile()
            if cur.kind != ref_p.kind:
                raise DriftInputError(f"current column is {cur.kind}, the reference is {ref_p.kind}")
            if not isinstance(cur, ColumnProfile):
                return self._test_mixed(ref_p, cur)
            return self._test_profiles(ref_p, cur)
        return self._test_raw(ref, cur)

    def _ref_profile(self) -> ColumnProfile:
        if isinstance(self.reference_, ColumnProfile):
            return self.reference_
        if not hasattr(self, "_ref_profile_cache"):
            self._ref_profile_cache = ColumnProfile.from_data(self.reference_)
        return self._ref_profile_cache

    def _null_owner(self) -> object:
        """Where null quantiles are cached: the reference profile (reused across calls) or this test."""
        return self.reference_ if isinstance(self.reference_, ColumnProfile) else self

    def _test_mixed(self, ref: ColumnProfile, cur: ColumnData) -> TestResult:
        """A profiled reference against raw current data: by default the current side is profiled too."""
        return self._test_profiles(ref, ColumnProfile.from_data(cur, ref))

    def _test_raw(self, ref: ColumnData, cur: ColumnData) -> TestResult:
        return self._test_profiles(self._ref_profile(), ColumnProfile.from_data(cur, self._ref_profile()))

    def _test_profiles(self, ref: ColumnProfile, cur: ColumnProfile) -> TestResult:
        raise NotImplementedError

    def _undecided(self, reason: str, statistic: float | None = None,
                   effect_size: float | None = None) -> TestResult:
        """A result that cannot decide: ``drifted`` is None (never reported as passed)."""
        return TestResult(self.name, statistic, None, self.threshold_, None, reason, effect_size,
                          self.statistic_name, self.alpha_, self._floor())

    def _undefined(self, reason: str) -> TestResult:  # the older name
        return self._undecided(reason)

    def _floor(self) -> float | None:
        return None if self.uses_p_value else self.threshold_

    def _result(self, statistic: float, p_value: float | None, reason: str | None = None,
                effect_size: float | None = None, null_quantile: float | None = None) -> TestResult:
        """The verdict: p < alpha (and effect > floor where the test has one), or
        statistic > max(null quantile, floor). Equal to the threshold passes."""
        floor = self._floor()
        if self.uses_p_value:
            if p_value is None:
                return self._undecided(reason or "no p-value", statistic, effect_size)
            threshold = self.alpha_
            drifted = p_value < self.alpha_
            if floor is not None and effect_size is not None:
                drifted = drifted and effect_size > floor
        else:
            threshold = max(floor or 0.0, null_quantile if null_quantile is not None else 0.0)
            drifted = statistic > threshold
        return TestResult(self.name, float(statistic), p_value, float(threshold), bool(drifted), reason,
                          effect_size, self.statistic_name, self.alpha_, floor, null_quantile)


def numeric_values(data: ColumnData) -> NumericData:
    assert isinstance(data, NumericData)
    return data
