"""Model artifacts the daemon can trust or refuse, never half-load.

The same contract as the policy's (``policies/artifact.py``), for the signal,
volatility and regime models::

    <name>/
      arrays.safetensors  every number the model needs (safetensors: no code runs on load)
      manifest.json       kind, format version, feature spec, training data and split,
                          evaluation figures, code version
      SHA256SUMS          sha256 of the two files above, ``sha256sum`` format

The *artifact digest* is the sha256 of SHA256SUMS, so one hash pins every byte.
Loading checks every listed sum, then the format and kind, then hands the arrays to
the model, which checks their names, shapes and finiteness. Nothing is unpickled.
Any failure is an :class:`ArtifactRefused` saying what and where.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from core import pinned_dir
from core.pinned_dir import MANIFEST, SUMS

ARRAYS = "arrays.safetensors"
FORMAT = "rlexec-signals"
FORMAT_VERSION = 1
# Largest file of each kind the loader reads: anything bigger is refused before it is
# read, so a huge or endless file cannot exhaust memory. The committed models are
# ~200 kB of arrays and ~10 kB of manifest.
MAX_BYTES = {SUMS: 64 * 1024, MANIFEST: 4 * 1024 * 1024, ARRAYS: 64 * 1024 * 1024}
F64 = npt.NDArray[np.float64]


class ArtifactRefused(ValueError):
    """The artifact is corrupt, incomplete, tampered with, or for another model or code."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"model artifact {self.path} refused: {problem}")


@dataclass(frozen=True, slots=True)
class Artifact:
    path: Path
    kind: str
    manifest: dict[str, Any]
    arrays: dict[str, F64]
    digest: str

    def array(self, name: str, shape: tuple[int, ...]) -> F64:
        """A named array of exactly ``shape``, all finite, or the artifact is refused."""
        a = self.arrays.get(name)
        if a is None:
            raise ArtifactRefused(self.path, f"array {name!r} is missing")
        if a.shape != shape:
            raise ArtifactRefused(self.path, f"array {name!r} has shape {a.shape}, needs {shape}")
        if not np.isfinite(a).all():
            raise ArtifactRefused(self.path, f"array {name!r} holds NaN or infinite values")
        return a

    def field(self, key: str) -> Any:
        if key not in self.manifest:
            raise ArtifactRefused(self.path, f"manifest has no {key!r}")
        return self.manifest[key]


def code_version() -> str:
    """The git commit of the code writing the artifact (plus '-dirty'), if known."""
    root = Path(__file__).resolve().parent.parent
    return pinned_dir.code_version(root, "signals", ":!signals/artifacts")


def save(path: str | Path, kind: str, arrays: Mapping[str, F64], manifest: dict[str, Any]) -> str:
    """Write an artifact atomically (a temp folder renamed into place); its digest."""

    def write(folder: Path) -> None:
        save_file({k: np.ascontiguousarray(v, dtype=np.float64) for k, v in arrays.items()},
                  str(folder / ARRAYS))  # fmt: skip
        pinned_dir.write_manifest(
            folder,
            {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": kind,
             "code_version": code_version(), **manifest},
        )  # fmt: skip

    return pinned_dir.save(path, write, (MANIFEST, ARRAYS))


def load(path: str | Path, kind: str, expected_sha256: str | None = None) -> Artifact:
    """Verify and read an artifact of ``kind``; :class:`ArtifactRefused` otherwise."""
    p = Path(path)
    checked = pinned_dir.verify(p, (ARRAYS,), MAX_BYTES, ArtifactRefused, expected_sha256)
    manifest, digest = checked.manifest, checked.digest
    pinned_dir.check_format(p, manifest, FORMAT, FORMAT_VERSION, ArtifactRefused)
    if manifest.get("kind") != kind:
        raise ArtifactRefused(p, f"a {manifest.get('kind')!r} model, not a {kind!r} model")
    try:
        arrays = load_file(str(p / ARRAYS))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ArtifactRefused(p, f"{ARRAYS} is not a readable safetensors file: {exc}") from None
    for name, a in arrays.items():
        if a.dtype != np.float64:
            raise ArtifactRefused(p, f"array {name!r} is {a.dtype}, expected float64")
    return Artifact(p, kind, manifest, dict(arrays), digest)


def check_spec(art: Artifact, key: str, expected: object) -> None:
    """The manifest's ``key`` equals what this code computes, or the artifact is refused."""
    got = art.field(key)
    if got != expected:
        raise ArtifactRefused(art.path, f"{key} {got!r} does not match this code's {expected!r}")
