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

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

ARRAYS = "arrays.safetensors"
MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
FORMAT = "rlexec-signals"
FORMAT_VERSION = 1
# Largest file of each kind the loader reads: anything bigger is refused before it is
# read, so a huge or endless file cannot exhaust memory. The committed models are
# ~200 kB of arrays and ~10 kB of manifest.
MAX_BYTES = {SUMS: 64 * 1024, MANIFEST: 4 * 1024 * 1024, ARRAYS: 64 * 1024 * 1024}
_SUM_LINE = re.compile(r"^([0-9a-f]{64})  ([A-Za-z0-9_.\-]+)$")
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


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def code_version() -> str:
    """The git commit of the code writing the artifact (plus '-dirty'), if known."""
    root = Path(__file__).resolve().parent.parent
    try:
        run = subprocess.run
        rev = run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
                  capture_output=True, text=True, timeout=5, check=True).stdout.strip()  # fmt: skip
        dirty = run(["git", "-C", str(root), "status", "--porcelain", "--", "signals", ":!signals/artifacts"],
                    capture_output=True, text=True, timeout=5, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return rev + ("-dirty" if dirty else "")


def save(path: str | Path, kind: str, arrays: Mapping[str, F64], manifest: dict[str, Any]) -> str:
    """Write an artifact atomically (a temp folder renamed into place); its digest."""
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        save_file({k: np.ascontiguousarray(v, dtype=np.float64) for k, v in arrays.items()},
                  str(tmp / ARRAYS))  # fmt: skip
        body = {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": kind,
                "code_version": code_version(), **manifest}  # fmt: skip
        (tmp / MANIFEST).write_text(
            json.dumps(body, indent=2, sort_keys=True, allow_nan=False) + "\n"
        )
        sums = "".join(f"{sha256_of(tmp / n)}  {n}\n" for n in (MANIFEST, ARRAYS))
        (tmp / SUMS).write_text(sums)
        for name in (ARRAYS, MANIFEST, SUMS):
            (tmp / name).chmod(0o644)
            with (tmp / name).open("rb") as f:
                os.fsync(f.fileno())
        tmp.chmod(0o755)
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            dest.rename(old)
            tmp.rename(dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return hashlib.sha256(sums.encode()).hexdigest()


def load(path: str | Path, kind: str, expected_sha256: str | None = None) -> Artifact:
    """Verify and read an artifact of ``kind``; :class:`ArtifactRefused` otherwise."""
    p = Path(path)
    if not p.is_dir():
        raise ArtifactRefused(p, "not a directory")
    sums_path = p / SUMS
    if not sums_path.is_file():
        raise ArtifactRefused(p, f"{SUMS} is missing")
    _check_size(p, SUMS)
    raw = sums_path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    listed = _parse_sums(p, raw)
    for name in (ARRAYS, MANIFEST):
        if name not in listed:
            raise ArtifactRefused(p, f"{SUMS} does not list {name}")
    for name, want in listed.items():
        f = p / name
        if not f.is_file():
            raise ArtifactRefused(p, f"{name} is missing")
        _check_size(p, name)
        got = sha256_of(f)
        if got != want:
            raise ArtifactRefused(p, f"{name} sha256 {got} is not {want} ({SUMS}): corrupt or altered")  # fmt: skip
    if expected_sha256 is not None and expected_sha256.strip().lower() not in (digest, listed[MANIFEST]):  # fmt: skip
        raise ArtifactRefused(p, f"digest {digest} is not the expected {expected_sha256.strip()}")
    try:
        manifest = json.loads((p / MANIFEST).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactRefused(p, f"{MANIFEST} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict):
        raise ArtifactRefused(p, f"{MANIFEST} is not a JSON object")
    fmt = (manifest.get("format"), manifest.get("format_version"))
    if fmt != (FORMAT, FORMAT_VERSION):
        raise ArtifactRefused(p, f"format {fmt[0]!r} v{fmt[1]!r}; this code reads {FORMAT!r} v{FORMAT_VERSION}")  # fmt: skip
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


def _check_size(p: Path, name: str) -> None:
    cap = MAX_BYTES.get(name, MAX_BYTES[SUMS])
    size = (p / name).stat().st_size
    if size > cap:
        raise ArtifactRefused(p, f"{name} is {size} bytes, more than the {cap} this loader reads")


def _parse_sums(p: Path, raw: bytes) -> dict[str, str]:
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise ArtifactRefused(p, f"{SUMS} is not ASCII") from None
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        m = _SUM_LINE.match(line)
        if m is None:
            raise ArtifactRefused(p, f"{SUMS} line {n} is not '<sha256>  <file>': {line[:80]!r}")
        if m[2] in out:
            raise ArtifactRefused(p, f"{SUMS} lists {m[2]} twice")
        out[m[2]] = m[1]
    return out


def check_spec(art: Artifact, key: str, expected: object) -> None:
    """The manifest's ``key`` equals what this code computes, or the artifact is refused."""
    got = art.field(key)
    if got != expected:
        raise ArtifactRefused(art.path, f"{key} {got!r} does not match this code's {expected!r}")
