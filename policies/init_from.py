"""The artifact a training run continues from (``rlexec train --init-from``).

Fine-tuning keeps the artifact's inputs and outputs: its normaliser (the policy's
inputs must mean what they meant when its weights were fitted; refitting it on this
run's exploration would silently shift every input) and its action table. So the
artifact must read exactly the features this run builds (set, version, lookback,
decision interval, clip, signal model) and choose from exactly this run's action
table; anything else is refused in one line naming each difference, before the run
writes anything. It is loaded with the verifying loader (every sum, spec and tensor),
never half-trusted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from policies.actions import ActionSpec
from policies.artifact import LoadedArtifact, load_artifact
from policies.features import FeatureSpec


class InitRefused(ValueError):
    """An artifact a run cannot start from; the message names why."""


def _signal(spec: FeatureSpec) -> str:
    return f"signal model {spec.signal[:12]}" if spec.signal else "no signal"


def layout_differences(
    art_features: FeatureSpec,
    art_actions: ActionSpec,
    features: FeatureSpec,
    actions: ActionSpec,
) -> list[str]:
    """What differs between the artifact's layout and this run's, in an operator's words."""
    out = []
    if art_features.version != features.version:
        hint = ""
        if art_features.signal and not features.signal:
            hint = " (it reads the signal: add --signal)"
        elif features.signal and not art_features.signal:
            hint = " (it reads no signal: drop --signal)"
        out.append(
            f"feature set v{art_features.version}, this run builds v{features.version}{hint}"
        )
    elif art_features.names != features.names:
        out.append(f"features {list(art_features.names)}, this run builds {list(features.names)}")
    if art_features.signal != features.signal and art_features.version == features.version:
        out.append(f"{_signal(art_features)}, this run reads {_signal(features)}")
    for label, key, option in (
        ("decision interval", "decision_interval_s", " (--decision-interval)"),
        ("lookback", "lookback", ""),
        ("feature clip", "clip", ""),
    ):
        theirs, mine = getattr(art_features, key), getattr(features, key)
        if theirs != mine:
            out.append(f"{label} {theirs}, this run {mine}{option}")
    if art_actions.choices != actions.choices:  # its line it keeps (train.py)
        out.append(
            f"action table v{art_actions.version} ({art_actions.n} actions), this run "
            f"chooses from v{actions.version} ({actions.n} actions)"
        )
    return out


def load_parent(path: str | Path, features: FeatureSpec, actions: ActionSpec) -> LoadedArtifact:
    """The verified artifact at ``path``; InitRefused unless its layout is this run's
    (ArtifactError, from the loader, if it does not verify)."""
    art = load_artifact(path)
    diffs = layout_differences(art.feature_spec, art.action_spec, features, actions)
    if diffs:
        raise InitRefused(
            f"--init-from {path}: {'; '.join(diffs)}: a fine-tuned policy keeps its "
            "artifact's inputs, normalisation and actions, so they must be this run's"
        )
    return art


def describe_parent(art: LoadedArtifact) -> dict[str, Any]:
    """What the fine-tuned manifest records of its parent (``training.init_from``)."""
    return {
        "path": str(art.path),
        "digest": art.digest,
        "name": str(art.manifest.get("name", art.path.name)),
        "algo": str(art.manifest.get("algo", "")),
    }
