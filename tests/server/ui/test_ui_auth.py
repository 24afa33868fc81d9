"""The UI with auth on: a login page that takes a token and keeps an HttpOnly, SameSite session cookie;
readers see but cannot change, writers set aliases, only admins roll back; forms need the session's
CSRF token; a revoked token ends its sessions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing

import httpx
import pytest

from shipyard.store.sql import SqlStore
from shipyard.store.sql.tokens import TokenStore
from tests.server.ui.conftest import Small

pytestmark = pytest.mark.integration

HX = {"HX-Request": "true"}


@pytest.fixture
def tokens(sql_store: SqlStore, small: Small) -> dict[str, str]:
    store = TokenStore(sql_store)
    return {role: store.create_token(f"{role}-person", role) for role in ("reader", "writer", "admin")}


@pytest.fixture
def url(live_server, tokens: dict[str, str]) -> str:
    return live_server(auth=True).url


@pytest.fixture
def anonymous(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, follow_redirects=False) as client:
        yield client


def login(url: str, token: str) -> httpx.Client:
    client = httpx.Client(base_url=url, follow_redirects=False)
    r = client.post("/login", data={"token": token, "next": "/models/small-model"}, headers=HX)
    assert r.status_code == 200 and r.headers["hx-redirect"] == "/models/small-model"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie and "Max-Age=" in cookie
    return client


def csrf(client: httpx.Client, path: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', client.get(path).text)
    assert found, path
    return found.group(1)


def test_pages_need_a_session_and_the_login_page_takes_a_token(anonymous: httpx.Client, url: str,
                                                               tokens: dict[str, str]) -> None:
    r = anonymous.get("/deployments/small-api?x=1")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fdeployments%2Fsmall-api%3Fx%3D1"
    assert anonymous.get("/series.json?run=x&key=y").status_code == 401  # JSON callers get a 401, not a page
    r = anonymous.get("/experiments", headers=HX)  # htmx follows HX-Redirect
    assert r.headers["hx-redirect"].startswith("/login?next=")
    page = anonymous.get("/login", params={"next": "/experiments"})
    assert page.status_code == 200 and 'type="password"' in page.text and 'value="/experiments"' in page.text
    for bad in ("", "nope", tokens["reader"] + "x"):
        r = anonymous.post("/login", data={"token": bad}, headers=HX)
        assert r.status_code == 401 and "invalid or revoked token" in r.text and "set-cookie" not in r.headers
    # only paths of this server are places to go back to
    for target in ("https://evil.example/", "//evil.example", "/\\evil.example"):
        r = anonymous.post("/login", data={"token": tokens["reader"], "next": target}, headers=HX)
        assert r.headers["hx-redirect"] == "/"
    assert anonymous.get("/static/style.css").status_code == 200  # assets need no session


def test_roles_decide_what_the_forms_may_do(url: str, tokens: dict[str, str], sql_store: SqlStore) -> None:
    with closing(login(url, tokens["reader"])) as reader, closing(login(url, tokens["writer"])) as writer, \
            closing(login(url, tokens["admin"])) as admin:
        page = reader.get("/models/small-model").text
        assert "reader-person" in page and "Set alias" not in page and "needs the writer role" in page
        assert "Roll back" not in reader.get("/deployments/small-api").text
        token = csrf(writer, "/models/small-model")
        r = reader.post("/models/small-model/aliases", data={"alias": "x", "version": "1", "csrf": token},
                        headers=HX)
        assert r.status_code == 403
        r = writer.post("/models/small-model/aliases", data={"alias": "staging", "version": "2", "csrf": token},
                        headers=HX)
        assert r.status_code == 200 and "@staging" in r.text
        history = sql_store.get_alias_history("small-model", "staging")
        assert history[-1].reason == "set (by writer-person in the web UI)"
        # the CSRF token belongs to the session: another session's, or none, is refused
        r = writer.post("/models/small-model/aliases", data={"alias": "y", "version": "2",
                                                             "csrf": csrf(admin, "/models/small-model")}, headers=HX)
        assert r.status_code == 403 and "expired" in r.text
        assert writer.post("/models/small-model/aliases", data={"alias": "y", "version": "2"},
                           headers=HX).status_code == 403
        assert "Roll back" not in writer.get("/deployments/small-api").text
        r = writer.post("/deployments/small-api/rollback", data={"csrf": csrf(writer, "/models/small-model")},
                        headers=HX)
        assert r.status_code == 403 and sql_store.get_deployment("small-api").revision == 2
        r = admin.post("/deployments/small-api/rollback", data={"csrf": csrf(admin, "/deployments/small-api")},
                       headers=HX)
        assert r.status_code == 200 and sql_store.get_deployment("small-api").current.created_by == "admin-person"
        # "run now" queues a run for the scheduler (the server runs no code): a writer's, not a reader's
        button = "<button type=\"submit\">Run now</button>"
        assert button not in reader.get("/pipelines").text and button in writer.get("/pipelines").text
        assert "running needs the writer role" in reader.get("/pipelines").text
        from shipyard.server.ui._session import _csrf

        r = reader.post("/pipelines/etl/run", data={"csrf": _csrf(tokens["reader"])}, headers=HX)  # its own token
        assert r.status_code == 403 and "needs the writer role" in r.text
        assert sql_store.list_pipeline_runs("etl", states=["PENDING"]) == []
        r = writer.post("/pipelines/etl/run", data={"csrf": csrf(writer, "/pipelines")}, headers=HX)
        assert r.status_code == 200 and len(sql_store.list_pipeline_runs("etl", states=["PENDING"])) == 1


def test_logging_out_or_revoking_the_token_ends_the_session(url: str, tokens: dict[str, str],
                                                            sql_store: SqlStore) -> None:
    with closing(login(url, tokens["reader"])) as reader, closing(login(url, tokens["admin"])) as admin:
        assert reader.get("/experiments").status_code == 200
        r = reader.post("/logout", headers=HX)
        assert r.headers["hx-redirect"] == "/login" and 'shipyard_session=""' in r.headers["set-cookie"]
        assert reader.get("/experiments").status_code == 303
        assert admin.get("/experiments").status_code == 200
        TokenStore(sql_store).revoke_token("admin-person")
        assert admin.get("/experiments").status_code == 303


def test_with_auth_off_the_login_page_just_goes_on(live_server, small: Small) -> None:
    with httpx.Client(base_url=live_server().url, follow_redirects=False) as client:
        assert client.get("/login", params={"next": "/models"}).headers["location"] == "/models"
        assert client.post("/login", data={"token": "x", "next": "/models"}, headers=HX).headers["hx-redirect"] == \
            "/models"
        assert "auth off" in client.get("/experiments").text
