"""Decisions recorded from the simulator, in the daemon's recording format.

The daemon records what its policy saw and did (:mod:`signals.recording`); this runs a
policy through the training environment (the same :class:`execution.driver.ParentDriver`
path) and writes the same rows, so ``rlexec retrain`` can be exercised, and its inputs
inspected, without a live session. Each row's observation is the normalised feature
vector the policy acted on and its reward the environment's (the IS increment and the
shaping terms of the artifact's environment), as the daemon must record them.
"""

from __future__ import annotations

from policies.env import ExecutionEnv, episode_seeds
from policies.learned import LearnedPolicy
from signals.recording import DecisionRecord, DecisionRecorder


def record_episodes(
    env: ExecutionEnv,
    policy: LearnedPolicy,
    recorder: DecisionRecorder,
    *,
    episodes: int,
    seed: int,
    symbol: str,
) -> int:
    """Run ``episodes`` seeded parents with ``policy``, one record per decision; returns
    the number of decisions recorded (flushed when the recorder is closed)."""
    digest = policy.artifact.digest
    rows = 0
    for k, s in enumerate(episode_seeds(seed, episodes)):
        env.reset(seed=s)
        obs = env.observation
        policy.reset(obs.ctx, seed=s)
        parent_id = f"sim-{seed}-{k}"
        done = False
        decision = 0
        while not done:
            parent = env.parent
            filled, notional = parent.filled_qty, parent.notional
            action = policy.act(obs)
            _, reward, term, trunc, _ = env.step_action(action, policy.last_index)
            recorder.record(
                DecisionRecord(
                    ts_ns=obs.ctx.now_ns,
                    symbol=symbol,
                    parent_id=parent_id,
                    decision=decision,
                    observation=[float(x) for x in obs.features],
                    action=policy.last_index,
                    fill_qty=parent.filled_qty - filled,
                    fill_notional_tu=parent.notional - notional,
                    reward=float(reward),
                    remaining_qty=parent.remaining_qty,
                    policy_digest=digest,
                )
            )
            decision += 1
            rows += 1
            done = term or trunc
            if not done:
                obs = env.observation
    return rows
