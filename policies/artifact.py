"""Policy artifacts: a directory the daemon can trust or refuse, never half-load.

Layout::

    <name>/
      weights.safetensors   the policy network (safetensors: no code runs on load)
      manifest.json         feature spec, normalisation, action spec, network shape,
                            data hashes, code version, training and evaluation figures
      SHA256SUMS            sha256 of the two files above, ``sha256sum`` format

The *artifact digest* is the sha256 of the SHA256SUMS file, so one hash pins every
byte; the daemon's ``load_policy`` command may pass it (or the manifest's own sha256)
as ``expected_sha256``. Loading verifies every listed sum, then the manifest's format,
feature spec and action spec against this code, then every tensor's name, shape and
finiteness. Any failure raises :class:`ArtifactError` saying what and where; nothing
is ever unpickled (``torch.load`` is not used at all).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from policies.actions import ACTION_TABLES, ActionSpec
from policies.features import FeatureSpec, Normaliser, check_spec_names
from policies.network import PolicyNet

WEIGHTS = "weights.safetensors"
MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
FORMAT = "rlexec-policy"
FORMAT_VERSION = 1
_SUM_LINE = re.compile(r"^([0-9a-f]{64})  ([A-Za-z0-9_.\-]+)$")
# Largest file of each kind the loader reads; anything bigger is refused before a byte of
# it is read, so a huge (or sparse, or endless) file cannot exhaust memory or stall a
# load_policy command. The shipped policy is ~25 kB of weights and ~14 kB of manifest.
MAX_BYTES = {SUMS: 64 * 1024, MANIFEST: 16 * 1024 * 1024, WEIGHTS: 512 * 1024 * 1024}


class ArtifactError(ValueError):
    """The artifact is corrupt, incomplete, tampered with or made for other code."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"policy artifact {self.path} refused: {problem}")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def code_version() -> str:
    """The git commit of the code that wrote the artifact (plus '-dirty'), if known."""
    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "policies"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return rev + ("-dirty" if dirty else "")


@dataclass(frozen=True, slots=True)
class LoadedArtifact:
    path: Path
    net: PolicyNet
    feature_spec: FeatureSpec
    normaliser: Normaliser
    action_spec: ActionSpec
    manifest: dict[str, Any]
    digest: str  # sha256 of SHA256SUMS: pins every byte of the artifact
    manifest_sha256: str


def save_artifact(
    path: str | Path,
    net: PolicyNet,
    *,
    feature_spec: FeatureSpec,
    normaliser: Normaliser,
    action_spec: ActionSpec,
    extra: dict[str, Any] | None = None,
) -> str:
    """Write an artifact atomically (temp dir, then rename); returns its digest."""
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(tmp / WEIGHTS))
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "network": net.spec(),
        "tensors": {k: list(v.shape) for k, v in state.items()},
        "features": feature_spec.to_json(),
        "normalisation": normaliser.to_json(),
        "actions": action_spec.to_json(),
        "code_version": code_version(),
        **(extra or {}),
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    sums = "".join(f"{sha256_file(tmp / n)}  {n}\n" for n in (MANIFEST, WEIGHTS))
    (tmp / SUMS).write_text(sums)
    for name in (WEIGHTS, MANIFEST, SUMS):
        (tmp / name).chmod(0o644)  # readable by the daemon's service user
        with (tmp / name).open("rb") as f:
            os.fsync(f.fileno())
    tmp.chmod(0o755)
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old")
        if old.exists():
            _rmtree(old)
        dest.rename(old)
        tmp.rename(dest)
        _rmtree(old)
    else:
        tmp.rename(dest)
    return hashlib.sha256(sums.encode()).hexdigest()


def _rmtree(p: Path) -> None:
    for child in p.iterdir():
        child.unlink()
    p.rmdir()


def artifact_digest(path: str | Path) -> str:
    """sha256 of the artifact's SHA256SUMS (what ``expected_sha256`` pins)."""
    return sha256_file(Path(path) / SUMS)


