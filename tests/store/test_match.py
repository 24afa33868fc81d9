"""MLflow's registry and experiment filters (bare attribute names), matched in Python."""

from __future__ import annotations

import pytest

from shipyard.entities import ModelVersion
from shipyard.errors import FilterSyntaxError, InvalidInput
from shipyard.store import _match
from shipyard.store.filter import parse_filter

V = _match.VERSION_ATTRIBUTES


def version(name: str, number: int, run_id: str | None = None, **tags: str) -> ModelVersion:
    return ModelVersion(name, number, f"runs:/{run_id}/m", run_id, number, number, tags=tags)


VERSIONS = [version("churn", 1, "a" * 32, team="risk"), version("churn", 2, "b" * 32),
            version("churn-eu", 1, "a" * 32, team="growth"), version("fraud", 3)]


def names(filter_string: str) -> list[tuple[str, int]]:
    return [(v.name, v.version) for v in _match.filter_items(VERSIONS, filter_string, V)]


def test_mlflow_registry_filters() -> None:
    assert names("name='churn'") == [("churn", 1), ("churn", 2)]
    assert names("name LIKE 'churn%' AND version_number >= 1 AND tags.team = 'growth'") == [("churn-eu", 1)]
    assert names(f"run_id IN ('{'a' * 32}')") == [("churn", 1), ("churn-eu", 1)]
    assert names("version_number IN (2, 3)") == [("churn", 2), ("fraud", 3)]
    assert names("tags.team IS NULL") == [("churn", 2), ("fraud", 3)]
    assert names("name ILIKE 'FRAUD' OR tag.team = 'risk'") == [("churn", 1), ("fraud", 3)]  # OR: shipyard's
    assert names("name != 'churn' AND name NOT LIKE '%eu'") == [("fraud", 3)]
    assert names("source_path LIKE 'runs:/None/%'") == [("fraud", 3)]


def test_bad_filters_say_what_is_wrong() -> None:
    with pytest.raises(FilterSyntaxError, match="version_number"):
        names("version_number = '2'")  # a number is written without quotes
    with pytest.raises(FilterSyntaxError, match="expected creation_timestamp"):
        names("colour = 'red'")
    for cut_short in ("name = 'x' AND", "(", "name ="):  # a filter that ends early is a syntax error
        with pytest.raises(FilterSyntaxError, match="end of input"):
            names(cut_short)
        with pytest.raises(FilterSyntaxError, match="end of input"):
            parse_filter(cut_short.replace("name", "tags.name"))
    with pytest.raises(InvalidInput, match="metrics"):
        names("metrics.acc > 1")


def test_order_and_pages() -> None:
    ordered = _match.order(list(VERSIONS), ["name DESC", "version_number"], V)
    assert [(v.name, v.version) for v in ordered] == [("fraud", 3), ("churn-eu", 1), ("churn", 1), ("churn", 2)]
    first, token = _match.page(ordered, 3, None)
    rest, end = _match.page(ordered, 3, token)
    assert len(first) == 3 and [v.name for v in rest] == ["churn"] and end is None
    with pytest.raises(InvalidInput, match="page token"):
        _match.page(ordered, 3, "x")
    with pytest.raises(FilterSyntaxError, match="order by"):
        _match.order(ordered, ["colour"], V)
