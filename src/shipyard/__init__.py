"""shipyard: the whole MLOps loop in one package (placeholder face, filled in by the tracking work)."""
from __future__ import annotations
__version__ = "0.1.0"
