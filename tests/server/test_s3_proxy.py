"""An S3 artifact root served through the server: clients holding only the server's URL and a token
log and load artifacts and models; the bucket's credentials and endpoint live on the server alone.
``--no-serve-artifacts`` hands clients the bucket instead (they then need its credentials)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests._topology import MotoS3, ShipyardServer, without_cloud_credentials

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3]:
    pytest.importorskip("s3fs")
    pytest.importorskip("moto")
    server = MotoS3(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


def _server(home: Path, s3: MotoS3, root: str, *args: str) -> tuple[ShipyardServer, str]:
    """``shipyard server --auth`` over SQLite and ``root`` on the S3 server; returns it and an admin token."""
    from shipyard.store import open_store
    from shipyard.store.sql.tokens import TokenStore

    home.mkdir(parents=True, exist_ok=True)
    db = f"sqlite:///{home / 'server.db'}"
    store = open_store(db, root)
    token = TokenStore(store).create_token("laptop", "admin")
    store.close()
    env = {**os.environ, **s3.env, "SHIPYARD_STORE_URI": db, "SHIPYARD_ARTIFACT_URI": root}
    return ShipyardServer(home, env, "--auth", *args), token


def test_clients_with_only_url_and_token_log_and_load_through_an_s3_root(
        tmp_path: Path, s3: MotoS3, monkeypatch: pytest.MonkeyPatch) -> None:
    import shipyard
    import shipyard.sklearn

    root = f"s3://{s3.bucket}/proxied"
    server, token = _server(tmp_path / "server", s3, root)
    try:
        for key in [k for k in os.environ if k.startswith("AWS_")]:
            monkeypatch.delenv(key)
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))  # no credentials here at all
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
        assert without_cloud_credentials(os.environ).keys() >= {"SHIPYARD_HOME"}
        monkeypatch.setenv("SHIPYARD_TRACKING_URI", server.url)
        monkeypatch.setenv("SHIPYARD_TRACKING_TOKEN", token)
        info = httpx.get(f"{server.url}/api/v1/server-info", headers={"Authorization": f"Bearer {token}"}).json()
        assert info["artifacts_proxied"] and info["artifact_root"] == "shipyard-artifacts:/"

        from sklearn.linear_model import LogisticRegression

        X, y = np.random.default_rng(0).normal(size=(60, 3)), np.arange(60) % 2
        notes = tmp_path / "notes.txt"
        notes.write_text("trained on the laptop")
        with shipyard.start_run() as run:
            shipyard.log_artifact(str(notes))
            shipyard.sklearn.log_model(LogisticRegression().fit(X, y), "model", registered_model_name="proxied")
        assert run.info.artifact_uri.startswith(f"{server.url}/api/v1/artifacts/")  # never s3://
        loaded = shipyard.load_model("models:/proxied/1")
        assert loaded.predict(X[:5]).tolist() == LogisticRegression().fit(X, y).predict(X[:5]).tolist()

        # The files are in the bucket, under the server's root, written by the server.
        fs = s3.fs()
        stored = [p for p in fs.find(f"{s3.bucket}/proxied") if p.endswith("notes.txt")]
        assert len(stored) == 1 and fs.cat_file(stored[0]) == b"trained on the laptop"
        assert any(p.endswith("MLmodel") or p.endswith("model.pkl") or "/model/" in p
                   for p in fs.find(f"{s3.bucket}/proxied"))
        # ... and no token: no file.
        path = stored[0].removeprefix(f"{s3.bucket}/proxied/")
        assert httpx.get(f"{server.url}/api/v1/artifacts/{path}").status_code == 401
    finally:
        assert server.stop() == 0


def test_no_serve_artifacts_hands_clients_the_bucket(tmp_path: Path, s3: MotoS3) -> None:
    root = f"s3://{s3.bucket}/direct"
    server, token = _server(tmp_path / "server", s3, root, "--no-serve-artifacts")
    try:
        assert "clients read and write there directly" in server.process.text()
        info = httpx.get(f"{server.url}/api/v1/server-info", headers={"Authorization": f"Bearer {token}"}).json()
        assert not info["artifacts_proxied"] and info["artifact_root"] == root
        created = httpx.post(f"{server.url}/api/v1/experiments", json={"name": "direct"},
                             headers={"Authorization": f"Bearer {token}"}).json()
        experiment = httpx.get(f"{server.url}/api/v1/experiments/{created['experiment_id']}",
                               headers={"Authorization": f"Bearer {token}"}).json()
        assert experiment["artifact_location"].startswith(root + "/")
        # A client writing to the bucket directly, after the server listed the folder: the server
        # sees the new file at once (no stale listing cache).
        headers = {"Authorization": f"Bearer {token}"}
        s3.fs().pipe_file(f"{s3.bucket}/direct/shared/old.txt", b"an earlier file")
        listed = httpx.get(f"{server.url}/api/v1/artifacts", params={"path": "shared"}, headers=headers).json()
        assert [f["path"] for f in listed["files"]] == ["shared/old.txt"]
        s3.fs().pipe_file(f"{s3.bucket}/direct/shared/new.txt", b"written by a client")
        listed = httpx.get(f"{server.url}/api/v1/artifacts", params={"path": "shared"}, headers=headers).json()
        assert [f["path"] for f in listed["files"]] == ["shared/new.txt", "shared/old.txt"]
        assert httpx.get(f"{server.url}/api/v1/artifacts/shared/new.txt", headers=headers).content == \
            b"written by a client"
    finally:
        assert server.stop() == 0


def test_the_operator_config_turns_serving_artifacts_off(tmp_path: Path) -> None:
    from shipyard.errors import InvalidInput
    from shipyard.server_config import load_server_config

    config = tmp_path / "server.toml"
    config.write_text("[artifacts]\nserve = false\n")
    assert load_server_config(config).serve_artifacts is False
    assert load_server_config(None).serve_artifacts is True
    config.write_text("[artifacts]\nserve = 'no'\n")
    with pytest.raises(InvalidInput, match="true or false"):
        load_server_config(config)
