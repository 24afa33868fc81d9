"""Ad-hoc deployments: ``shipyard serve models:/churn@champion`` (or ``runs:/ID/model``), as
``mlflow models serve -m`` does, without writing a deployment to the store.

Each URI becomes a one-route revision held by the serving process only. A registry URI is resolved
to its version once, when the server starts (moving the alias later changes nothing until a
restart; a real deployment follows aliases through revisions). Its name, which the prediction log
and ``/v1/deployments/{name}/predict`` use, says what it serves: ``churn-champion``, ``churn-v3``,
``run-1a2b3c4d``.
"""

from __future__ import annotations

import re
from typing import Any

from shipyard.entities import DeploymentRevision, Route
from shipyard.errors import InvalidInput, NotFound
from shipyard.serving.runtime import ADHOC_VERSION

__all__ = ["adhoc_revisions", "is_model_uri"]


def is_model_uri(text: str) -> bool:
    """Whether ``text`` (a ``shipyard serve`` argument) names a model rather than a deployment."""
    return text.startswith(("models:/", "runs:/"))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "model"


def adhoc_revisions(store: Any, uris: tuple[str, ...] | list[str]) -> dict[str, DeploymentRevision]:
    """{deployment name: revision} for each model URI; raises NotFound/InvalidInput now, not at a request."""
    from shipyard.models._resolve import parse_model_uri
    from shipyard.registry.client import RegistryClient

    registry = RegistryClient(store=store)
    out: dict[str, DeploymentRevision] = {}
    for uri in uris:
        kind, *rest = parse_model_uri(uri)
        if kind == "alias":
            name, alias = rest
            version = registry.get_model_version_by_alias(name, alias)
            deployment, route = f"{name}-{alias}", Route(version.name, version.version, alias=alias)
        elif kind == "models":
            name, which = rest
            version = (registry.get_latest_version(name) if which.lower() == "latest"
                       else registry.get_model_version(name, which))
            deployment, route = f"{name}-v{version.version}", Route(version.name, version.version)
        elif kind == "runs":
            run_id, _ = rest
            registry.get_run(run_id)  # NotFound now
            deployment, route = f"run-{run_id[:8]}", Route(uri, ADHOC_VERSION)
        else:
            raise InvalidInput(f"{uri!r} is not a model URI: serve models:/NAME@ALIAS, models:/NAME/VERSION or "
                               "runs:/RUN_ID/PATH, or name a deployment")
        deployment = _slug(deployment)
        try:
            store.get_deployment(deployment)
        except NotFound:
            pass
        else:
            raise InvalidInput(f"a deployment named {deployment!r} exists in the store: serve it with "
                               f"'shipyard serve {deployment}', or serve {uri} from a store without it")
        out[deployment] = DeploymentRevision(deployment=deployment, revision=1, routes=[route],
                                             reason=f"ad hoc: {uri}")
    return out
