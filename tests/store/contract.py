"""The Store contract: one suite, subclassed per backend (SQLite, PostgreSQL, and later REST).

A subclass provides a ``store`` fixture. Each test checks behaviour a user relies on, including
that a refused operation changes nothing.
"""

from __future__ import annotations

import math
import multiprocessing
import time

import pytest

from shipyard.entities import DatasetInput, Metric, Param, Route, RunStatus, RunTag
from shipyard.errors import AlreadyExists, Conflict, FilterSyntaxError, InvalidInput, NotFound
from shipyard.store.base import Store


def _register_versions(uri: str, artifact_root: str, count: int, queue: multiprocessing.Queue) -> None:
    from shipyard.store import open_store

    store = open_store(uri, artifact_root)
    queue.put([store.create_model_version("race", f"/models/{i}").version for i in range(count)])
    store.close()


def _claim_ticks(uri: str, artifact_root: str, owner: str, queue: multiprocessing.Queue) -> None:
    from shipyard.store import open_store

    store = open_store(uri, artifact_root)
    queue.put([tick for tick in range(20) if store.claim_tick("nightly", tick, owner)])
    store.close()


class StoreContract:
    # ------------------------------------------------------------------ helpers
    def run(self, store: Store, name: str = "exp", **kwargs) -> str:
        experiment = store.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment else store.create_experiment(name)
        return store.create_run(experiment_id, **kwargs).info.run_id

    # ------------------------------------------------------------------ experiments
    def test_create_and_get_experiment(self, store: Store) -> None:
        eid = store.create_experiment("churn", tags={"team": "growth"})
        exp = store.get_experiment(eid)
        assert (exp.name, exp.lifecycle_stage, exp.tags) == ("churn", "active", {"team": "growth"})
        assert store.get_experiment_by_name("churn") == exp
        assert exp.artifact_location.endswith(eid)
        assert store.get_experiment_by_name("nope") is None

    def test_duplicate_experiment_name_is_refused_and_changes_nothing(self, store: Store) -> None:
        store.create_experiment("churn")
        with pytest.raises(AlreadyExists, match="churn"):
            store.create_experiment("churn")
        assert [e.name for e in store.search_experiments()] == ["churn"]

    def test_unknown_experiment(self, store: Store) -> None:
        with pytest.raises(NotFound):
            store.get_experiment("0" * 32)
        with pytest.raises(NotFound):
            store.create_run("0" * 32)

    def test_rename_delete_restore_experiment(self, store: Store) -> None:
        a = store.create_experiment("a")
        store.create_experiment("b")
        with pytest.raises(AlreadyExists):
            store.rename_experiment(a, "b")
        store.rename_experiment(a, "a2")
        store.delete_experiment(a)
        assert [e.name for e in store.search_experiments()] == ["b"]
        assert [e.name for e in store.search_experiments("deleted")] == ["a2"]
        with pytest.raises(InvalidInput, match="deleted"):
            store.create_run(a)
        store.restore_experiment(a)
        assert {e.name for e in store.search_experiments("all")} == {"a2", "b"}

    # ------------------------------------------------------------------ runs
    def test_create_and_get_run(self, store: Store) -> None:
        eid = store.create_experiment("exp")
        run = store.create_run(eid, run_name="rf-1", tags={"team": "x"}, start_time=1234, user_id="ann")
        got = store.get_run(run.info.run_id)
        assert got.info.status == "RUNNING" and got.info.run_name == "rf-1"
        assert got.info.start_time == 1234 and got.info.user_id == "ann" and got.data.tags == {"team": "x"}
        assert got.info.artifact_uri.endswith(f"{run.info.run_id}/artifacts")
        assert store.create_run(eid).info.run_name  # a readable default name

    def test_unknown_or_malformed_run_id_is_not_found(self, store: Store) -> None:
        for bad in ("0" * 32, "abc", "'; DROP TABLE runs; --"):
            with pytest.raises(NotFound):
                store.get_run(bad)
            with pytest.raises(NotFound):
                store.log_batch(bad, metrics=[Metric("m", 1.0, 1, 0)])

    def test_log_batch_and_latest_metric(self, store: Store) -> None:
        rid = self.run(store)
        store.log_batch(rid, metrics=[Metric("loss", 0.5, 10, 2), Metric("loss", 0.9, 20, 1), Metric("acc", 0.7, 5, 0)],
                        params=[Param("lr", "0.1")], tags=[RunTag("t", "1")])
        store.log_batch(rid, metrics=[Metric("loss", 0.4, 30, 2)], tags=[RunTag("t", "2")])
        run = store.get_run(rid)
        assert run.data.metrics == {"loss": 0.4, "acc": 0.7}  # largest step, then latest timestamp
        assert run.data.params == {"lr": "0.1"} and run.data.tags == {"t": "2"}
        history = store.get_metric_history(rid, "loss")
        assert [(m.step, m.timestamp, m.value) for m in history] == [(1, 20, 0.9), (2, 10, 0.5), (2, 30, 0.4)]

    def test_nan_and_infinities_are_kept(self, store: Store) -> None:
        rid = self.run(store)
        values = [float("nan"), float("inf"), float("-inf"), 1e308, -0.0]
        store.log_batch(rid, metrics=[Metric("x", v, i, i) for i, v in enumerate(values)])
        got = [m.value for m in store.get_metric_history(rid, "x")]
        assert math.isnan(got[0]) and got[1:] == values[1:]
        store.log_batch(rid, metrics=[Metric("y", float("nan"), 1, 0)])
        assert math.isnan(store.get_run(rid).data.metrics["y"])

    def test_many_new_metric_keys_in_one_batch(self, store: Store) -> None:
        rid = self.run(store)
        store.log_batch(rid, metrics=[Metric(f"k{i}", float(i), 1, 0) for i in range(70)])
        store.log_batch(rid, metrics=[Metric(f"k{i}", -float(i), 2, 1) for i in range(60, 80)])
        expected = {f"k{i}": float(i) for i in range(60)} | {f"k{i}": -float(i) for i in range(60, 80)}
        assert store.get_run(rid).data.metrics == expected
        assert [m.value for m in store.get_metric_history(rid, "k65")] == [65.0, -65.0]

    def test_params_are_write_once_and_a_refused_batch_stores_nothing(self, store: Store) -> None:
        rid = self.run(store)
        store.log_batch(rid, params=[Param("lr", "0.1")])
        store.log_batch(rid, params=[Param("lr", "0.1")])  # same value again: fine
        with pytest.raises(InvalidInput, match="write-once"):
            store.log_batch(rid, metrics=[Metric("m", 1.0, 1, 0)], params=[Param("lr", "0.2")],
                            tags=[RunTag("t", "x")])
        run = store.get_run(rid)
        assert run.data.params == {"lr": "0.1"} and run.data.metrics == {} and run.data.tags == {}

    @pytest.mark.parametrize("key", ["", "../etc/passwd", "/abs", "a" * 251, "bad\nkey", "semi;colon"])
    def test_bad_keys_are_refused(self, store: Store, key: str) -> None:
        rid = self.run(store)
        with pytest.raises(InvalidInput):
            store.log_batch(rid, metrics=[Metric(key, 1.0, 1, 0)])
        with pytest.raises(InvalidInput):
            store.log_batch(rid, params=[Param(key, "v")])
        assert store.get_run(rid).data.metrics == {}

    def test_bad_metric_value_is_refused(self, store: Store) -> None:
        rid = self.run(store)
        with pytest.raises(InvalidInput, match="not a number"):
            store.log_batch(rid, metrics=[Metric("m", "high", 1, 0)])  # type: ignore[arg-type]

    def test_update_run_info(self, store: Store) -> None:
        rid = self.run(store)
        info = store.update_run_info(rid, status="FINISHED", end_time=99, run_name="renamed")
        assert (info.status, info.end_time, info.run_name) == ("FINISHED", 99, "renamed")
        with pytest.raises(InvalidInput, match="status"):
            store.update_run_info(rid, status="DONE")
        assert store.get_run(rid).info.status == "FINISHED"
        assert RunStatus(store.get_run(rid).info.status).is_terminated

    def test_delete_and_restore_run(self, store: Store) -> None:
        rid = self.run(store)
        eid = store.get_run(rid).info.experiment_id
        store.delete_run(rid)
        assert store.search_runs([eid]) == []
        assert [r.info.run_id for r in store.search_runs([eid], view_type="deleted")] == [rid]
        with pytest.raises(InvalidInput, match="deleted"):
            store.log_batch(rid, metrics=[Metric("m", 1.0, 1, 0)])
        store.restore_run(rid)
        assert [r.info.run_id for r in store.search_runs([eid])] == [rid]

    def test_delete_tag(self, store: Store) -> None:
        rid = self.run(store)
        store.log_batch(rid, tags=[RunTag("a", "1"), RunTag("b", "2")])
        store.delete_tag(rid, "a")
        assert store.get_run(rid).data.tags == {"b": "2"}
        with pytest.raises(NotFound):
            store.delete_tag(rid, "a")

    def test_log_inputs_stores_a_dataset_once(self, store: Store) -> None:
        r1, r2 = self.run(store), self.run(store)
        ds = DatasetInput(name="train", digest="abc", context="training", num_rows=10,
                          schema=[{"name": "x", "dtype": "float64"}], profile={"columns": {"x": {"count": 10}}})
        store.log_inputs(r1, [ds])
        store.log_inputs(r1, [ds])
        store.log_inputs(r2, [ds])
        got = store.get_run(r1).inputs.datasets
        assert len(got) == 1 and got[0].profile == {"columns": {"x": {"count": 10}}} and got[0].num_rows == 10
        assert store.get_run(r2).inputs.datasets[0].digest == "abc"

    # ------------------------------------------------------------------ search
    def _population(self, store: Store) -> tuple[str, dict[str, str]]:
        eid = store.create_experiment("search")
        ids = {}
        rows = [("a", 0.95, "rf", "growth", "FINISHED"), ("b", 0.85, "rf", "x", "FINISHED"),
                ("c", 0.99, "lr", "growth", "FAILED"), ("d", None, "rf", "growth", "FINISHED"),
                ("e", 0.91, "RF", "Growth", "RUNNING")]
        for i, (name, acc, model, team, status) in enumerate(rows):
            rid = store.create_run(eid, run_name=name, start_time=1000 + i).info.run_id
            store.log_batch(rid, metrics=[Metric("acc", acc, 1, 0)] if acc is not None else [],
                            params=[Param("model", model)], tags=[RunTag("team", team)])
            store.update_run_info(rid, status=status)
            ids[name] = rid
        return eid, ids

    def names(self, store: Store, eid: str, flt: str | None = None, **kwargs) -> list[str]:
        return [r.info.run_name for r in store.search_runs([eid], flt, **kwargs)]

    def test_search_filters(self, store: Store) -> None:
        eid, _ = self._population(store)
        q = lambda f: sorted(self.names(store, eid, f))  # noqa: E731
        assert q("metrics.acc > 0.9 and params.model = 'rf' and tags.team != 'x' "
                 "and attributes.status = 'FINISHED'") == ["a"]
        assert q("metrics.acc >= 0.85 AND metrics.acc < 0.95") == ["b", "e"]
        assert q("params.model LIKE 'r%'") == ["a", "b", "d"]  # LIKE is case-sensitive
        assert q("params.model ILIKE 'r%'") == ["a", "b", "d", "e"]
        assert q("tags.team IN ('x', 'Growth')") == ["b", "e"]
        assert q("metrics.acc IS NULL") == ["d"]
        assert q("params.model = 'lr' OR (tags.team = 'x' AND metrics.acc > 0.8)") == ["b", "c"]
        assert q("attributes.run_name = 'c'") == ["c"]
        assert q("attributes.start_time > 1002") == ["d", "e"]
        assert q("params.model NOT IN ('rf', 'lr')") == ["e"]

    def test_search_order_and_pages(self, store: Store) -> None:
        eid, _ = self._population(store)
        assert self.names(store, eid, order_by=["metrics.acc DESC"]) == ["c", "a", "e", "b", "d"]
        assert self.names(store, eid, order_by=["metrics.acc ASC"]) == ["b", "e", "a", "c", "d"]
        assert self.names(store, eid) == ["e", "d", "c", "b", "a"]  # newest first
        assert self.names(store, eid, order_by=["params.model", "attributes.run_name DESC"]) == \
            ["e", "c", "d", "b", "a"]
        seen, token = [], None
        while True:
            page = store.search_runs([eid], max_results=2, page_token=token, order_by=["run_name"])
            seen += [r.info.run_name for r in page]
            token = page.token
            if token is None:
                break
        assert seen == ["a", "b", "c", "d", "e"]

    def test_search_returns_full_runs(self, store: Store) -> None:
        eid, ids = self._population(store)
        (run,) = store.search_runs([eid], "attributes.run_name = 'a'")
        assert run.data.metrics == {"acc": 0.95} and run.data.params == {"model": "rf"}
        assert run.info.run_id == ids["a"]

    def test_search_pages_through_runs_without_the_order_key(self, store: Store) -> None:
        eid, _ = self._population(store)
        pages, token = [], None
        while True:  # "d" has no acc: the last page holds only runs without the key
            page = store.search_runs([eid], order_by=["metrics.acc DESC"], max_results=2, page_token=token)
            pages.append([r.info.run_name for r in page])
            if (token := page.token) is None:
                break
        assert pages == [["c", "a"], ["e", "b"], ["d"]]

    def test_search_several_experiments_and_views(self, store: Store) -> None:
        eid, ids = self._population(store)
        other = store.create_experiment("other")
        store.create_run(other, run_name="z", start_time=999)
        store.delete_run(ids["b"])
        assert sorted(r.info.run_name for r in store.search_runs([eid, other])) == ["a", "c", "d", "e", "z"]
        assert [r.info.run_name for r in store.search_runs([eid, other], view_type="deleted")] == ["b"]
        assert len(store.search_runs([eid, other], "params.model IN ('rf', 'RF')", view_type="all")) == 4
        assert list(store.search_runs([])) == []

    def test_search_reads_inputs_and_tags_of_a_whole_page(self, store: Store) -> None:
        eid = store.create_experiment("page")
        ds = DatasetInput(name="d", digest="abc", source="s", num_rows=3, schema=[{"name": "x"}], profile={"p": 1})
        for i in range(300):
            rid = store.create_run(eid, run_name=f"r{i:03d}", start_time=i, tags={"i": str(i)}).info.run_id
            store.log_batch(rid, metrics=[Metric("m", float(i), 1, 0)], params=[Param("p", str(i))])
            if i % 100 == 0:
                store.log_inputs(rid, [ds])
        runs = store.search_runs([eid], order_by=["metrics.m ASC"], max_results=300)
        assert [r.info.run_name for r in runs] == [f"r{i:03d}" for i in range(300)]
        assert all(r.data.metrics == {"m": float(i)} and r.data.params == {"p": str(i)} and r.data.tags == {"i": str(i)}
                   for i, r in enumerate(runs))
        with_inputs = [r for r in runs if r.inputs.datasets]
        assert [r.info.run_name for r in with_inputs] == ["r000", "r100", "r200"]
        assert with_inputs[0].inputs.datasets[0].profile is None  # a search leaves profiles out

    @pytest.mark.parametrize(("flt", "where"), [
        ("metrics.acc >", "end of input"),
        ("metric.acc > 'high'", "without quotes"),
        ("params.model = rf", "a quoted string"),
        ("foo.bar = 1", "metrics.<key>"),
        ("metrics.acc > 1 and", "end of input"),
        ("(metrics.acc > 1", "')'"),
        ("attributes.colour = 'red'", "unknown attribute"),
        ("metrics.acc ~ 1", "unexpected character"),
    ])
    def test_malformed_filter_names_position(self, store: Store, flt: str, where: str) -> None:
        eid, _ = self._population(store)
        with pytest.raises(FilterSyntaxError, match="position") as info:
            store.search_runs([eid], flt)
        assert where in str(info.value)

    def test_filter_values_are_bound_not_pasted(self, store: Store) -> None:
        eid, _ = self._population(store)
        assert self.names(store, eid, "params.model = 'rf'' OR ''1''=''1'") == []
        assert self.names(store, eid, "tags.team = 'x\"; DROP TABLE runs; --'") == []
        assert len(self.names(store, eid)) == 5

    def test_bad_page_token_and_limits(self, store: Store) -> None:
        eid, _ = self._population(store)
        with pytest.raises(InvalidInput, match="page token"):
            store.search_runs([eid], page_token="not-a-token")
        with pytest.raises(InvalidInput, match="max_results"):
            store.search_runs([eid], max_results=0)
        with pytest.raises(FilterSyntaxError):
            store.search_runs([eid], order_by=["metrics.acc SIDEWAYS"])

    # ------------------------------------------------------------------ registry
    def test_versions_count_up_per_model(self, store: Store) -> None:
        rid = self.run(store)
        assert [store.create_model_version("churn", f"runs:/{rid}/m", rid).version for _ in range(3)] == [1, 2, 3]
        assert store.create_model_version("other", "/x").version == 1
        model = store.get_registered_model("churn")
        assert model.latest_versions[0].version == 3
        assert [v.version for v in store.search_model_versions(name="churn")] == [3, 2, 1]
        assert len(store.search_model_versions(run_id=rid)) == 3
        assert [m.name for m in store.search_registered_models(name_like="ch%")] == ["churn"]

    def test_registered_model_crud(self, store: Store) -> None:
        store.create_registered_model("churn", tags={"owner": "ann"}, description="d")
        with pytest.raises(AlreadyExists):
            store.create_registered_model("churn")
        store.update_registered_model("churn", "new")
        store.set_registered_model_tag("churn", "k", "v")
        store.delete_registered_model_tag("churn", "owner")
        model = store.get_registered_model("churn")
        assert (model.description, model.tags) == ("new", {"k": "v"})
        with pytest.raises(NotFound):
            store.get_registered_model("nope")
        with pytest.raises(InvalidInput):
            store.create_registered_model("bad/name")

    def test_rename_moves_versions_tags_and_aliases_unless_deployed(self, store: Store) -> None:
        for _ in range(2):
            store.create_model_version("churn", "/m", tags={"k": "v"})
        store.set_registered_model_tag("churn", "owner", "ann")
        store.set_registered_model_alias("churn", "champion", 2)
        renamed = store.rename_registered_model("churn", "churn-v2")
        assert (renamed.name, renamed.tags, renamed.aliases) == ("churn-v2", {"owner": "ann"}, {"champion": 2})
        assert [(v.version, v.tags) for v in store.search_model_versions(name="churn-v2")] == [(2, {"k": "v"}),
                                                                                              (1, {"k": "v"})]
        assert [e.version for e in store.get_alias_history("churn-v2")] == [2]
        with pytest.raises(NotFound):
            store.get_registered_model("churn")
        store.create_model_version("other", "/o")
        with pytest.raises(AlreadyExists):
            store.rename_registered_model("churn-v2", "other")
        store.create_deployment("api", [Route("churn-v2", 1, 100)])
        with pytest.raises(Conflict, match="api"):
            store.rename_registered_model("churn-v2", "churn-v3")
        assert store.get_model_version_by_alias("churn-v2", "champion").version == 2

    def test_version_tags_and_description(self, store: Store) -> None:
        store.create_model_version("churn", "/a")
        store.set_model_version_tag("churn", 1, "validated", "yes")
        store.update_model_version("churn", 1, description="first")
        mv = store.get_model_version("churn", 1)
        assert (mv.tags, mv.description) == ({"validated": "yes"}, "first")
        store.delete_model_version_tag("churn", 1, "validated")
        assert store.get_model_version("churn", 1).tags == {}
        with pytest.raises(NotFound):
            store.get_model_version("churn", 7)
        with pytest.raises(InvalidInput):
            store.get_model_version("churn", "one")  # type: ignore[arg-type]

    def test_aliases_move_and_keep_history(self, store: Store) -> None:
        for _ in range(2):
            store.create_model_version("churn", "/m")
        store.set_registered_model_alias("churn", "champion", 1, reason="first")
        store.set_registered_model_alias("churn", "champion", 2, reason="better")
        store.set_registered_model_alias("churn", "previous", 1)
        assert store.get_model_version_by_alias("churn", "champion").version == 2
        assert store.get_registered_model("churn").aliases == {"champion": 2, "previous": 1}
        assert store.get_model_version("churn", 1).aliases == ["previous"]
        store.delete_registered_model_alias("churn", "previous")
        history = [(e.alias, e.previous_version, e.version, e.reason) for e in store.get_alias_history("churn")]
        assert history == [("champion", None, 1, "first"), ("champion", 1, 2, "better"),
                           ("previous", None, 1, ""), ("previous", 1, None, "")]
        with pytest.raises(NotFound):
            store.get_model_version_by_alias("churn", "previous")

    def test_alias_to_missing_version_or_bad_alias_changes_nothing(self, store: Store) -> None:
        store.create_model_version("churn", "/m")
        with pytest.raises(NotFound, match="version 5"):
            store.set_registered_model_alias("churn", "champion", 5)
        with pytest.raises(NotFound):
            store.set_registered_model_alias("nope", "champion", 1)
        for bad in ("latest", "3", "with space", ""):
            with pytest.raises(InvalidInput):
                store.set_registered_model_alias("churn", bad, 1)
        assert store.get_registered_model("churn").aliases == {}
        assert store.get_alias_history("churn") == []

    def test_aliased_versions_cannot_be_deleted_or_archived(self, store: Store) -> None:
        store.create_model_version("churn", "/m")
        store.create_model_version("churn", "/m")
        store.set_registered_model_alias("churn", "champion", 1)
        with pytest.raises(Conflict, match="champion"):
            store.delete_model_version("churn", 1)
        with pytest.raises(Conflict, match="champion"):
            store.update_model_version("churn", 1, archived=True)
        with pytest.raises(Conflict):
            store.delete_registered_model("churn")
        assert store.get_model_version("churn", 1).archived is False
        store.update_model_version("churn", 2, archived=True)
        with pytest.raises(Conflict, match="archived"):
            store.set_registered_model_alias("churn", "challenger", 2)
        store.delete_registered_model_alias("churn", "champion")
        store.delete_model_version("churn", 1)
        assert [v.version for v in store.search_model_versions(name="churn")] == [2]
        assert store.create_model_version("churn", "/m").version == 3  # numbers are never reused
        store.delete_registered_model("churn")
        with pytest.raises(NotFound):
            store.get_registered_model("churn")

    def test_concurrent_registration_gives_distinct_versions(self, store: Store) -> None:
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        procs = [ctx.Process(target=_register_versions, args=(store.uri, store.artifact_root, 10, queue))
                 for _ in range(4)]
        for p in procs:
            p.start()
        results = [queue.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(timeout=60)
            assert p.exitcode == 0
        versions = sorted(v for chunk in results for v in chunk)
        assert versions == list(range(1, 41))
        assert all(chunk == sorted(chunk) for chunk in results)

    def test_timestamps_are_milliseconds(self, store: Store) -> None:
        before = int(time.time() * 1000)
        eid = store.create_experiment("t")
        after = int(time.time() * 1000)
        assert before <= store.get_experiment(eid).creation_time <= after

    def test_end_run_writes_the_last_batch_and_the_end_together(self, store: Store) -> None:
        rid = self.run(store)
        info = store.end_run(rid, "FINISHED", 5000, metrics=[Metric("m", 1.0, 1, 0)], params=[Param("p", "1")])
        assert (info.status, info.end_time) == ("FINISHED", 5000)
        run = store.get_run(rid)
        assert run.data.metrics == {"m": 1.0} and run.data.params == {"p": "1"}
        with pytest.raises(InvalidInput, match="write-once"):
            store.end_run(rid, "FAILED", 6000, params=[Param("p", "2")])
        assert store.get_run(rid).info.status == "FINISHED"  # refused as a whole
        with pytest.raises(NotFound):
            store.end_run("0" * 32, "FINISHED", 1)
        with pytest.raises(InvalidInput, match="status"):
            store.end_run(rid, "DONE", 1)

    # ------------------------------------------------------------------ resent batches, run leases
    def test_a_resent_batch_is_stored_once(self, store: Store) -> None:
        rid = self.run(store)
        batch = ([Metric("loss", 0.5, 1000, 1), Metric("loss", 0.25, 1001, 2)], [Param("lr", "0.1")],
                 [RunTag("phase", "a")])
        store.log_batch(rid, *batch, batch_id="b-1")
        store.log_batch(rid, *batch, batch_id="b-1")
        assert [m.step for m in store.get_metric_history(rid, "loss")] == [1, 2]
        store.log_batch(rid, [Metric("loss", 0.1, 1002, 3)], batch_id="b-2")
        store.end_run(rid, "FINISHED", 5000, [Metric("loss", 0.05, 1003, 4)], batch_id="b-end")
        info = store.end_run(rid, "FINISHED", 5000, [Metric("loss", 0.05, 1003, 4)], batch_id="b-end")
        assert (info.status, info.end_time) == ("FINISHED", 5000)
        assert [m.step for m in store.get_metric_history(rid, "loss")] == [1, 2, 3, 4]
        other = self.run(store)
        store.log_batch(other, [Metric("loss", 1.0, 1, 1)])  # without an id: written every time
        store.log_batch(other, [Metric("loss", 1.0, 1, 1)])
        assert len(store.get_metric_history(other, "loss")) == 2
        for bad in ("", "x" * 65, "a b", "../x", "é"):
            with pytest.raises(InvalidInput, match="batch_id"):
                store.log_batch(other, [Metric("loss", 2.0, 2, 2)], batch_id=bad)
        assert len(store.get_metric_history(other, "loss")) == 2

    def test_a_run_lease_is_renewed_released_and_checked(self, store: Store) -> None:
        rid = self.run(store, lease_s=60)
        assert store.renew_run_lease(rid, 60) is True
        store.end_run(rid, "FINISHED", 5000)
        assert store.renew_run_lease(rid, 60) is False  # ended: nothing to hold
        assert store.get_run(rid).info.status == "FINISHED"
        with pytest.raises(NotFound):
            store.renew_run_lease("0" * 32, 60)
        for bad in (0, 0.5, -1, 10**9, float("nan")):
            with pytest.raises(InvalidInput, match="lease_s"):
                store.renew_run_lease(rid, bad)
        with pytest.raises(InvalidInput, match="lease_s"):
            self.run(store, lease_s=0)

    def test_a_run_whose_lease_runs_out_is_failed_and_a_late_heartbeat_revives_it(self, store: Store) -> None:
        abandoned = self.run(store, lease_s=1)
        kept = self.run(store, lease_s=60)
        unleased = self.run(store)
        time.sleep(1.3)
        runs = {r.info.run_id: r for r in store.search_runs([store.get_run(kept).info.experiment_id])}
        assert runs[abandoned].info.status == "FAILED" and runs[abandoned].info.end_time is not None
        assert "no heartbeat" in runs[abandoned].data.tags["shipyard.lease.expired"]
        assert runs[kept].info.status == "RUNNING" and runs[unleased].info.status == "RUNNING"
        assert store.renew_run_lease(abandoned, 60) is True  # its process was only cut off
        back = store.get_run(abandoned)
        assert back.info.status == "RUNNING" and back.info.end_time is None
        assert "shipyard.lease.expired" not in back.data.tags

    # ------------------------------------------------------------------ deployments
    def _versions(self, store: Store, n: int = 3) -> None:
        for _ in range(n):
            store.create_model_version("churn", "/m")

    def test_deployment_revisions_update_and_rollback(self, store: Store) -> None:
        from shipyard.entities import Route

        self._versions(store)
        dep = store.create_deployment("churn-api", [Route("churn", 1, 100)], created_by="ann", reason="launch")
        assert dep.revision == 1 and dep.current.routes == [Route("churn", 1, 100.0)]
        canary = [Route("churn", 1, 90), Route("churn", 2, 10, alias="challenger")]
        dep = store.update_deployment("churn-api", routes=canary, batching={"max_batch_size": 32}, reason="canary")
        assert dep.revision == 2 and dep.current.routes[1].alias == "challenger"
        dep = store.update_deployment("churn-api", shadow=[Route("churn", 3, 100)])
        assert dep.revision == 3 and dep.current.routes == canary and dep.current.batching == {"max_batch_size": 32}
        dep = store.rollback_deployment("churn-api", created_by="bob")
        assert dep.revision == 4 and dep.current.rollback_of == 2 and dep.current.shadow == []
        assert dep.current.routes == canary and dep.current.created_by == "bob"
        history = store.list_deployment_revisions("churn-api")
        assert [r.revision for r in history] == [4, 3, 2, 1] and history[-1].reason == "launch"
        assert [d.name for d in store.list_deployments()] == ["churn-api"]

    def test_rollback_never_restores_a_canary_that_a_rollout_rolled_back(self, store: Store) -> None:
        from shipyard.entities import Rollout, Route

        self._versions(store, 2)
        store.create_deployment("d", [Route("churn", 1, 100)])
        rollout = store.create_rollout(Rollout("", "d", "churn", 2, 1, [25, 100], 0, {}))
        store.update_deployment("d", routes=[Route("churn", 1, 75), Route("churn", 2, 25)], reason="canary 25%")
        store.update_rollout(rollout.rollout_id, 0, state="ROLLED_BACK", reason="error rate 1.0 > 0.05")
        store.update_deployment("d", routes=[Route("churn", 1, 100)], reason="rolled back")
        with pytest.raises(Conflict, match=r"restore revision 2, which sends 25% of its traffic to churn v2.*"
                                           r"error rate 1\.0 > 0\.05.*force"):
            store.rollback_deployment("d", created_by="ops")
        assert store.get_deployment("d").revision == 3  # nothing written
        forced = store.rollback_deployment("d", created_by="ops", force=True)
        assert forced.revision == 4 and forced.current.rollback_of == 2
        assert forced.current.routes == [Route("churn", 1, 75.0), Route("churn", 2, 25.0)]
        # a split written by hand after the rollout is not the rolled-back canary: no guard
        store.update_deployment("d", routes=[Route("churn", 1, 50), Route("churn", 2, 50)], reason="by hand")
        store.update_deployment("d", routes=[Route("churn", 1, 100)])
        assert store.rollback_deployment("d").current.rollback_of == 5

    def test_bad_deployments_are_refused_and_change_nothing(self, store: Store) -> None:
        from shipyard.entities import Route

        self._versions(store, 1)
        with pytest.raises(NotFound, match="version 9"):
            store.create_deployment("d", [Route("churn", 9, 100)])
        with pytest.raises(InvalidInput, match="add up to 0"):
            store.create_deployment("d", [Route("churn", 1, 0)])
        with pytest.raises(InvalidInput, match=">= 0"):
            store.create_deployment("d", [Route("churn", 1, -5)])
        with pytest.raises(InvalidInput, match="max_batch_size"):
            store.create_deployment("d", [Route("churn", 1, 100)], batching={"max_batch_size": 0})
        with pytest.raises(InvalidInput):
            store.create_deployment("d/../x", [Route("churn", 1, 100)])
        assert store.list_deployments() == []
        store.create_deployment("d", [Route("churn", 1, 100)])
        with pytest.raises(AlreadyExists):
            store.create_deployment("d", [Route("churn", 1, 100)])
        with pytest.raises(Conflict, match="first revision"):
            store.rollback_deployment("d")
        with pytest.raises(NotFound):
            store.update_deployment("d", routes=[Route("churn", 2, 100)])
        with pytest.raises(NotFound):
            store.get_deployment("nope")
        assert store.get_deployment("d").revision == 1

    def test_feedback_by_request_id(self, store: Store) -> None:
        from shipyard.entities import Feedback, Route

        self._versions(store, 1)
        store.create_deployment("d", [Route("churn", 1, 100)])
        assert store.log_feedback("d", [Feedback("d", "r1", 1, 100), Feedback("d", "r2", {"y": 0.5}, 200)]) == 2
        store.log_feedback("d", [Feedback("d", "r1", 0, 300)])  # a correction replaces the label
        got = {f.request_id: (f.label, f.timestamp) for f in store.get_feedback("d")}
        assert got == {"r1": (0, 300), "r2": ({"y": 0.5}, 200)}
        assert [f.request_id for f in store.get_feedback("d", request_ids=["r2", "zz"])] == ["r2"]
        assert [f.request_id for f in store.get_feedback("d", start=250)] == ["r1"]
        with pytest.raises(NotFound):
            store.log_feedback("nope", [Feedback("nope", "r1", 1, 1)])
        with pytest.raises(InvalidInput):
            store.log_feedback("d", [Feedback("d", "", 1, 1)])

    # ------------------------------------------------------------------ pipelines
    def test_pipeline_run_records_task_runs_in_batches(self, store: Store) -> None:
        from shipyard.entities import TaskRun

        run = store.create_pipeline_run("etl", {"day": "2026-01-01"}, logical_date=1_767_225_600_000)
        first = [TaskRun(run.run_id, "extract", "extract", "RUNNING", attempts=1, start_time=1)]
        store.write_task_runs(run.run_id, first)
        done = [TaskRun(run.run_id, "extract", "extract", "SUCCEEDED", 2, 1, 5, logs="hi\n"),
                TaskRun(run.run_id, "train", "train", "FAILED", 1, 6, 9, error="ValueError: x", error_kind="user",
                        traceback="Traceback ...")]
        store.finish_pipeline_run(run.run_id, "FAILED", done, error="1 task failed")
        got = store.get_pipeline_run(run.run_id)
        assert (got.state, got.params, got.logical_date, got.error) == ("FAILED", {"day": "2026-01-01"},
                                                                         1_767_225_600_000, "1 task failed")
        assert [(t.key, t.state, t.attempts) for t in got.task_runs] == [("extract", "SUCCEEDED", 2),
                                                                        ("train", "FAILED", 1)]
        assert got.task("extract").logs == "hi\n" and got.task("train").error_kind == "user"
        with pytest.raises(Conflict):
            store.finish_pipeline_run(run.run_id, "SUCCEEDED")
        assert [r.run_id for r in store.list_pipeline_runs("etl", states=["FAILED"])] == [run.run_id]
        assert store.list_pipeline_runs("other") == []

    def test_bad_pipeline_records_are_refused(self, store: Store) -> None:
        from shipyard.entities import TaskRun

        with pytest.raises(InvalidInput, match="JSON"):
            store.create_pipeline_run("etl", {"x": object()})
        with pytest.raises(NotFound):
            store.get_pipeline_run("0" * 32)
        run = store.create_pipeline_run("etl", {})
        with pytest.raises(InvalidInput, match="state"):
            store.write_task_runs(run.run_id, [TaskRun(run.run_id, "a", "a", "DONE")])
        assert store.get_pipeline_run(run.run_id).task_runs == []

    def test_cancel_and_claim_queued_runs(self, store: Store) -> None:
        queued = [store.create_pipeline_run("etl", {"i": i}, trigger="submit", state="PENDING") for i in range(3)]
        assert store.request_cancel(queued[0].run_id).state == "CANCELLED"
        claimed = store.claim_pending_run(["etl"])
        assert claimed is not None and claimed.run_id == queued[1].run_id and claimed.state == "RUNNING"
        assert store.claim_pending_run(["other"]) is None
        assert store.request_cancel(claimed.run_id).cancel_requested
        with pytest.raises(Conflict):
            store.request_cancel(queued[0].run_id)

    def test_cache_lookup_finds_the_newest_success_with_output(self, store: Store) -> None:
        from shipyard.entities import TaskRun

        run = store.create_pipeline_run("etl", {})
        store.finish_pipeline_run(run.run_id, "SUCCEEDED", [
            TaskRun(run.run_id, "a", "extract", "SUCCEEDED", 1, 1, 10, cache_key="k" * 64, output_uri="u1"),
            TaskRun(run.run_id, "b", "extract", "FAILED", 1, 1, 20, cache_key="k" * 64, output_uri="u2")])
        hit = store.find_cached_task_run("extract", "k" * 64)
        assert hit is not None and hit.output_uri == "u1"
        assert store.find_cached_task_run("extract", "k" * 64, since=11) is None
        assert store.find_cached_task_run("other", "k" * 64) is None

    def test_a_tick_is_claimed_once_across_processes(self, store: Store) -> None:
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        procs = [ctx.Process(target=_claim_ticks, args=(store.uri, store.artifact_root, f"p{i}", queue))
                 for i in range(2)]
        for p in procs:
            p.start()
        won = [queue.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(30)
        assert sorted(won[0] + won[1]) == list(range(20)), won  # each tick won by exactly one process
        assert store.last_tick("nightly") == 19
        assert store.claim_tick("nightly", 5, "late") is False

    def test_a_pipeline_run_whose_lease_runs_out_is_failed_once(self, store: Store) -> None:
        from shipyard.entities import TaskRun

        orphan = store.create_pipeline_run("leased", {})
        alive = store.create_pipeline_run("leased", {})
        queued = store.create_pipeline_run("leased", {}, state="PENDING")
        store.write_task_runs(orphan.run_id, [TaskRun(orphan.run_id, "train", "train", state="RUNNING")])
        assert store.expire_pipeline_runs() == []  # a new run is held for its first minute
        assert store.renew_pipeline_lease(orphan.run_id, 1) and store.renew_pipeline_lease(alive.run_id, 60)
        with pytest.raises(InvalidInput):
            store.renew_pipeline_lease(alive.run_id, 0)
        with pytest.raises(NotFound):
            store.renew_pipeline_lease("0" * 32, 10)
        time.sleep(1.2)
        assert store.expire_pipeline_runs() == [orphan.run_id]
        assert store.expire_pipeline_runs() == []  # once
        failed = store.get_pipeline_run(orphan.run_id)
        assert failed.state == "FAILED" and "lease" in (failed.error or "") and failed.end_time
        assert [(t.key, t.state) for t in failed.task_runs] == [("train", "FAILED")]
        assert store.renew_pipeline_lease(orphan.run_id, 10) is False  # its driver, if alive, learns it
        assert store.get_pipeline_run(alive.run_id).state == "RUNNING"
        assert store.get_pipeline_run(queued.run_id).state == "PENDING"

    def test_old_ticks_are_pruned_but_each_schedules_latest_stays(self, store: Store) -> None:
        for tick in (1_000, 2_000, 3_000, 9_000):
            assert store.claim_tick("monitor.often", tick, "a")
        assert store.claim_tick("policy.rare", 500, "a")  # its only tick, older than the cutoff
        assert store.prune_ticks(5_000) == 3  # often's 1,000-3,000; rare's latest stays
        assert (store.last_tick("monitor.often"), store.last_tick("policy.rare")) == (9_000, 500)
        assert store.claim_tick("policy.rare", 500, "b") is False  # still claimed: it cannot fire twice
        assert store.claim_tick("monitor.often", 9_000, "b") is False
        assert store.claim_tick("monitor.often", 10_000, "b")
        assert store.prune_ticks(20_000) == 1  # 9,000 now; 10,000 is the latest
        assert store.last_tick("monitor.often") == 10_000
        assert store.prune_ticks(20_000) == 0

    def test_task_runs_keep_their_upstream_edges(self, store: Store) -> None:
        from shipyard.entities import TaskRun

        run = store.create_pipeline_run("etl", {})
        store.write_task_runs(run.run_id, [TaskRun(run.run_id, "extract", "extract", "SUCCEEDED", 1, 1, 2),
                                           TaskRun(run.run_id, "train[0]", "train", upstream=["extract"])])
        store.finish_pipeline_run(run.run_id, "SUCCEEDED", [
            TaskRun(run.run_id, "report", "report", "SUCCEEDED", 1, 5, 6, upstream=["extract", "train[0]"])])
        got = {t.key: t.upstream for t in store.get_pipeline_run(run.run_id).task_runs}
        assert got == {"extract": [], "train[0]": ["extract"], "report": ["extract", "train[0]"]}

    def test_scheduled_pipelines_are_announced_and_replaced_by_name(self, store: Store) -> None:
        from shipyard.entities import PipelineInfo

        assert store.list_pipelines() == []
        store.announce_pipelines([PipelineInfo("nightly", "@daily", "Europe/Berlin", ["day"], 1, "Train.", "host:1"),
                                  PipelineInfo("hourly", "every 1h", parameters=[], owner="host:1")])
        before = time.time() * 1000
        store.announce_pipelines([PipelineInfo("nightly", "0 6 * * *", "UTC", ["day", "n"], 2, "", "host:2")])
        found = {p.name: p for p in store.list_pipelines()}
        assert sorted(found) == ["hourly", "nightly"]
        nightly = found["nightly"]
        assert (nightly.schedule, nightly.timezone, nightly.parameters, nightly.max_active_runs, nightly.owner) == (
            "0 6 * * *", "UTC", ["day", "n"], 2, "host:2")
        assert nightly.seen_time >= before - 1000 and found["hourly"].schedule == "every 1h"
        with pytest.raises(InvalidInput):
            store.announce_pipelines([PipelineInfo("bad/name", "@daily")])
        with pytest.raises(InvalidInput):
            store.announce_pipelines([PipelineInfo("empty", "")])
        assert sorted(p.name for p in store.list_pipelines()) == ["hourly", "nightly"]

    # ------------------------------------------------------------------ monitoring
    def _monitored(self, store: Store) -> None:
        from shipyard.entities import Route

        self._versions(store, 1)
        store.create_deployment("d", [Route("churn", 1, 100)])
        store.create_monitor("m", "d", {"window": {"rows": 1000}, "checks": {}}, description="rain")

    def test_monitor_crud(self, store: Store) -> None:
        self._monitored(store)
        assert store.get_monitor("m").spec == {"window": {"rows": 1000}, "checks": {}}
        with pytest.raises(AlreadyExists):
            store.create_monitor("m", "d", {})
        with pytest.raises(NotFound, match="deployment"):
            store.create_monitor("m2", "nope", {})
        with pytest.raises(InvalidInput):
            store.create_monitor("../m", "d", {})
        with pytest.raises(InvalidInput, match="JSON"):
            store.create_monitor("m3", "d", {"bad": object()})
        updated = store.update_monitor("m", spec={"window": {"seconds": 60}})
        assert updated.spec == {"window": {"seconds": 60}} and updated.description == "rain"
        assert [m.name for m in store.list_monitors()] == ["m"] and store.list_monitors("other") == []
        store.delete_monitor("m")
        with pytest.raises(NotFound):
            store.get_monitor("m")

    def test_monitor_results_are_a_time_series_per_version(self, store: Store) -> None:
        from shipyard.entities import CheckResult, MonitorResult

        self._monitored(store)
        stored = store.log_monitor_results([
            MonitorResult("m", run_time=t, model="churn", version=1 + t % 2, status="ok", rows=10,
                          checks=[CheckResult("performance.accuracy", "accuracy", float("nan"), test="t",
                                              detail={"column": "x"})])
            for t in range(10)])
        assert all(r.result_id for r in stored)
        series = store.list_monitor_results("m", version=1)
        assert [r.run_time for r in series] == [0, 2, 4, 6, 8]  # oldest first
        check = series[0].check("performance.accuracy")
        assert check is not None and check.value is None  # NaN is stored as null
        assert (check.metric, check.test, check.detail) == ("accuracy", "t", {"column": "x"})
        assert [r.run_time for r in store.list_monitor_results("m", max_results=3)] == [7, 8, 9]  # the newest
        assert [r.run_time for r in store.list_monitor_results("m", since=3, until=5)] == [3, 4]
        with pytest.raises(InvalidInput):
            store.log_monitor_results([MonitorResult("m", run_time=1, model="churn", version=1, status="bad")])
        with pytest.raises(NotFound):
            store.log_monitor_results([MonitorResult("nope", run_time=1, model="churn", version=1, status="ok")])
        assert len(store.list_monitor_results("m")) == 10

    def test_one_open_alert_per_incident(self, store: Store) -> None:
        from shipyard.entities import Alert

        self._monitored(store)
        first, created = store.open_alert(Alert("", "m", "performance.accuracy", "churn", 1, "OPEN", 100,
                                                value=0.6, threshold=0.75, message="accuracy 0.6 < 0.75"))
        assert created and first.state == "OPEN" and first.alert_id
        again, created = store.open_alert(Alert("", "m", "performance.accuracy", "churn", 1, "OPEN", 200))
        assert not created and again.alert_id == first.alert_id and again.opened_time == 100
        store.add_alert_delivery(first.alert_id, {"channel": "webhook", "event": "opened", "ok": True})
        resolved = store.resolve_alert(first.alert_id, 300, "accuracy back to 0.8")
        assert resolved.state == "RESOLVED" and resolved.resolved_time == 300
        assert resolved.deliveries == [{"channel": "webhook", "event": "opened", "ok": True}]
        with pytest.raises(Conflict):
            store.resolve_alert(first.alert_id, 400)
        reopened, created = store.open_alert(Alert("", "m", "performance.accuracy", "churn", 1, "OPEN", 500))
        assert created and reopened.alert_id != first.alert_id
        assert [a.opened_time for a in store.list_alerts("m")] == [500, 100]
        assert [a.alert_id for a in store.list_alerts(state="OPEN")] == [reopened.alert_id]
        with pytest.raises(NotFound):
            store.resolve_alert("0" * 32, 1)

    # ------------------------------------------------------------------ automation
    def test_policy_events_are_kept_newest_first(self, store: Store) -> None:
        from shipyard.entities import PolicyEvent

        for i, kind in enumerate(["triggered", "training_started", "gate_passed"]):
            store.add_policy_event(PolicyEvent("retrain", "d", kind, f"step {i}", {"auc": 0.5 + i / 10}, time=100 + i))
        events = store.list_policy_events("retrain")
        assert [e.kind for e in events] == ["gate_passed", "training_started", "triggered"]
        assert events[0].data == {"auc": 0.7} and events[0].event_id
        assert [e.kind for e in store.list_policy_events(kinds=["triggered"])] == ["triggered"]
        assert [e.time for e in store.list_policy_events(deployment="d", since=101)] == [102, 101]
        with pytest.raises(InvalidInput, match="kind"):
            store.add_policy_event(PolicyEvent("retrain", "d", "exploded"))
        assert len(store.list_policy_events()) == 3

    def test_one_running_rollout_per_deployment_moved_by_compare_and_set(self, store: Store) -> None:
        from shipyard.entities import PolicyEvent, Rollout, Route

        self._versions(store, 2)
        store.create_deployment("d", [Route("churn", 1, 100)])
        rollout = store.create_rollout(Rollout("", "d", "churn", 2, 1, [10, 50, 100], 60_000, {"max_error_rate": 0.1}))
        assert rollout.state == "RUNNING" and rollout.step == 0 and rollout.percent == 10
        assert store.get_active_rollout("d") == rollout
        with pytest.raises(Conflict, match="in progress"):
            store.create_rollout(Rollout("", "d", "churn", 2, 1, [100], 0, {}))
        step = PolicyEvent("", "d", "rollout_step", "10% -> 50%", {"rollout_id": rollout.rollout_id})
        moved = store.update_rollout(rollout.rollout_id, 0, step=1, step_started_time=5, event=step)
        assert moved.step == 1 and moved.step_started_time == 5
        with pytest.raises(Conflict, match="another process"):  # a second scheduler lost the race:
            store.update_rollout(rollout.rollout_id, 0, step=1, event=step)  # nothing moved, nothing recorded
        assert [e.message for e in store.list_policy_events(deployment="d")] == ["10% -> 50%"]
        done = store.update_rollout(rollout.rollout_id, 1, state="ROLLED_BACK", reason="error rate 0.3 > 0.1")
        assert done.state == "ROLLED_BACK" and done.finished_time is not None and store.get_active_rollout("d") is None
        again = store.create_rollout(Rollout("", "d", "churn", 2, 1, [100], 0, {}))  # the deployment is free
        assert [r.rollout_id for r in store.list_rollouts("d")] == [again.rollout_id, rollout.rollout_id]
        for bad in ([50, 10, 100], [10, 50], [0, 100], []):
            with pytest.raises(InvalidInput, match="steps"):
                store.create_rollout(Rollout("", "d", "churn", 2, 1, bad, 0, {}))
        with pytest.raises(NotFound):
            store.create_rollout(Rollout("", "nope", "churn", 2, 1, [100], 0, {}))
