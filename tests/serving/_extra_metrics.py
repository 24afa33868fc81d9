"""Extra /metrics text for the serving tests, importable by name from a worker process."""

from __future__ import annotations

import os


def scrape() -> str:
    return f'# TYPE test_monitor_gauge gauge\ntest_monitor_gauge{{pid="{os.getpid()}"}} 1.5\n'


not_callable = 42
