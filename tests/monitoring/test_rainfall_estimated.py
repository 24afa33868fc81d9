"""Estimated performance on real traffic: the rainfall data through a served model, 1,000 rows a window.

The model is fitted on rows 0-4,000 and its estimator on rows 4,000-6,000 (labeled rows the model
never saw, given at registration; the reference's ROC AUC is 0.84). What the estimate can and cannot
see, measured here (estimated / realized ROC AUC per 1,000 rows):

- 6,000-8,000: 0.91 / 0.88, 0.89 / 0.81 -- it follows at first;
- 8,000-12,000: about 0.92 / 0.83 -- visibility and wind "drift" (a change of how they were
  measured, not of the weather): the model grows more confident on them without growing more
  right, so P(rain | features) changed a little and the estimate runs 0.07-0.10 too high;
- 12,000 on: the injected concept drift. The estimate drops by 0.1 (0.82, then about 0.80) while
  the realized ROC AUC collapses to 0.3-0.4: no estimate from the features can see a changed
  P(y | x). Once labels arrive the check says so (``estimated_performance.assumptions``) and its
  metrics stop deciding, instead of keeping a confident estimate.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.anyio

DRIFT_AT = 12_000


async def test_rainfall_estimate_follows_before_the_drift_and_flags_the_concept_drift(serve_rainfall, rainfall):
    from shipyard import monitoring

    X, y, names = rainfall
    served = serve_rainfall(train=slice(0, 4000))
    ref = slice(4000, 6000)
    estimator = monitoring.fit_version_estimator("rain", 1, {n: X[ref, i] for i, n in enumerate(names)}, y[ref])
    assert estimator.task == "classification"
    monitoring.create_monitor("rain", "rain-api", window="1000 rows", checks={
        "performance": {"roc_auc": 0.7}, "estimated_performance": {"roc_auc": 0.7, "misses": 3}})
    runs = {}
    for start in range(6000, 18_000, 1000):
        rows = slice(start, start + 1000)
        ids = await served.predict(X[rows])
        await served.feedback(ids, y[rows])
        served.flush()
        runs[start] = monitoring.run_monitor("rain").results[0]

    table = []
    for start, result in runs.items():
        est = result.check("estimated_performance.roc_auc")
        table.append((start, est.value, est.detail["low"], est.detail["high"], est.detail["realized"],
                      result.check("estimated_performance.assumptions").passed))
    print("\n".join(f"{s:>6} est {e:.3f} [{lo:.3f}, {hi:.3f}] realized {r:.3f} assumptions ok {ok}"
                    for s, e, lo, hi, r, ok in table))
    before = [row for row in table if row[0] + 1000 <= DRIFT_AT]
    after = [row for row in table if row[0] >= DRIFT_AT]
    # before the injected drift: the realized AUC is in the first window's band, then within 0.11 of it
    _, _, lo0, hi0, r0, _ = table[0]
    assert lo0 - 0.03 <= r0 <= hi0 and all(abs(e - r) < 0.11 for _, e, _, _, r, _ in before)
    # the estimate sees the drift point (a drop of more than 0.05) but not its size (concept drift)
    assert min(e for _, e, *_ in before) - max(e for _, e, *_ in after) > 0.05
    assert all(e - r > 0.3 for _, e, _, _, r, _ in after)
    # labels contradict the estimate: the check says its assumptions no longer hold and stops deciding
    assert all(ok is False for *_, ok in after)
    assert runs[17_000].check("estimated_performance.roc_auc").passed is None
    assert runs[6000].check("estimated_performance.assumptions").passed is True
