"""The passive-with-catch-up tactic: rests what is due, crosses only beyond its tolerance,
is the TWAP tactic at tolerance zero, leaves nothing planned for the deadline, works a
front-loaded line at a positive urgency, and is tuned by the gate's own rule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.types import Side
from policies.actions import Action, Placement
from policies.baselines import PassiveCatchUp, ScheduleTactic, TwapSchedule
from policies.baselines.passive import choose_setting
from policies.baselines.schedules import FrontLoadedSchedule
from policies.context import DecisionContext, Observation

S = 1_000_000_000


def obs(now_s: float, filled: int, qty: int = 1200, lot: int = 1) -> Observation:
    ctx = DecisionContext(
        now_ns=int(now_s * S),
        start_ns=0,
        end_ns=600 * S,
        side=Side.BUY,
        qty=qty,
        filled=filled,
        decision_interval_ns=60 * S,
        market_volume=0,
        time_of_day_s=36_000.0 + now_s,
        lot_size=lot,
    )
    return Observation(np.zeros(19, np.float32), ctx)


def test_tolerance_zero_is_the_twap_tactic() -> None:
    """At zero tolerance: cross everything behind, rest the next slice (the TWAP rule)."""
    rng = np.random.default_rng(3)
    passive, twap = PassiveCatchUp(0.0), TwapSchedule()
    for _ in range(300):
        now = float(rng.integers(0, 600))
        filled = int(rng.integers(0, 1201))
        lot = int(rng.choice([1, 100]))
        o = obs(now, filled - filled % lot, lot=lot)
        c = o.ctx
        due_now = twap.target(c, c.now_ns)
        due_next = twap.target(c, min(c.end_ns, c.now_ns + c.decision_interval_ns))
        behind = min(c.remaining, max(0, due_now - c.filled))
        rest = min(max(0, due_next - max(due_now, c.filled)), c.remaining - behind)
        want = Action(Placement.TOUCH, rest, behind) if c.remaining else Action(Placement.NONE)
        assert passive.act(o) == want
        assert ScheduleTactic(twap).act(o) == want


def test_behind_within_the_tolerance_rests_everything_due() -> None:
    # at 300 s, 600 are due and 720 by the next decision; 480 filled: 120 behind
    a = PassiveCatchUp(0.2).act(obs(300, 480))
    assert a == Action(Placement.TOUCH, rest_qty=240, cross_qty=0)  # 0.2 x 1200 x 0.5 = 120 allowed


def test_behind_beyond_the_tolerance_crosses_down_to_it() -> None:
    # 400 behind at 300 s with 60 allowed (0.1 x 1200 x 0.5): cross 340, rest the other 60 + next 120
    a = PassiveCatchUp(0.1).act(obs(300, 200))
    assert a == Action(Placement.TOUCH, rest_qty=180, cross_qty=340)


def test_the_tolerance_shrinks_to_nothing_at_the_end_time() -> None:
    # 10 s before the end 1180 are due, 1000 filled; 0.3 x 1200 x 10/600 = 6 may stay behind
    a = PassiveCatchUp(0.3).act(obs(590, 1000))
    assert a.cross_qty == 180 - 6
    assert a.cross_qty + a.rest_qty == 200  # all of the rest is working
    early = PassiveCatchUp(0.3).act(obs(60, 0))  # 120 behind, 324 allowed: none crosses
    assert early == Action(Placement.TOUCH, rest_qty=240, cross_qty=0)


def test_lots_are_respected_and_a_filled_parent_does_nothing() -> None:
    a = PassiveCatchUp(0.05).act(obs(300, 100, qty=1200, lot=100))
    assert a.cross_qty % 100 == 0 and a.rest_qty % 100 == 0
    assert PassiveCatchUp().act(obs(300, 1200)) == Action(Placement.NONE)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_a_tolerance_outside_a_share_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="tolerance"):
        PassiveCatchUp(bad)


def test_a_front_loaded_line_rests_ahead_of_the_straight_one_and_crosses_behind_it() -> None:
    """Urgency is kappa T of the line worked: the same fills are on the straight line
    but behind the front-loaded one, which crosses to catch up where TWAP rests."""
    line = PassiveCatchUp.along(0.0, 2.0)
    assert isinstance(line.schedule, FrontLoadedSchedule) and line.urgency == 2.0
    o = obs(300, 600)  # on the straight line half way; 69 % of 1200 = 811 due on k = 2
    assert PassiveCatchUp(0.0).act(o).cross_qty == 0
    assert line.act(o).cross_qty == line.schedule.target(o.ctx, o.ctx.now_ns) - 600 > 200
    assert PassiveCatchUp.along(0.0, 0.0).schedule.name == TwapSchedule().name


def test_the_front_loaded_line_is_the_almgren_chriss_shape_at_one_kappa_t() -> None:
    ctx = obs(150, 0).ctx  # a quarter of the way
    k = 3.0
    want = 1200 * (1 - math.sinh(k * 0.75) / math.sinh(k))
    assert FrontLoadedSchedule(k).target(ctx, ctx.now_ns) == int(want)
    assert FrontLoadedSchedule(k).target(ctx, ctx.end_ns) == 1200


def test_settings_from_a_manifest_without_urgency_are_the_straight_line() -> None:
    old = PassiveCatchUp.from_settings({"tolerance": 0.2})
    assert (old.tolerance, old.urgency, old.schedule.name) == (0.2, 0.0, "twap")
    new = PassiveCatchUp.from_settings({"tolerance": 0.3, "urgency": 2})
    assert (new.tolerance, new.urgency, new.schedule.name) == (0.3, 2.0, "front_loaded")
    assert new.to_json() == {"tolerance": 0.3, "urgency": 2.0, "schedule": "front_loaded"}


@pytest.mark.parametrize("bad", [-1.0, 51.0, float("inf"), float("nan"), "2", True])
def test_an_urgency_that_is_not_a_kappa_t_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="urgency"):
        PassiveCatchUp.from_settings({"tolerance": 0.1, "urgency": bad})


def row(urgency: float, tol: float, mean: float, risk: float) -> dict[str, float]:
    return {"urgency": urgency, "tolerance": tol, "mean_is_bps": mean, "timing_risk_bps": risk}


def test_tuning_picks_the_cheapest_setting_no_riskier_than_twap() -> None:
    """The gate's rule: a cheaper but riskier point (the straight line's usual trade) loses
    to a dearer one within TWAP's risk."""
    table = [
        row(0.0, 0.0, 5.0, 12.0),  # TWAP
        row(0.0, 0.3, 4.0, 12.7),  # cheapest, riskier than TWAP
        row(1.0, 0.3, 4.1, 11.1),
        row(2.0, 0.3, 4.2, 9.9),
    ]
    assert choose_setting(table) == table[2]
    assert choose_setting(table[:2]) == table[0]  # nothing safer: TWAP itself
    with pytest.raises(ValueError, match="TWAP"):
        choose_setting(table[1:])
