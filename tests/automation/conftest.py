"""Automation tests: the rainfall model served in-process, a monitor on it, and retraining functions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def retrain_on_recent_rows(rows: int = 2000, *, bad: bool = False) -> Any:
    """A retraining function: trains on the newest labeled rows of the prediction log, holds out
    the last quarter, registers the model. ``bad=True`` trains on inverted labels (a model worse than any champion)."""

    def retrain(context: dict[str, Any]) -> Any:
        from sklearn.ensemble import HistGradientBoostingClassifier

        import shipyard
        import shipyard.sklearn
        from shipyard.automation import log_holdout
        from shipyard.datasets import RAINFALL_FEATURES
        from shipyard.serving import read_prediction_log

        table = read_prediction_log("rain-api", end=context.get("window_end"), last_rows=rows)
        table = table.filter(table["label"].is_valid())
        X = np.column_stack([table[f"feature.{c}"].to_numpy() for c in RAINFALL_FEATURES])
        y = table["label"].to_numpy().astype(int)
        cut = int(len(y) * 0.75)
        taught = 1 - y[:cut] if bad else y[:cut]  # a bad retraining learns the opposite of the truth
        model = HistGradientBoostingClassifier(max_iter=100, random_state=0).fit(X[:cut], taught)
        columns = {c: X[:cut, i] for i, c in enumerate(RAINFALL_FEATURES)}
        with shipyard.start_run(run_name="retrain"):
            example = {c: X[:2, i].tolist() for i, c in enumerate(RAINFALL_FEATURES)}
            info = shipyard.sklearn.log_model(model, "model", registered_model_name="rain", input_example=example,
                                              training_data=columns)
            log_holdout(X[cut:], y[cut:], columns=list(RAINFALL_FEATURES))
        return info.registered_model_version  # the gate reads the logged held-out rows

    return retrain


def retrain_default(context: dict[str, Any]) -> Any:
    """``retrain_on_recent_rows()`` as a module-level function, for policies written in shipyard.yaml."""
    return retrain_on_recent_rows()(context)
