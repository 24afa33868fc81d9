"""The public surface is what we mean: sorted __all__ lists whose every name resolves."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = ["shipyard", "shipyard.drift", "shipyard.models", "shipyard.errors", "shipyard.entities",
            "shipyard.store", "shipyard.artifacts", "shipyard.tracking", "shipyard.registry", "shipyard.serving",
            "shipyard.monitoring", "shipyard.pipelines", "shipyard.automation", "shipyard.server"]


def isort_style(name: str) -> tuple[int, str]:
    """ruff's RUF022 order: CONSTANTS, then Classes, then functions."""
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_resolves(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported, key=isort_style)
    for attr in exported:
        assert getattr(module, attr) is not None


def test_fluent_face_matches_mlflow_names() -> None:
    import shipyard

    for name in ["set_experiment", "start_run", "end_run", "active_run", "log_param", "log_params", "log_metric",
                 "log_metrics", "set_tag", "set_tags", "log_artifact", "log_dict", "log_text", "log_input",
                 "search_runs", "register_model", "load_model", "Client"]:
        assert callable(getattr(shipyard, name))
    assert callable(shipyard.sklearn.log_model) and callable(shipyard.pyfunc.load_model)


def test_errors_round_trip_through_codes() -> None:
    from shipyard import errors

    for cls in (errors.NotFound, errors.AlreadyExists, errors.InvalidInput, errors.Conflict,
                errors.IntegrityCheckFailed, errors.FilterSyntaxError):
        rebuilt = errors.error_from_code(cls.error_code, "msg")
        assert type(rebuilt) is cls and rebuilt.message == "msg"
        assert 400 <= cls.http_status < 500
    assert isinstance(errors.InvalidInput("x"), ValueError)
    assert type(errors.error_from_code("SOMETHING_NEW", "m")) is errors.ShipyardError
