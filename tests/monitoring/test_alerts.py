"""Alert delivery to a real HTTP receiver on 127.0.0.1, one alert per incident, and the other channels."""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytestmark = pytest.mark.anyio
ONLY_PERFORMANCE = {"feature_drift": False, "prediction_drift": False, "data_quality": False, "service": False}


class Receiver:
    """An HTTP endpoint that answers 500 to the first ``fail_first`` POSTs, then 200, and keeps
    every body it accepted."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first, self.attempts, self.accepted = fail_first, 0, []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.attempts += 1
                if receiver.attempts <= receiver.fail_first:
                    self.send_response(500)
                else:
                    receiver.accepted.append(json.loads(body))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def allow(tmp_path, monkeypatch, *commands: list[str]) -> None:
    """The operator's configuration: webhooks to 127.0.0.1 (the receivers) and these commands."""
    listed = ", ".join(f"c{i} = {json.dumps(argv)}" for i, argv in enumerate(commands))
    config = tmp_path / "server.toml"
    config.write_text(f'[alerts]\ncommands = {{ {listed} }}\nwebhook_hosts = ["127.0.0.1"]\n')
    monkeypatch.setenv("SHIPYARD_SERVER_CONFIG", str(config))


@pytest.fixture
def receiver():
    made = []

    def go(fail_first: int = 0) -> Receiver:
        made.append(Receiver(fail_first))
        return made[-1]

    yield go
    for r in made:
        r.close()


async def test_webhook_delivers_once_after_retries_and_resolves(serve_rainfall, rainfall, receiver, tmp_path,
                                                                 monkeypatch):
    from shipyard import monitoring

    X, y, _ = rainfall
    hook, slack = receiver(fail_first=2), receiver()
    marker = tmp_path / "command-alerts.jsonl"
    command = [sys.executable, "-c", f"import sys; open({str(marker)!r}, 'a').write(sys.stdin.read() + '\\n')"]
    allow(tmp_path, monkeypatch, command)
    served = serve_rainfall()
    monitoring.create_monitor(
        "rain", "rain-api", window=500, checks={**ONLY_PERFORMANCE, "performance": {"accuracy": 0.7}},
        channels=[{"type": "webhook", "url": hook.url, "retries": 3, "backoff_s": 0.05},
                  {"type": "webhook", "url": slack.url, "format": "slack"},
                  {"type": "command", "argv": command}, "log"])

    async def window(rows: slice, flip: bool) -> monitoring.MonitorRun:
        ids = await served.predict(X[rows])
        await served.feedback(ids, 1 - y[rows] if flip else y[rows])  # flipped labels: accuracy collapses
        served.flush()
        return monitoring.run_monitor("rain")

    assert (await window(slice(6000, 6500), flip=False)).status == "ok"
    bad = [await window(slice(s, s + 500), flip=True) for s in (6500, 7000, 7500)]
    assert all(run.status == "alert" for run in bad)
    assert [e.event for e in bad[0].events] == ["opened"] and not bad[1].events and not bad[2].events
    # delivered once, on the third attempt; the other channels once each
    assert hook.attempts == 3 and len(hook.accepted) == 1
    notice = hook.accepted[0]
    assert notice["event"] == "opened" and notice["check"] == "performance.accuracy"
    assert notice["monitor"] == "rain" and notice["deployment"] == "rain-api" and notice["version"] == 1
    assert notice["value"] < 0.7 and notice["threshold"] == 0.7 and notice["op"] == "min"
    assert len(slack.accepted) == 1 and set(slack.accepted[0]) == {"text"}
    assert "ALERT rain" in slack.accepted[0]["text"] and "performance.accuracy" in slack.accepted[0]["text"]

    good = await window(slice(8000, 8500), flip=False)
    assert [e.event for e in good.events] == ["resolved"]
    assert [n["event"] for n in hook.accepted] == ["opened", "resolved"] and hook.attempts == 4
    assert [json.loads(line)["event"] for line in marker.read_text().splitlines()] == ["opened", "resolved"]

    (alert,) = served_store().list_alerts("rain")
    assert alert.state == "RESOLVED" and alert.resolved_time is not None
    first = [d for d in alert.deliveries if d["event"] == "opened" and d["channel"] == "webhook"]
    assert [d["attempts"] for d in first] == [3, 1] and all(d["ok"] for d in alert.deliveries)


def served_store():
    import shipyard

    return shipyard.Client().store


async def test_a_failing_channel_is_recorded_and_does_not_stop_the_others(serve_rainfall, rainfall, receiver,
                                                                          tmp_path, monkeypatch):
    from shipyard import monitoring

    allow(tmp_path, monkeypatch)

    X, y, _ = rainfall
    down = receiver(fail_first=100)
    up = receiver()
    served = serve_rainfall()
    monitoring.create_monitor("rain", "rain-api", window=300,
                              checks={**ONLY_PERFORMANCE, "performance": {"accuracy": 0.9}},
                              channels=[{"type": "webhook", "url": down.url, "retries": 1, "backoff_s": 0.01},
                                        {"type": "webhook", "url": up.url}])
    ids = await served.predict(X[6000:6300])
    await served.feedback(ids, 1 - y[6000:6300])
    served.flush()
    run = monitoring.run_monitor("rain")
    assert [e.event for e in run.events] == ["opened"]
    assert down.attempts == 2 and len(up.accepted) == 1
    (alert,) = served_store().list_alerts("rain", state="OPEN")
    assert [(d["ok"], d["attempts"]) for d in alert.deliveries] == [(False, 2), (True, 1)]
    assert "HTTP 500" in alert.deliveries[0]["error"]
