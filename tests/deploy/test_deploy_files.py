"""The deployment files (deploy/: Dockerfile, compose.yaml, the Helm chart) cannot be run here (no
container runtime, no cluster), so they are checked against the code they drive: every command and
flag parses with shipyard's own CLI (or Dask's click commands), every SHIPYARD_* variable is one
shipyard reads, ports and probe paths agree with the commands and the apps, and the database and
bucket credentials reach only the processes that open the database."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy._gotemplate import render

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CHART = DEPLOY / "helm" / "shipyard"
#: Only these processes open the database and the bucket; everything else holds a URL and a token.
CREDENTIALS = re.compile(r"^(SHIPYARD_STORE_URI|AWS_.*)$")


def shipyard_variables() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "src" / "shipyard").rglob("*.py"):
        names |= set(re.findall(r"\bSHIPYARD_[A-Z0-9_]*[A-Z0-9]\b", path.read_text()))
    return names


def documented_aws_variables() -> set[str]:
    return set(re.findall(r"`(AWS_[A-Z0-9_]+)`", (ROOT / "docs" / "storage.md").read_text()))


def check_command(argv: list[str]) -> None:
    """The command parses as its program would parse it (argparse's or click's errors fail the test)."""
    assert argv, "an empty command"
    if argv[0] == "shipyard":
        from shipyard.cli import build_parser

        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err):
                build_parser().parse_args(argv[1:])
        except SystemExit:
            pytest.fail(f"{' '.join(argv)}: {err.getvalue().strip()}")
    elif argv[:2] in (["dask", "scheduler"], ["dask", "worker"]):
        import click

        if argv[1] == "scheduler":
            from distributed.cli.dask_scheduler import main
        else:
            from distributed.cli.dask_worker import main
        try:
            main.make_context(" ".join(argv[:2]), list(argv[2:]))
        except click.ClickException as exc:
            pytest.fail(f"{' '.join(argv)}: {exc.format_message()}")
    else:
        pytest.fail(f"not a command of the shipyard image: {argv}")


def option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def check_env(names: set[str], where: str) -> None:
    unknown = {n for n in names if n.startswith("SHIPYARD_")} - shipyard_variables()
    assert not unknown, f"{where}: shipyard reads no {sorted(unknown)}"
    undocumented = {n for n in names if n.startswith("AWS_")} - documented_aws_variables()
    assert not undocumented, f"{where}: {sorted(undocumented)} not in docs/storage.md"


def serving_paths() -> set[str]:
    return set(re.findall(r'"(/[a-z0-9/]+)": self\.', (ROOT / "src/shipyard/serving/app.py").read_text()))


def server_paths() -> set[str]:
    from shipyard.server import create_app
    from shipyard.store.sql import SqlStore

    store = SqlStore("sqlite://", "memory://deploy-test")
    try:
        return {getattr(route, "path", "") for route in create_app(store).routes}
    finally:
        store.close()


# --- Dockerfile -----------------------------------------------------------------------------------

def test_the_dockerfile_runs_the_server_and_exposes_every_roles_port() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", text, re.M).group(1))  # type: ignore[union-attr]
    check_command(cmd)
    assert cmd[:2] == ["shipyard", "server"] and "--auth" in cmd
    exposed = set(re.search(r"^EXPOSE (.*)$", text, re.M).group(1).split())  # type: ignore[union-attr]
    assert {option(cmd, "--port"), "8080", "8786"} <= exposed
    env = set(re.findall(r"\b(SHIPYARD_[A-Z_]+)=", text))
    assert env and check_env(env, "Dockerfile") is None
    extras = re.search(r"ARG EXTRAS=(\S+)", text).group(1).split(",")  # type: ignore[union-attr]
    import tomllib

    known = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(extras) <= set(known) and {"postgres", "s3", "dask"} <= set(extras)


# --- compose.yaml ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    return services


def _shipyard_image(service: dict[str, Any]) -> bool:
    return str(service.get("image", "")).startswith("shipyard:")


def test_every_compose_command_and_variable_exists(compose: dict[str, Any]) -> None:
    assert {"postgres", "minio", "server", "serve-a", "serve-b", "proxy", "scheduler", "dask-scheduler",
            "dask-worker"} <= set(compose)
    for name, service in compose.items():
        if not _shipyard_image(service):
            continue
        check_command(service["command"])
        env = service.get("environment", {})
        check_env(set(env), f"compose service {name}")
        source = option(service["command"], "--from-env")
        if source is not None:
            assert source in env, f"{name}: --from-env {source} but no such variable in its environment"


def test_compose_credentials_live_only_with_the_database_processes(compose: dict[str, Any]) -> None:
    holders = {name for name, s in compose.items()
               if _shipyard_image(s) and any(CREDENTIALS.match(k) for k in s.get("environment", {}))}
    assert holders == {"server", "tokens", "tokens-scheduler"}
    for name in ("serve-a", "serve-b", "scheduler"):
        env = compose[name]["environment"]
        assert env["SHIPYARD_TRACKING_URI"] == "http://server:5000" and env["SHIPYARD_TRACKING_TOKEN"]
    assert "environment" not in compose["dask-worker"]  # configured by the scheduler's worker plugin


def test_compose_ports_probes_and_proxy_agree(compose: dict[str, Any]) -> None:
    server = compose["server"]
    port = option(server["command"], "--port")
    assert f"{port}:{port}" in server["ports"]
    assert f"http://127.0.0.1:{port}/health" in " ".join(server["healthcheck"]["test"])
    assert "/health" in server_paths()
    upstreams = re.findall(r"server (serve-[ab]):(\d+)", (DEPLOY / "nginx.conf").read_text())
    assert {u for u, _ in upstreams} == {"serve-a", "serve-b"}
    for replica, upstream_port in upstreams:
        command = compose[replica]["command"]
        assert option(command, "--port") == upstream_port and option(command, "--host") == "0.0.0.0"
        probe = re.search(r"127\.0\.0\.1:(\d+)(/\w+)", " ".join(compose[replica]["healthcheck"]["test"]))
        assert probe is not None and probe.group(1) == upstream_port and probe.group(2) in serving_paths()
    dask = compose["dask-scheduler"]["command"]
    assert compose["scheduler"]["command"][-1] == f"dask://dask-scheduler:{option(dask, '--port')}"
    assert compose["dask-worker"]["command"][2] == f"tcp://dask-scheduler:{option(dask, '--port')}"


# --- the Helm chart -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    context = {"Values": values, "Release": {"Name": "sy"}, "Chart": chart}
    docs: list[dict[str, Any]] = []
    for template in sorted((CHART / "templates").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(render(template.read_text(), context)) if d]
    return docs


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc.get("spec", {}).get("template", {}).get("spec", {})
    return list(spec.get("containers", []))


def test_the_chart_renders_server_replicas_per_deployment_and_scheduler(manifests: list[dict[str, Any]]) -> None:
    names = {(d["kind"], d["metadata"]["name"]) for d in manifests}
    assert {("Deployment", "sy-server"), ("Service", "sy-server"), ("Deployment", "sy-serve-rain-api"),
            ("Service", "sy-serve-rain-api"), ("Deployment", "sy-scheduler"), ("Job", "sy-tokens")} <= names
    serve = next(d for d in manifests if d["metadata"]["name"] == "sy-serve-rain-api" and d["kind"] == "Deployment")
    assert serve["spec"]["replicas"] == 2
    assert _containers(serve)[0]["command"][:3] == ["shipyard", "serve", "rain-api"]


def test_every_chart_command_variable_port_and_probe_exists(manifests: list[dict[str, Any]]) -> None:
    services = {d["metadata"]["name"]: d for d in manifests if d["kind"] == "Service"}
    for doc in manifests:
        for container in _containers(doc):
            argv = [str(a) for a in container["command"]]
            check_command(argv)
            env = {e["name"]: e for e in container.get("env", [])}
            check_env(set(env), f"{doc['metadata']['name']}/{container['name']}")
            source = option(argv, "--from-env")
            assert source is None or source in env
            ports = {p["name"]: str(p["containerPort"]) for p in container.get("ports", [])}
            if "--port" in argv:
                assert ports == {"http": option(argv, "--port")}
            for probe in ("readinessProbe", "livenessProbe"):
                if probe in container:
                    path = container[probe]["httpGet"]["path"]
                    assert path in (serving_paths() if argv[1] == "serve" else server_paths()), path
            url = env.get("SHIPYARD_TRACKING_URI", {}).get("value")
            if url is not None:  # the server's Service, on its port
                host, port = re.match(r"http://([\w-]+):(\d+)$", url).groups()  # type: ignore[union-attr]
                assert str(services[host]["spec"]["ports"][0]["port"]) == port
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] != "sy-scheduler":
            container = _containers(doc)[0]
            assert {"readinessProbe", "livenessProbe"} <= set(container), doc["metadata"]["name"]


def test_chart_credentials_come_from_secrets_and_reach_only_the_server(manifests: list[dict[str, Any]]) -> None:
    holders = set()
    for doc in manifests:
        for container in _containers(doc):
            for entry in container.get("env", []):
                if entry["name"] in ("SHIPYARD_STORE_URI", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                     "SHIPYARD_TRACKING_TOKEN"):
                    assert "secretKeyRef" in entry.get("valueFrom", {}), (container["name"], entry["name"])
                if CREDENTIALS.match(entry["name"]) and entry["name"] != "AWS_DEFAULT_REGION":
                    holders.add(container["name"])
    assert holders == {"server", "serve-token", "scheduler-token"}


def test_the_template_subset_refuses_what_it_cannot_render() -> None:
    with pytest.raises(ValueError, match="subset"):
        render('{{ include "x" . }}', {})
    with pytest.raises(ValueError, match="end"):
        render("{{- range .Values.x }}", {"Values": {"x": []}})
