"""The model manifest (``MLmodel.yaml``) and the file-integrity check that guards every load.

The manifest records the SHA-256 of every other file of the model directory. :func:`verify_files`
refuses a directory where a listed file is missing or changed, or where a file appears that the
manifest does not list; loaders read the model file through :func:`read_verified`, so the bytes
they deserialize are the bytes that were hashed.

The manifest cannot list its own hash. Whoever records a model (the registry) keeps
``ModelManifest.digest`` — the SHA-256 of ``MLmodel.yaml`` — and passes it back as
``expected_digest`` when loading, which closes the loop against an edited manifest.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from shipyard.errors import IntegrityCheckFailed, InvalidInput, NotFound
from shipyard.models._signature import Signature

__all__ = ["MANIFEST_NAME", "ModelManifest", "hash_tree", "read_manifest", "read_verified", "verify_files"]

MANIFEST_NAME = "MLmodel.yaml"
FORMAT_VERSION = 1
_CHUNK = 1 << 20


@dataclass(slots=True)
class ModelManifest:
    """What ``MLmodel.yaml`` says about a model directory.

    ``path`` (the directory it was read from or saved to) and ``digest`` (SHA-256 of the manifest
    file) are not part of the file itself.
    """

    flavor: str
    model_file: str
    serialization: str
    model_class: str
    python_version: str
    created_at_ms: int
    loader_module: str = "shipyard.models._flavors"
    format_version: int = FORMAT_VERSION
    shipyard_version: str = ""
    libraries: dict[str, str] = field(default_factory=dict)
    pip_requirements: list[str] = field(default_factory=list)
    signature: Signature | None = None
    input_example: str | None = None
    reference_profile: str | None = None
    prediction_profile: str | None = None
    code_paths: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    #: name -> path in the directory of each ``artifacts={...}`` entry (``PythonModelContext.artifacts``)
    artifacts: dict[str, str] = field(default_factory=dict)
    model_config: dict[str, Any] = field(default_factory=dict)
    path: Path | None = field(default=None, compare=False)
    digest: str | None = field(default=None, compare=False)

    @property
    def reference_profile_path(self) -> Path | None:
        """Where the reference profile of the training data lies, if one was saved."""
        if self.path is None or self.reference_profile is None:
            return None
        return self.path / self.reference_profile

    def to_dict(self) -> dict[str, Any]:
        extra: dict[str, Any] = {}  # written only when used, so other manifests keep their bytes
        if self.artifacts:
            extra["artifacts"] = dict(sorted(self.artifacts.items()))
        if self.model_config:
            extra["model_config"] = dict(self.model_config)
        return {
            "format_version": self.format_version,
            "flavor": self.flavor,
            "loader_module": self.loader_module,
            "model_file": self.model_file,
            "serialization": self.serialization,
            "model_class": self.model_class,
            "python_version": self.python_version,
            "shipyard_version": self.shipyard_version,
            "created_at_ms": self.created_at_ms,
            "libraries": dict(self.libraries),
            "pip_requirements": list(self.pip_requirements),
            "signature": None if self.signature is None else self.signature.to_dict(),
            "input_example": self.input_example,
            "reference_profile": self.reference_profile,
            "prediction_profile": self.prediction_profile,
            "code_paths": list(self.code_paths),
            "metadata": dict(self.metadata),
            **extra,
            "files": dict(sorted(self.files.items())),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelManifest:
        try:
            version = int(d.get("format_version", 0))
            if version > FORMAT_VERSION:
                raise InvalidInput(
                    f"model format version {version} is newer than this shipyard understands "
                    f"({FORMAT_VERSION}); upgrade shipyard to load it"
                )
            sig = d.get("signature")
            return cls(
                format_version=version,
                flavor=str(d["flavor"]),
                loader_module=str(d.get("loader_module", "")),
                model_file=str(d["model_file"]),
                serialization=str(d["serialization"]),
                model_class=str(d.get("model_class", "")),
                python_version=str(d.get("python_version", "")),
                shipyard_version=str(d.get("shipyard_version", "")),
                created_at_ms=int(d.get("created_at_ms", 0)),
                libraries={str(k): str(v) for k, v in (d.get("libraries") or {}).items()},
                pip_requirements=[str(r) for r in d.get("pip_requirements") or []],
                signature=None if sig is None else Signature.from_dict(sig),
                input_example=d.get("input_example"),
                reference_profile=d.get("reference_profile"),
                prediction_profile=d.get("prediction_profile"),
                code_paths=[str(p) for p in d.get("code_paths") or []],
                metadata=dict(d.get("metadata") or {}),
                files={str(k): str(v) for k, v in (d.get("files") or {}).items()},
                artifacts={str(k): _safe_relpath(str(v)) for k, v in (d.get("artifacts") or {}).items()},
                model_config=dict(d.get("model_config") or {}),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, InvalidInput):
                raise
            raise IntegrityCheckFailed(f"malformed model manifest: {exc!r}") from exc

    def dump(self) -> bytes:
        """The YAML text of the manifest, as written to ``MLmodel.yaml``."""
        try:
            text = yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False, allow_unicode=True)
        except yaml.YAMLError as exc:
            raise InvalidInput(f"model metadata must hold plain str/int/float/bool/list/dict values: {exc}") from exc
        return text.encode("utf-8")


def _manifest_file(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    return p if p.name == MANIFEST_NAME and p.is_file() else p / MANIFEST_NAME


def read_manifest(path: str | os.PathLike[str]) -> ModelManifest:
    """Read ``MLmodel.yaml`` of a model directory (or the file itself). Verifies nothing else."""
    file = _manifest_file(path)
    if not file.is_file() and (file.parent / "MLmodel").is_file():  # a model directory MLflow wrote
        from shipyard.models._mlflow_dir import mlflow_manifest

        return mlflow_manifest(file.parent)
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"{file.parent} is not a shipyard model directory: it has no {MANIFEST_NAME}") from None
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise IntegrityCheckFailed(f"{file} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise IntegrityCheckFailed(f"{file} does not hold a model manifest")
    manifest = ModelManifest.from_dict(data)
    manifest.path = file.parent
    manifest.digest = hashlib.sha256(raw).hexdigest()
    return manifest


def _safe_relpath(rel: str) -> str:
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts or not p.parts or "\\" in rel:
        raise IntegrityCheckFailed(f"manifest lists an unsafe path {rel!r}; refusing to load this model")
    return rel


def _hash_file(file: Path) -> str:
    with open(file, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _walk(root: Path) -> list[str]:
    """Relative POSIX paths of every file under ``root``; a symlink is an error."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = Path(dirpath, name)
            if full.is_symlink():
                rel = full.relative_to(root).as_posix()
                raise IntegrityCheckFailed(f"model directory holds a symlink {rel!r}; refusing to load it")
        found.extend(Path(dirpath, name).relative_to(root).as_posix() for name in filenames)
    return found


