"""``python -m shipyard``: the ``shipyard`` command."""

from __future__ import annotations

from shipyard.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
