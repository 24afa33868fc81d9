"""Entities and feature views declared in shipyard.yaml: the same stored specs as Python ones."""

from __future__ import annotations

import re
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from shipyard.errors import InvalidInput
from shipyard.features import Entity, FeatureStore, FeatureView, TableSource, load_definitions
from shipyard.features._yaml import parse_definitions
from tests.cli.conftest import Cli

pd = pytest.importorskip("pandas")

YAML = """
features:
  entities:
    - name: station
      join_keys: [station_id]
      description: a bike station
  feature_views:
    - name: trips
      entities: [station]
      source: {path: data/trips/}
      features: [trips_1h, trips_24h]
      timestamp_column: hour
      created_timestamp_column: created
      ttl: 1d
      tags: {team: mobility}
    - name: weather
      entities: [station]
      source: {table: weather, database_uri: "sqlite:////tmp/w.db"}
      features: [temp]
      ttl: 90s
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "data" / "trips").mkdir(parents=True)
    pd.DataFrame({"station_id": [1], "hour": pd.to_datetime(["2026-01-01"]), "created": pd.to_datetime(["2026-01-01"]),
                  "trips_1h": [3], "trips_24h": [40]}).to_parquet(tmp_path / "data" / "trips" / "part.parquet")
    (tmp_path / "shipyard.yaml").write_text(YAML)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _python() -> list[Entity | FeatureView]:
    station = Entity("station", join_keys=["station_id"], description="a bike station")
    trips = FeatureView("trips", entities=[station], source="data/trips/", features=["trips_1h", "trips_24h"],
                        timestamp_column="hour", created_timestamp_column="created", ttl=timedelta(days=1),
                        tags={"team": "mobility"})
    weather = FeatureView("weather", entities=[station], source=TableSource("weather", "sqlite:////tmp/w.db"),
                          features=["temp"], ttl=90)
    return [station, trips, weather]


def test_yaml_gives_the_specs_of_the_python_definitions(project: Path) -> None:
    loaded = load_definitions("shipyard.yaml")
    python = _python()
    assert [(type(d).__name__, d.name, d.spec(), d.description) for d in loaded] == \
        [(type(d).__name__, d.name, d.spec(), d.description) for d in python]
    store = FeatureStore()
    first = store.apply(*python)
    again = store.apply(loaded)  # the same specs: no new version
    assert [(r.kind, r.name, r.version) for r in again] == [(r.kind, r.name, r.version) for r in first]
    assert {r.version for r in again} == {1}


def test_old_list_form_and_modules_key() -> None:
    assert parse_definitions(["a.features", "b.py"]).modules == ("a.features", "b.py")
    assert parse_definitions({"modules": ["m"]}).modules == ("m",)
    assert tuple(parse_definitions(None)) == ()


@pytest.mark.parametrize(("section", "message"), [
    ({"feature_views": [{"name": "v", "entities": ["e"], "source": "x", "features": ["f"], "ttl": "1 week"}]},
     "features.feature_views[0].entities[0]: no entity 'e'"),
    ({"entities": [{"name": "e"}],
      "feature_views": [{"name": "v", "entities": ["e"], "source": {"table": "t"}, "features": ["f"], "ttl": "1w"}]},
     "features.feature_views[0].ttl: a duration"),
    ({"entities": [{"name": "e"}],
      "feature_views": [{"name": "v", "entities": ["e"], "source": {"table": "t"}, "features": ["f"], "ttl": -3}]},
     "features.feature_views[0].ttl: a duration must not be negative"),
    ({"entities": [{"name": "1e"}]}, "features.entities[0].name: an entity name"),
    ({"entities": [{"name": "e", "join_keys": "id"}]}, "features.entities[0].join_keys: must be a list"),
    ({"entities": [{"name": "e", "joinkeys": ["id"]}]}, "features.entities[0].joinkeys: unknown field"),
    ({"entities": [{"name": "e"}, {"name": "e"}]}, "features.entities[1].name: entity 'e' is declared twice"),
    ({"entities": [{"name": "e"}], "feature_views": [{"name": "v", "entities": ["e"], "features": ["f"]}]},
     "features.feature_views[0].source: required"),
    ({"entities": [{"name": "e"}],
      "feature_views": [{"name": "v", "entities": ["e"], "source": {"path": "nowhere"}, "features": ["f"]}]},
     "features.feature_views[0].source.path: no Parquet file"),
    ({"entities": [{"name": "e"}],
      "feature_views": [{"name": "v", "entities": ["e"], "source": {"path": "a", "table": "t"}, "features": ["f"]}]},
     "features.feature_views[0].source: give either path"),
    ({"entities": [{"name": "e"}],
      "feature_views": [{"name": "v", "entities": ["e"], "source": {"table": "t"}, "features": ["f x"]}]},
     "features.feature_views[0].features[0]"),
    ({"entities": [{"name": "e"}],
      "feature_views": [{"name": "v", "entities": ["e"], "source": {"table": "t"}, "features": ["e"]}]},
     "features.feature_views[0]: feature view 'v': join keys, features"),
    ({"on_demand_feature_views": []}, "defined in Python only"),
    ({"views": []}, "features.views: unknown field"),
    ("m", "features: must be a list of modules or a mapping"),
    ({"modules": [3]}, "features.modules[0]: must be a text"),
])
def test_errors_name_the_yaml_path(tmp_path: Path, section: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)):
        parse_definitions(section, base=tmp_path)


def test_cli_applies_yaml_and_python_modules(cli: Cli, project: Path) -> None:
    (project / "extra_defs.py").write_text(textwrap.dedent("""
        from shipyard.features import Entity

        rider = Entity("rider", join_keys=["rider_id"])
    """))
    (project / "shipyard.yaml").write_text(YAML.replace("features:\n", "features:\n  modules: [extra_defs.py]\n")
                                           + "    - name: rides\n      entities: [rider]\n"
                                           "      source: {table: rides}\n      features: [n]\n")
    applied = cli("features", "apply", "--json")
    assert applied.code == 0, applied.err
    assert sorted((d["kind"], d["name"], d["version"]) for d in applied.json()) == [
        ("entity", "rider", 1), ("entity", "station", 1), ("feature_view", "rides", 1),
        ("feature_view", "trips", 1), ("feature_view", "weather", 1)]
    again = cli("features", "apply", "--json").json()
    assert {d["version"] for d in again} == {1}
    stored = {d["name"]: d["spec"] for d in cli("features", "list", "--json").json()}
    assert stored["trips"] == _python()[1].spec()


def test_cli_reports_a_bad_yaml_field(cli: Cli, project: Path) -> None:
    (project / "shipyard.yaml").write_text(YAML.replace("ttl: 1d", "ttl: soon"))
    result = cli("features", "apply")
    assert result.code == 1 and "features.feature_views[0].ttl" in result.err
