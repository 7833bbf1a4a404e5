"""Synthetic zero-intelligence flow: seeded, regime-dependent, calibrated rates, and the
same agent API as replay."""

from __future__ import annotations

import statistics

import pytest

from core.requests import NewOrderRequest
from core.types import ExecType, OrdType, Side
from exchange.flow.model import (
    REGIMES,
    FlowParams,
    Regime,
    calibrated_regime,
    load_params,
    regime,
)
from exchange.flow.simulator import SyntheticSimulator
from exchange.replay.api import MarketSimulator
from exchange.replay.latency import ConstantLatency

S = 1_000_000_000
PARAMS = load_params("AMZN")


def run(
    sim: SyntheticSimulator, seconds: int, step_s: int = 10, spreads: list[int] | None = None
) -> list[float]:
    mids = []
    for _ in range(seconds // step_s):
        sim.advance_to(sim.now_ns + step_s * S)
        if sim.book.mid is not None:
            mids.append(sim.book.mid)
        if spreads is not None and sim.book.spread is not None:
            spreads.append(sim.book.spread)
    return mids


def test_same_seed_same_market_different_seed_different_market() -> None:
    a = SyntheticSimulator(PARAMS, seed=4)
    b = SyntheticSimulator(PARAMS, seed=4)
    c = SyntheticSimulator(PARAMS, seed=5)
    for sim in (a, b, c):
        run(sim, 600)
    assert a.tape.price == b.tape.price and a.tape.ts_ns == b.tape.ts_ns
    assert a.book.snapshot() == b.book.snapshot()
    assert a.tape.ts_ns != c.tape.ts_ns
    a.reset(seed=4)
    run(a, 600)
    assert a.tape.price == b.tape.price  # reset replays the same seeded episode


def test_event_rates_match_the_calibration() -> None:
    sim = SyntheticSimulator(PARAMS, seed=1)
    hours = 2
    run(sim, hours * 3600, step_s=60)
    secs = hours * 3600
    limit = sim.stats.limit_orders / secs
    market = sim.stats.market_orders / secs
    assert limit == pytest.approx(2 * sum(PARAMS.limit_rate), rel=0.05)
    assert market == pytest.approx(2 * PARAMS.market_rate, rel=0.1)
    assert sim.stats.cancels > 0.5 * sim.stats.limit_orders
    assert sim.order_book.problems() == []


def test_regimes_do_what_they_say() -> None:
    def stats(name: str, seeds: range, trend_sign: int = 1) -> tuple[float, float, float, int]:
        drifts, spreads, depths, markets = [], [], [], 0
        for seed in seeds:
            sim = SyntheticSimulator(PARAMS, regime=regime(name, trend_sign=trend_sign), seed=seed)
            seen: list[int] = []
            mids = run(sim, 1800, spreads=seen)
            drifts.append(mids[-1] - mids[0])
            spreads.append(statistics.mean(seen))
            depths.append(sim.book.volume(Side.BUY, 5) + sim.book.volume(Side.SELL, 5))
            markets += sim.stats.market_orders
        return statistics.mean(drifts), statistics.mean(spreads), statistics.mean(depths), markets

    seeds = range(3)
    calm = stats("calm", seeds)
    assert stats("volatile", seeds)[3] > 2 * calm[3]  # far more market orders
    assert stats("trending", seeds)[0] > calm[0] + 50  # drifts up (ticks in 30 min)
    assert stats("trending", seeds, trend_sign=-1)[0] < calm[0] - 50
    thin = stats("thin", seeds)
    assert thin[2] < calm[2] and thin[1] > calm[1]  # shallower book, wider spread
    wide = stats("wide", seeds)
    assert wide[1] > calm[1] + 8  # the touch forms at least the gap further out


def test_the_wide_regime_takes_its_gap_from_the_tickers_own_spread() -> None:
    assert PARAMS.spread_ticks > 0
    assert calibrated_regime("wide", PARAMS).gap == round(PARAMS.spread_ticks)
    assert calibrated_regime("calm", PARAMS) == regime("calm")
    old = FlowParams.from_json({k: v for k, v in PARAMS.to_json().items() if k != "spread_ticks"})
    assert calibrated_regime("wide", old).gap == regime("wide").gap  # no spread known: preset
    with pytest.raises(ValueError, match="gap"):
        Regime("bad", gap=-1)


def test_agent_orders_trade_with_the_synthetic_crowd() -> None:
    sim = SyntheticSimulator(PARAMS, seed=2, latency=ConstantLatency(entry=50_000, response=50_000))
    bid = sim.book.best_bid
    assert bid is not None
    sim.send(NewOrderRequest("p1", "AMZN", Side.BUY, 100, bid))
    sim.send(NewOrderRequest("m1", "AMZN", Side.SELL, 300, None, ord_type=OrdType.MARKET))
    out = sim.advance_to(sim.now_ns + 100_000)
    kinds = [
        (d.report.cl_ord_id, d.report.exec_type) for d in out if hasattr(d.report, "exec_type")
    ]
    assert ("p1", ExecType.NEW) in kinds and ("m1", ExecType.TRADE) in kinds
    assert all(d.ts_ns >= sim.now_ns - 100_000 + 100_000 for d in out)
    filled = 0
    for _ in range(600):
        for d in sim.advance_to(sim.now_ns + S):
            r = d.report
            if getattr(r, "exec_type", None) is ExecType.TRADE and r.cl_ord_id == "p1":
                filled += r.last_qty  # type: ignore[union-attr]
        assert sim.order_book.problems() == []
    assert filled > 0


def test_both_simulators_satisfy_the_shared_protocol() -> None:
    sim: MarketSimulator = SyntheticSimulator(PARAMS)
    assert sim.symbol == "AMZN" and sim.book.is_two_sided
    assert not sim.done


def test_parameter_and_regime_validation() -> None:
    with pytest.raises(ValueError, match="unknown regime"):
        regime("euphoric")
    with pytest.raises(ValueError):
        Regime("bad", trend=1.0)
    with pytest.raises(ValueError):
        FlowParams("X", (1.0,), (1.0, 2.0), 1.0, (1,), (1,), (1,), 100)
    with pytest.raises(KeyError):
        load_params("MSFT")
    assert set(REGIMES) == {"calm", "volatile", "trending", "thin", "wide"}
    data = PARAMS.to_json()
    assert FlowParams.from_json(data) == PARAMS
