"""Schedules: how much of the parent should be done by a given time.

A schedule is exact arithmetic on the parent's quantity and clock; it rounds down to
whole lots, except that the full quantity is due at the end time. The tactic that
works a schedule with real child orders lives in :mod:`policies.baselines.tactic`.
"""

from __future__ import annotations

from typing import Protocol

from policies.context import NS_PER_S, DecisionContext
from policies.estimation import (
    AlmgrenChrissParams,
    VolumeProfile,
    ac_holdings,
    front_loaded_done,
)


def _lots_down(x: float, lot: int) -> int:
    return int(x // lot) * lot


def _elapsed(ctx: DecisionContext, t_ns: int) -> float:
    """Share of the parent's horizon gone by ``t_ns`` (0 before it starts)."""
    return max(0.0, (t_ns - ctx.start_ns) / (ctx.end_ns - ctx.start_ns))


class Schedule(Protocol):
    name: str

    def reset(self, ctx: DecisionContext) -> None: ...

    def target(self, ctx: DecisionContext, t_ns: int) -> int:
        """Cumulative units that should be filled by ``t_ns``."""
        ...


def due(schedule: Schedule, ctx: DecisionContext) -> tuple[int, int]:
    """Units the schedule wants filled by now and by the next decision (or the end)."""
    nxt = min(ctx.end_ns, ctx.now_ns + ctx.decision_interval_ns)
    return schedule.target(ctx, ctx.now_ns), schedule.target(ctx, nxt)


class TwapSchedule:
    """Equal quantity per unit of time."""

    name = "twap"

    def reset(self, ctx: DecisionContext) -> None:
        return None

    def target(self, ctx: DecisionContext, t_ns: int) -> int:
        if t_ns >= ctx.end_ns:
            return ctx.qty
        return _lots_down(ctx.qty * _elapsed(ctx, t_ns), ctx.lot_size)


class FrontLoadedSchedule:
    """The Almgren-Chriss line's shape at one dimensionless urgency k = kappa T for every
    parent (:func:`~policies.estimation.front_loaded_done`): k = 0 is the straight line,
    k = 2 has 69 % done half way. The passive tactic's line (:mod:`.passive`)."""

    name = "front_loaded"

    def __init__(self, urgency: float) -> None:
        self.urgency = urgency

    def reset(self, ctx: DecisionContext) -> None:
        return None

    def target(self, ctx: DecisionContext, t_ns: int) -> int:
        if t_ns >= ctx.end_ns:
            return ctx.qty
        done = front_loaded_done(self.urgency, _elapsed(ctx, t_ns))
        return _lots_down(ctx.qty * done, ctx.lot_size)


class VwapSchedule:
    """Quantity in proportion to the expected volume (the training data's intraday profile)."""

    name = "vwap"

    def __init__(self, profile: VolumeProfile) -> None:
        self.profile = profile
        self._c0 = 0.0
        self._c1 = 1.0
        self._day0 = 0.0

    def reset(self, ctx: DecisionContext) -> None:
        # time of day of the parent's start and end, from the first decision's clock
        self._day0 = ctx.time_of_day_s - (ctx.now_ns - ctx.start_ns) / NS_PER_S
        self._c0 = self.profile.cumulative(self._day0)
        end_tod = self._day0 + (ctx.end_ns - ctx.start_ns) / NS_PER_S
        self._c1 = self.profile.cumulative(end_tod)

    def target(self, ctx: DecisionContext, t_ns: int) -> int:
        if t_ns >= ctx.end_ns:
            return ctx.qty
        tod = self._day0 + (t_ns - ctx.start_ns) / NS_PER_S
        span = self._c1 - self._c0
        f = (self.profile.cumulative(tod) - self._c0) / span if span > 0 else 0.0
        return _lots_down(ctx.qty * min(1.0, max(0.0, f)), ctx.lot_size)


class PovSchedule:
    """A fixed share of the market's volume as it prints.

    The rate is fixed when the parent starts: its quantity over the volume the recent
    market rate would trade over the horizon (what a trader would set), capped at the
    overlay's hard 50 %. What the rate leaves undone at the end is swept like any
    other remainder.
    """

    name = "pov"

    def __init__(self, max_rate: float = 0.5, min_rate: float = 0.01) -> None:
        self.max_rate = max_rate
        self.min_rate = min_rate
        self.rate = min_rate
        self._vol0 = 0

    def reset(self, ctx: DecisionContext) -> None:
        horizon_s = (ctx.end_ns - ctx.start_ns) / NS_PER_S
        expected = ctx.market_rate * horizon_s
        self.rate = self.max_rate if expected <= 0 else ctx.qty / expected
        self.rate = min(self.max_rate, max(self.min_rate, self.rate))
        self._vol0 = ctx.market_volume

    def target(self, ctx: DecisionContext, t_ns: int) -> int:
        if t_ns >= ctx.end_ns:
            return ctx.qty
        vol = ctx.market_volume - self._vol0
        ahead = max(0.0, (t_ns - ctx.now_ns) / NS_PER_S) * ctx.market_rate
        return min(ctx.qty, _lots_down(self.rate * (vol + ahead), ctx.lot_size))


class AlmgrenChrissSchedule:
    """The closed-form Almgren-Chriss trajectory with parameters estimated on training data."""

    name = "almgren_chriss"

    def __init__(self, params: AlmgrenChrissParams) -> None:
        self.params = params

    def kappa(self, ctx: DecisionContext) -> float:
        return self.params.kappa(ctx.decision_interval_ns / NS_PER_S)

    def reset(self, ctx: DecisionContext) -> None:
        return None

    def target(self, ctx: DecisionContext, t_ns: int) -> int:
        if t_ns >= ctx.end_ns:
            return ctx.qty
        horizon = (ctx.end_ns - ctx.start_ns) / NS_PER_S
        t = (t_ns - ctx.start_ns) / NS_PER_S
        holding = ac_holdings(float(ctx.qty), self.kappa(ctx), horizon, t)
        return _lots_down(ctx.qty - holding, ctx.lot_size)
