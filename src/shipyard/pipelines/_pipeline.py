"""``@pipeline``: parameters, building the DAG, and running it.

Everything that can be wrong with a run - an unknown or ill-typed parameter, a cycle made with
``>>``, a bad schedule - is found before the run is recorded or any task starts.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from shipyard.errors import InvalidInput
from shipyard.pipelines._task import GraphBuilder, Node, _builder

if TYPE_CHECKING:
    from shipyard.entities import PipelineRun
    from shipyard.pipelines._executors import Executor
    from shipyard.pipelines._schedule import Schedule

__all__ = ["Pipeline", "pipeline"]

_TEMPLATE = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_SIMPLE = (bool, int, float, str, list, dict)


def _render(value: Any, when: datetime) -> Any:
    if not isinstance(value, str) or "{{" not in value:
        return value
    names = {"ds": when.strftime("%Y-%m-%d"), "ds_nodash": when.strftime("%Y%m%d"), "ts": when.isoformat(),
             "logical_date": when.isoformat()}

    def one(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            raise InvalidInput(f"unknown template variable {match.group(1)!r} (known: {', '.join(names)})")
        return names[match.group(1)]

    return _TEMPLATE.sub(one, value)


class Pipeline:
    """A function whose task calls form a DAG; see :func:`pipeline`."""

    def __init__(self, fn: Callable[..., Any], *, name: str | None = None, schedule: str | Schedule | None = None,
                 timezone: str = "UTC", params: dict[str, Any] | None = None, catchup: bool = False,
                 max_active_runs: int = 1, executor: str | None = None) -> None:
        from shipyard.pipelines._schedule import Schedule

        self.fn, self.name = fn, name or fn.__name__
        self.signature = inspect.signature(fn)
        self.params = dict(params or {})
        unknown = set(self.params) - set(self.signature.parameters)
        if unknown:
            raise InvalidInput(f"pipeline {self.name!r}: params= names {sorted(unknown)}, which "
                               f"{fn.__name__}() does not take")
        self.schedule = Schedule.parse(schedule, timezone) if isinstance(schedule, str) else schedule
        self.catchup, self.max_active_runs = bool(catchup), int(max_active_runs)
        from shipyard.pipelines._executors import check_executor

        self.executor = check_executor(executor)  # where its runs go unless a run names another
        self.__doc__ = fn.__doc__

    # -- parameters
    def _hints(self) -> dict[str, Any]:
        try:
            return typing.get_type_hints(self.fn)
        except Exception:  # annotations naming types imported only for type checkers
            return {}

    def resolve_params(self, given: dict[str, Any], logical_date: datetime, *, coerce: bool = False) -> dict[str, Any]:
        """Defaults, then ``params=`` (templates rendered), then ``given``; checked against the hints.
        ``coerce`` converts strings (from a command line) to the annotated type."""
        names = self.signature.parameters
        unknown = [k for k in given if k not in names]
        if unknown:
            raise InvalidInput(f"pipeline {self.name!r} has no parameter {unknown[0]!r} "
                               f"(parameters: {', '.join(names) or 'none'})")
        hints = self._hints()
        out: dict[str, Any] = {}
        for pname, param in names.items():
            if pname in given:
                value = given[pname]
            elif pname in self.params:
                value = _render(self.params[pname], logical_date)
            elif param.default is not inspect.Parameter.empty:
                value = param.default
            else:
                raise InvalidInput(f"pipeline {self.name!r} needs parameter {pname!r}")
            out[pname] = _check_type(self.name, pname, value, hints.get(pname), coerce and pname in given)
        return out

    # -- graph
    def build(self, params: dict[str, Any]) -> list[Node]:
        """Call the function with placeholders for task results; return the nodes in topological order."""
        builder = GraphBuilder()
        token = _builder.set(builder)
        try:
            self.fn(**params)
        finally:
            _builder.reset(token)
        return _toposort(self.name, builder.nodes)

    # -- running
    def run(self, *, executor: str | Executor | None = None, logical_date: datetime | None = None,
            **params: Any) -> PipelineRun:
        """Run now, in this process, and return the finished run record (``.state``, ``.task_runs``)."""
        when = _utc(logical_date)
        resolved = self.resolve_params(params, when)
        nodes = self.build(resolved)
        from shipyard.pipelines._executors import resolve_executor

        chosen, owned = resolve_executor(executor if executor is not None else self.executor)
        try:
            store, settings = _store()
            run = store.create_pipeline_run(self.name, resolved, "manual", int(when.timestamp() * 1000))
            return self._drive(store, settings, run, resolved, when, nodes, chosen)
        finally:
            if owned:
                chosen.close()

    def run_claimed(self, run: PipelineRun, executor: str | Executor | None = None) -> PipelineRun:
        """Run a record that is RUNNING already (claimed from the queue or created by the scheduler).
        ``executor`` is the scheduler's default: the pipeline's own ``executor=`` comes first."""
        when = _utc(None if run.logical_date is None else datetime.fromtimestamp(run.logical_date / 1000, UTC))
        store, settings = _store()
        from shipyard.pipelines._executors import resolve_executor

        try:
            # A run queued without some parameters ("run now" from the UI or the API) gets the
            # pipeline's defaults and params= templates for its logical date, as a scheduled run does.
            params = self.resolve_params(dict(run.params), when)
            nodes = self.build(params)
        except Exception as exc:
            store.finish_pipeline_run(run.run_id, "FAILED", error=f"{type(exc).__name__}: {exc}")
            raise
        chosen, owned = resolve_executor(self.executor if self.executor is not None else executor)
        try:
            return self._drive(store, settings, run, params, when, nodes, chosen)
        finally:
            if owned:
                chosen.close()

    def _drive(self, store: Any, settings: Any, run: PipelineRun, params: dict[str, Any], when: datetime,
               nodes: list[Node], executor: Executor) -> PipelineRun:
        from shipyard.pipelines._execute import RunSpec
        from shipyard.pipelines._runner import run_graph

        spec = RunSpec(self.name, run.run_id, when, params, settings.store_uri, settings.artifact_uri)
        return run_graph(store, run, spec, nodes, executor)

    def submit(self, *, logical_date: datetime | None = None, trigger: str = "submit", **params: Any) -> PipelineRun:
        """Queue a run (PENDING) for ``shipyard scheduler`` to start; parameters are checked now."""
        when = _utc(logical_date)
        resolved = self.resolve_params(params, when)
        self.build(resolved)
        store, _ = _store()
        return store.create_pipeline_run(self.name, resolved, trigger, int(when.timestamp() * 1000), state="PENDING")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<pipeline {self.name}>"


def _utc(when: datetime | None) -> datetime:
    if when is None:
        return datetime.now(UTC)
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _store() -> tuple[Any, Any]:
    from shipyard.config import resolve_settings
    from shipyard.pipelines._execute import store_for

    settings = resolve_settings()
    return store_for(settings.store_uri, settings.artifact_uri), settings


def _check_type(pipeline: str, name: str, value: Any, hint: Any, coerce: bool) -> Any:
    if hint not in _SIMPLE:
        return value
    if coerce and isinstance(value, str) and hint is not str:
        try:
            if hint is bool:
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                return value.lower() in ("true", "1", "yes")
            return orjson.loads(value) if hint in (list, dict) else hint(value)
        except (ValueError, orjson.JSONDecodeError):
            raise InvalidInput(f"pipeline {pipeline!r}: parameter {name!r} must be {hint.__name__}, "
                               f"got {value!r}") from None
    ok = isinstance(value, hint) and not (hint in (int, float) and isinstance(value, bool))
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        ok, value = True, float(value)
    if not ok:
        raise InvalidInput(f"pipeline {pipeline!r}: parameter {name!r} must be {hint.__name__}, "
                           f"got {type(value).__name__} {value!r}")
    return value


def _toposort(pipeline: str, nodes: list[Node]) -> list[Node]:
    waiting = {n.index: len(n.upstream) for n in nodes}
    children: dict[int, list[int]] = {}
    for n in nodes:
        for up in n.upstream:
            children.setdefault(up, []).append(n.index)
    ready = [n.index for n in nodes if not n.upstream]
    order: list[int] = []
    while ready:
        index = ready.pop()
        order.append(index)
        for child in children.get(index, ()):
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    if len(order) < len(nodes):
        stuck = sorted(n.key for n in nodes if waiting[n.index] > 0)
        raise InvalidInput(f"pipeline {pipeline!r} has a cycle among tasks {', '.join(stuck)}: check the `>>` "
                           "orderings")
    if all(up < n.index for n in nodes for up in n.upstream):
        return nodes  # creation order is a valid order unless `>>` points backwards
    return [nodes[i] for i in order]


def pipeline(fn: Callable[..., Any] | None = None, **settings: Any) -> Any:
    """Make a function a pipeline: ``@pipeline`` or ``@pipeline(schedule="@daily", timezone="Europe/Berlin",
    params={"day": "{{ ds }}"}, catchup=False, max_active_runs=1, name=...)``.

    ``schedule`` is a preset (@hourly, @daily, @weekly, @monthly, @yearly), a cron expression, or
    ``"every 15m"``; ``{{ ds }}`` in ``params`` is the run's logical date (YYYY-MM-DD). ``executor``
    ("threads", "processes", "dask", "dask://host:8786") is where its runs go when a run does not
    name one; it comes before the scheduler's ``--executor``.
    """
    if fn is None:
        return lambda f: Pipeline(f, **settings)
    return Pipeline(fn, **settings)
