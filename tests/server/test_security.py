"""A writer token plays each escalation it could try against a real ``shipyard server --auth --scheduler``:
run a command or reach a host through a monitor channel, move traffic through a rollout, swap a
model's payload (files, digest tag, logged-model history, task cache), bounce a login elsewhere.
Each is refused, and nothing ran, moved or loaded."""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
import yaml

from shipyard.entities import Route
from shipyard.store.sql import SqlStore
from shipyard.store.sql.tokens import TokenStore
from tests.server.test_cli_server import ServerProcess

pytestmark = pytest.mark.integration


class _SideEffect:
    """A pickle that makes a directory when unpickled: proof that a payload ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (str(self.marker),))


@dataclass
class Platform:
    url: str
    home: Path
    tokens: dict[str, str]
    config: Path
    command: list[str]
    marker: Path

    def client(self, role: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.tokens[role]}"}, timeout=60)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    home = tmp_path_factory.mktemp("secured")
    marker = home / "command-ran"
    # The one command the operator allows (it would leave a marker too: the tests use it to show the
    # configuration is what decides, not the role).
    allowed = [sys.executable, "-c", "print('paged')"]
    config = home / "server.toml"
    config.write_text(f"[alerts]\ncommands = {{ pager = {orjson.dumps(allowed).decode()} }}\n"
                      'webhook_hosts = ["hooks.example.com"]\n')
    store = SqlStore(f"sqlite:///{home / 'shipyard.db'}", str(home / "artifacts"))
    tokens = {role: TokenStore(store).create_token(f"{role}-token", role) for role in ("reader", "writer", "admin")}
    store.create_model_version("churn", "/nowhere/1")
    store.create_model_version("churn", "/nowhere/2")
    store.create_deployment("churn-api", [Route("churn", 1, 100)])
    store.close()
    server = ServerProcess(home, "--auth", "--scheduler", "--config", str(config))
    try:
        assert "auth: on" in server.text() and "scheduler: on" in server.text()
        yield Platform(server.url, home, tokens, config, allowed, marker)
    finally:
        server.stop()


def _spec(*channels: Any) -> dict[str, Any]:
    from shipyard.monitoring._spec import normalize_spec

    return normalize_spec(window=100, channels=["log", *channels], schedule="every 1s")


# -- 1. code on the scheduler's host, requests to any host -----------------------------------------------


def test_a_writer_cannot_make_the_scheduler_run_a_command_or_reach_a_host(platform: Platform) -> None:
    touch = [sys.executable, "-c", f"open({str(platform.marker)!r}, 'w').write('pwned')"]
    with platform.client("writer") as writer, platform.client("admin") as admin:
        for client in (writer, admin):  # the operator's file decides, not the role
            r = client.post("/api/v1/monitors", json={"name": "evil", "deployment": "churn-api",
                                                      "spec": _spec({"type": "command", "argv": touch})})
            assert r.status_code == 403 and "command channel refused" in r.json()["message"]
            for url in ("http://127.0.0.1:9/steal", "http://169.254.169.254/latest/meta-data",
                        "https://hooks.example.com.evil.example/x", "https://user@hooks.example.com/x"):
                r = client.post("/api/v1/monitors", json={"name": "evil", "deployment": "churn-api",
                                                          "spec": _spec({"type": "webhook", "url": url})})
                assert r.status_code in (400, 403), (url, r.text)
        assert writer.get("/api/v1/monitors/evil").status_code == 404
        # what the operator configured is allowed, to writers as to admins
        allowed = _spec({"type": "command", "argv": platform.command},
                        {"type": "webhook", "url": "https://hooks.example.com/services/T0"})
        r = writer.post("/api/v1/monitors", json={"name": "ok", "deployment": "churn-api", "spec": allowed})
        assert r.status_code == 200, r.text
        # nor can an existing monitor be changed into a command runner
        r = writer.patch("/api/v1/monitors/ok", json={"spec": _spec({"type": "command", "argv": touch})})
        assert r.status_code == 403
        stored = writer.get("/api/v1/monitors/ok").json()["spec"]
        assert [c.get("argv") for c in stored["channels"] if c["type"] == "command"] == [platform.command]
    time.sleep(2)  # two scheduler ticks of the monitors on "every 1s"
    assert not platform.marker.exists()


def test_the_delivery_checks_the_operators_configuration_again(platform: Platform, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A spec that reached the store some other way (an older server, the database itself) gets no
    further than the log: the delivery reads the configuration again before running anything."""
    from shipyard.entities import Alert
    from shipyard.monitoring._alerts import AlertEvent, deliver

    marker = tmp_path / "ran"
    event = AlertEvent("opened", Alert("a1", "m", "service.error_rate", "churn", 1, "OPEN", 0), "churn-api", "max")
    touch = {"type": "command", "argv": [sys.executable, "-c", f"open({str(marker)!r}, 'w')"], "timeout_s": 30}
    hook = {"type": "webhook", "url": "http://127.0.0.1:9/x", "retries": 0, "backoff_s": 0, "timeout_s": 1}
    for config in (None, str(platform.config)):  # no configuration at all, and the operator's
        if config is None:
            monkeypatch.delenv("SHIPYARD_SERVER_CONFIG", raising=False)
        else:
            monkeypatch.setenv("SHIPYARD_SERVER_CONFIG", config)
        for channel in (touch, hook):
            record = deliver(channel, event)
            assert record["ok"] is False and "refused" in record["error"], record
    assert not marker.exists()
    # a configured command named by the spec runs the operator's argv, never argv the spec adds
    monkeypatch.setenv("SHIPYARD_SERVER_CONFIG", str(platform.config))
    assert deliver({"type": "command", "name": "pager"}, event)["ok"] is True
    assert deliver({"type": "command", "name": "pager", "argv": touch["argv"]}, event)["ok"] is False
    assert not marker.exists()


