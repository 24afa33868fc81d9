"""``shipyard experiments list|create``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from shipyard.cli._base import Context, add_verb, add_verbs

if TYPE_CHECKING:
    from shipyard.entities import Experiment

HELP = "list and create experiments"


def register(parser: argparse.ArgumentParser) -> None:
    verbs = add_verbs(parser)
    p = add_verb(verbs, "list", list_experiments, "list experiments (newest first)")
    p.add_argument("--all", action="store_true", help="include deleted experiments")
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
    from shipyard.cli._base import format_time, format_value, table

    experiments = ctx.client.search_experiments("all" if ctx.args.all else "active")
    if ctx.json:
        ctx.print_json([experiment_dict(e) for e in experiments])
        return 0
    columns = ["ID", "Name", *(["Stage"] if ctx.args.all else []), "Created", "Artifact location"]
    out = table(*columns)
    for e in experiments:
        stage = [e.lifecycle_stage] if ctx.args.all else []
        out.add_row(e.experiment_id, format_value(e.name), *stage, format_time(e.creation_time),
                    format_value(e.artifact_location))
    ctx.print(out)
    return 0


def create_experiment(ctx: Context) -> int:
    experiment_id = ctx.client.create_experiment(ctx.args.name, ctx.args.artifact_location)
    if ctx.json:
        ctx.print_json({"experiment_id": experiment_id, "name": ctx.args.name})
    else:
        ctx.print(experiment_id)
    return 0
