"""``shipyard features apply|list|show|materialize`` over a definitions file."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.cli.conftest import Cli

pd = pytest.importorskip("pandas")



def _repo(tmp_path: Path, features: str) -> Path:
    data = tmp_path / "weather.parquet"
    pd.DataFrame({"station_id": [1, 2], "event_timestamp": pd.to_datetime(["2026-01-01", "2026-01-02"]),
                  "temp": [10.0, 20.0], "rain": [0.0, 1.0]}).to_parquet(data)
    path = tmp_path / "defs.py"
    path.write_text(textwrap.dedent(f"""
        from shipyard.features import Entity, FeatureView

        station = Entity("station", join_keys=["station_id"])
        weather = FeatureView("weather", entities=[station], source={str(data)!r}, features={features},
                              ttl=86400)
    """))
    return path


def test_apply_list_show_and_materialize(cli: Cli, tmp_path: Path) -> None:
    path = _repo(tmp_path, '["temp"]')
    assert cli("features", "apply", str(path), "--json").json() == [
        {"kind": "entity", "name": "station", "version": 1}, {"kind": "feature_view", "name": "weather", "version": 1}]
    path = _repo(tmp_path, '["temp", "rain"]')
    applied = cli("features", "apply", str(path))
    assert applied.code == 0 and "feature_view weather: version 2" in applied.out
    listed = cli("features", "list", "--json").json()
    assert [(d["kind"], d["name"], d["version"]) for d in listed] == [("entity", "station", 1),
                                                                     ("feature_view", "weather", 2)]
    online = f"sqlite:///{tmp_path / 'online.db'}"
    done = cli("features", "materialize", "--online-store", online, "--json").json()
    assert [(m["feature_view"], m["rows"]) for m in done] == [("weather", 2)]
    shown = cli("features", "show", "weather", "--json").json()
    assert [v["version"] for v in shown["versions"]] == [1, 2]
    assert shown["materializations"][0]["rows"] == 2
    page = cli("features", "show", "weather")
    assert page.code == 0 and "Materializations" in page.out and "rain" in page.out
    assert "weather" in cli("features", "list").out


def test_errors_are_messages(cli: Cli, tmp_path: Path) -> None:
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    result = cli("features", "apply", str(empty))
    assert result.code == 1 and "no Entity" in result.err
    missing = cli("features", "show", "nope")
    assert missing.code == 1 and "no feature definition" in missing.err
