"""A rollout owns the traffic split of its deployment; a canary route an operator set by hand is
never dropped silently: the rollout is refused (naming it) unless told to replace it."""

from __future__ import annotations

import pytest

import shipyard
from shipyard.errors import Conflict


class _Constant(shipyard.pyfunc.PythonModel):
    def predict(self, context, model_input):
        return [0.0] * len(model_input)


def _three_versions() -> shipyard.Client:
    for _ in range(3):
        with shipyard.start_run():
            shipyard.pyfunc.log_model("model", python_model=_Constant(), registered_model_name="m")
    client = shipyard.Client()
    client.create_deployment("api", routes=[{"model": "m", "version": 1, "weight": 90},
                                            {"model": "m", "version": 2, "weight": 10}])
    return client


def _routes(client: shipyard.Client) -> list[tuple[int, float]]:
    return [(r.version, r.weight) for r in client.get_deployment("api").current.routes]


def test_a_rollout_refuses_to_drop_a_manual_canary_and_changes_nothing() -> None:
    from shipyard.automation import start_rollout

    client = _three_versions()
    with pytest.raises(Conflict, match=r"m v2 \(10%\).*--replace-routes"):
        start_rollout(client, "api", "m", 3, {"steps": [10, 100], "dwell": 60})
    assert _routes(client) == [(1, 90.0), (2, 10.0)]
    assert client.store.get_active_rollout("api") is None


def test_replace_routes_drops_the_canary_on_purpose_and_says_so() -> None:
    from shipyard.automation import start_rollout

    client = _three_versions()
    rollout = start_rollout(client, "api", "m", 3, {"steps": [10, 100], "dwell": 60}, replace_routes=True)
    assert rollout.stable_version == 1
    assert _routes(client) == [(1, 90.0), (3, 10.0)]
    started = client.store.list_policy_events(deployment="api", kinds=["rollout_started"], max_results=1)[0]
    assert "replacing the routes to m v2" in started.message
    assert started.data["replaced_routes"][0]["version"] == 2


def test_rolling_out_the_manual_canary_itself_needs_no_flag() -> None:
    from shipyard.automation import start_rollout

    client = _three_versions()
    start_rollout(client, "api", "m", 2, {"steps": [50, 100], "dwell": 60})
    assert _routes(client) == [(1, 50.0), (2, 50.0)]
