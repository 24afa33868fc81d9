"""Builds the small per-flavor modules (``shipyard.sklearn``, ``shipyard.xgboost`` ...)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

__all__ = ["flavor_functions"]

_MODEL_ARG = {"sklearn": "sk_model", "xgboost": "xgb_model", "lightgbm": "lgb_model"}


def flavor_functions(flavor: str) -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    """(log_model, save_model, load_model) for one flavor, with MLflow's signatures."""

    def log_model(*args: Any, **kwargs: Any) -> Any:
        # MLflow's spellings: log_model(model, "model"), log_model(model, name="model"),
        # log_model(sk_model=model, artifact_path="model") (xgb_model / lgb_model for the others)
        from shipyard.models._log import log_model as _log

        if len(args) > 2:
            raise TypeError("log_model takes the model and its artifact path positionally; pass the rest by name")
        model = args[0] if args else kwargs.pop(_MODEL_ARG.get(flavor, "model"), kwargs.pop("model", None))
        artifact_path = args[1] if len(args) > 1 else kwargs.pop("artifact_path", None)
        return _log(model, artifact_path, flavor=flavor, **kwargs)

    def save_model(model: Any, path: str | os.PathLike[str], **kwargs: Any) -> Any:
        from shipyard.models import save_model as _save

        return _save(path, model, flavor=flavor, **kwargs)

    def load_model(model_uri: str) -> Any:
        from shipyard.models._log import load_native_model

        return load_native_model(model_uri)

    log_model.__doc__ = f"Log a {flavor} model to the active run (see shipyard.models.log_model)."
    save_model.__doc__ = f"Save a {flavor} model as a verified directory at ``path``."
    load_model.__doc__ = f"Load the native {flavor} object behind a model URI, after verifying its hashes."
    return log_model, save_model, load_model
