"""``shipyard serve models:/NAME@ALIAS`` and ``runs:/ID/model``: a model served directly, as
``mlflow models serve -m`` does, without a deployment in the store; and what an unknown name says."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
from tests.serving.test_process_serve import Home, Server, home  # noqa: F401  (the module's store)

pytestmark = pytest.mark.integration


def test_serve_a_registered_model_and_a_run_directly(home: Home) -> None:  # noqa: F811
    client = home.client()
    client.set_registered_model_alias("rain", "champion", 2)
    run_id = client.get_model_version("rain", 1).run_id
    before = sorted(d.name for d in client.list_deployments())
    by_alias = Server(home, "models:/rain@champion")
    by_run = Server(home, f"runs:/{run_id}/model")
    try:
        for server, version in ((by_alias.wait_ready(), 2), (by_run.wait_ready(), None)):
            with httpx.Client(base_url=server.url, timeout=30) as http:
                # MLflow's scoring protocol, as after `mlflow models serve -m`
                r = http.post("/invocations", json={"dataframe_records": home.rows[:3]})
                assert r.status_code == 200, r.text
                assert len(r.json()["predictions"]) == 3
                name = "rain-champion" if version else f"run-{run_id[:8]}"
                native = http.post(f"/v1/deployments/{name}/predict", json={"records": home.rows[:2]})
                assert native.status_code == 200, native.text
                if version:
                    assert native.json()["version"] == version
        assert "rain-champion (ad hoc, not in the store): models:/rain@champion" in by_alias.text()
    finally:
        by_alias.stop()
        by_run.stop()
    assert sorted(d.name for d in client.list_deployments()) == before  # nothing written to the store


def test_an_unknown_deployment_names_what_exists_and_the_model_uri_form(home: Home) -> None:  # noqa: F811
    done = subprocess.run([sys.executable, "-m", "shipyard", "serve", "rain"], env=home.env(), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    assert "deployment 'rain' not found (deployments: canary, flips, shadowed, solo, strict)" in done.stderr
    assert "shipyard serve models:/NAME@ALIAS" in done.stderr
    bad = subprocess.run([sys.executable, "-m", "shipyard", "serve", "models:/rain@nope"], env=home.env(),
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "nope" in bad.stderr and "Traceback" not in bad.stderr
