"""Working a schedule with real child orders, and the random policy.

The tactic a production schedule algo uses: at every decision (a slice end)

* what is *behind* schedule (target now - filled) crosses the spread at once (IOC at
  the far touch, so it takes displayed liquidity and never walks the book blindly);
* the next slice (target at the next decision - what is due now) rests at our
  touch, keeping its queue place when the touch has not moved.

With a ``tolerance`` (a share of the parent, shrinking in a straight line to zero at
the end time) only what is behind by more than it crosses, down to it, and the rest of
what is due rests: the passive-with-catch-up tactic
(:class:`~policies.baselines.passive.PassiveCatchUp`); zero is the rule above.

``aggressive=True`` is the textbook variant that crosses each slice as it comes due
and never rests. Anything still open at the end time is swept by the environment
(or the daemon) with a market order, exactly as for the learned policy.
"""

from __future__ import annotations

import math

import numpy as np

from policies.actions import Action, ActionSpec, Placement
from policies.baselines.schedules import Schedule, due
from policies.context import DecisionContext, Observation


class ScheduleTactic:
    def __init__(
        self, schedule: Schedule, *, aggressive: bool = False, tolerance: float = 0.0
    ) -> None:
        if not 0.0 <= tolerance <= 1.0 or not math.isfinite(tolerance):
            raise ValueError(
                f"catch-up tolerance must be a share of the parent in [0, 1], got {tolerance}"
            )
        self.schedule = schedule
        self.aggressive = aggressive
        self.tolerance = tolerance
        self.name = schedule.name + ("_aggressive" if aggressive else "")

    def reset(self, ctx: DecisionContext, seed: int | None = None) -> None:
        self.schedule.reset(ctx)

    def act(self, obs: Observation) -> Action:
        ctx = obs.ctx
        remaining = ctx.remaining
        if remaining <= 0:
            return Action(Placement.NONE)
        due_now, due_next = due(self.schedule, ctx)
        if self.aggressive:
            return Action(Placement.NONE, cross_qty=min(remaining, max(0, due_next - ctx.filled)))
        lot = ctx.lot_size
        allowed = int(self.tolerance * ctx.qty * (1.0 - ctx.elapsed_fraction) // lot) * lot
        cross = min(remaining, max(0, due_now - ctx.filled - allowed))
        rest = min(remaining - cross, max(0, due_next - ctx.filled - cross))
        return Action(Placement.TOUCH, rest_qty=rest, cross_qty=cross)


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
