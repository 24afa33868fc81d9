"""Lineage: a training set logged with the feature views and versions it was built from."""

from __future__ import annotations

from typing import Any

from shipyard.errors import InvalidInput

__all__ = ["LINEAGE_TAG", "log_training_set"]

LINEAGE_TAG = "shipyard.feature_views"


def log_training_set(training_df: Any, name: str = "training_set", *, targets: str | Any = None,
                     feature_views: dict[str, int] | None = None, profile: bool = True) -> dict[str, int]:
    """``shipyard.log_input`` for a frame from ``get_historical_features``, in the active run: the
    dataset's source names the views and versions (``features:trips@2,weather@1``) and the run gets
    the tag ``shipyard.feature_views`` with the same list, so every model version registered from the
    run leads back to them. ``targets`` may name a column of the frame. Returns the views and versions recorded."""
    import shipyard

    views = feature_views if feature_views is not None else getattr(training_df, "attrs", {}).get(LINEAGE_TAG)
    if not views:
        raise InvalidInput("the frame does not say which feature views it came from (it was not built by "
                           "get_historical_features): pass feature_views={'view': version}")
    if isinstance(targets, str):  # a column of the frame: logged as the targets, apart from the features
        if targets not in getattr(training_df, "columns", ()):
            raise InvalidInput(f"the training set has no column {targets!r}")
        training_df, targets = training_df.drop(columns=[targets]), training_df[targets]
    listed = ",".join(f"{view}@{version}" for view, version in sorted(views.items()))
    shipyard.log_input(training_df, name, targets=targets, source=f"features:{listed}", profile=profile)
    shipyard.set_tag(LINEAGE_TAG, listed)
    return dict(views)
