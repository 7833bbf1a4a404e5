"""Benchmark execution algorithms: TWAP, VWAP, POV, Almgren-Chriss and a random policy.

Each schedule baseline says how much should be done by when; one shared tactic
(:class:`~policies.baselines.tactic.ScheduleTactic`) works it the way a production
algo does: rest the current slice passively at the touch, and at each slice end cross
the spread only for what is behind schedule. The pure-aggressive variant crosses every
slice at once, for comparison. :class:`~policies.baselines.passive.PassiveCatchUp` is
the desk's production tactic: everything due rests at the touch, and only what falls
behind the schedule by more than a tuned tolerance crosses.
"""

from policies.baselines.passive import PassiveCatchUp
from policies.baselines.schedules import (
    AlmgrenChrissSchedule,
    PovSchedule,
    Schedule,
    TwapSchedule,
    VwapSchedule,
)
from policies.baselines.tactic import RandomPolicy, ScheduleTactic

__all__ = [
    "AlmgrenChrissSchedule",
    "PassiveCatchUp",
    "PovSchedule",
    "RandomPolicy",
    "Schedule",
    "ScheduleTactic",
    "TwapSchedule",
    "VwapSchedule",
]