def load_artifact(path: str | Path, expected_sha256: str | None = None) -> LoadedArtifact:
    p = Path(path)
    if not p.is_dir():
        raise ArtifactError(p, "not a directory")
    sums_path = p / SUMS
    if not sums_path.is_file():
        raise ArtifactError(p, f"{SUMS} is missing")
    _check_size(p, SUMS)
    sums_raw = sums_path.read_bytes()
    digest = hashlib.sha256(sums_raw).hexdigest()
    listed = _parse_sums(p, sums_raw)
    for name in (WEIGHTS, MANIFEST):
        if name not in listed:
            raise ArtifactError(p, f"{SUMS} does not list {name}")
    for name, want in listed.items():
        f = p / name
        if not f.is_file():
            raise ArtifactError(p, f"{name} is missing")
        _check_size(p, name)
        got = sha256_file(f)
        if got != want:
            raise ArtifactError(
                p, f"{name} sha256 {got} does not match {SUMS} ({want}): corrupt or altered"
            )
    manifest_sha = listed[MANIFEST]
    if expected_sha256 is not None:
        want = expected_sha256.strip().lower()
        if want not in (digest, manifest_sha):
            raise ArtifactError(
                p,
                f"expected sha256 {want} matches neither the artifact digest {digest} nor the manifest {manifest_sha}",
            )
    try:
        manifest = json.loads((p / MANIFEST).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(p, f"{MANIFEST} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict):
        raise ArtifactError(p, f"{MANIFEST} is not a JSON object")
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            p,
            f"format {manifest.get('format')!r} v{manifest.get('format_version')!r}, this code reads {FORMAT!r} v{FORMAT_VERSION}",
        )
    try:
        fspec = FeatureSpec.from_json(manifest["features"])
        aspec = ActionSpec.from_json(manifest["actions"])
        net_spec = manifest["network"]
        n_in, n_out = int(net_spec["inputs"]), int(net_spec["outputs"])
        hidden = tuple(int(h) for h in net_spec["hidden"])
        if net_spec.get("activation") != "tanh":
            raise ValueError(f"activation {net_spec.get('activation')!r} is not tanh")
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(p, f"manifest is malformed: {exc}") from exc
    try:
        check_spec_names(fspec.names, fspec.version)
    except ValueError as exc:
        raise ArtifactError(p, str(exc)) from None
    if not aspec.known:
        raise ArtifactError(
            p,
            f"action spec {aspec.names} v{aspec.version} is none of this code's tables "
            f"(v{', v'.join(str(v) for v in sorted(ACTION_TABLES))})",
        )
    if n_in != len(fspec.names) or n_out != aspec.n:
        raise ArtifactError(
            p,
            f"network is {n_in} -> {n_out}, features and actions need {len(fspec.names)} -> {aspec.n}",
        )
    try:
        normaliser = Normaliser.from_json(manifest["normalisation"], n_in)
    except (KeyError, ValueError) as exc:
        raise ArtifactError(p, f"normalisation: {exc}") from exc
    try:
        state = load_file(str(p / WEIGHTS))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ArtifactError(p, f"{WEIGHTS} is not a readable safetensors file: {exc}") from exc
    net = PolicyNet(n_in, n_out, hidden)
    expected = net.expected_shapes()
    if set(state) != set(expected):
        raise ArtifactError(
            p, f"tensors {sorted(state)} differ from the network's {sorted(expected)}"
        )
    for k, t in state.items():
        if tuple(t.shape) != expected[k]:
            raise ArtifactError(
                p, f"tensor {k} has shape {tuple(t.shape)}, the network needs {expected[k]}"
            )
        if t.dtype != torch.float32:
            raise ArtifactError(p, f"tensor {k} is {t.dtype}, expected float32")
        if not torch.isfinite(t).all():
            raise ArtifactError(p, f"tensor {k} holds NaN or infinite values")
    net.load_state_dict(state)
    net.eval()
    return LoadedArtifact(p, net, fspec, normaliser, aspec, manifest, digest, manifest_sha)


def _check_size(p: Path, name: str) -> None:
    limit = MAX_BYTES.get(name, MAX_BYTES[WEIGHTS])
    size = (p / name).stat().st_size
    if size > limit:
        raise ArtifactError(p, f"{name} is {size:,} bytes, more than the {limit:,} allowed")


def _parse_sums(p: Path, raw: bytes) -> dict[str, str]:
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as exc:
        raise ArtifactError(p, f"{SUMS} is not ASCII") from exc
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        m = _SUM_LINE.match(line)
        if m is None:
            raise ArtifactError(p, f"{SUMS} line {n} is not '<sha256>  <file name>': {line[:80]!r}")
        if m[2] in out:
            raise ArtifactError(p, f"{SUMS} lists {m[2]} twice")
        out[m[2]] = m[1]
    return out
