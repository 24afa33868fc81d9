"""A model version's performance estimator: fitted once, stored beside the version, hash-checked.

    shipyard.monitoring.fit_version_estimator("rain", 3, X_labeled, y_labeled)   # at registration
    shipyard.monitoring.fit_version_estimator("rain", 3)   # from the held-out rows its run logged

The reference is the version's own labeled rows: the ones given, else the held-out rows its
training run logged (``shipyard.automation.log_holdout``, what the gate evaluates on). A monitor
with the ``estimated_performance`` check calls this on its first run of a version that has no
estimator yet, so fitting happens once per version, not per monitor run.

Storage: ``estimation/<model>/<version>/<sha256>.json`` under the artifact root. The file is JSON
(calibration steps and trees as arrays of numbers: nothing is unpickled), its name carries the
SHA-256 of its bytes and loading refuses bytes that do not match; through the server the
``estimation/`` folder is read-only to writers (like the pipeline task cache), so a writer can
neither replace an estimator nor add a forged one.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from shipyard.errors import IntegrityCheckFailed, InvalidInput, NotFound, ShipyardError

if TYPE_CHECKING:
    from shipyard.artifacts import ArtifactRepository
    from shipyard.store.base import Store

__all__ = ["ESTIMATION_PREFIX", "fit_version_estimator", "load_version_estimator", "version_estimator"]

logger = logging.getLogger("shipyard.monitoring")
ESTIMATION_PREFIX = "estimation/"
_FILE = re.compile(r"^(?P<sha256>[0-9a-f]{64})\.json$")
_NAME = re.compile(r"^[A-Za-z0-9_.\- ]+$")


def _folder(model: str, version: int) -> str:
    if not _NAME.match(model) or set(model) <= {"."}:
        raise InvalidInput(f"model name {model!r} cannot name an estimator folder")
    return f"{ESTIMATION_PREFIX}{model}/{int(version)}"


def _repo(store: Store) -> ArtifactRepository:
    from shipyard.artifacts import get_artifact_repository

    return get_artifact_repository(store.artifact_root)


def _store(store: Store | None) -> Store:
    if store is not None:
        return store
    from shipyard.config import resolve_settings
    from shipyard.tracking.client import shared_store

    settings = resolve_settings()
    return shared_store(settings.store_uri, settings.artifact_uri)


def save_estimator(repo: ArtifactRepository, model: str, version: int, estimator: Any) -> str:
    data = orjson.dumps({"model": model, "version": int(version), **estimator.to_dict()},
                        option=orjson.OPT_SERIALIZE_NUMPY)
    path = f"{_folder(model, version)}/{hashlib.sha256(data).hexdigest()}.json"
    repo.log_bytes(data, path)
    return path


def load_version_estimator(model: str, version: int, *, store: Store | None = None) -> Any | None:
    """The stored estimator of a version, or None when none was fitted. Raises IntegrityCheckFailed
    when the stored bytes do not hash to the name they were written under."""
    from shipyard.monitoring._estimate import load_estimator

    repo = _repo(_store(store))
    folder = _folder(model, version)
    names = sorted(info.path.rsplit("/", 1)[-1] for info in repo.list(folder) if not info.is_dir)
    for name in names:
        found = _FILE.match(name)
        if found is None:
            continue
        data = repo.read_bytes(f"{folder}/{name}")
        if hashlib.sha256(data).hexdigest() != found.group("sha256"):
            raise IntegrityCheckFailed(f"estimator {folder}/{name} does not match the SHA-256 it was stored under: "
                                       "not loaded (fit it again with fit_version_estimator)")
        return load_estimator(orjson.loads(data))
    return None


def _predictions(store: Store, model: str, version: int, X: Any) -> tuple[np.ndarray, np.ndarray | None]:
    from shipyard.models._log import load_model
    from shipyard.registry.client import RegistryClient

    loaded = load_model(f"models:/{model}/{version}", client=RegistryClient(store=store))
    preds = np.asarray(loaded.predict(X))
    proba = np.asarray(loaded.predict_proba(X)) if loaded.has_predict_proba else None
    return preds, proba


def fit_version_estimator(model: str, version: int, X: Any = None, y: Any = None, *, store: Store | None = None,
                          task: str | None = None, calibrate: bool | str = "auto") -> Any:
    """Fit the estimator of ``model`` version ``version`` on labeled rows (X, y) -- by default the
    held-out rows its training run logged -- store it, and return it. Raises NotFound when no
    labeled rows are given and the run logged none."""
    from shipyard.monitoring._estimate import Sample, fit_estimator

    st = _store(store)
    if (X is None) != (y is None):
        raise InvalidInput("give both X and y (labeled reference rows), or neither (the version's held-out rows)")
    if X is None:
        X, y = _holdout(st, model, version)
    preds, proba = _predictions(st, model, version, X)
    if task is None:
        task = "classification" if proba is not None else "regression"
    estimator = fit_estimator(Sample(y_pred=preds, proba=proba, X=X, y=np.asarray(y)), task=task, calibrate=calibrate)
    path = save_estimator(_repo(st), model, version, estimator)
    logger.info("estimator of %s v%s fitted on %d labeled rows (%s): %s", model, version, len(np.asarray(y)),
                estimator.task, path)
    return estimator


# Where ``shipyard.automation.log_holdout`` stores a run's held-out rows (features as columns, the
# label in ``__target__``); automation is a layer above monitoring, so the format is read here.
HOLDOUT_PATH, TARGET = "holdout/holdout.parquet", "__target__"


def _holdout(store: Store, model: str, version: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    import io

    import pyarrow.parquet as pq

    from shipyard.tracking.client import TrackingClient

    run_id = store.get_model_version(model, version).run_id
    if not run_id:
        raise NotFound(f"{model} v{version} has no training run, so no held-out rows: "
                       "fit_version_estimator(model, version, X, y) with labeled rows")
    repo = TrackingClient(store=store).artifact_repository(run_id)
    if not repo.exists(HOLDOUT_PATH):
        raise NotFound(f"the run of {model} v{version} logged no held-out rows (shipyard.automation.log_holdout): "
                       "fit_version_estimator(model, version, X, y) with labeled rows")
    table = pq.read_table(io.BytesIO(repo.read_bytes(HOLDOUT_PATH)))
    X = {name: table[name].to_numpy(zero_copy_only=False) for name in table.column_names if name != TARGET}
    return X, table[TARGET].to_numpy(zero_copy_only=False)


def version_estimator(store: Store, model: str, version: int) -> tuple[Any | None, str | None]:
    """(the version's estimator, None), fitting it from the held-out rows on first use, or
    (None, why there is none)."""
    try:
        found = load_version_estimator(model, version, store=store)
        if found is not None:
            return found, None
        return fit_version_estimator(model, version, store=store), None
    except ShipyardError as exc:  # no held-out rows, a tampered file, a writer's token refused (403), ...
        return None, str(exc)
    except Exception as exc:  # the model failed on its held-out rows: the monitor runs its other checks
        logger.exception("fitting the estimator of %s v%s failed", model, version)
        return None, f"fitting the estimator failed: {type(exc).__name__}: {exc}"
