"""What a policy could gain over its teacher, decision by decision: exact counterfactuals.

Why: PPO started from the cloned passive tactic never moved measurably from it, on any
fold, in 120 iterations or 360 (docs/results.md, issue 15). A policy gradient sees an
action's worth through the whole episode's market noise, so "PPO found nothing" could
mean there is nothing to find or that it could not see it. The replay is deterministic:
the same episode can be played again with one decision changed (or the next ``hold``
decisions), everything else the teacher's. The difference in the episode's cost is that
action's *advantage* over the teacher at that state, with the market's future held fixed
(common random numbers: no sampling noise between the actions compared).

Policy iteration's argument says what to do with it: a policy beats its teacher only if,
at the states it visits, some action's advantage is negative *and predictable from the
state* (the features the policy reads). The best action in hindsight is a loose bound (it
knows the market's future); a model fitted to the advantages on training episodes and
judged on validation episodes is the realisable part. ``bench/teacher_room_bench.py`` runs
both; this module only measures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from policies.env import ExecutionEnv
from policies.imitation import Demonstrator


class NotReplayable(RuntimeError):
    """Replaying the teacher's own choices did not reproduce its episode: the venue or
    the teacher is not deterministic under a seed, so no difference between two replays
    is an advantage."""


@dataclass(frozen=True, slots=True)
class Counterfactual:
    """Every action of the table tried at one decision of one teacher episode."""

    seed: int
    decision: int  # which decision was changed (0 = the first)
    decisions: int  # how many the teacher's own episode had
    hold: int  # the changed action was kept for this many decisions
    teacher_action: int  # what the teacher chose there
    teacher_cost: float  # the teacher's own episode, unchanged
    teacher_is_bps: float
    features: npt.NDArray[np.float32]  # the normalised state the policy would read there
    cost: npt.NDArray[np.float64]  # per action: the episode's cost (IS plus the shaping)
    is_bps: npt.NDArray[np.float64]  # per action: the episode's implementation shortfall

    @property
    def advantage(self) -> npt.NDArray[np.float64]:
        """Each action's cost minus the teacher's episode (negative: cheaper than the
        teacher); with ``hold`` 1, the teacher's own action's is exactly 0."""
        out: npt.NDArray[np.float64] = self.cost - self.teacher_cost
        return out


def play_episode(
    env: ExecutionEnv,
    teacher: Demonstrator,
    seed: int,
    prefix: Sequence[int] = (),
    change: tuple[int, int] | None = None,
) -> tuple[float, float, list[int], npt.NDArray[np.float32] | None]:
    """One episode: ``prefix`` first, then ``change`` = (action, decisions) if given, then
    ``teacher`` (any demonstrator: with neither, its own episode); returns the cost (minus the rewards' sum), the IS, the actions taken and
    the features at the first changed decision."""
    env.reset(seed=seed)
    cost, at = 0.0, None
    taken: list[int] = []
    done = False
    while not done:
        i = len(taken)
        if i < len(prefix):
            a = prefix[i]
        elif change is not None and i < len(prefix) + change[1]:
            if i == len(prefix):
                at = env.observation.features.copy()
            a = change[0]
        else:
            a = teacher.decide(env.observation)
        taken.append(a)
        _, r, term, trunc, _ = env.step(a)
        cost -= float(r)
        done = term or trunc
    assert env.result is not None
    return cost, env.result.is_bps, taken, at


def counterfactual(
    env: ExecutionEnv, teacher: Demonstrator, seed: int, *, hold: int = 1
) -> Counterfactual:
    """The teacher's episode under ``seed``, then every action at one of its decisions
    (drawn uniformly from the seed), each kept ``hold`` decisions, the teacher after.

    Costs are the environment's own: its config's shaping (risk term, deadline penalty)
    included, so pass the training config to measure what training optimises."""
    if hold < 1:
        raise ValueError(f"hold must be >= 1 decision, got {hold}")
    base_cost, base_is, taken, _ = play_episode(env, teacher, seed)
    t = int(np.random.default_rng(seed).integers(0, len(taken)))
    n = env.aspec.n
    cost, is_bps = np.empty(n), np.empty(n)
    features: npt.NDArray[np.float32] | None = None
    for a in range(n):
        cost[a], is_bps[a], _, at = play_episode(env, teacher, seed, taken[:t], (a, hold))
        features = at if features is None else features
    own = taken[t]
    # the teacher's own choice, kept one decision, is its episode again; kept longer it
    # is not, so then the whole episode is replayed once as the check
    replayed = cost[own] if hold == 1 else play_episode(env, teacher, seed, taken)[0]
    if replayed != base_cost:
        raise NotReplayable(
            f"seed {seed}: the teacher's episode cost {base_cost!r}, its replay {replayed!r}"
        )
    assert features is not None
    return Counterfactual(
        seed, t, len(taken), hold, own, base_cost, base_is, features, cost, is_bps
    )
