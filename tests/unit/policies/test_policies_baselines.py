"""Schedules are exact; the tactic crosses only what is behind and rests the next slice."""

from __future__ import annotations

import numpy as np
import pytest

from core.types import Side
from policies.actions import Placement
from policies.baselines import (
    AlmgrenChrissSchedule,
    PovSchedule,
    RandomPolicy,
    ScheduleTactic,
    TwapSchedule,
    VwapSchedule,
)
from policies.context import DecisionContext, Observation
from policies.estimation import AlmgrenChrissParams, VolumeProfile, ac_holdings

S = 1_000_000_000


def ctx(
    now_s: float = 0,
    filled: int = 0,
    qty: int = 1200,
    vol: int = 0,
    rate: float = 10.0,
    lot: int = 1,
) -> DecisionContext:
    return DecisionContext(
        now_ns=int(now_s * S),
        start_ns=0,
        end_ns=600 * S,
        side=Side.SELL,
        qty=qty,
        filled=filled,
        decision_interval_ns=60 * S,
        market_volume=vol,
        time_of_day_s=36_000.0 + now_s,
        market_rate=rate,
        lot_size=lot,
    )


def obs(c: DecisionContext) -> Observation:
    return Observation(np.zeros(18, np.float32), c)


def test_twap_is_linear_in_time_and_complete_at_the_end() -> None:
    s = TwapSchedule()
    c = ctx()
    assert [s.target(c, t * S) for t in (0, 60, 300, 599, 600)] == [0, 120, 600, 1198, 1200]
    assert TwapSchedule().target(ctx(lot=100), 90 * S) == 100  # 180 rounded down to lots


def test_vwap_follows_the_profile() -> None:
    # 09:30 + 36000 s... use a profile whose bucket at 10:00-10:15 is twice as busy as 10:15-10:30
    prof = VolumeProfile(900, 36_000, (2.0, 1.0), (True, True))
    s = VwapSchedule(prof)
    c = DecisionContext(0, 0, 1800 * S, Side.BUY, 3000, 0, 60 * S, 0, 36_000.0)
    s.reset(c)
    assert s.target(c, 900 * S) == 2000
    assert s.target(c, 1350 * S) == 2500
    assert s.target(c, 1800 * S) == 3000


def test_pov_targets_a_fixed_share_of_printed_volume() -> None:
    s = PovSchedule()
    c0 = ctx(vol=5_000, rate=10.0)  # 600 s x 10/s = 6000 expected -> rate 20%
    s.reset(c0)
    assert s.rate == pytest.approx(0.2)
    later = ctx(now_s=120, vol=6_000, rate=10.0)
    assert s.target(later, later.now_ns) == 200  # 20% of the 1000 printed since start
    assert s.target(later, later.now_ns + 60 * S) == 320  # + 20% of the next minute's expected 600


def test_pov_rate_is_capped() -> None:
    s = PovSchedule()
    s.reset(ctx(rate=0.0))
    assert s.rate == 0.5


def test_ac_schedule_matches_the_closed_form() -> None:
    params = AlmgrenChrissParams(1.0, 3.0, 2.0, 0.0, 30.0, risk_aversion=1e-3)
    s = AlmgrenChrissSchedule(params)
    c = ctx()
    k = s.kappa(c)
    for t in (60, 300, 540):
        assert s.target(c, t * S) == int(1200 - ac_holdings(1200, k, 600, t))
    assert s.target(c, 300 * S) > TwapSchedule().target(c, 300 * S)  # front-loaded


def test_tactic_crosses_what_is_behind_and_rests_the_next_slice() -> None:
    tac = ScheduleTactic(TwapSchedule())
    c = ctx(now_s=120, filled=150)  # due now 240: 90 behind; due next 360
    tac.reset(c)
    a = tac.act(obs(c))
    assert (a.placement, a.cross_qty, a.rest_qty) == (Placement.TOUCH, 90, 120)
    ahead = ctx(now_s=120, filled=300)  # ahead of schedule: nothing to cross, rest less
    a2 = tac.act(obs(ahead))
    assert (a2.cross_qty, a2.rest_qty) == (0, 60)


def test_aggressive_tactic_crosses_the_next_slice() -> None:
    tac = ScheduleTactic(TwapSchedule(), aggressive=True)
    a = tac.act(obs(ctx(now_s=120, filled=150)))
    assert (a.placement, a.cross_qty, a.rest_qty) == (Placement.NONE, 210, 0)
    assert tac.name == "twap_aggressive"


def test_random_policy_is_seeded() -> None:
    c = ctx()
    a = RandomPolicy(seed=3)
    b = RandomPolicy(seed=99)
    b.reset(c, seed=3)
    a.reset(c, seed=3)
    assert [a.act(obs(c)) for _ in range(20)] == [b.act(obs(c)) for _ in range(20)]
