"""Prints how many documentation blocks ran and were skipped (and why) after the test session."""

from __future__ import annotations

from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from tests.docs.test_code_blocks import SUMMARY

    if not SUMMARY:
        return
    ran = sum(r for r, _, _ in SUMMARY.values())
    skipped = sum(s for _, s, _ in SUMMARY.values())
    terminalreporter.write_sep("-", f"documentation code blocks: {ran} run, {skipped} skipped")
    for page, (_, _, reasons) in sorted(SUMMARY.items()):
        for reason in reasons:
            terminalreporter.write_line(f"skipped {page} {reason}")
