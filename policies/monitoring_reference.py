"""Give a policy artifact what live monitoring compares against (docs/signals.md).

    python -m signals.expected_is var/backtest/heldout/orders.csv --policy ppo_amzn \\
        --out var/backtest/heldout/expected_is.json
    python -m policies.monitoring_reference policies/artifacts/ppo_amzn \\
        --expected-is var/backtest/heldout/expected_is.json --episodes 200

The expected-shortfall table comes from a held-out backtest (the first command); the
feature statistics are fitted here on observations of the artifact's own policy on the
*training* split (seeded episodes through the training environment: the observations
the policy learned on, not the hours it is judged on). Both are added to the artifact,
weights untouched, and the new digest is printed: re-pin it wherever it is pinned.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from policies.artifact import ArtifactError, add_references
from policies.data import default_split
from policies.env import EnvConfig, ExecutionEnv, episode_seeds
from policies.learned import LearnedPolicy, load_policy
from signals.monitoring import ExpectedShortfall, FeatureStats, MonitoringError


def training_observations(policy: LearnedPolicy, episodes: int, seed: int) -> np.ndarray:
    """Every observation ``policy`` acts on over ``episodes`` seeded training parents."""
    art = policy.artifact
    manifest = art.manifest
    cfg = EnvConfig.from_json(manifest["env"]) if "env" in manifest else None
    env = ExecutionEnv(
        default_split().train,
        feature_spec=art.feature_spec,
        normaliser=art.normaliser,
        action_spec=art.action_spec,
        config=cfg,
    )
    rows: list[np.ndarray] = []
    try:
        for s in episode_seeds(seed, episodes):
            env.reset(seed=s)
            obs = env.observation
            policy.reset(obs.ctx, seed=s)
            done = False
            while not done:
                rows.append(obs.features.astype(np.float64))
                _, _, term, trunc, _ = env.step_action(policy.act(obs), policy.last_index)
                done = bool(term or trunc)
                if not done:
                    obs = env.observation
    finally:
        env.close()
    return np.stack(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m policies.monitoring_reference", description=__doc__.split("\n")[0]
    )
    ap.add_argument("artifact", type=Path, help="the policy artifact folder (rewritten)")
    ap.add_argument("--expected-is", type=Path, required=True, help="signals.expected_is JSON")
    ap.add_argument("--episodes", type=int, default=200, help="training parents to observe")
    ap.add_argument("--seed", type=int, default=19)
    ap.add_argument("--source", default="", help="how the table was made (kept in the manifest)")
    args = ap.parse_args(argv)
    try:
        table = ExpectedShortfall.from_json(json.loads(args.expected_is.read_text()))
        policy = load_policy(args.artifact)
        x = training_observations(policy, args.episodes, args.seed)
        stats = FeatureStats.fit(x, policy.artifact.feature_spec.names)
        digest = add_references(
            args.artifact,
            expected_is=table,
            feature_stats=stats,
            provenance={
                "expected_is": args.source or f"signals.expected_is on {args.expected_is.name}",
                "expected_is_orders": table.cells[(-1, "*")].n,
                "feature_stats": f"{x.shape[0]} observations of {args.episodes} training-split "
                f"episodes (seed {args.seed})",
            },
        )
    except (OSError, ValueError, ArtifactError, MonitoringError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.artifact}: {x.shape[0]} observations; digest {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
