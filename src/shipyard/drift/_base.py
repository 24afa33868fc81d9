"""The drift-test protocol (scikit-learn style) and its result."""

from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from ._columns import CategoricalData, ColumnData, NumericData, column_data
from ._errors import DriftInputError, NotFittedError
from ._profile import ColumnProfile


@dataclass(frozen=True)
class TestResult:
    """Outcome of one drift test on one column. ``statistic``/``p_value`` are None when undefined."""

    __test__ = False  # not a pytest test class

    test: str
    statistic: float | None
    p_value: float | None
    threshold: float
    drifted: bool
    reason: str | None = None
    effect_size: float | None = None  # numeric KS/Wasserstein: Wasserstein distance / reference std

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Input = Any  # array-like, pandas Series, pyarrow array, or ColumnProfile


class DriftTest:
    """Base class: ``__init__`` stores keyword-only params, ``fit(reference) -> self``, ``test(current)``.

    ``reference`` and ``current`` are 1-D array-likes or ``ColumnProfile``s. Raw against raw gives exact
    statistics; as soon as one side is a profile both are compared as profiles (the raw side is profiled
    against the reference), where only what profiles support is computed.
    """

    __test__ = False

    name: ClassVar[str] = ""
    kinds: ClassVar[tuple[str, ...]] = ()
    uses_p_value: ClassVar[bool] = True
    default_threshold: ClassVar[float] = 0.05

    def __init__(self, *, threshold: float | None = None) -> None:
        self.threshold = threshold

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
        """Learn the reference: ``reference_`` (column data or profile) and ``threshold_``."""
        if isinstance(reference, ColumnProfile | NumericData | CategoricalData):
            self.reference_: ColumnData | ColumnProfile = reference
        else:
            self.reference_ = column_data(reference, kind)
        if self.reference_.kind not in self.kinds:
            raise DriftInputError(f"{self.name} does not apply to a {self.reference_.kind} column; "
                                  f"it takes {', '.join(self.kinds)} columns")
        self.threshold_ = float(self.default_threshold if self.threshold is None else self.threshold)
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
            return self._undefined("the reference has no non-missing values")
        if cur.count == 0:
            return self._undefined("the current data has no non-missing values")
        if isinstance(ref, ColumnProfile) or isinstance(cur, ColumnProfile):
            ref_p = ref if isinstance(ref, ColumnProfile) else self._ref_profile()
            cur_p = cur if isinstance(cur, ColumnProfile) else ColumnProfile.from_data(cur, ref_p)
            if cur_p.kind != ref_p.kind:
                raise DriftInputError(f"current column is {cur_p.kind}, the reference is {ref_p.kind}")
            return self._test_profiles(ref_p, cur_p)
        return self._test_raw(ref, cur)

    def _ref_profile(self) -> ColumnProfile:
        if not hasattr(self, "_ref_profile_cache"):
            self._ref_profile_cache = ColumnProfile.from_data(self.reference_)  # type: ignore[arg-type]
        return self._ref_profile_cache

    def _test_raw(self, ref: ColumnData, cur: ColumnData) -> TestResult:
        return self._test_profiles(self._ref_profile(), ColumnProfile.from_data(cur, self._ref_profile()))

    def _test_profiles(self, ref: ColumnProfile, cur: ColumnProfile) -> TestResult:
        raise NotImplementedError

    def _undefined(self, reason: str) -> TestResult:
        return TestResult(self.name, None, None, self.threshold_, False, reason)

    def _result(self, statistic: float, p_value: float | None, reason: str | None = None,
                effect_size: float | None = None) -> TestResult:
        if self.uses_p_value:
            drifted = p_value is not None and p_value <= self.threshold_
        else:
            drifted = statistic >= self.threshold_
        return TestResult(self.name, float(statistic), p_value, self.threshold_, bool(drifted), reason,
                          effect_size)


def numeric_values(data: ColumnData) -> NumericData:
    assert isinstance(data, NumericData)
    return data
