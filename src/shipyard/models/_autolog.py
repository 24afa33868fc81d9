"""``shipyard.autolog()`` / ``shipyard.sklearn.autolog()``: log what a ``fit`` trains, as MLflow's autolog.

After ``autolog()``, the outermost ``fit`` of a scikit-learn estimator (and of XGBoost's and
LightGBM's scikit-learn classes when they are installed) logs, into the active run or a run it
starts and ends: every parameter (``get_params(deep=True)``), the tags ``estimator_name`` and
``estimator_class``, MLflow's training metrics (``training_score``, and ``training_accuracy_score``,
``training_precision_score``, ... for classifiers, ``training_mean_squared_error``, ... for
regressors), and the model under ``model`` with its signature (and an input example on request)
and the training data's reference profile. A ``GridSearchCV`` / ``RandomizedSearchCV`` also logs
``best_cv_score``, ``best_<param>`` params, ``best_estimator`` and one child run (tag
``mlflow.parentRunId``) for each of its ``max_tuning_runs`` best candidates, with the candidate's
params and its ``cv_results_`` metrics.

Cheap by design: ``fit`` methods are wrapped once, where they are defined; a fit inside a fit (the
folds of a search, the steps of a pipeline) costs one context-variable read and logs nothing.
A failure while logging is a warning: autolog never breaks a ``fit``.
"""

from __future__ import annotations

import functools
import logging
import math
import numbers
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

_in_fit: ContextVar[bool] = ContextVar("shipyard_autolog_in_fit", default=False)
_ORIGINAL = "_shipyard_autolog_original"
_MAX_PARAM = 500  # characters of a parameter value (MLflow truncates long values too)


@dataclass(frozen=True)
class AutologConfig:
    log_models: bool = True
    log_input_examples: bool = False
    log_model_signatures: bool = True
    log_datasets: bool = True
    max_tuning_runs: int = 5


# The process-wide setting autolog() changes: like MLflow's, it is global by nature (it patches classes).
_settings: dict[str, AutologConfig | None] = {"config": None}


def autolog(*, log_models: bool = True, log_input_examples: bool = False, log_model_signatures: bool = True,
            log_datasets: bool = True, max_tuning_runs: int = 5, disable: bool = False) -> None:
    """Turn autologging on (or off with ``disable=True``) for every installed library shipyard knows:
    scikit-learn, XGBoost and LightGBM (their scikit-learn API)."""
    sklearn_autolog(log_models=log_models, log_input_examples=log_input_examples,
                    log_model_signatures=log_model_signatures, log_datasets=log_datasets,
                    max_tuning_runs=max_tuning_runs, disable=disable)
    for module, names in (("xgboost", ("XGBModel",)), ("lightgbm", ("LGBMModel",))):
        try:
            lib = __import__(module)
        except ImportError:
            continue
        for name in names:
            cls = getattr(lib, name, None)
            if cls is not None:
                _patch_class(cls)


def sklearn_autolog(*, log_models: bool = True, log_input_examples: bool = False,
                    log_model_signatures: bool = True, log_datasets: bool = True, max_tuning_runs: int = 5,
                    disable: bool = False) -> None:
    """Autolog scikit-learn estimators; see the module docstring."""
    if disable:
        _settings["config"] = None  # the wrappers stay, and pass straight through
        return
    from sklearn.utils import all_estimators

    _settings["config"] = AutologConfig(log_models, log_input_examples, log_model_signatures, log_datasets,
                                        max_tuning_runs)
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
    from sklearn.pipeline import Pipeline

    for cls in [*(c for _, c in all_estimators()), GridSearchCV, RandomizedSearchCV, Pipeline]:
        _patch_class(cls)


def _patch_class(cls: type) -> None:
    for klass in cls.__mro__:  # wrap fit where it is defined, once: subclasses inherit the wrapper
        fit = klass.__dict__.get("fit")
        if fit is not None and callable(fit) and not hasattr(fit, _ORIGINAL):
            setattr(klass, "fit", _wrap(fit))  # noqa: B010 - klass is any class: no attribute to type


def _wrap(fit: Any) -> Any:
    @functools.wraps(fit)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        config = _settings["config"]
        if config is None or _in_fit.get():
            return fit(self, *args, **kwargs)
        token = _in_fit.set(True)
        try:
            return _fit_and_log(fit, self, args, kwargs, config)
        finally:
            _in_fit.reset(token)

    setattr(wrapper, _ORIGINAL, fit)
    return wrapper


