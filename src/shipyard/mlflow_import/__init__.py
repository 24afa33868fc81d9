"""Importing an existing MLflow tracking store into shipyard (``shipyard import mlflow SOURCE``).

See :func:`import_mlflow`. MLflow itself is not needed: its database is read with plain SQL, an
``mlruns/`` folder as files.
"""

from __future__ import annotations

from shipyard.mlflow_import._importer import ImportSummary, import_mlflow

__all__ = ["ImportSummary", "import_mlflow"]
