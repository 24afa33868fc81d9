"""What a project defines: pipelines and retraining policies, found in Python modules or shipyard.yaml.

    # shipyard.yaml
    pipelines: [my_project.pipelines]          # modules (or .py files) whose top-level objects are looked at
    policies:                                  # policies written as data (Policy objects in modules count too)
      - name: rain-retrain
        deployment: rain-api
        model: rain
        retrain: my_project.training:retrain   # a pipeline's name, or module:function
        triggers: [{monitor: rain, checks: [performance.roc_auc]}]
        gate: {metric: roc_auc, min_delta: 0.01, minimums: {accuracy: 0.7}}
        rollout: {steps: [10, 50, 100], dwell: 10m, metric: roc_auc}
        cooldown: 1h
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from shipyard.errors import InvalidInput

__all__ = ["find_pipelines", "find_policies", "load_project"]

PROJECT_FILE = "shipyard.yaml"


def _yaml() -> dict[str, Any]:
    project = Path(PROJECT_FILE)
    if not project.exists():
        return {}
    import yaml

    doc = yaml.safe_load(project.read_text()) or {}
    if not isinstance(doc, dict):
        raise InvalidInput(f"{PROJECT_FILE} must be a mapping with 'pipelines' and/or 'policies'")
    return doc


def _import(name: str) -> ModuleType:
    if name.endswith(".py"):
        path = Path(name).resolve()
        if not path.exists():
            raise InvalidInput(f"file {name!r} does not exist")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        return module
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise InvalidInput(f"cannot import module {name!r}: {exc}") from None


def load_project(modules: list[str] | None, *, required: bool = True) -> tuple[list[ModuleType], dict[str, Any]]:
    """The modules to look in (given, or shipyard.yaml's ``pipelines``) and the YAML document."""
    doc = _yaml()
    if not modules:
        modules = list(doc.get("pipelines") or doc.get("modules") or [])
        if not modules and not doc.get("policies") and required:
            raise InvalidInput(f"nothing to look at: pass --module M or list modules in {PROJECT_FILE} "
                               "(pipelines: [my_project.pipelines])")
    return [_import(name) for name in modules], doc


def find_pipelines(modules: list[str] | None, *, required: bool = True) -> dict[str, Any]:
    """Pipelines defined at the top level of the modules."""
    from shipyard.pipelines import Pipeline

    found: dict[str, Any] = {}
    for module in load_project(modules, required=required)[0]:
        for value in vars(module).values():
            if isinstance(value, Pipeline):
                found[value.name] = value
    return found


def _function(target: str, pipelines: dict[str, Any]) -> Any:
    if target in pipelines:
        return pipelines[target]
    module, _, name = target.partition(":")
    if not name:
        raise InvalidInput(f"retrain {target!r} is neither a pipeline found nor 'module:function'")
    fn = getattr(_import(module), name, None)
    if not callable(fn):
        raise InvalidInput(f"retrain {target!r}: {module} has no callable {name!r}")
    return fn


def find_policies(modules: list[str] | None, *, required: bool = True) -> dict[str, Any]:
    """Policy objects at the top level of the modules, and the policies of shipyard.yaml."""
    from shipyard.automation import Policy

    loaded, doc = load_project(modules, required=required)
    found: dict[str, Any] = {}
    pipelines: dict[str, Any] = {}
    for module in loaded:
        for value in vars(module).values():
            if isinstance(value, Policy):
                found[value.name] = value
            elif type(value).__name__ == "Pipeline":
                pipelines[value.name] = value
    for entry in doc.get("policies") or []:
        if not isinstance(entry, dict) or "name" not in entry or "retrain" not in entry:
            raise InvalidInput(f"a policy in {PROJECT_FILE} needs at least 'name' and 'retrain', got {entry!r}")
        settings = dict(entry)
        name = settings.pop("name")
        settings["retrain"] = _function(str(settings["retrain"]), pipelines)
        try:
            found[name] = Policy(name, **settings)
        except TypeError as exc:
            raise InvalidInput(f"policy {name!r} in {PROJECT_FILE}: {exc}") from None
    return found
