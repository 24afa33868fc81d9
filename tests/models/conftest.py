from __future__ import annotations

import numpy as np
import pytest

from shipyard.datasets import RAINFALL_FEATURES, load_rainfall


@pytest.fixture(scope="session")
def rainfall_frame():
    """The first 3,000 rainfall days as (X DataFrame of the 8 features, y Series)."""
    df = load_rainfall(as_frame=True).iloc[:3000]
    return df[RAINFALL_FEATURES].reset_index(drop=True), df["rain"].reset_index(drop=True)


@pytest.fixture(scope="session")
def rainfall_arrays(rainfall_frame):
    X, y = rainfall_frame
    return np.ascontiguousarray(X.to_numpy(dtype=np.float64)), y.to_numpy()
