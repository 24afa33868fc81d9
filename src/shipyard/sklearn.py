"""`shipyard.sklearn.log_model(model, "model", input_example=..., training_data=...)`, as in MLflow."""

from __future__ import annotations

from shipyard._flavor_face import flavor_functions

__all__ = ["load_model", "log_model", "save_model"]

log_model, save_model, load_model = flavor_functions("sklearn")