# -- 2. traffic --------------------------------------------------------------------------------------------


def test_a_writer_cannot_move_traffic_with_a_rollout(platform: Platform) -> None:
    rollout = {"rollout_id": "", "deployment": "churn-api", "model": "churn", "candidate_version": 2,
               "stable_version": 1, "steps": [100.0], "dwell_ms": 0, "criteria": {}}
    with platform.client("writer") as writer:
        before = writer.get("/api/v1/deployments/churn-api").json()
        r = writer.post("/api/v1/rollouts", json=rollout)
        assert r.status_code == 403 and "admins only" in r.json()["message"]
        assert writer.post("/api/v1/rollouts/any/update", json={"expected_step": 0, "step": 1}).status_code == 403
        event = {"event_id": "", "policy": "p", "deployment": "churn-api", "time": 0, "kind": "promoted",
                 "message": "", "data": {}}
        assert writer.post("/api/v1/policy-events", json=event).status_code == 403
        time.sleep(1.5)  # a scheduler tick
        after = writer.get("/api/v1/deployments/churn-api").json()
        assert after == before and after["current"]["revision"] == 1
        assert [(r["model"], r["version"], r["weight"]) for r in after["current"]["routes"]] == [("churn", 1, 100)]
        assert writer.get("/api/v1/deployments/churn-api/active-rollout").json()["rollout"] is None
        assert writer.get("/api/v1/rollouts").json()["rollouts"] == []


# -- 3. model integrity -------------------------------------------------------------------------------------


