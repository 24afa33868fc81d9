"""The profile contract: inputs, JSON round trip, exact merges, reference bins."""

from __future__ import annotations

import itertools
import json
from typing import Any

import numpy as np
import pytest

import shipyard.drift as sd


def _data(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    x[rng.random(n) < 0.05] = np.nan
    cat = rng.choice(np.array(["red", "green", "blue", None], dtype=object), size=n, p=[0.5, 0.3, 0.15, 0.05])
    return {
        "x": x,
        "skewed": rng.lognormal(size=n) * 1e4,
        "ints": rng.integers(0, 7, size=n),
        "flag": rng.random(n) < 0.3,
        "cat": cat,
        "many": rng.integers(0, 500, size=n).astype(str),
    }


def _json(p: sd.DatasetProfile) -> dict[str, Any]:
    return json.loads(json.dumps(p.to_dict(), allow_nan=False))


def _assert_profiles_equal(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    assert a["num_rows"] == b["num_rows"]
    for name, ca in a["columns"].items():
        cb = b["columns"][name]
        for key in ca:
            if key in ("mean", "m2") and ca[key] is not None:
                assert ca[key] == pytest.approx(cb[key], rel=1e-9, abs=1e-9), (name, key)
            else:
                assert ca[key] == cb[key], (name, key)


def test_profile_contract_fields() -> None:
    p = sd.profile(_data(2000))
    d = _json(p)
    assert d["format_version"] == sd.FORMAT_VERSION
    assert p.num_rows == 2000
    kinds = {name: col.kind for name, col in p.columns.items()}
    assert kinds == {"x": "numeric", "skewed": "numeric", "ints": "numeric", "flag": "binary",
                     "cat": "categorical", "many": "categorical"}
    for col in p.columns.values():
        assert isinstance(col.dtype, str)
        assert col.count + col.missing == 2000
    assert p.columns["x"].missing == int(np.isnan(_data(2000)["x"]).sum())
    assert p.columns["cat"].missing > 0
    many = p.columns["many"]
    assert len(many.categories) == 100 and many.other == 2000 - sum(many.categories.values())
    back = sd.DatasetProfile.from_dict(d)
    assert back.to_dict() == p.to_dict()


@pytest.mark.parametrize("kind", ["dict", "pandas", "numpy", "pyarrow"])
def test_profile_accepts_tables(kind: str) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 2))
    if kind == "dict":
        data: Any = {"a": x[:, 0], "b": x[:, 1]}
    elif kind == "pandas":
        import pandas as pd

        data = pd.DataFrame(x, columns=["a", "b"])
    elif kind == "numpy":
        p = sd.profile(x)
        assert list(p.columns) == ["f0", "f1"]
        data = x
    else:
        import pyarrow as pa

        data = pa.table({"a": x[:, 0], "b": x[:, 1]})
    p = sd.profile(data, columns=["a", "b"])
    assert list(p.columns) == ["a", "b"]
    assert p.columns["a"].mean == pytest.approx(x[:, 0].mean())
    assert p.columns["b"].variance == pytest.approx(x[:, 1].var())


def test_pandas_and_pyarrow_missing_values() -> None:
    import pandas as pd
    import pyarrow as pa

    df = pd.DataFrame({"n": pd.array([1, None, 3], dtype="Int64"), "s": ["a", None, "b"]})
    p = sd.profile(df)
    assert (p.columns["n"].count, p.columns["n"].missing) == (2, 1)
    assert (p.columns["s"].count, p.columns["s"].missing) == (2, 1)
    t = pa.table({"n": [1.0, None, 3.0], "s": ["a", None, "b"]})
    p = sd.profile(t)
    assert (p.columns["n"].count, p.columns["n"].missing) == (2, 1)
    assert p.columns["s"].categories == {"a": 1, "b": 1}


@pytest.mark.parametrize("cuts", [[500], [1, 999], [100, 700, 1500]])
def test_merged_profiles_equal_profile_of_concatenation(cuts: list[int]) -> None:
    data = _data(2000, seed=3)
    data.pop("many")  # > MAX_CATEGORIES: top-k is exact only with a reference (tested below)
    bounds = [0, *cuts, 2000]
    parts = [sd.profile({k: v[a:b] for k, v in data.items()}) for a, b in itertools.pairwise(bounds)]
    merged = parts[0]
    for part in parts[1:]:
        merged = merged.merge(part)
    _assert_profiles_equal(_json(merged), _json(sd.profile(data)))


def test_windows_profiled_against_reference_merge_exactly() -> None:
    ref = sd.profile(_data(3000, seed=4))
    window = _data(2000, seed=5)
    window["x"] = window["x"] + 3.0  # far outside the reference's range: sketch levels differ
    a = sd.profile({k: v[:700] for k, v in window.items()}, reference=ref)
    b = sd.profile({k: v[700:] for k, v in window.items()}, reference=ref)
    whole = sd.profile(window, reference=ref)
    _assert_profiles_equal(_json(a.merge(b)), _json(whole))
    assert whole.columns["x"].bin_edges == ref.columns["x"].bin_edges
    assert list(whole.columns["many"].categories) == list(ref.columns["many"].categories)
    with pytest.raises(sd.DriftInputError):
        a.merge(sd.profile(window))  # own edges vs the reference's


def test_profile_counts_match_raw_bins() -> None:
    data = _data(5000, seed=6)
    ref = sd.profile(data)
    col = ref.columns["skewed"]
    edges = np.asarray(col.bin_edges)
    raw = np.histogram(data["skewed"], bins=np.r_[-np.inf, edges, np.inf])[0]
    # the last raw bin is closed on the right in numpy; values never equal the open-ended edges
    assert col.bin_counts == raw.tolist()
    assert sum(col.bin_counts) == col.count
    assert 8 <= len(edges) <= 9


def test_from_dict_rejects_other_formats() -> None:
    with pytest.raises(sd.DriftInputError):
        sd.DatasetProfile.from_dict({"format": "something else"})
    d = sd.profile({"a": [1.0, 2.0]}).to_dict()
    d["format_version"] = sd.FORMAT_VERSION + 1
    with pytest.raises(sd.DriftInputError, match="upgrade"):
        sd.DatasetProfile.from_dict(d)


def test_empty_and_all_missing_profiles_are_json_safe() -> None:
    p = sd.profile({"a": np.array([np.nan, np.nan]), "b": np.array([None, None], dtype=object)})
    d = _json(p)
    assert d["columns"]["a"]["count"] == 0 and d["columns"]["a"]["missing"] == 2
    e = sd.profile({"a": np.array([], dtype=float)})
    assert _json(e)["columns"]["a"]["count"] == 0
    assert p.merge(sd.profile({"a": np.array([1.0, 2.0]), "b": np.array(["x", None], dtype=object)})) \
        .columns["a"].count == 2
