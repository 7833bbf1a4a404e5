"""Policy artifacts: a directory the daemon can trust or refuse, never half-load.

Layout::

    <name>/
      weights.safetensors   the policy network (safetensors: no code runs on load)
      manifest.json         feature spec, normalisation, action spec, network shape,
                            data hashes, code version, training and evaluation figures
      expected_is.json      optional: the backtest's shortfall by size and regime
                            (signals.monitoring.ExpectedShortfall), for live monitoring
      feature_stats.json    optional: each feature's training distribution
                            (signals.monitoring.FeatureStats), for live drift
      SHA256SUMS            sha256 of the files above, ``sha256sum`` format

The two monitoring references are optional so that older artifacts keep loading (the
daemon then reports "no reference" and does not monitor); when present they are
covered by SHA256SUMS like the rest, and one that does not parse, or whose features
are not the artifact's, refuses the artifact.

The *artifact digest* is the sha256 of the SHA256SUMS file, so one hash pins every
byte; the daemon's ``load_policy`` command may pass it (or the manifest's own sha256)
as ``expected_sha256``. Loading verifies every listed sum, then the manifest's format,
feature spec and action spec against this code, then every tensor's name, shape and
finiteness. Any failure raises :class:`ArtifactError` saying what and where; nothing
is ever unpickled (``torch.load`` is not used at all).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from core import pinned_dir
from core.pinned_dir import MANIFEST, SUMS
from policies.actions import ACTION_TABLES, ActionSpec
from policies.features import FeatureSpec, Normaliser, check_spec_names
from policies.network import PolicyNet
from signals.monitoring import ExpectedShortfall, FeatureStats, MonitoringError

WEIGHTS = "weights.safetensors"
EXPECTED_IS = "expected_is.json"
FEATURE_STATS = "feature_stats.json"
FORMAT = "rlexec-policy"
FORMAT_VERSION = 1
# Largest file of each kind the loader reads; anything bigger is refused before a byte of
# it is read, so a huge (or sparse, or endless) file cannot exhaust memory or stall a
# load_policy command. The shipped policy is ~25 kB of weights and ~14 kB of manifest.
MAX_BYTES = {
    SUMS: 64 * 1024,
    MANIFEST: 16 * 1024 * 1024,
    WEIGHTS: 512 * 1024 * 1024,
    EXPECTED_IS: 1024 * 1024,
    FEATURE_STATS: 1024 * 1024,
}


class ArtifactError(ValueError):
    """The artifact is corrupt, incomplete, tampered with or made for other code."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"policy artifact {self.path} refused: {problem}")


def code_version() -> str:
    """The git commit of the code that wrote the artifact (plus '-dirty'), if known."""
    return pinned_dir.code_version(Path(__file__).resolve().parent.parent, "policies")


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
    expected_is: ExpectedShortfall | None = None  # None: an artifact without one
    feature_stats: FeatureStats | None = None


def save_artifact(
    path: str | Path,
    net: PolicyNet,
    *,
    feature_spec: FeatureSpec,
    normaliser: Normaliser,
    action_spec: ActionSpec,
    extra: dict[str, Any] | None = None,
    expected_is: ExpectedShortfall | None = None,
    feature_stats: FeatureStats | None = None,
) -> str:
    """Write an artifact atomically (temp dir, then rename); returns its digest.
    ``expected_is`` and ``feature_stats``: the monitoring references, when known."""
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    refs = _reference_files(expected_is, feature_stats)

    def write(folder: Path) -> None:
        save_file(state, str(folder / WEIGHTS))
        pinned_dir.write_manifest(
            folder,
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "network": net.spec(),
                "tensors": {k: list(v.shape) for k, v in state.items()},
                "features": feature_spec.to_json(),
                "normalisation": normaliser.to_json(),
                "actions": action_spec.to_json(),
                "code_version": code_version(),
                **(extra or {}),
            },
            allow_nan=True,
        )
        for name, text in refs.items():
            (folder / name).write_text(text, encoding="utf-8")

    return pinned_dir.save(path, write, (MANIFEST, WEIGHTS, *refs))