def _swap_payload(model_dir: Path, marker: Path) -> None:
    """What someone with the files in hand does: a new pickle, its hash rewritten in the manifest."""
    payload = pickle.dumps(_SideEffect(marker))
    (model_dir / "model.pkl").write_bytes(payload)
    doc = yaml.safe_load((model_dir / "MLmodel.yaml").read_text())
    doc["files"]["model.pkl"] = hashlib.sha256(payload).hexdigest()
    (model_dir / "MLmodel.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def test_a_writer_cannot_swap_a_registered_model(platform: Platform, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.linear_model import LogisticRegression

    import shipyard
    import shipyard.sklearn
    from shipyard.errors import IntegrityCheckFailed

    # the SDK logs and registers as a writer: its own system tags still go through
    monkeypatch.setenv("SHIPYARD_TRACKING_TOKEN", platform.tokens["writer"])
    shipyard.set_tracking_uri(platform.url)
    X = np.random.default_rng(0).normal(size=(60, 3))
    model = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))
    with shipyard.start_run() as run:
        info = shipyard.sklearn.log_model(model, "model", registered_model_name="swap")
    run_id = run.info.run_id
    assert info.model_version is not None and info.model_version.digest == info.digest
    assert shipyard.load_model("models:/swap/1").predict(X[:2]) is not None

    with platform.client("writer") as writer:
        rel = writer.get(f"/api/v1/runs/{run_id}").json()["info"]["artifact_uri"].removeprefix(
            "shipyard-artifacts:/") + "/model"
        for name in ("model.pkl", "MLmodel.yaml", "extra.py"):
            r = writer.put(f"/api/v1/artifacts/{rel}/{name}", content=pickle.dumps(_SideEffect(tmp_path / "x")))
            assert r.status_code == 403 and "read-only" in r.json()["message"], name
        fake = "0" * 64
        r = writer.post("/api/v1/registered-models/swap/versions/1/tags",
                        json={"key": "shipyard.model_digest", "value": fake})
        assert r.status_code == 403 and "reserved" in r.json()["message"]
        assert writer.delete("/api/v1/registered-models/swap/versions/1/tags",
                             params={"key": "shipyard.model_digest"}).status_code == 403
        assert writer.post("/api/v1/registered-models/swap/tags", json={"key": "shipyard.x", "value": "y"}
                           ).status_code == 403
        history = orjson.loads(writer.get(f"/api/v1/runs/{run_id}").json()["data"]["tags"]
                               ["shipyard.log-model.history"])
        rewritten = [{**history[0], "digest": fake}]
        for tags in ([{"key": "shipyard.log-model.history", "value": orjson.dumps(rewritten).decode()}],
                     [{"key": "shipyard.log-model.history", "value": "[]"}],
                     [{"key": "shipyard.gate.verdict", "value": "passed"}]):
            r = writer.post(f"/api/v1/runs/{run_id}/log-batch", json={"tags": tags})
            assert r.status_code == 403, tags
        assert writer.delete(f"/api/v1/runs/{run_id}/tags",
                             params={"key": "shipyard.log-model.history"}).status_code == 403
        # the task cache executors unpickle: not a writer's to fill
        assert writer.put("/api/v1/artifacts/pipelines/cache/train/" + "a" * 64 + ".pkl",
                          content=b"x").status_code == 403
        # nor the versions' performance estimators, which monitors and canaries act on
        r = writer.put("/api/v1/artifacts/estimation/swap/1/" + "a" * 64 + ".json", content=b"{}")
        assert r.status_code == 403 and "estimators" in r.json()["message"]
    with platform.client("admin") as admin:  # nobody rewrites a registration's digest, admins neither
        r = admin.post("/api/v1/registered-models/swap/versions/1/tags",
                       json={"key": "shipyard.model_digest", "value": fake})
        assert r.status_code == 400
        version = admin.get("/api/v1/registered-models/swap/versions/1").json()
        assert version["digest"] == info.digest and "shipyard.model_digest" not in version["tags"]

    # someone who has the files anyway (the disk, the bucket): loading refuses before unpickling
    marker = tmp_path / "pwned"
    _swap_payload(platform.home / "artifacts" / rel, marker)
    for uri in ("models:/swap/1", f"runs:/{run_id}/model"):
        with pytest.raises(IntegrityCheckFailed):
            shipyard.load_model(uri)
    assert not marker.exists()