def _fit_and_log(fit: Any, est: Any, args: tuple[Any, ...], kwargs: dict[str, Any], config: AutologConfig) -> Any:
    import shipyard

    X = args[0] if args else kwargs.get("X")
    y = args[1] if len(args) > 1 else kwargs.get("y")
    own = shipyard.active_run() is None
    if own:
        shipyard.start_run()
    try:
        result = fit(est, *args, **kwargs)
    except BaseException:
        if own:
            shipyard.end_run("FAILED")
        raise
    try:
        _log_fitted(est, X, y, config)
    except Exception as exc:  # the user's fit succeeded: never fail it for the log
        log.warning("shipyard autolog: could not log the fit of %s: %s", type(est).__name__, exc)
    if own:
        shipyard.end_run()
    return result


def _param(value: Any) -> str:
    text = str(value)
    return text if len(text) <= _MAX_PARAM else text[:_MAX_PARAM - 3] + "..."


def _log_fitted(est: Any, X: Any, y: Any, config: AutologConfig) -> None:
    import shipyard

    shipyard.log_params({k: _param(v) for k, v in est.get_params(deep=True).items()})
    shipyard.set_tags({"estimator_name": type(est).__name__,
                       "estimator_class": f"{type(est).__module__}.{type(est).__qualname__}"})
    if X is not None and y is not None:
        shipyard.log_metrics(training_metrics(est, X, y))
    if hasattr(est, "cv_results_"):
        _log_search(est, config)
    if config.log_models and X is not None:
        _log_model(est, X, "model", config)
        if hasattr(est, "best_estimator_"):
            _log_model(est.best_estimator_, X, "best_estimator", config)


def _log_model(est: Any, X: Any, path: str, config: AutologConfig) -> None:
    import shipyard
    from shipyard.models import infer_signature

    head = X[:5] if not hasattr(X, "iloc") else X.iloc[:5]
    output = est.predict(head) if hasattr(est, "predict") else None  # a transformer: inputs only
    signature = infer_signature(head, output) if config.log_model_signatures else None
    shipyard.sklearn.log_model(est, path, signature=signature,
                               input_example=head if config.log_input_examples else None,
                               training_data=X if config.log_datasets else None)


def training_metrics(est: Any, X: Any, y: Any) -> dict[str, float]:
    """MLflow's autolog training metrics for the fitted estimator on its training data."""
    from sklearn import metrics
    from sklearn.base import is_classifier, is_regressor

    found: dict[str, float] = {}

    def put(name: str, compute: Any) -> None:
        try:
            value = compute()
        except Exception:  # a metric that does not apply (multi-output, one class) is left out
            return
        if isinstance(value, numbers.Number) and math.isfinite(float(value)):  # type: ignore[arg-type]
            found[name] = float(value)  # type: ignore[arg-type]

    if hasattr(est, "score"):
        put("training_score", lambda: est.score(X, y))
    if is_classifier(est):
        pred = est.predict(X)
        put("training_accuracy_score", lambda: metrics.accuracy_score(y, pred))
        put("training_precision_score", lambda: metrics.precision_score(y, pred, average="weighted", zero_division=0))
        put("training_recall_score", lambda: metrics.recall_score(y, pred, average="weighted", zero_division=0))
        put("training_f1_score", lambda: metrics.f1_score(y, pred, average="weighted", zero_division=0))
        if hasattr(est, "predict_proba"):
            proba = est.predict_proba(X)
            put("training_log_loss", lambda: metrics.log_loss(y, proba, labels=est.classes_))
            put("training_roc_auc", lambda: metrics.roc_auc_score(
                y, proba[:, 1] if proba.shape[1] == 2 else proba, multi_class="ovo", labels=est.classes_))
    elif is_regressor(est):
        pred = est.predict(X)
        put("training_mean_squared_error", lambda: metrics.mean_squared_error(y, pred))
        put("training_root_mean_squared_error", lambda: math.sqrt(metrics.mean_squared_error(y, pred)))
        put("training_mean_absolute_error", lambda: metrics.mean_absolute_error(y, pred))
        put("training_r2_score", lambda: metrics.r2_score(y, pred))
    return found


def _log_search(search: Any, config: AutologConfig) -> None:
    import shipyard

    results = search.cv_results_
    if hasattr(search, "best_score_"):
        shipyard.log_metric("best_cv_score", float(search.best_score_))
    if hasattr(search, "best_params_"):
        shipyard.log_params({f"best_{k}": _param(v) for k, v in search.best_params_.items()})
    parent = shipyard.active_run()
    assert parent is not None
    ranks = list(results.get("rank_test_score", range(1, len(results["params"]) + 1)))
    best = sorted(range(len(ranks)), key=lambda i: ranks[i])[:config.max_tuning_runs]
    columns = [k for k in results if not k.startswith("param") and k != "params"]
    for i in best:
        with shipyard.start_run(run_name=f"{parent.info.run_name}-{i}", nested=True,
                                tags={"mlflow.parentRunId": parent.info.run_id}):
            shipyard.log_params({k: _param(v) for k, v in results["params"][i].items()})
            shipyard.log_metrics({k: float(results[k][i]) for k in columns
                                  if isinstance(results[k][i], numbers.Number)})
