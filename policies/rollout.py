"""Run any :class:`~policies.protocol.Policy` through the environment, episode by episode.

Evaluation and backtests use this, so learned policies and baselines meet exactly the
same episodes (same seeds: same windows, sides, sizes), the same engine, the same risk
overlay and the same end-of-horizon sweep.
"""

from __future__ import annotations

from policies.env import EpisodeResult, EpisodeSpec, ExecutionEnv
from policies.protocol import Policy


def run_episode(
    env: ExecutionEnv, policy: Policy, *, seed: int, spec: EpisodeSpec | None = None
) -> EpisodeResult:
    options = {"episode": spec} if spec is not None else None
    env.reset(seed=seed, options=options)
    policy.reset(env.observation.ctx, seed=seed)
    done = False
    while not done:
        _, _, terminated, truncated, _ = env.step_action(policy.act(env.observation))
        done = terminated or truncated
    assert env.result is not None
    return env.result
