"""``/api/v1/features``: definitions, views with freshness, online lookups and materialization over
HTTP, with roles; and ``FeatureStore`` against a server URL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shipyard.store.sql import SqlStore

pd = pytest.importorskip("pandas")
pytest.importorskip("duckdb")

pytestmark = pytest.mark.integration


@pytest.fixture
def applied(tmp_path: Path, sql_store: SqlStore) -> Path:
    from shipyard.features import Entity, FeatureStore, FeatureView

    pd.DataFrame({
        "station_id": [1, 1, 2], "hour": pd.to_datetime(["2026-03-01 08:00", "2026-03-01 09:00", "2026-03-01 09:00"]),
        "trips_1h": [12.0, 30.0, 7.0], "docks_free": [5.0, 2.0, 9.0],
    }).to_parquet(tmp_path / "trips.parquet")
    station = Entity("station", join_keys=["station_id"])
    FeatureStore(store=sql_store, online_store=f"sqlite:///{tmp_path / 'unused.db'}").apply(
        FeatureView("trips", entities=[station], source=tmp_path / "trips.parquet",
                    features=["trips_1h", "docks_free"], timestamp_column="hour"))
    return tmp_path / "server-online.db"


@pytest.fixture
def server(live_server, sql_store: SqlStore, applied: Path) -> Iterator[tuple[str, dict[str, str]]]:
    from shipyard.store.sql.tokens import TokenStore

    tokens = {role: TokenStore(sql_store).create_token(f"{role}-t", role) for role in ("reader", "writer", "admin")}
    yield live_server(auth=True, online_store=f"sqlite:///{applied}").url, tokens


def _http(url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def test_read_materialize_and_look_up_with_roles(server) -> None:
    url, tokens = server
    with _http(url, tokens["reader"]) as reader, _http(url, tokens["admin"]) as admin:
        views = reader.get("/api/v1/features/views").json()["feature_views"]
        (trips,) = views
        assert trips["name"] == "trips" and trips["version"] == 1 and trips["features"] == ["trips_1h", "docks_free"]
        assert trips["entities"] == ["station"] and trips["join_keys"] == ["station_id"]
        assert trips["source"].endswith("trips.parquet") and trips["freshness"] == [] and trips["models"] == []

        assert reader.post("/api/v1/features/materialize", json={}).status_code == 403
        done = admin.post("/api/v1/features/materialize", json={"end": 1_900_000_000_000}).json()
        assert [(m["feature_view"], m["rows"]) for m in done["materializations"]] == [("trips", 2)]

        answer = reader.post("/api/v1/features/online", json={
            "entity_rows": [{"station_id": 1}, {"station_id": 3}], "features": ["trips:trips_1h", "trips:docks_free"]})
        assert answer.status_code == 200, answer.text
        assert answer.json()["features"] == {"station_id": [1, 3], "trips_1h": [30.0, None], "docks_free": [2.0, None]}

        one = reader.get("/api/v1/features/views/trips").json()
        assert one["feature_view"]["freshness"][0]["materialized_until"] == 1_900_000_000_000
        assert [v["version"] for v in one["versions"]] == [1] and one["materializations"][0]["rows"] == 2


@pytest.mark.parametrize("body, status, words", [
    ({"entity_rows": [{"station_id": 1}], "features": ["trips"]}, 400, "view:feature"),
    ({"entity_rows": [{"station_id": 1}], "features": ["nope:x"]}, 404, "no feature view 'nope'"),
    ({"entity_rows": [{"station_id": 1}], "features": ["trips:nope"]}, 400, "has no feature 'nope'"),
    ({"entity_rows": [{"other": 1}], "features": ["trips:trips_1h"]}, 400, "join key 'station_id'"),
    ({"entity_rows": [{"station_id": 1}], "features": []}, 422, ""),
])
def test_bad_lookups_are_4xx_with_a_message(server, body, status, words) -> None:
    url, tokens = server
    with _http(url, tokens["reader"]) as reader:
        r = reader.post("/api/v1/features/online", json=body)
    assert r.status_code == status, r.text
    assert words in r.json()["message"]


def test_apply_is_a_writers_and_a_schedule_an_admins(server) -> None:
    url, tokens = server
    spec = {"join_keys": ["customer_id"]}
    with _http(url, tokens["reader"]) as reader, _http(url, tokens["writer"]) as writer, \
            _http(url, tokens["admin"]) as admin:
        assert reader.post("/api/v1/features/definitions", json={"kind": "entity", "name": "customer",
                                                                 "spec": spec}).status_code == 403
        made = writer.post("/api/v1/features/definitions", json={"kind": "entity", "name": "customer", "spec": spec})
        assert made.status_code == 200 and made.json()["version"] == 1
        sneaky = writer.post("/api/v1/features/definitions", json={
            "kind": "materialization_schedule", "name": "trips", "spec": {"schedule": "every 1s"}})
        assert sneaky.status_code == 400 and "schedule" in sneaky.json()["message"]
        bad = writer.post("/api/v1/features/definitions", json={"kind": "entity", "name": "../x", "spec": spec})
        assert bad.status_code == 400
        for kind, junk in [("feature_view", {}), ("feature_view", {"source": {"type": "parquet", "path": "/x"}}),
                           ("entity", {"join_keys": "customer id"}), ("on_demand_feature_view", {"inputs": 1})]:
            r = writer.post("/api/v1/features/definitions", json={"kind": kind, "name": "junk", "spec": junk})
            assert r.status_code == 400, r.text
            assert "malformed" in r.json()["message"] or "must be" in r.json()["message"]
        assert reader.get("/api/v1/features/definitions", params={"name": "junk"}).json()["definitions"] == []
        # a view over a database table (here the store's own, tokens included): the server's
        # materializations would read it, so only an admin may define one
        from shipyard.features import Entity, FeatureView, TableSource

        table_view = FeatureView("leak", entities=[Entity("customer", ["customer_id"])],
                                 source=TableSource("api_tokens"), features=["token_hash"],
                                 timestamp_column="created_time").spec()
        body = {"kind": "feature_view", "name": "leak", "spec": table_view}
        refused = writer.post("/api/v1/features/definitions", json=body)
        assert refused.status_code == 403 and "database table" in refused.json()["message"]
        assert reader.get("/api/v1/features/definitions", params={"name": "leak"}).json()["definitions"] == []
        assert admin.post("/api/v1/features/definitions", json=body).status_code == 200
        huge = reader.post("/api/v1/features/online", json={"entity_rows": [{"station_id": 2**70}],
                                                            "features": ["trips:trips_1h"]})
        assert huge.status_code == 400 and "not a plain value" in huge.json()["message"]
        assert admin.post("/api/v1/features/materialize", json={"end": 2**62}).status_code == 422
        assert writer.put("/api/v1/features/views/trips/schedule", json={"schedule": "every 10m"}).status_code == 403
        nonsense = admin.put("/api/v1/features/views/trips/schedule", json={"schedule": "every nonsense"})
        assert nonsense.status_code == 400
        assert admin.put("/api/v1/features/views/nope/schedule", json={"schedule": "every 10m"}).status_code == 404
        ok = admin.put("/api/v1/features/views/trips/schedule", json={"schedule": "every 10m"})
        assert ok.status_code == 200 and ok.json()["spec"] == {"schedule": "every 10m", "online_store": None}
        trips = reader.get("/api/v1/features/views/trips").json()["feature_view"]
        assert trips["schedule"]["schedule"] == "every 10m"


def per_dock(df):
    return pd.DataFrame({"per_dock": df["trips_1h"] / df["docks_free"]})


def test_a_feature_store_over_the_server_url(server) -> None:
    """FeatureStore("http://...") reads definitions from the server and looks values up there; the
    on-demand feature is computed in the client from the values the server answers."""
    from shipyard.features import FeatureStore, OnDemandFeatureView
    from shipyard.store.rest import RestStore

    url, tokens = server
    with _http(url, tokens["admin"]) as admin:
        admin.post("/api/v1/features/materialize", json={"end": 1_900_000_000_000})
    rest = RestStore(url, token=tokens["writer"])
    fs = FeatureStore(store=rest)
    busy = OnDemandFeatureView("busy", inputs=["trips:trips_1h", "trips:docks_free"], function=per_dock,
                               features=["per_dock"])
    assert [(d.kind, d.name, d.version) for d in fs.apply(busy)] == [("on_demand_feature_view", "busy", 1)]
    got = fs.get_online_features([{"station_id": 1}, {"station_id": 2}], ["trips:trips_1h", "busy:per_dock"])
    assert got == {"station_id": [1, 2], "trips_1h": [30.0, 7.0], "per_dock": [15.0, 7.0 / 9.0]}
    assert [d.name for d in rest.list_feature_definitions("feature_view")] == ["trips"]
    with _http(url, tokens["reader"]) as http:
        r = http.post("/api/v1/features/online", json={"entity_rows": [{"station_id": 1}],
                                                        "features": ["busy:per_dock"]})
    assert r.status_code == 400 and "runs a Python function" in r.json()["message"]  # the server has no function
    assert rest.get_feature_definition("feature_view", "trips", 1).version == 1
    from shipyard.errors import InvalidInput, NotFound, PermissionDenied

    with pytest.raises(NotFound):
        rest.get_feature_definition("feature_view", "nope")
    reader = RestStore(url, token=tokens["reader"])
    with pytest.raises(PermissionDenied):
        reader.apply_feature_definition("entity", "customer", {"join_keys": ["customer_id"]})
    reader.close()
    with pytest.raises(InvalidInput, match="materialize through the server"):
        rest.log_feature_materialization("trips", 1, "sqlite:///x", 0, 1, 0)
    assert rest.list_feature_materializations("trips")[0].rows == 2
    rest.close()


def test_a_serving_reader_over_the_server_tells_a_missing_entity_from_null_values(server, tmp_path: Path) -> None:
    """What a ``shipyard serve`` replica with only the server's URL does: the binding names no online
    store, so the batch goes to the server, which also says which rows it has an entity for."""
    import numpy as np

    from shipyard.entities import FeatureBinding
    from shipyard.features import open_online_store
    from shipyard.features._serving import OnlineFeatureReader
    from shipyard.store.rest import RestStore

    url, tokens = server
    with _http(url, tokens["admin"]) as admin:
        admin.post("/api/v1/features/materialize", json={"end": 1_900_000_000_000})
    online = open_online_store(f"sqlite:///{tmp_path / 'server-online.db'}")  # the server's
    online.write("trips", [("[5]", 1, 1, b'{"trips_1h": null, "docks_free": null}')])  # found, values null
    online.close()
    with _http(url, tokens["reader"]) as reader:
        r = reader.post("/api/v1/features/online", json={
            "entity_rows": [{"station_id": 1}, {"station_id": 5}, {"station_id": 3}],
            "features": ["trips:trips_1h"], "found": True})
    assert r.status_code == 200, r.text
    assert r.json() == {"features": {"station_id": [1, 5, 3], "trips_1h": [30.0, None, None]},
                        "found": {"trips": [True, True, False]}}

    rest = RestStore(url, token=tokens["reader"])
    feature_reader = OnlineFeatureReader(FeatureBinding(["trips:trips_1h", "trips:docks_free"], ["station_id"]),
                                         store=rest)
    values, missing = feature_reader.read(np.array([[1], [5], [3]], dtype=object))
    assert values.tolist() == [[30.0, 2.0], [None, None], [None, None]]
    assert missing.tolist() == [False, False, True]
    assert feature_reader._fs._online is None  # no online store of its own was opened
    feature_reader.close()
    rest.close()
