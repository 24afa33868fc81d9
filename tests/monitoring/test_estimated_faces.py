"""The estimated metrics where people look: Prometheus gauges, `shipyard monitors estimates`, the UI chart."""

from __future__ import annotations

import json

import numpy as np
import pytest

from shipyard.entities import CheckResult, MonitorResult


def _result(monitor: str, run_time: int, estimated: float, realized: float | None) -> MonitorResult:
    detail = {"low": estimated - 0.02, "high": estimated + 0.02}
    if realized is not None:
        detail.update(realized=realized, error=estimated - realized, within_band=abs(estimated - realized) <= 0.02)
    checks = [CheckResult("estimated_performance.roc_auc", "roc_auc", estimated, 0.75, "min", estimated >= 0.75,
                          detail=detail),
              CheckResult("estimated_performance.assumptions", "misses", 0.0, 2.0, "max", True)]
    return MonitorResult(monitor=monitor, run_time=run_time, model="m", version=1, status="ok", rows=1000,
                         labeled_rows=0 if realized is None else 1000, window_end=run_time, checks=checks)


@pytest.fixture
def stored(shipyard_home):
    import shipyard
    from shipyard import monitoring

    client = shipyard.Client()
    client.create_model_version("m", "/models/m")
    client.create_deployment("m-api", routes=[{"model": "m", "version": 1}])
    monitoring.create_monitor("est", "m-api", window=1000, checks={"estimated_performance": {"roc_auc": 0.75}})
    client.store.log_monitor_results([_result("est", 1_000_000, 0.81, None), _result("est", 2_000_000, 0.78, 0.70)])
    return client


def test_prometheus_shows_the_estimate_its_band_and_its_error(stored):
    from prometheus_client.parser import text_string_to_metric_families

    from shipyard import monitoring

    samples = {(s.name, frozenset(s.labels.items())): s.value
               for family in text_string_to_metric_families(monitoring.render_metrics(stored.store).decode())
               for s in family.samples}
    labels = {"monitor": "est", "deployment": "m-api", "model": "m", "version": "1", "metric": "roc_auc"}
    for bound, value in (("value", 0.78), ("low", 0.76), ("high", 0.80)):
        key = ("shipyard_monitor_estimated_performance", frozenset({**labels, "bound": bound}.items()))
        assert samples[key] == pytest.approx(value)
    assert samples[("shipyard_monitor_estimation_error", frozenset(labels.items()))] == pytest.approx(0.08)


def test_cli_lists_estimated_beside_realized(stored, capsys):
    from shipyard.cli import main

    assert main(["monitors", "estimates", "est", "--output", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["value"], r.get("realized")) for r in rows] == [(0.81, None), (0.78, 0.70)]
    assert main(["monitors", "estimates", "est", "--output", "csv", "--columns", "Estimated,Realized,In band"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].lower().startswith("estimated,realized,in band") and lines[2].startswith("0.78,0.7,False")


def test_the_ui_chart_draws_the_band_and_the_realized_value(stored):
    from shipyard.server.ui._monitors import _charts

    charts = _charts(stored.store.list_monitor_results("est"))
    chart = charts["estimated_performance.roc_auc"]
    lines = {s["label"]: s for s in chart["series"]}
    assert lines["m v1"]["y"] == [0.81, 0.78]
    assert lines["m v1 band low"]["style"] == "band" and np.allclose(lines["m v1 band low"]["y"], [0.79, 0.76])
    assert lines["m v1 realized"]["y"] == [0.70] and lines["m v1 realized"]["x"] == [2000.0]
    assert next(iter(charts)) == "estimated_performance.roc_auc"
