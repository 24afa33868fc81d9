"""Run the code blocks of one page (a JSON list from tests/docs/_blocks.py) in this process's folder.

Exit 0 when every block ran; otherwise exit 1 with ``FAILED <page>:<line>`` and the error on stderr.
Run by tests/docs/test_code_blocks.py in a fresh folder with a fresh SHIPYARD_HOME.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import traceback

import orjson


def main(spec_path: str) -> int:
    with open(spec_path, "rb") as file:
        spec = orjson.loads(file.read())
    namespace: dict[str, object] = {"__name__": "__main__"}
    background: list[subprocess.Popen[bytes]] = []
    try:
        for block in spec:
            where = f"{block['page']}:{block['line']}"
            if block["mode"] == "skip":
                continue
            if block["kind"] == "python":
                try:
                    exec(compile(block["code"], where, "exec"), namespace)
                except BaseException:
                    sys.stderr.write(f"FAILED {where} (python)\n{traceback.format_exc()}")
                    return 1
            elif block["mode"] == "background":
                background.append(subprocess.Popen(["bash", "-c", block["code"]], start_new_session=True))
            else:
                done = subprocess.run(["bash", "-euo", "pipefail", "-c", block["code"]], capture_output=True,
                                      timeout=600)
                if done.returncode != 0:
                    sys.stderr.write(f"FAILED {where} (shell, exit {done.returncode})\n{block['code']}\n--- stdout\n"
                                     f"{done.stdout.decode(errors='replace')[-3000:]}\n--- stderr\n"
                                     f"{done.stderr.decode(errors='replace')[-3000:]}\n")
                    return 1
        return 0
    finally:
        for proc in background:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
