"""``shipyard experiments list|create``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from shipyard.cli._base import Context, add_verb, add_verbs
from shipyard.cli._table import add_output_options

if TYPE_CHECKING:
    from shipyard.entities import Experiment

HELP = "list and create experiments"


def register(parser: argparse.ArgumentParser) -> None:
    verbs = add_verbs(parser)
    p = add_verb(verbs, "list", list_experiments, "list experiments (newest first)")
    p.add_argument("--all", action="store_true", help="include deleted experiments")
    add_output_options(p)
    p = add_verb(verbs, "create", create_experiment, "create an experiment and print its id")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--artifact-location", metavar="L", default=None,
                   help="where the experiment's artifacts go (default: under the artifact root)")


def experiment_dict(e: Experiment) -> dict[str, Any]:
    return {
        "experiment_id": e.experiment_id,
        "name": e.name,
        "artifact_location": e.artifact_location,
        "lifecycle_stage": e.lifecycle_stage,
        "tags": e.tags,
        "creation_time": e.creation_time,
        "last_update_time": e.last_update_time,
    }


def list_experiments(ctx: Context) -> int:
    from shipyard.cli._base import format_time
    from shipyard.cli._table import Col, emit

    experiments = ctx.client.search_experiments("all" if ctx.args.all else "active")
    cols = [Col("ID", lambda e: e.experiment_id, rank=0), Col("Name", lambda e: e.name, rank=0),
            *([Col("Stage", lambda e: e.lifecycle_stage)] if ctx.args.all else []),
            Col("Created", lambda e: e.creation_time, format_time, rank=2),
            Col("Artifact location", lambda e: e.artifact_location, rank=3, wrap=True)]
    emit(ctx, cols, experiments, lambda: [experiment_dict(e) for e in experiments])
    return 0


def create_experiment(ctx: Context) -> int:
    experiment_id = ctx.client.create_experiment(ctx.args.name, ctx.args.artifact_location)
    if ctx.json:
        ctx.print_json({"experiment_id": experiment_id, "name": ctx.args.name})
    else:
        ctx.print(experiment_id)
    return 0
