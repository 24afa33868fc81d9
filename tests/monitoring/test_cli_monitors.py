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


async def test_monitors_from_the_command_line(serve_rainfall, rainfall, cli):
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
