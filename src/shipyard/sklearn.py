"""`shipyard.sklearn.log_model(model, "model", input_example=..., training_data=...)`, as in MLflow."""

from __future__ import annotations

from typing import Any

from shipyard._flavor_face import flavor_functions

__all__ = ["autolog", "load_model", "log_model", "save_model"]

log_model, save_model, load_model = flavor_functions("sklearn")


def autolog(**kwargs: Any) -> None:
    """Log params, training metrics and the model of every scikit-learn ``fit`` (see
    :func:`shipyard.models._autolog.sklearn_autolog`); ``autolog(disable=True)`` turns it off."""
    from shipyard.models._autolog import sklearn_autolog

    sklearn_autolog(**kwargs)
