"""One meaning per check: verdicts, the sentences that report them, and the defaults a monitor starts with."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pytest

from shipyard import monitoring
from shipyard.drift import profile
from shipyard.entities import CheckResult, MonitorResult, Route
from shipyard.monitoring import normalize_spec
from shipyard.monitoring._alerts import update_incidents
from shipyard.monitoring._checks import run_checks
from shipyard.monitoring._messages import describe

NUMBER = r"(-?\d+(?:\.\d+)?(?:e-?\d+)?)"


def _relation_holds(sentence: str) -> None:
    """The relation printed between the value and its bound is the one the numbers satisfy."""
    m = re.search(rf"= {NUMBER} (≥|≤|<|>) (?:minimum|maximum) {NUMBER}", sentence)
    assert m, sentence
    value, rel, bound = float(m.group(1)), m.group(2), float(m.group(3))
    assert {"≥": value >= bound, "≤": value <= bound, "<": value < bound, ">": value > bound}[rel], sentence


def _window(predictions: np.ndarray, **features: np.ndarray) -> pa.Table:
    n = len(predictions)
    cols = {"request_id": [f"r{i}" for i in range(n)], "model": ["m"] * n, "version": [1] * n,
            "prediction": pa.array(predictions), "latency_ms": [1.0] * n, "error": pa.array([None] * n, pa.string())}
    cols.update({f"feature.{k}": pa.array(v) for k, v in features.items()})
    return pa.table(cols)


def test_binary_prediction_share_change_alerts_with_chi_square():
    rng = np.random.default_rng(7)
    reference = profile({"prediction": (rng.random(20_000) < 0.17).astype(np.int64)})
    current = (rng.random(20_000) < 0.27).astype(np.int64)
    table = _window(current, x=rng.normal(size=20_000))
    _, entries, _, _ = run_checks(normalize_spec(window=20_000), table, None, reference)
    (pred,) = [e for e in entries if e.check == "prediction_drift"]
    assert pred.test == "chisquare" and pred.metric == "p_value" and pred.passed is False
    assert pred.value is not None and pred.value < 1e-10 and pred.statistic is not None and pred.statistic > 100
    assert describe(pred).startswith("prediction_drift (chisquare p-value) = ")
    _relation_holds(describe(pred))
    # the same shift under a Jensen-Shannon distance: it says which test, and that it did not alert
    spec = normalize_spec(window=20_000, checks={"prediction_drift": {"test": "jensenshannon"}})
    _, entries, _, _ = run_checks(spec, table, None, reference)
    (js,) = [e for e in entries if e.check == "prediction_drift"]
    assert js.test == "jensenshannon" and js.metric == "jensenshannon" and js.passed is True
    assert describe(js).startswith("prediction_drift (jensenshannon) = ") and "≤ maximum 0.1" in describe(js)


def test_a_value_equal_to_its_bound_passes_and_says_so():
    at_bound = CheckResult("feature_drift", "drift_share", 0.2, 0.2, "max", True, test="ks")
    assert describe(at_bound) == "feature_drift (share of drifted columns; ks) = 0.2 ≤ maximum 0.2"
    x = np.linspace(-1.0, 1.0, 1000)
    x[:100] = 99.0  # exactly 10 % out of the reference's range, the default bound
    reference = profile({"x": np.linspace(-1.0, 1.0, 1000)})
    _, entries, _, _ = run_checks(normalize_spec(window=1000), _window(np.zeros(1000), x=x), reference, None)
    (oor,) = [e for e in entries if e.check == "data_quality.out_of_range_share"]
    assert oor.value == oor.threshold == 0.1 and oor.passed is True
    _relation_holds(describe(oor))


def test_close_numbers_are_printed_apart():
    c = CheckResult("performance.accuracy", "accuracy", 0.889999, 0.89, "min", False)
    assert describe(c) == "performance.accuracy = 0.889999 < minimum 0.89"


def test_a_ks_monitor_alerts_on_a_real_shift_and_says_when_it_cannot_decide():
    rng = np.random.default_rng(3)
    rows = rng.normal(size=5000)
    table = _window(np.zeros(2000), x=rng.normal(1.0, 1.0, 2000))  # a shift KS finds with p ~ 0
    spec = normalize_spec(window=2000, checks={"feature_drift": {"test": "ks", "share": 0.5}})
    # The model's profile keeps a bounded sample of the reference rows: KS runs on it and alerts.
    _, entries, _, _ = run_checks(spec, table, profile({"x": rows}), None)
    (fd,) = [e for e in entries if e.check == "feature_drift"]
    assert fd.passed is False and fd.detail["drifted"] == ["x"] and fd.test == "ks"
    # 150 stored values of 5,000 rows are too few for KS: undecided, said so, never "passed".
    _, entries, _, _ = run_checks(spec, table, profile({"x": rows}, sample_size=150), None)
    (fd,) = [e for e in entries if e.check == "feature_drift"]
    assert fd.passed is None and fd.detail["undecided"] == ["x"]
    assert "undecided" in describe(fd) and "; ks)" in describe(fd)


def test_undecided_template_names_the_test_and_the_reason():
    c = CheckResult("prediction_drift", "p_value", None, 0.05, "min", None, "KS p-value is not valid from a sketch",
                    test="ks")
    assert describe(c) == "prediction_drift (ks p-value) undecided: KS p-value is not valid from a sketch"


def test_old_rows_read_back_typed():
    old = {"check": "prediction_drift", "metric": "p_value", "value": 0.01, "threshold": 0.05, "op": "min",
           "passed": False, "reason": None, "test": "ztest", "statistic": 2.5, "histogram": {"kind": "categorical"}}
    c = CheckResult.from_dict(old)
    assert (c.test, c.statistic, c.passed, c.detail) == ("ztest", 2.5, False, {"histogram": {"kind": "categorical"}})
    assert c.to_dict() == old  # the stored shape is unchanged: no migration
    plain = CheckResult.from_dict({"check": "feature_drift", "metric": "drift_share", "value": 0.0, "threshold": 0.5,
                                   "op": "max", "passed": True, "reason": None, "drifted": []})
    assert plain.test is None and plain.detail == {"drifted": []}


def test_performance_defaults_to_the_versions_validation_numbers():
    labels = np.array([1.0] * 150 + [0.0] * 50)
    table = _window(np.ones(200)).append_column("label", pa.array(labels))
    spec = normalize_spec(window=200)  # no thresholds at all
    _, entries, _, _ = run_checks(spec, table, None, None, baseline={"accuracy": 0.9, "precision": 0.95})
    (acc,) = [e for e in entries if e.check == "performance.accuracy"]
    assert acc.value == 0.75 and acc.op == "min" and acc.threshold == pytest.approx(0.81) and acc.passed is False
    assert acc.detail["baseline"] == 0.9
    # one headline metric is bounded (accuracy before precision): one noisy bound, not one per metric
    assert next(e for e in entries if e.check == "performance.precision").threshold is None
    # 40 labeled rows: the margin is two standard errors of a share, wider than 10 % of 0.9
    small = table.slice(0, 40)
    _, entries, _, _ = run_checks(spec, small, None, None, baseline={"accuracy": 0.9})
    acc = next(e for e in entries if e.check == "performance.accuracy")
    assert acc.threshold == pytest.approx(0.9 - 2 * np.sqrt(0.9 * 0.1 / 40))
    _, entries, _, _ = run_checks(spec, table, None, None, baseline={"accuracy": 0.8})  # 0.75 >= 0.72
    assert next(e for e in entries if e.check == "performance.accuracy").passed is True
    off = normalize_spec(window=200, checks={"performance": {"relative_drop": None}})
    _, entries, _, _ = run_checks(off, table, None, None, baseline={"accuracy": 0.9})
    assert next(e for e in entries if e.check == "performance.accuracy").passed is None


@pytest.fixture
def monitored():
    import shipyard

    client = shipyard.Client()
    store = client.store
    for version in (1, 2):
        client.create_model_version("m", "/x") if version == 1 else client.create_model_version("m", "/y")
    store.create_deployment("api", routes=[Route("m", 1, 50.0), Route("m", 2, 50.0)])
    return store, monitoring.create_monitor("mon", "api", window=100, store=store)


def _result(version: int, *checks: CheckResult, rows: int = 100) -> MonitorResult:
    return MonitorResult("mon", 0, "m", version, "ok", rows, checks=list(checks))


def test_open_resolve_and_gone_messages_agree_with_their_numbers(monitored):
    store, monitor = monitored
    low = CheckResult("performance.accuracy", "accuracy", 0.85, 0.89, "min", False)
    drift = CheckResult("prediction_drift", "jensenshannon", 0.23, 0.1, "max", False, test="jensenshannon")
    events = update_incidents(store, monitor, [_result(1, low), _result(2, drift)], 1)
    opened = {e.alert.check: e.alert.message for e in events}
    assert opened == {"performance.accuracy": "performance.accuracy = 0.85 < minimum 0.89",
                      "prediction_drift": "prediction_drift (jensenshannon) = 0.23 > maximum 0.1"}
    back = CheckResult("performance.accuracy", "accuracy", 0.908, 0.89, "min", True)
    other = CheckResult("feature_drift", "drift_share", 0.6, 0.5, "max", False, test="ks")
    (resolved, opened2) = update_incidents(store, monitor, [_result(1, back, other), _result(2, drift)], 2)
    assert resolved.alert.resolved_message == "resolved: performance.accuracy = 0.908 ≥ minimum 0.89"
    assert opened2.alert.message == "feature_drift (share of drifted columns; ks) = 0.6 > maximum 0.5"
    more = CheckResult("service.error_rate", "error_rate", 0.5, 0.05, "max", False)
    update_incidents(store, monitor, [_result(2, drift, more), _result(1, other)], 3)
    # version 2 stops answering: one notice for the version, naming both incidents it closes
    events = update_incidents(store, monitor, [_result(1, other), _result(2, rows=0)], 4)
    assert len(events) == 1
    (gone,) = events
    message = "m v2 no longer answers requests of api: resolved 2 incident(s): prediction_drift, service.error_rate"
    assert gone.alert.resolved_message == message and "closes" in gone.payload()
    assert {a.check for a in gone.closes} == {"prediction_drift", "service.error_rate"}
    assert all(a.state == "RESOLVED" for a in store.list_alerts("mon", max_results=10) if a.version == 2)


def test_few_class_integer_predictions_get_chi_square_too():
    rng = np.random.default_rng(11)
    reference = profile({"prediction": rng.choice([0, 1, 2], 5000, p=[0.5, 0.3, 0.2])})
    same = _window(rng.choice([0, 1, 2], 3000, p=[0.5, 0.3, 0.2]), x=np.zeros(3000))
    moved = _window(rng.choice([0, 1, 2], 3000, p=[0.4, 0.3, 0.3]), x=np.zeros(3000))
    results = {}
    for name, table in (("same", same), ("moved", moved)):
        _, entries, _, _ = run_checks(normalize_spec(window=3000), table, None, reference)
        results[name] = next(e for e in entries if e.check == "prediction_drift")
    assert results["moved"].test == "chisquare" and results["moved"].passed is False
    assert results["moved"].statistic is not None and results["moved"].statistic > 50
    assert results["same"].test == "chisquare" and results["same"].value is not None and results["same"].value > 0.001


def test_a_significant_but_negligible_change_of_shares_passes_and_says_why():
    rng = np.random.default_rng(5)
    reference = profile({"prediction": (rng.random(200_000) < 0.17).astype(np.int64)})
    table = _window((rng.random(200_000) < 0.18).astype(np.int64), x=np.zeros(200_000))
    _, entries, _, _ = run_checks(normalize_spec(window=200_000), table, None, reference)
    pred = next(e for e in entries if e.check == "prediction_drift")
    assert pred.value is not None and pred.value < 0.05 and pred.detail["effect_size"] < 0.1
    assert pred.passed is True  # p < alpha, but a one-point move of the positive share is not worth an alert
    assert describe(pred).endswith(f"effect size w = {pred.detail['effect_size']:.4g} < floor 0.1: negligible")


def test_validation_numbers_come_from_the_gate_else_the_training_run():
    import shipyard
    from shipyard.entities import Metric, Param
    from shipyard.monitoring._runner import validation_metrics

    client = shipyard.Client()
    with shipyard.start_run() as run:
        shipyard.log_metrics({"val_accuracy": 0.9, "accuracy": 0.99, "mae": 3.0, "loss": 0.1})
    client.create_model_version("m", "/x", run_id=run.info.run_id)
    client.create_model_version("m", "/y")
    store = client.store
    assert validation_metrics(store, "m", 1) == {"accuracy": 0.9, "mae": 3.0}  # val_ first, then the bare name
    assert validation_metrics(store, "m", 2) == {}
    gates = store.create_experiment("shipyard-gates")
    gate = store.create_run(gates, run_name="m v2", tags={"shipyard.gate.model": "m"})
    store.log_batch(gate.info.run_id, metrics=[Metric("candidate.roc_auc", 0.8, 1, 0),
                                               Metric("champion.roc_auc", 0.7, 1, 0)],
                    params=[Param("candidate_version", "2")])
    assert validation_metrics(store, "m", 2) == {"roc_auc": 0.8}
