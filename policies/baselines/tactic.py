"""Working a schedule with real child orders, and the random policy.

The tactic a production schedule algo uses: at every decision (a slice end)

* what is *behind* schedule (target now - filled) crosses the spread at once (IOC at
  the far touch, so it takes displayed liquidity and never walks the book blindly);
* the next slice (target at the next decision - what is due now) rests at our
  touch, keeping its queue place when the touch has not moved.

``aggressive=True`` is the textbook variant that crosses each slice as it comes due
and never rests. Anything still open at the end time is swept by the environment
(or the daemon) with a market order, exactly as for the learned policy.
"""

from __future__ import annotations

import numpy as np

from policies.actions import Action, ActionSpec, Placement
from policies.baselines.schedules import Schedule
from policies.context import DecisionContext, Observation


class ScheduleTactic:
    def __init__(self, schedule: Schedule, *, aggressive: bool = False) -> None:
        self.schedule = schedule
        self.aggressive = aggressive
        self.name = schedule.name + ("_aggressive" if aggressive else "")

    def reset(self, ctx: DecisionContext, seed: int | None = None) -> None:
        self.schedule.reset(ctx)

    def act(self, obs: Observation) -> Action:
        ctx = obs.ctx
        remaining = ctx.remaining
        if remaining <= 0:
            return Action(Placement.NONE)
        nxt = min(ctx.end_ns, ctx.now_ns + ctx.decision_interval_ns)
        due_next = self.schedule.target(ctx, nxt)
        if self.aggressive:
            return Action(Placement.NONE, cross_qty=min(remaining, max(0, due_next - ctx.filled)))
        due_now = self.schedule.target(ctx, ctx.now_ns)
        behind = min(remaining, max(0, due_now - ctx.filled))
        rest = max(0, due_next - max(due_now, ctx.filled))
        rest = min(rest, remaining - behind)
        return Action(Placement.TOUCH, rest_qty=rest, cross_qty=behind)


class RandomPolicy:
    """Uniform over the learned policy's action table: the floor a learner must clear."""

    name = "random"

    def __init__(self, spec: ActionSpec | None = None, seed: int = 0) -> None:
        self.spec = spec or ActionSpec()
        self._rng = np.random.default_rng(seed)

    def reset(self, ctx: DecisionContext, seed: int | None = None) -> None:
        if seed is not None:
            self._rng = np.random.default_rng(seed)

    def act(self, obs: Observation) -> Action:
        return self.spec.decode(int(self._rng.integers(self.spec.n)), obs.ctx)
