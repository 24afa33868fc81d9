"""An on-demand feature function in a module of its own, so a ``shipyard serve`` process can import it."""

from __future__ import annotations

from typing import Any


def busy_per_dock(df: Any) -> Any:
    import pandas as pd

    return pd.DataFrame({"busy_per_dock": df["trips_1h"] / (df["docks_free"] + df["extra_docks"])})
