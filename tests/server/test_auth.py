"""Auth: no token or a bad one is a 401, a role that may not is a 403, and tokens are kept only hashed."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text

from shipyard.entities import Metric, Route
from shipyard.errors import PermissionDenied, Unauthenticated
from shipyard.store.rest import RestStore
from shipyard.store.sql import SqlStore
from shipyard.store.sql.tokens import TokenStore

pytestmark = pytest.mark.integration


@pytest.fixture
def tokens(sql_store: SqlStore) -> dict[str, str]:
    store = TokenStore(sql_store)
    return {role: store.create_token(f"{role}-token", role) for role in ("reader", "writer", "admin")}


@pytest.fixture
def url(live_server, tokens: dict[str, str]) -> str:
    return live_server(auth=True).url


@pytest.fixture
def stores(url: str, tokens: dict[str, str]) -> Iterator[dict[str, RestStore]]:
    opened = {role: RestStore(url, None, token=token) for role, token in tokens.items()}
    yield opened
    for store in opened.values():
        store.close()


def test_no_token_or_a_bad_one_is_401_and_says_nothing_more(url: str, tokens: dict[str, str]) -> None:
    with httpx.Client(base_url=url) as http:
        r = http.get("/api/v1/experiments")
        assert r.status_code == 401 and r.json()["error_code"] == "UNAUTHENTICATED"
        assert r.headers["www-authenticate"] == "Bearer"
        guess = tokens["admin"][:-2] + "xx"
        for header in (f"Bearer {guess}", "Bearer", f"Basic {tokens['admin']}", "Bearer shy_" + "a" * 500):
            r = http.get("/api/v1/experiments", headers={"Authorization": header})
            assert r.status_code == 401, header
            assert guess not in r.text and tokens["admin"] not in r.text and "shy_" not in r.text
        assert http.put("/api/v1/artifacts/x.txt", content=b"x").status_code == 401
        assert http.get("/metrics").status_code == 401
        assert http.get("/health").status_code == 200  # for load balancers
        assert http.get("/openapi.json").status_code == 200
    stranger = RestStore(url, None, token="shy_wrong")
    with pytest.raises(Unauthenticated):
        stranger.search_experiments()
    stranger.close()


def test_readers_read_but_cannot_write(stores: dict[str, RestStore], sql_store: SqlStore,
                                      tokens: dict[str, str]) -> None:
    eid = sql_store.create_experiment("e")
    reader = stores["reader"]
    assert [e.name for e in reader.search_experiments()] == ["e"]
    rid = sql_store.create_run(eid).info.run_id
    with pytest.raises(PermissionDenied, match="may not write"):
        reader.log_batch(rid, [Metric("m", 1.0, 1, 0)])
    with pytest.raises(PermissionDenied):
        reader.create_experiment("mine")
    with httpx.Client(base_url=reader.uri, headers={"Authorization": f"Bearer {tokens['reader']}"}) as http:
        assert http.put("/api/v1/artifacts/x.txt", content=b"x").status_code == 403
        assert http.get("/metrics").status_code == 200
    assert sql_store.get_run(rid).data.metrics == {}


def test_writers_write_but_cannot_delete_or_change_deployments(stores: dict[str, RestStore],
                                                               sql_store: SqlStore) -> None:
    writer = stores["writer"]
    eid = writer.create_experiment("e")
    rid = writer.create_run(eid).info.run_id
    writer.log_batch(rid, [Metric("m", 1.0, 1, 0)])
    writer.create_model_version("churn", f"runs:/{rid}/model", rid)
    writer.set_registered_model_alias("churn", "champion", 1)  # promoting is a writer's job
    for attempt in (lambda: writer.delete_run(rid), lambda: writer.delete_experiment(eid),
                    lambda: writer.delete_model_version("churn", 1),
                    lambda: writer.create_deployment("api", [Route("churn", 1, 100)])):
        with pytest.raises(PermissionDenied, match="admins only"):
            attempt()
    assert sql_store.get_run(rid).info.lifecycle_stage == "active" and sql_store.list_deployments() == []


def test_admins_do_everything_and_are_named_in_the_revision_history(stores: dict[str, RestStore]) -> None:
    admin = stores["admin"]
    admin.create_model_version("churn", "/m")
    admin.create_model_version("churn", "/m")
    admin.create_deployment("api", [Route("churn", 1, 100)])
    admin.update_deployment("api", routes=[Route("churn", 2, 100)], reason="v2")
    deployment = admin.rollback_deployment("api", reason="v2 is bad")
    assert deployment.current.created_by == "admin-token" and deployment.current.rollback_of == 1
    admin.delete_deployment("api")
    eid = admin.create_experiment("gone")
    admin.delete_experiment(eid)


def test_a_revoked_token_stops_working(stores: dict[str, RestStore], sql_store: SqlStore) -> None:
    stores["writer"].search_experiments()
    TokenStore(sql_store).revoke_token("writer-token")
    with pytest.raises(Unauthenticated):
        stores["writer"].search_experiments()


def test_tokens_are_stored_only_as_their_hash(sql_store: SqlStore, tokens: dict[str, str]) -> None:
    with sql_store._engine.connect() as conn:
        rows = [tuple(str(v) for v in row) for row in conn.execute(text("SELECT * FROM api_tokens"))]
    assert len(rows) == 3
    dump = repr(rows)
    for token in tokens.values():
        assert token not in dump and token[4:] not in dump
        assert hashlib.sha256(token.encode()).hexdigest() in dump
    assert {t.role for t in TokenStore(sql_store).list_tokens()} == {"reader", "writer", "admin"}


def test_sdk_uses_the_token_from_the_environment_for_runs_and_artifacts(url: str, tokens: dict[str, str],
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      sql_store: SqlStore) -> None:
    import shipyard

    monkeypatch.setenv("SHIPYARD_TRACKING_URI", url)
    monkeypatch.setenv("SHIPYARD_TRACKING_TOKEN", tokens["writer"])
    with shipyard.start_run() as run:
        shipyard.log_metric("acc", 0.9)
        shipyard.log_text("hi", "notes.txt")
    stored = sql_store.get_run(run.info.run_id)
    assert stored.data.metrics == {"acc": 0.9} and stored.info.status == "FINISHED"
    assert shipyard.Client().list_artifacts(run.info.run_id)[0].path == "notes.txt"
