"""``shipyard monitors create|list|show|run|results|alerts|delete`` over a served rainfall model."""

from __future__ import annotations

import orjson
import pytest

from shipyard.cli import main

pytestmark = pytest.mark.anyio


@pytest.fixture
def cli(capsys):
    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(argv))
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


async def test_monitors_from_the_command_line(serve_rainfall, rainfall, cli, monkeypatch):
    X, y, _ = rainfall
    served = serve_rainfall()
    code, out, _ = cli("monitors", "create", "rain", "--deployment", "rain-api", "--window", "1000 rows",
                       "--threshold", "accuracy=0.7", "--threshold", "log_loss<=0.6", "--schedule", "every 10m")
    assert code == 0 and "created monitor rain" in out
    code, _, err = cli("monitors", "create", "bad", "--deployment", "rain-api", "--window", "soon")
    assert code == 1 and "window" in err
    code, _, err = cli("monitors", "create", "bad", "--deployment", "rain-api", "--window", "5", "--schedule", "x")
    assert code == 1 and "cron" in err

    for start, expect in ((6000, 0), (12_000, 3)):
        ids = await served.predict(X[start:start + 1000])
        await served.feedback(ids, y[start:start + 1000])
        served.flush()
        code, out, err = cli("monitors", "run", "rain")
        assert code == expect, (out, err)
    assert "performance.accuracy" in out and "ALERT" in out and "ALERT rain" in err

    code, out, _ = cli("--json", "monitors", "results", "rain")
    series = orjson.loads(out)
    assert code == 0 and [r["status"] for r in series] == ["ok", "alert"]
    accuracy = [next(c for c in r["checks"] if c["check"] == "performance.accuracy") for r in series]
    assert accuracy[0]["passed"] is True and accuracy[1]["passed"] is False
    code, out, _ = cli("monitors", "results", "rain")
    assert code == 0 and "performance.accuracy" in out
    # at 80 columns: whole cells only (never "0.…"), the columns that do not fit named on stderr
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = cli("monitors", "results", "rain")
    assert code == 0 and "…" not in out and all(len(line) <= 80 for line in out.splitlines())
    assert "hidden to fit 80" in err
    hidden = err.replace("\n", " ")
    assert "performance.accuracy" in hidden or f"{accuracy[1]['value']:.3g}" in out  # hidden, or shown whole
    code, out, _ = cli("monitors", "results", "rain", "--output", "csv", "--columns", "Status,performance.accuracy")
    assert out.splitlines() == ["Status,performance.accuracy", f"ok,{accuracy[0]['value']}",
                                f"alert,{accuracy[1]['value']}"]
    monkeypatch.delenv("COLUMNS")
    code, out, _ = cli("--json", "monitors", "list")
    (listed,) = orjson.loads(out)
    assert listed["spec"]["schedule"] == "every 10m" and listed["latest"][0]["status"] == "alert"
    code, out, _ = cli("monitors", "show", "rain")
    assert code == 0 and "dew point" in out and "1000 rows" in out
    code, out, _ = cli("--json", "monitors", "alerts", "rain", "--open")
    assert {a["check"] for a in orjson.loads(out)} >= {"performance.accuracy", "performance.log_loss"}
    code, out, _ = cli("monitors", "delete", "rain")
    assert code == 0
    code, _, err = cli("monitors", "show", "rain")
    assert code == 1 and "not found" in err
