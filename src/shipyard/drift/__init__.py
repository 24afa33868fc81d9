"""Data drift: column tests, mergeable profiles and dataset-level decisions (numpy and scipy only).

    report = shipyard.drift.compare(reference_df, current_df)            # automatic test per column
    report = shipyard.drift.compare(reference_df, current_df, test="ks") # KS on every numeric column
    ref = shipyard.drift.profile(reference_df)                           # store ref.to_dict() as JSON
    report = shipyard.drift.compare(ref, shipyard.drift.profile(window_df, reference=ref))

Every verdict is calibrated to ``alpha`` (default 0.05) at every window size: p-value tests drift when
p < alpha, distances when they exceed max(null quantile at the window's size, floor) (see ``_null``);
a value equal to its threshold passes; ``drifted`` is None when a test cannot decide. The automatic
choice of test is documented in ``shipyard.drift._auto``; profiles in ``_profile``.
"""

from __future__ import annotations

from ._auto import TESTS, auto_test
from ._base import DriftTest, TestResult
from ._compare import compare
from ._count_tests import ChiSquareTest, JensenShannonTest, PSITest, ZTest
from ._errors import DriftInputError, NotFittedError
from ._numeric_tests import AndersonDarlingTest, KSTest, WassersteinTest
from ._profile import FORMAT_VERSION, ColumnProfile, DatasetProfile, profile
from ._report import ColumnDrift, DriftReport

__all__ = [
    "FORMAT_VERSION",
    "TESTS",
    "AndersonDarlingTest",
    "ChiSquareTest",
    "ColumnDrift",
    "ColumnProfile",
    "DatasetProfile",
    "DriftInputError",
    "DriftReport",
    "DriftTest",
    "JensenShannonTest",
    "KSTest",
    "NotFittedError",
    "PSITest",
    "TestResult",
    "WassersteinTest",
    "ZTest",
    "auto_test",
    "compare",
    "profile",
]
