"""Features: the feature views of the store with their source, entities, features, version, how
fresh each online store is (materialized until), their schedule, and the model versions trained on
them (the lineage tag of their training runs); a view's page adds its versions and materializations."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from shipyard.server.ui._session import ViewerDep
from shipyard.server.ui._web import make_router, render

__all__ = ["router"]

router = make_router()


@router.get("/features")
def features(request: Request, who: ViewerDep) -> Response:
    from shipyard.features._catalog import describe_views

    return render(request, "features.html", views=describe_views(request.app.state.store))


@router.get("/features/{name}")
def feature_view(request: Request, name: str, who: ViewerDep) -> Response:
    from shipyard.features._catalog import describe_view

    view, versions, runs = describe_view(request.app.state.store, name)
    return render(request, "feature_view.html", view=view, versions=list(reversed(versions)), runs=runs)
