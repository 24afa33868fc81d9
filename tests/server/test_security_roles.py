"""The role table by effect (``shipyard.server.roles``) is what the server enforces and what the docs say:
every operation of the OpenAPI spec is in it, declares its role, refuses the role below and admits its own."""

from __future__ import annotations

import re
import types
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shipyard.server import create_app
from shipyard.server.roles import OPERATIONS, ROLES, Operation, markdown_table
from shipyard.store.sql import SqlStore
from shipyard.store.sql.tokens import TokenStore

pytestmark = pytest.mark.integration

DOCS = Path(__file__).parents[2] / "docs" / "server.md"
# A value for each path parameter: names of nothing, so an admitted call changes nothing that matters.
PARAMS = {"experiment_id": "999", "run_id": "f" * 32, "name": "nothing", "version": "1", "alias": "champion",
          "alert_id": "a" * 32, "rollout_id": "b" * 32, "path": "matrix/probe.txt",
          "model_id": "m-" + "c" * 40, "tag_key": "nothing", "segment_id": "probe-000000"}


def _spec_operations() -> set[tuple[str, str]]:
    spec = create_app(types.SimpleNamespace(artifact_root="/nonexistent")).openapi()
    return {(method.upper(), path) for path, item in spec["paths"].items() for method in item}


def _declared_roles() -> dict[tuple[str, str], str]:
    from shipyard.server.api import PREFIX, routers
    from shipyard.server.auth import ADMIN, READ, WRITE

    by_dependency = {id(READ.dependency): "reader", id(WRITE.dependency): "writer", id(ADMIN.dependency): "admin"}
    from shipyard.server.mlflow import routers as mlflow_routers

    declared = {}
    for router, prefix in [*((r, PREFIX) for r in routers()), *((r, "") for r in mlflow_routers())]:
        for route in router.routes:
            roles = [by_dependency[id(d.dependency)] for d in route.dependencies if id(d.dependency) in by_dependency]
            path = prefix + route.path.replace("{path:path}", "{path}")
            for method in route.methods:
                declared[(method, path)] = roles[0] if roles else "anyone"
    return declared


def test_the_table_lists_every_operation_of_the_api_once() -> None:
    listed = [(op.method, op.path) for op in OPERATIONS]
    assert len(listed) == len(set(listed))
    assert set(listed) == _spec_operations()
    assert all(op.role in ROLES and op.effect for op in OPERATIONS)


def test_every_route_declares_the_role_of_the_table() -> None:
    declared = _declared_roles()
    table = {(op.method, op.path): op.role for op in OPERATIONS}
    assert {k: v for k, v in table.items() if k in declared} == declared


def test_the_docs_show_the_table() -> None:
    assert markdown_table() in DOCS.read_text()


@pytest.fixture
def server(live_server, sql_store: SqlStore) -> Iterator[tuple[str, dict[str, str]]]:
    tokens = {role: TokenStore(sql_store).create_token(f"{role}-t", role) for role in ("reader", "writer", "admin")}
    yield live_server(auth=True).url, tokens


def _call(http: httpx.Client, op: Operation, token: str | None) -> httpx.Response:
    path = re.sub(r"\{(\w+)\}", lambda m: PARAMS[m.group(1)], op.path)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if op.method == "PUT" and "/artifacts/" in op.path:
        return http.put(path, content=b"probe", headers=headers)
    body = {"json": {}} if op.method in ("POST", "PATCH", "PUT") else {}
    return http.request(op.method, path, headers=headers, **body)  # type: ignore[arg-type]


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: f"{op.method} {op.path}")
def test_each_operation_refuses_the_role_below_and_admits_its_own(op: Operation, server) -> None:
    url, tokens = server
    with httpx.Client(base_url=url, timeout=60) as http:
        rank = ROLES.index(op.role)
        if rank >= 1:  # below reader: no token at all
            assert _call(http, op, None).status_code == 401
        if rank >= 2:
            below = ROLES[rank - 1]
            r = _call(http, op, tokens[below])
            assert r.status_code == 403 and r.json()["error_code"] == "PERMISSION_DENIED", (below, r.text)
        own = _call(http, op, tokens.get(op.role))
        assert own.status_code not in (401, 403) and own.status_code < 500, (op.role, own.status_code, own.text)
