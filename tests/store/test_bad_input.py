"""Input that used to break the store, on SQLite and PostgreSQL alike: filters too deep or too large,
NUL characters anywhere, id lists longer than a statement's parameters, and driver errors that are
the input's fault. Each gives a shipyard error that names the problem and changes nothing."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from shipyard.entities import DatasetInput, Feedback, Param, Route, RunTag
from shipyard.errors import FilterSyntaxError, InvalidInput, StoreUnavailable
from shipyard.store.filter import MAX_FILTER_COMPARISONS, MAX_FILTER_DEPTH, MAX_FILTER_VALUES, MAX_ORDER_BY_KEYS
from shipyard.store.sql import SqlStore


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> Iterator[SqlStore]:
    yield request.getfixturevalue(f"{'postgres' if request.param == 'postgresql' else 'sqlite'}_store")


def _experiment_with_run(store: SqlStore) -> tuple[str, str]:
    eid = store.create_experiment("exp")
    run_id = store.create_run(eid, run_name="r").info.run_id
    store.log_batch(run_id, params=[Param("a", "x")])
    return eid, run_id


# ------------------------------------------------------------------ filter limits
def test_filters_up_to_the_limits_run_on_the_database(store: SqlStore) -> None:
    eid, run_id = _experiment_with_run(store)
    store.log_batch(run_id, params=[Param(f"p{i}", "x") for i in range(MAX_FILTER_COMPARISONS)])
    store.create_run(eid, run_name="other")
    deep = "(" * MAX_FILTER_DEPTH + "params.a = 'x'" + ")" * MAX_FILTER_DEPTH
    wide = " OR ".join(["params.a = 'y'"] * (MAX_FILTER_COMPARISONS - 1) + ["params.a = 'x'"])
    joined = " AND ".join(f"params.p{i} = 'x'" for i in range(MAX_FILTER_COMPARISONS))  # past SQLite's 64 joins
    listed = "params.a IN (" + ", ".join(["'y'"] * (MAX_FILTER_VALUES - 1) + ["'x'"]) + ")"
    ordered = [f"params.p{i} DESC" for i in range(MAX_ORDER_BY_KEYS)]
    for flt in (deep, wide, joined, listed):
        assert [r.info.run_id for r in store.search_runs([eid], flt)] == [run_id]
        assert [r.info.run_id for r in store.search_runs([eid], flt, order_by=ordered)] == [run_id]
        assert store.count_runs([eid], flt) == 1


def test_more_order_by_keys_than_the_limit_are_refused(store: SqlStore) -> None:
    eid, _ = _experiment_with_run(store)
    with pytest.raises(FilterSyntaxError, match=f"order_by has 70 keys; the limit is {MAX_ORDER_BY_KEYS}"):
        store.search_runs([eid], order_by=[f"params.p{i}" for i in range(70)])


@pytest.mark.parametrize(("flt", "message"), [
    ("(" * 330 + "params.a = 'x'" + ")" * 330, f"more than {MAX_FILTER_DEPTH} deep"),
    ("(" * (MAX_FILTER_DEPTH + 1) + "params.a = 'x'" + ")" * (MAX_FILTER_DEPTH + 1), f"more than {MAX_FILTER_DEPTH}"),
    (" OR ".join(["params.a = 'x'"] * 20_000), "characters long; the limit is 100,000"),
    (" OR ".join(["params.a = 'x'"] * (MAX_FILTER_COMPARISONS + 1)), f"more than {MAX_FILTER_COMPARISONS} comparisons"),
    ("params.a IN (" + ", ".join(["'x'"] * (MAX_FILTER_VALUES + 1)) + ")", f"more than {MAX_FILTER_VALUES} values"),
])
def test_filters_past_the_limits_are_refused_by_name(store: SqlStore, flt: str, message: str) -> None:
    eid, _ = _experiment_with_run(store)
    with pytest.raises(FilterSyntaxError, match=message) as caught:
        store.search_runs([eid], flt)
    assert len(caught.value.message) < 1000  # the message shows where, not the whole filter
    with pytest.raises(FilterSyntaxError, match=message):
        store.count_runs([eid], flt)


# ------------------------------------------------------------------ NUL characters
def _nul_cases() -> list[Any]:
    """(what the message names, the call) for text that reaches the database by every route."""
    ds = DatasetInput(name="d", digest="abc", source="s3://b/\x00", schema=[{"name": "x", "type": "float"}])
    feedback = [Feedback("api", "r1", 1, 1), Feedback("api", "r2\x00", 1, 1)]
    cases: list[tuple[str, Callable[[SqlStore, str, str], object]]] = [
        ("name", lambda s, e, r: s.create_experiment("a\x00b")),
        ("artifact_location", lambda s, e, r: s.create_experiment("new", artifact_location="/tmp/\x00")),
        ("tags['team']", lambda s, e, r: s.create_experiment("new", tags={"team": "x\x00"})),
        ("new_name", lambda s, e, r: s.rename_experiment(e, "n\x00")),
        ("experiment_id", lambda s, e, r: s.get_experiment("e\x00")),
        ("run_name", lambda s, e, r: s.create_run(e, run_name="r\x00")),
        ("param 'b'", lambda s, e, r: s.log_batch(r, params=[Param("b", "v\x00")])),
        ("tag 't'", lambda s, e, r: s.log_batch(r, tags=[RunTag("t", "v\x00")])),
        ("filter_string", lambda s, e, r: s.search_runs([e], "params.a = 'x\x00'")),
        ("experiment_ids[1]", lambda s, e, r: s.search_runs([e, "e\x00"])),
        ("order_by[0]", lambda s, e, r: s.search_runs([e], order_by=["params.`a\x00`"])),
        ("datasets[0].source", lambda s, e, r: s.log_inputs(r, [ds])),
        ("name", lambda s, e, r: s.create_registered_model("m\x00")),
        ("description", lambda s, e, r: s.create_registered_model("m", description="d\x00")),
        ("source", lambda s, e, r: s.create_model_version("m", "/models/\x00")),
        ("routes[0].model", lambda s, e, r: s.create_deployment("api", [Route(model="m\x00", version=1)])),
        ("feedback[1].request_id", lambda s, e, r: s.log_feedback("api", feedback)),
        ("spec['checks'][0]", lambda s, e, r: s.create_monitor("mon", "api", {"checks": ["x\x00"]})),
        ("params['p']", lambda s, e, r: s.create_pipeline_run("pipe", {"p": "\x00"})),
    ]
    return [pytest.param(what, call, id=f"{i}-{what}") for i, (what, call) in enumerate(cases)]


@pytest.mark.parametrize(("what", "call"), _nul_cases())
def test_a_nul_character_anywhere_is_invalid_input_naming_the_field(
        store: SqlStore, what: str, call: Callable[[SqlStore, str, str], object]) -> None:
    eid, run_id = _experiment_with_run(store)
    before = (store.search_experiments(view_type="all"), store.get_run(run_id), store.search_registered_models())
    with pytest.raises(InvalidInput, match=rf"^{re.escape(what)} contains a NUL character"):
        call(store, eid, run_id)
    after = (store.search_experiments(view_type="all"), store.get_run(run_id), store.search_registered_models())
    assert after == before


def test_a_metric_key_with_nul_is_refused_in_a_batch(store: SqlStore) -> None:
    from shipyard.entities import Metric

    _, run_id = _experiment_with_run(store)
    with pytest.raises(InvalidInput, match="metric key"):
        store.log_batch(run_id, metrics=[Metric("ok", 1.0, 0, 0), Metric("l\x00", 1.0, 0, 0)])
    assert store.get_run(run_id).data.metrics == {}


# ------------------------------------------------------------------ long id lists
def test_a_search_over_100000_experiment_ids_binds_them_as_one_parameter(store: SqlStore) -> None:
    eid, run_id = _experiment_with_run(store)
    other = store.create_experiment("other")
    other_run = store.create_run(other).info.run_id
    ids = [f"{i:032x}" for i in range(100_000)]
    ids[500], ids[99_999] = eid, other
    found = store.search_runs(ids, "params.a = 'x' OR attributes.run_name != 'r'")
    assert sorted(r.info.run_id for r in found) == sorted([run_id, other_run])
    assert store.count_runs(ids) == 2
    # A short list still reads one parameter per id (the planner's equalities), with the same answer.
    assert sorted(r.info.run_id for r in store.search_runs([eid, other])) == sorted([run_id, other_run])


# ------------------------------------------------------------------ driver errors
def test_a_value_the_database_cannot_hold_is_invalid_input(store: SqlStore) -> None:
    _, run_id = _experiment_with_run(store)
    with pytest.raises(InvalidInput, match="out of range"):
        store.update_run_info(run_id, end_time=2**64)
    assert store.get_run(run_id).info.end_time is None


def test_an_unreachable_postgresql_is_store_unavailable(tmp_path: Any) -> None:
    import socket

    with socket.socket() as sock:  # a free port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(StoreUnavailable, match="database"):
        SqlStore(f"postgresql://postgres@127.0.0.1:{port}/none?connect_timeout=2", str(tmp_path))
