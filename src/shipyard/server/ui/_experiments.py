"""Experiments and an experiment's runs table: sort, filter (the search_runs language), columns, pages.

The table is one ``search_runs`` call, a page at a time (the store's page tokens); the column
chooser offers the keys of the runs on the page (reading every key of 100,000 runs would cost more
than the page itself), and any other column can be typed in. Everything lives in the URL, so a view
can be bookmarked and shared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fastapi import Request
from starlette.responses import RedirectResponse, Response

from shipyard.errors import InvalidInput
from shipyard.server.ui._session import ViewerDep
from shipyard.server.ui._web import make_router, render

if TYPE_CHECKING:
    from shipyard.entities import Run

__all__ = ["Column", "router"]

PER_PAGE = (25, 50, 100, 200)
MAX_COLUMNS = 40
DEFAULT_KEYS = 8  # metrics and params shown when no column is chosen
_ENTITIES = {"metrics": "metric", "params": "param", "tags": "tag"}
_SORTABLE = {"run_name": "Run", "status": "Status", "start_time": "Started", "end_time": "Ended", "user_id": "User"}


@dataclass(frozen=True, slots=True)
class Column:
    """A metric, param or tag column; ``ref`` is how the URL names it (``metrics:acc``)."""

    entity: str  # metrics, params, tags, or attributes (sorting only)
    key: str

    @classmethod
    def parse(cls, ref: str) -> Column | None:
        entity, _, key = ref.partition(":")
        if entity not in (*_ENTITIES, "attributes") or not key or "`" in key or len(key) > 250:
            return None
        if entity == "attributes" and key not in _SORTABLE:
            return None
        return cls(entity, key)

    @property
    def ref(self) -> str:
        return f"{self.entity}:{self.key}"

    @property
    def order(self) -> str:
        """The search language's name of the column (keys quoted: they may hold spaces and dots)."""
        return f"attributes.{self.key}" if self.entity == "attributes" else f"{self.entity}.`{self.key}`"

    def value(self, run: Run) -> Any:
        return getattr(run.data, self.entity).get(self.key)


class _View:
    """The table's state from the query string, and links to its neighbours."""

    def __init__(self, request: Request, experiment_id: str) -> None:
        q = request.query_params
        self.base = f"/experiments/{experiment_id}"
        self.filter = q.get("filter", "").strip()
        self.sort = Column.parse(q.get("sort", "")) or Column("attributes", "start_time")
        self.desc = q.get("dir", "desc") != "asc"
        chosen = [c for c in (Column.parse(ref) for ref in q.getlist("col")) if c and c.entity != "attributes"]
        self.columns = list(dict.fromkeys(chosen))[:MAX_COLUMNS]
        self.chosen = bool(self.columns)
        self.page = q.get("page", "")
        self.back = [t for t in q.get("back", "").split(",") if t]
        per = q.get("per", "100")
        self.per = int(per) if per.isdigit() and int(per) in PER_PAGE else 100

    def order_by(self) -> list[str]:
        return [f"{self.sort.order} {'DESC' if self.desc else 'ASC'}"]

    def state(self, **changes: Any) -> dict[str, Any]:
        values: dict[str, Any] = {"filter": self.filter, "sort": self.sort.ref, "dir": "desc" if self.desc else "asc",
                                  "col": [c.ref for c in self.columns], "per": self.per, "page": self.page,
                                  "back": ",".join(self.back)}
        values.update(changes)
        return {k: v for k, v in values.items() if v not in ("", [], None)}

    def link(self, **changes: Any) -> str:
        """This view with some parts changed; a new filter, sort or size starts from the first page."""
        if changes.keys() & {"filter", "sort", "dir", "col", "per"}:
            changes.setdefault("page", "")
            changes.setdefault("back", "")
        return f"{self.base}?{urlencode(self.state(**changes), doseq=True)}"

    def sort_link(self, column: Column) -> str:
        desc = not (column == self.sort and self.desc)  # first click: descending; again: ascending
        return self.link(sort=column.ref, dir="desc" if desc else "asc")

    def next_link(self, token: str) -> str:
        return self.link(page=token, back=",".join([*self.back, self.page or "~"]))

    def prev_link(self) -> str | None:
        if not self.back:
            return None
        previous = self.back[-1]
        return self.link(page="" if previous == "~" else previous, back=",".join(self.back[:-1]))


def _keys(runs: list[Run]) -> dict[str, list[str]]:
    keys: dict[str, set[str]] = {"metrics": set(), "params": set(), "tags": set()}
    for run in runs:
        keys["metrics"].update(run.data.metrics)
        keys["params"].update(run.data.params)
        keys["tags"].update(run.data.tags)
    return {entity: sorted(found, key=lambda k: (k.startswith("shipyard."), k)) for entity, found in keys.items()}


router = make_router()


@router.get("/")
def home() -> Response:
    return RedirectResponse("/experiments", status_code=303)


@router.get("/experiments")
def experiments(request: Request, who: ViewerDep, view: str = "active") -> Response:
    store = request.app.state.store
    if view not in ("active", "deleted", "all"):
        view = "active"
    found = store.search_experiments(view_type=view, max_results=1000)
    return render(request, "experiments.html", experiments=found, view=view)


@router.get("/experiments/{experiment_id}")
def runs_table(request: Request, experiment_id: str, who: ViewerDep) -> Response:
    store = request.app.state.store
    experiment = store.get_experiment(experiment_id)
    view = _View(request, experiment_id)
    error, runs, token, status = "", [], None, 200
    try:
        page = store.search_runs([experiment_id], filter_string=view.filter or None, max_results=view.per,
                                 order_by=view.order_by(), page_token=view.page or None)
        runs, token = list(page), page.token
    except InvalidInput as exc:  # FilterSyntaxError among them: shown next to the filter
        error, status = exc.message, 400
    keys = _keys(runs)
    if not view.chosen:
        view.columns = ([Column("metrics", k) for k in keys["metrics"][:DEFAULT_KEYS]]
                        + [Column("params", k) for k in keys["params"][:DEFAULT_KEYS]])
    number = len(view.back) * view.per
    return render(request, "runs.html", status, experiment=experiment, view=view, runs=runs, error=error,
                  keys=keys, next_token=token, first=number + 1, last=number + len(runs), per_page=PER_PAGE,
                  attributes=[Column("attributes", k) for k in _SORTABLE], Column=Column)
