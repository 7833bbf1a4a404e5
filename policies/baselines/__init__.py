"""Benchmark execution algorithms: TWAP, VWAP, POV, Almgren-Chriss and a random policy.

Each schedule baseline says how much should be done by when; one shared tactic
(:class:`~policies.baselines.tactic.ScheduleTactic`) works it the way a production
algo does: rest the current slice passively at the touch, and at each slice end cross
the spread only for what is behind schedule. The pure-aggressive variant crosses every
slice at once, for comparison.
"""

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
    "PovSchedule",
    "RandomPolicy",
    "Schedule",
    "ScheduleTactic",
    "TwapSchedule",
    "VwapSchedule",
]