def test_a_swapped_task_cache_file_is_never_unpickled(tmp_path: Path) -> None:
    from shipyard.artifacts import get_artifact_repository
    from shipyard.errors import Conflict
    from shipyard.pipelines._cache import load_output, save_output

    repo = get_artifact_repository(str(tmp_path / "artifacts"))
    path = save_output(repo, "train", "b" * 64, {"weights": [1, 2, 3]})
    assert load_output(repo, path) == {"weights": [1, 2, 3]}
    marker = tmp_path / "pwned"
    (tmp_path / "artifacts" / path).write_bytes(pickle.dumps(_SideEffect(marker)))
    with pytest.raises(Conflict, match="does not match"):
        load_output(repo, path)
    repo.log_bytes(pickle.dumps(_SideEffect(marker)), "1/run/artifacts/evil.pkl")
    with pytest.raises(Conflict, match="not a task cache file"):  # a task run pointing elsewhere
        load_output(repo, "1/run/artifacts/evil.pkl")
    assert not marker.exists()


# -- 4. the login page --------------------------------------------------------------------------------------


def test_login_never_sends_anyone_to_another_host(platform: Platform) -> None:
    with httpx.Client(base_url=platform.url, timeout=60) as http:
        for target in ("/\t/evil.example", "//evil.example", "/\\evil.example", "https://evil.example",
                       "/\n/evil.example", " /evil"):
            page = http.get("/login", params={"next": target})
            assert page.status_code == 200 and "evil.example" not in page.text
            r = http.post("/login", data={"token": platform.tokens["reader"], "next": target},
                          headers={"HX-Request": "true"})
            assert r.status_code == 200 and r.headers["HX-Redirect"] == "/", target
        r = http.get(f"{platform.url}/login?next=/%09/evil.example")
        assert 'value="/"' in r.text and "evil" not in r.text
        r = http.post("/login", data={"token": platform.tokens["reader"], "next": "/runs?filter=a"},
                      headers={"HX-Request": "true"})
        assert r.headers["HX-Redirect"] == "/runs?filter=a"  # a path of this server still works


# -- 10. cross-site requests and a broken monitor spec ------------------------------------------------------


def test_cross_site_requests_are_refused_with_auth_off(live_server, sql_store: SqlStore) -> None:
    url = live_server().url
    run = sql_store.create_run(sql_store.create_experiment("e"), "r")
    sql_store.delete_run(run.info.run_id)
    with httpx.Client(base_url=url, timeout=60) as http:
        # what another site's page can make a browser send: a plain form POST, no body needed
        for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}):
            r = http.post(f"/api/v1/runs/{run.info.run_id}/restore", headers=headers)
            assert r.status_code == 403 and "cross-site" in r.json()["message"], headers
            assert http.post("/logout", headers={**headers, "HX-Request": "true"}).status_code == 403
        assert sql_store.get_run(run.info.run_id).info.lifecycle_stage == "deleted"
        # the SDK and the CLI send no Origin; the UI's own page sends its own
        assert http.post(f"/api/v1/runs/{run.info.run_id}/restore").status_code == 200
        assert http.post(f"/api/v1/runs/{run.info.run_id}/restore",
                         headers={"Origin": url, "Sec-Fetch-Site": "same-origin"}).status_code == 200
    assert sql_store.get_run(run.info.run_id).info.lifecycle_stage == "active"


def test_a_bad_stored_monitor_spec_is_marked_not_a_500(live_server, sql_store: SqlStore) -> None:
    url = live_server().url
    sql_store.create_model_version("churn", "/nowhere")
    sql_store.create_deployment("churn-api", [Route("churn", 1, 100)])
    sql_store.create_monitor("good", "churn-api", {"window": {"rows": 500}})
    sql_store.create_monitor("broken", "churn-api", {"window": "whenever", "channels": 3})
    sql_store.create_monitor("odd", "churn-api", {"window": {"rows": True}})
    page = httpx.get(f"{url}/monitors", timeout=60)
    assert page.status_code == 200
    assert "500 rows" in page.text and page.text.count("invalid spec") == 2