def _reference_files(
    expected_is: ExpectedShortfall | None, feature_stats: FeatureStats | None
) -> dict[str, str]:
    out = {}
    if expected_is is not None:
        out[EXPECTED_IS] = json.dumps(expected_is.to_json(), indent=1, allow_nan=False) + "\n"
    if feature_stats is not None:
        out[FEATURE_STATS] = json.dumps(feature_stats.to_json(), allow_nan=False) + "\n"
    return out


def add_references(
    path: str | Path,
    *,
    expected_is: ExpectedShortfall | None = None,
    feature_stats: FeatureStats | None = None,
    provenance: dict[str, Any] | None = None,
) -> str:
    """Add (or replace) the monitoring references of an existing artifact, weights
    untouched; ``provenance`` (how they were made) goes into the manifest under
    ``monitoring``. Rewritten atomically like a new artifact; returns the new digest
    (the old one no longer matches: re-pin it wherever it is pinned)."""
    old = load_artifact(path)
    p = Path(path)
    if feature_stats is not None and feature_stats.names != old.feature_spec.names:
        raise ArtifactError(
            p, f"{FEATURE_STATS} would describe features {list(feature_stats.names)}, the "
            f"policy reads {list(old.feature_spec.names)}; nothing written",
        )  # fmt: skip
    weights = (p / WEIGHTS).read_bytes()
    texts = {n: (p / n).read_text(encoding="utf-8") for n in (EXPECTED_IS, FEATURE_STATS) if (p / n).is_file()}  # fmt: skip
    texts.update(_reference_files(expected_is, feature_stats))
    manifest = dict(old.manifest)
    if provenance is not None:
        manifest["monitoring"] = provenance

    def write(folder: Path) -> None:
        (folder / WEIGHTS).write_bytes(weights)
        pinned_dir.write_manifest(folder, manifest, allow_nan=True)
        for name, text in texts.items():
            (folder / name).write_text(text, encoding="utf-8")

    digest = pinned_dir.save(p, write, (MANIFEST, WEIGHTS, *sorted(texts)))
    load_artifact(p, digest)  # what was written loads, references and all
    return digest


def artifact_digest(path: str | Path) -> str:
    """sha256 of the artifact's SHA256SUMS (what ``expected_sha256`` pins)."""
    return pinned_dir.digest(path)


def load_artifact(path: str | Path, expected_sha256: str | None = None) -> LoadedArtifact:
    p = Path(path)
    checked = pinned_dir.verify(p, (WEIGHTS,), MAX_BYTES, ArtifactError, expected_sha256)
    manifest, digest, manifest_sha = checked.manifest, checked.digest, checked.manifest_sha256
    pinned_dir.check_format(p, manifest, FORMAT, FORMAT_VERSION, ArtifactError)
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
    expected_is, feature_stats = _references(p, checked.sums, fspec.names)
    return LoadedArtifact(
        p, net, fspec, normaliser, aspec, manifest, digest, manifest_sha, expected_is, feature_stats
    )


def _references(
    p: Path, listed: dict[str, str], names: tuple[str, ...]
) -> tuple[ExpectedShortfall | None, FeatureStats | None]:
    """The monitoring references the sums list (their bytes are verified already)."""

    def body(name: str) -> object:
        try:
            return json.loads((p / name).read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ArtifactError(p, f"{name} is not valid JSON: {exc}") from None

    try:
        table = ExpectedShortfall.from_json(body(EXPECTED_IS)) if EXPECTED_IS in listed else None
        stats = FeatureStats.from_json(body(FEATURE_STATS)) if FEATURE_STATS in listed else None
    except MonitoringError as exc:
        raise ArtifactError(p, str(exc)) from None
    if stats is not None and stats.names != names:
        raise ArtifactError(
            p,
            f"{FEATURE_STATS} describes features {list(stats.names)}, the policy reads {list(names)}",
        )
    return table, stats
