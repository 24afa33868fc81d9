"""The model registry: registered models, versions, aliases (champion / challenger) and lineage."""

from __future__ import annotations

from shipyard.registry.client import MODEL_DIGEST_TAG, RegistryClient

__all__ = ["MODEL_DIGEST_TAG", "RegistryClient"]
