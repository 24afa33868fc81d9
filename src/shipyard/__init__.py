"""shipyard: the whole MLOps loop in one package.

The fluent face reads like MLflow's, so MLflow code runs with ``import shipyard as mlflow`` (see
docs/mlflow.md for what differs)::

    import shipyard
    shipyard.set_experiment("churn")
    with shipyard.start_run(run_name="rf-1"):
        shipyard.log_params({"n_estimators": 100})
        shipyard.log_metric("loss", 0.3, step=1)
        shipyard.sklearn.log_model(model, "model", training_data=X_train, registered_model_name="churn")
    model = shipyard.load_model("models:/churn@champion")

Everything is imported on first use (PEP 562), so ``import shipyard`` stays fast: no SQLAlchemy,
NumPy, SciPy, scikit-learn, pandas or pyarrow until a function needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_FLUENT = "shipyard.tracking.fluent"
_MORE = "shipyard.tracking._fluent_more"
_FACE = "shipyard._mlflow_face"
_LAZY: dict[str, str] = {
    "ActiveRun": _FLUENT,
    "active_run": _FLUENT,
    "autolog": "shipyard.models._autolog",
    "end_run": _FLUENT,
    "flush": _FLUENT,
    "get_artifact_uri": _FLUENT,
    "get_tracking_uri": _FLUENT,
    "last_active_run": _FLUENT,
    "log_artifact": _FLUENT,
    "log_artifacts": _FLUENT,
    "log_dict": _FLUENT,
    "log_figure": _FLUENT,
    "log_input": _FLUENT,
    "log_metric": _FLUENT,
    "log_metrics": _FLUENT,
    "log_param": _FLUENT,
    "log_params": _FLUENT,
    "log_text": _FLUENT,
    "search_runs": _FLUENT,
    "set_experiment": _FLUENT,
    "set_tag": _FLUENT,
    "set_tags": _FLUENT,
    "set_tracking_uri": _FLUENT,
    "start_run": _FLUENT,
    "create_experiment": _MORE,
    "delete_experiment": _MORE,
    "delete_tag": _MORE,
    "get_experiment": _MORE,
    "get_experiment_by_name": _MORE,
    "get_parent_run": _MORE,
    "get_run": _MORE,
    "load_table": _MORE,
    "log_image": _MORE,
    "log_table": _MORE,
    "search_experiments": _MORE,
    "set_experiment_tag": _MORE,
    "set_experiment_tags": _MORE,
    "MlflowClient": _FACE,
    "search_model_versions": _FACE,
    "search_registered_models": _FACE,
    "evaluate": "shipyard.models._evaluate",
    "Client": "shipyard._client",
    "load_model": "shipyard.models._log",
    "log_model": "shipyard.models._log",
    "register_model": "shipyard.models._log",
    "ShipyardError": "shipyard.errors",
    "pipeline": "shipyard.pipelines",
    "task": "shipyard.pipelines",
}
_SUBMODULES = {"artifacts", "automation", "client", "data", "datasets", "drift", "entities", "errors", "lightgbm",
               "models", "monitoring", "pyfunc", "registry", "serving", "sklearn", "store", "tracking", "xgboost"}

__all__ = sorted([*_LAZY, *_SUBMODULES, "__version__"],
                 key=lambda n: (0 if n.isupper() else 1 if n[:1].isupper() else 2, n))


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"shipyard.{name}")
    else:
        raise AttributeError(f"module 'shipyard' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from shipyard import (
        artifacts,
        client,
        data,
        datasets,
        drift,
        entities,
        errors,
        lightgbm,
        models,
        pyfunc,
        registry,
        serving,
        sklearn,
        store,
        tracking,
        xgboost,
    )
    from shipyard._client import Client
    from shipyard._mlflow_face import MlflowClient, search_model_versions, search_registered_models
    from shipyard.errors import ShipyardError
    from shipyard.models._evaluate import evaluate
    from shipyard.models._log import load_model, log_model, register_model
    from shipyard.pipelines import pipeline, task
    from shipyard.tracking._fluent_more import (
        create_experiment,
        delete_experiment,
        delete_tag,
        get_experiment,
        get_experiment_by_name,
        get_parent_run,
        get_run,
        load_table,
        log_image,
        log_table,
        search_experiments,
        set_experiment_tag,
        set_experiment_tags,
    )
    from shipyard.tracking.fluent import (
        ActiveRun,
        active_run,
        end_run,
        flush,
        get_artifact_uri,
        get_tracking_uri,
        last_active_run,
        log_artifact,
        log_artifacts,
        log_dict,
        log_figure,
        log_input,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        log_text,
        search_runs,
        set_experiment,
        set_tag,
        set_tags,
        set_tracking_uri,
        start_run,
    )
