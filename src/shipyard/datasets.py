"""Real data sets shipped with shipyard, for examples, tests and the demo.

See ``_data/ATTRIBUTION.md`` for where they come from. Each loader returns a dict of NumPy arrays
(column name -> array) in file order, or a pandas DataFrame with ``as_frame=True``.
"""

from __future__ import annotations

import csv
import gzip
from importlib import resources
from typing import Any

import numpy as np

__all__ = ["RAINFALL_FEATURES", "load_bikeshare", "load_rainfall"]

RAINFALL_FEATURES = [
    "temperature",
    "dew point",
    "sea-level pressure",
    "visibility",
    "average wind speed",
    "max sustained wind-speed",
    "minimum temperature",
    "maximum temperature",
]
_BIKESHARE_TEXT = {"mnth", "weathersit"}


def _read(name: str) -> tuple[list[str], list[list[str]]]:
    with resources.files("shipyard._data").joinpath(name).open("rb") as raw, gzip.open(raw, "rt") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        return header, list(reader)


def _frame(columns: dict[str, np.ndarray], as_frame: bool) -> Any:
    if not as_frame:
        return columns
    import pandas as pd

    return pd.DataFrame(columns)


def load_rainfall(*, as_frame: bool = False) -> Any:
    """18,159 days of weather; features in ``RAINFALL_FEATURES``, target ``rain`` (0/1).

    Drift was injected from row 12,000 on (dew point and sea-level pressure shift, the model collapses).
    """
    header, rows = _read("rainfall.csv.gz")
    data = np.array(rows, dtype=np.float64)
    columns = {name: data[:, i] for i, name in enumerate(header) if name}
    columns["rain"] = columns["rain"].astype(np.int64)
    return _frame(columns, as_frame)


def load_bikeshare(*, as_frame: bool = False) -> Any:
    """8,645 hours of 2011 bike rentals; target ``bikers``; ``mnth`` and ``weathersit`` are text."""
    header, rows = _read("bikeshare.csv.gz")
    columns: dict[str, np.ndarray] = {}
    for i, name in enumerate(header):
        values = [row[i] for row in rows]
        if name in _BIKESHARE_TEXT:
            columns[name] = np.array(values, dtype=object)
        elif name in {"temp", "atemp", "hum", "windspeed"}:
            columns[name] = np.array(values, dtype=np.float64)
        else:
            columns[name] = np.array(values, dtype=np.int64)
    return _frame(columns, as_frame)
