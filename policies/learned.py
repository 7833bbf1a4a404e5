"""The served RL policy: artifact weights behind a guard that never lets NaN trade.

Inference runs in numpy on the artifact's torch weights (loaded from safetensors,
never unpickled): the same three matrix products and tanh as the torch module, checked
equal by a test, at about a fifth of torch's per-call overhead at batch 1 and without
torch's thread pool inside the daemon's event loop, which keeps p99 well under the
50 us budget (bench/env_bench.py reports both). :meth:`LearnedPolicy.scores` keeps the
torch forward for comparison.

The guard: if the features or the network's scores are not finite, :meth:`act`
returns the safe action (wait: cancel what rests, send nothing), counts the trip in
:attr:`guard_trips` and keeps the reason in :attr:`last_error`, and calls the
optional ``on_error`` hook so the daemon can log and raise a metric. It never raises
on bad numbers: a policy that cannot decide must stop trading, not crash the node.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from execution.driver import MarketSignal
from policies.actions import Action, ActionSpec
from policies.artifact import LoadedArtifact, load_artifact
from policies.context import DecisionContext, Observation
from policies.features import FeatureBuilder
from policies.network import NumpyForward


class LearnedPolicy:
    def __init__(
        self, artifact: LoadedArtifact, on_error: Callable[[str], None] | None = None
    ) -> None:
        self.artifact = artifact
        self.net = artifact.net
        self.spec: ActionSpec = artifact.action_spec
        self.name = str(artifact.manifest.get("name", "learned"))
        self.on_error = on_error
        self.guard_trips = 0
        self.last_error: str | None = None
        self.last_index = -1
        self.decisions = 0  # act() calls: which policy made which decisions, after a swap
        self._wait = self.spec.wait_index
        self._forward = NumpyForward(self.net.state_dict())

    @property
    def signal_digest(self) -> str | None:
        """The short-horizon signal artifact this policy reads (None: it reads none)."""
        return self.artifact.feature_spec.signal

    def feature_builder(self, signal: MarketSignal | None = None) -> FeatureBuilder:
        """A fresh builder (one per parent order) with the artifact's spec and statistics.

        ``signal``: the parent's symbol's signal feed; required when the policy reads
        the signal (``signal_digest``), ignored otherwise. ValueError when missing or of
        another model."""
        return FeatureBuilder(self.artifact.feature_spec, self.artifact.normaliser, signal=signal)

    def layout_change(self, other: LearnedPolicy) -> str | None:
        """Why ``other``'s observations cannot feed this policy, or None when they can.

        A parent's feature builder carries state (market history, queue estimates) and
        was built to ``other``'s feature spec: this policy may take it over only if it
        reads the very same features in the same order over the same lookback and
        decision interval. Anything else would feed it numbers it was not trained on,
        silently."""
        mine, theirs = self.artifact.feature_spec.to_json(), other.artifact.feature_spec.to_json()
        if mine == theirs:
            return None
        diff = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
        parts = [f"{k} {theirs.get(k)!r} -> {mine.get(k)!r}" for k in diff]
        return "feature layout differs: " + "; ".join(parts)

    def take_over(self, builder: FeatureBuilder) -> None:
        """Make a running parent's builder produce this policy's observations from its
        next decision on: same state, this artifact's normalisation (a retrained policy
        of the same layout has its own statistics)."""
        builder.normaliser = self.artifact.normaliser

    def reset(self, ctx: DecisionContext, seed: int | None = None) -> None:
        return None

    def scores(self, features: np.ndarray) -> torch.Tensor:
        with torch.inference_mode():
            out: torch.Tensor = self.net(torch.from_numpy(features))
        return out

    def choose(self, features: np.ndarray) -> int:
        """The action index, or the wait index when the numbers are not finite."""
        if not np.isfinite(features).all():
            return self._trip("non-finite feature values reached the policy")
        with np.errstate(over="ignore", invalid="ignore"):
            scores = self._forward(features)
        if not np.isfinite(scores).all():
            return self._trip("the policy network produced NaN or infinite scores")
        return int(np.argmax(scores))

    def act(self, obs: Observation) -> Action:
        self.decisions += 1
        self.last_index = self.choose(obs.features)
        return self.spec.decode(self.last_index, obs.ctx)

    def _trip(self, why: str) -> int:
        self.guard_trips += 1
        self.last_error = why
        if self.on_error is not None:
            self.on_error(why)
        return self._wait


def load_policy(
    path: str | Path,
    expected_sha256: str | None = None,
    on_error: Callable[[str], None] | None = None,
) -> LearnedPolicy:
    """Verify and load an artifact directory; raises ArtifactError with the reason."""
    torch.set_num_threads(1)
    return LearnedPolicy(load_artifact(path, expected_sha256), on_error)
