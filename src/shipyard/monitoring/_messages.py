"""The words of a check: its label (which test, which statistic) and sentences that agree with its numbers.

Every result line, alert and UI label is built here, so a check means one thing everywhere:

    prediction_drift (chisquare p-value) = 3.2e-09 < minimum 0.05; statistic 35.1
    prediction_drift (jensenshannon) = 0.089 ≤ maximum 0.1
    feature_drift (share of drifted columns; ks, chisquare) = 0.6 > maximum 0.5; drifted: a, b, c
    resolved: performance.accuracy = 0.908 ≥ minimum 0.89
    feature_skew.trips_1h (share of values unlike the feature store's) = 0.25 > maximum 0.01; 50 of 200 rows differ
    prediction_drift (ks p-value) undecided: ...

A value equal to its bound passes (:func:`passes`, the one rule every check uses).
"""

from __future__ import annotations

from collections.abc import Sequence

from shipyard.entities import CheckResult

__all__ = ["describe", "gone_message", "label", "passes", "resolved_message", "show"]

_WORDS = {"min": "minimum", "max": "maximum"}
_PASS = {"min": "≥", "max": "≤"}
_FAIL = {"min": "<", "max": ">"}


def passes(op: str, value: float, bound: float) -> bool:
    """Whether ``value`` is on the good side of ``bound``: at least it ("min") or at most it ("max").
    The bound itself passes."""
    return value >= bound if op == "min" else value <= bound


def show(value: float | None, other: float | None = None) -> str:
    """``value`` in 4 significant digits, or as many as it takes to differ from ``other`` on paper
    (so "0.89 < minimum 0.89" is never printed for 0.88999)."""
    if value is None:
        return "n/a"
    for digits in (4, 6, 9, 12, 17):
        text = f"{value:.{digits}g}"
        if other is None or value == other or text != f"{other:.{digits}g}":
            return text
    return repr(value)


def label(check: CheckResult) -> str:
    """The check with its test and statistic: ``prediction_drift (chisquare p-value)``."""
    if check.metric == "drift_share":
        tests = f"; {check.test}" if check.test else ""
        return f"{check.check} (share of drifted columns{tests})"
    if check.metric == "mismatch_share":
        return f"{check.check} (share of values unlike the feature store's)"
    if check.test is None:
        return check.check
    what = f"{check.test} p-value" if check.metric == "p_value" else check.test
    return f"{check.check} ({what})"


def _extra(check: CheckResult) -> str:
    parts = []
    if check.statistic is not None and check.metric == "p_value":
        parts.append(f"statistic {show(check.statistic)}")
    drifted = check.detail.get("drifted")
    if drifted:
        parts.append(f"drifted: {', '.join(map(str, drifted))}")
    undecided = check.detail.get("undecided")
    if undecided:
        parts.append(f"undecided: {', '.join(map(str, undecided))}")
    effect, floor = check.detail.get("effect_size"), check.detail.get("min_effect")
    if isinstance(effect, int | float) and isinstance(floor, int | float):
        shown = f"effect size w = {show(effect, floor)} {'≥' if effect >= floor else '<'} floor {show(floor, effect)}"
        parts.append(shown if effect >= floor else f"{shown}: negligible")
    if check.detail.get("column"):
        parts.append(f"worst column: {check.detail['column']}")
    compared, differ = check.detail.get("compared"), check.detail.get("mismatches")
    if isinstance(compared, int) and isinstance(differ, int):
        parts.append(f"{differ} of {compared} rows differ")
    return "".join(f"; {p}" for p in parts)


def describe(check: CheckResult) -> str:
    """One sentence whose words agree with the numbers: the relation printed is the one that holds."""
    name = label(check)
    if check.passed is None:
        if check.value is None:
            return f"{name} undecided: {check.reason or 'no value'}"
        if check.threshold is None or check.op is None:
            return f"{name} = {show(check.value)} (no threshold)"
        shown = show(check.value, check.threshold)
        return f"{name} = {shown}, undecided: {check.reason or 'no verdict'}{_extra(check)}"
    if check.value is None or check.threshold is None or check.op is None:
        return f"{name} {'passed' if check.passed else 'failed'}: {check.reason or ''}".rstrip(": ")
    holds = passes(check.op, check.value, check.threshold)
    relation = (_PASS if holds else _FAIL)[check.op]
    return (f"{name} = {show(check.value, check.threshold)} {relation} {_WORDS[check.op]} "
            f"{show(check.threshold, check.value)}{_extra(check)}")


def resolved_message(check: CheckResult) -> str:
    return f"resolved: {describe(check)}"


def gone_message(model: str, version: int, deployment: str, closed: Sequence[str]) -> str:
    """The one line for a version that left the deployment, naming every incident it closes."""
    return (f"{model} v{version} no longer answers requests of {deployment}: resolved "
            f"{len(closed)} incident(s): {', '.join(closed)}")
