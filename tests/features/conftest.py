"""Random feature data with the awkward cases (ties, equal times, late rows) and a plain reference."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from tests.cli.conftest import cli  # noqa: F401  (the shipyard command, in process)

pd = pytest.importorskip("pandas")
pytest.importorskip("duckdb")

T0 = pd.Timestamp("2026-01-01")


def minutes(values: Any) -> Any:
    return T0 + pd.to_timedelta(np.asarray(values), unit="min")


def random_source(rng: np.random.Generator, n: int, features: list[str], *, created: bool = True) -> Any:
    """Rows over keys (k1 in 0..3, k2 in a/b) and 40 minutes: many equal event times, a quarter of rows
    created later than their event (late arrivals), exact duplicates of (keys, event, created)."""
    frame = pd.DataFrame({
        "k1": rng.integers(0, 4, n),
        "k2": rng.choice(["a", "b"], n),
        "event_timestamp": minutes(rng.integers(0, 40, n)),
    })
    delay = np.where(rng.random(n) < 0.25, rng.integers(1, 30, n), 0)
    if created:
        frame["created"] = frame["event_timestamp"] + pd.to_timedelta(delay, unit="min")
        dup = rng.choice(n, n // 10, replace=False)
        frame.loc[dup, "created"] = frame.loc[dup, "event_timestamp"]
    for f in features:
        frame[f] = rng.normal(size=n).round(6)
    return frame


def random_entities(rng: np.random.Generator, n: int) -> Any:
    return pd.DataFrame({"k1": rng.integers(0, 5, n),  # key 4 never has features
                         "k2": rng.choice(["a", "b"], n),
                         "event_timestamp": minutes(rng.integers(-2, 60, n))})


def reference_event_time(entities: Any, source: Any, keys: list[str], features: list[str],
                         ttl: timedelta | None) -> Any:
    """pandas merge_asof: the latest event at or before each row (ties: latest created, then last row)."""
    src = source.reset_index(drop=True).assign(order=np.arange(len(source)))
    by = ["event_timestamp", "created", "order"] if "created" in src else ["event_timestamp", "order"]
    src = src.sort_values(by).drop_duplicates([*keys, "event_timestamp"], keep="last")
    src = src.rename(columns={"event_timestamp": "e"})[[*keys, "e", *features]].sort_values("e")
    left = entities.reset_index(drop=True).assign(row=np.arange(len(entities))).sort_values("event_timestamp")
    merged = pd.merge_asof(left, src, left_on="event_timestamp", right_on="e", by=keys, direction="backward",
                           allow_exact_matches=True, tolerance=pd.Timedelta(ttl) if ttl else None)
    return merged.sort_values("row").reset_index(drop=True)[features]


def reference_as_known_at(entities: Any, source: Any, keys: list[str], features: list[str],
                          ttl: timedelta | None) -> Any:
    """Brute force, row by row: among rows with event <= t and created <= t (and event >= t - ttl),
    the one with the latest event, then created, then position."""
    src = source.reset_index(drop=True).assign(order=np.arange(len(source)))
    out = []
    for _, row in entities.iterrows():
        t = row["event_timestamp"]
        match = src
        for k in keys:
            match = match[match[k] == row[k]]
        match = match[(match["event_timestamp"] <= t) & (match["created"] <= t)]
        if ttl:
            match = match[match["event_timestamp"] >= t - ttl]
        if match.empty:
            out.append({f: np.nan for f in features})
        else:
            best = match.sort_values(["event_timestamp", "created", "order"]).iloc[-1]
            out.append({f: best[f] for f in features})
    return pd.DataFrame(out, columns=features)
