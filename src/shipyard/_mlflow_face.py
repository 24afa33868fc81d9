"""MLflow names that span layers: ``download_artifacts``, the registry searches, ``MlflowClient``.

They live in the face (which may import everything) and are re-exported where MLflow has them:
``shipyard.artifacts.download_artifacts``, ``shipyard.search_model_versions``,
``shipyard.tracking.MlflowClient``, ``shipyard.client.MlflowClient``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard._client import Client
from shipyard.errors import InvalidInput

if TYPE_CHECKING:
    from shipyard.entities import ModelVersion, PagedList, RegisteredModel

__all__ = ["MlflowClient", "download_artifacts", "search_model_versions", "search_registered_models"]


class MlflowClient(Client):
    """``mlflow.MlflowClient``'s name for :class:`shipyard.Client` (the same methods and more)."""


def _client() -> Client:
    from shipyard.tracking.fluent import _session

    return Client(store=_session.client.store)


def search_model_versions(filter_string: str | None = None, max_results: int = 10_000,
                          order_by: Sequence[str] | None = None,
                          page_token: str | None = None) -> PagedList[ModelVersion]:
    """Model versions matching an MLflow filter such as ``"name = 'churn'"`` (see ``Client``)."""
    return _client().search_model_versions(filter_string, max_results, order_by, page_token)


def search_registered_models(filter_string: str | None = None, max_results: int = 100,
                             order_by: Sequence[str] | None = None,
                             page_token: str | None = None) -> PagedList[RegisteredModel]:
    """Registered models matching an MLflow filter such as ``"name LIKE 'churn%'"``."""
    return _client().search_registered_models(filter_string, max_results, order_by, page_token)


def download_artifacts(artifact_uri: str | None = None, run_id: str | None = None,
                       artifact_path: str | None = None, dst_path: str | None = None,
                       tracking_uri: str | None = None) -> str:
    """Download artifacts to a local folder and return the local path, as MLflow's
    ``mlflow.artifacts.download_artifacts``: either ``run_id`` (and ``artifact_path``) or
    ``artifact_uri`` (``runs:/<run_id>/<path>``, ``models:/<name>/<version>``, a local path or any
    fsspec URL)."""
    from shipyard.models._log import fetch_uri

    if (artifact_uri is None) == (run_id is None):
        raise InvalidInput("download_artifacts needs either artifact_uri or run_id (not both)")
    if artifact_uri is not None and artifact_path is not None:
        raise InvalidInput("artifact_path goes with run_id; with artifact_uri put the path in the URI")
    client = Client(tracking_uri) if tracking_uri else _client()
    dst = Path(dst_path) if dst_path else Path(tempfile.mkdtemp(prefix="shipyard-artifacts-"))
    uri = artifact_uri if artifact_uri is not None else f"runs:/{run_id}/{artifact_path or ''}"
    if uri.startswith("models:"):
        from shipyard.artifacts import get_artifact_repository

        location = fetch_uri(uri, dst, client)
        return str(get_artifact_repository(location).download(None, dst / location.name))
    return str(fetch_uri(uri, dst, client))