def hash_tree(root: Path, known: dict[str, str] | None = None) -> dict[str, str]:
    """SHA-256 of every file under ``root`` except the manifest (``known`` hashes are reused)."""
    known = known or {}
    return {rel: known.get(rel) or _hash_file(root / rel) for rel in sorted(_walk(root)) if rel != MANIFEST_NAME}


def verify_files(manifest: ModelManifest, *, skip: tuple[str, ...] = ()) -> None:
    """Raise IntegrityCheckFailed unless the directory holds exactly the listed files, unchanged.

    Files in ``skip`` are checked for presence only; their content is checked by :func:`read_verified`.
    """
    root = manifest.path
    if root is None:
        raise InvalidInput("manifest has no path; read it with read_manifest(path)")
    listed = {_safe_relpath(rel) for rel in manifest.files}
    if manifest.model_file not in listed:
        raise IntegrityCheckFailed(f"manifest does not list the hash of its model file {manifest.model_file!r}")
    present = set(_walk(root)) - {MANIFEST_NAME}
    extra = sorted(present - listed)
    if extra:
        raise IntegrityCheckFailed(
            f"unexpected file {extra[0]!r} in model directory {root}: it is not in the manifest; "
            "remove it or re-save the model"
        )
    for rel in sorted(listed):
        if rel not in present:
            raise IntegrityCheckFailed(f"file {rel!r} listed in the manifest is missing from {root}")
        if rel not in skip and _hash_file(root / rel) != manifest.files[rel]:
            raise IntegrityCheckFailed(
                f"file {rel!r} in {root} does not match its SHA-256 in the manifest: "
                "the model was modified or corrupted; re-download or re-save it"
            )


def read_verified(manifest: ModelManifest, rel: str) -> bytes:
    """The bytes of one listed file, after checking them against the manifest's hash."""
    assert manifest.path is not None
    data = (manifest.path / _safe_relpath(rel)).read_bytes()
    if hashlib.sha256(data).hexdigest() != manifest.files.get(rel):
        raise IntegrityCheckFailed(
            f"file {rel!r} in {manifest.path} does not match its SHA-256 in the manifest: "
            "the model was modified or corrupted; re-download or re-save it"
        )
    return data
