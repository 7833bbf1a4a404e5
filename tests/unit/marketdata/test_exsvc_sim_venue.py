"""The simulated venue and its driver: part A's simulators behind order entry, paced."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from core.clock import NS_PER_S, SimClock
from core.events import BookDelta, CancelReject, ExecReport, TradePrint
from core.instruments import Instrument
from core.requests import CancelRequest, NewOrderRequest, StatusRequest
from core.types import ExecType, OrdStatus, Side
from exchange.data import lobster_message_file
from exchange.engine import EngineConfig
from exchange.flow.model import load_params, regime
from exchange.flow.simulator import SyntheticSimulator
from exchange.replay import ReplaySimulator, default_impact, load_day
from exchange.service.pacing import Pacer
from exchange.service.sim_driver import SimulationDriver
from exchange.service.venues import SimulatedVenue

AMZN = Instrument("AMZN")
Report = ExecReport | CancelReject


def _replay(md: list[object], impact: str = "none") -> ReplaySimulator:
    day = load_day(lobster_message_file("AMZN", "2012-06-21", 5), Decimal("0.01"))
    sim = ReplaySimulator(
        day,
        instrument=AMZN,
        impact=default_impact(impact, "AMZN"),
        engine_config=EngineConfig(exec_id_prefix="R1-AMZN-"),
        market_data=md.append,
    )
    start = day.day.day_start_ns + 36_000 * NS_PER_S  # 10:00
    sim.reset(start, start + 60 * NS_PER_S)
    return sim


def test_orders_reach_their_symbols_simulator_at_venue_time() -> None:
    md: list[object] = []
    sim = _replay(md)
    reports: list[tuple[str, Report]] = []
    now = [sim.now_ns + 5 * NS_PER_S]
    venue = SimulatedVenue({"AMZN": sim}, lambda s, r: reports.append((s, r)), lambda: now[0])
    ask = sim.book.best_ask
    assert ask is not None
    venue.submit("S1", NewOrderRequest("C1", "AMZN", Side.BUY, 10, ask + 100))
    assert sim.now_ns == now[0]  # the market was brought to venue time first
    kinds = [r.exec_type for _, r in reports if isinstance(r, ExecReport)]
    assert kinds[0] is ExecType.NEW and ExecType.TRADE in kinds
    assert all(r.exec_id.startswith("R1-AMZN-") for _, r in reports)  # type: ignore[union-attr]
    assert any(isinstance(e, TradePrint) for e in md)

    venue.submit("S1", NewOrderRequest("C2", "AMZN", Side.BUY, 10, sim.book.best_bid - 500))  # type: ignore[operator]
    assert [o.cl_ord_id for o in venue.open_orders("S1")] == ["C2"]
    assert venue.cancel_all("S1") == 1
    last = reports[-1][1]
    assert isinstance(last, ExecReport) and last.exec_type is ExecType.CANCELED


def test_a_listed_symbol_without_a_market_is_rejected_with_a_reason() -> None:
    sim = _replay([])
    reports: list[Report] = []
    venue = SimulatedVenue(
        {"AMZN": sim}, lambda s, r: reports.append(r), lambda: None, id_prefix="X-"
    )
    venue.submit("S1", NewOrderRequest("C1", "AAPL", Side.BUY, 10, 100))
    venue.submit("S1", CancelRequest("C2", "C1", "AAPL", Side.BUY, 10))
    venue.submit("S1", StatusRequest("C1", "AAPL", Side.BUY))
    rej, cxl, st = reports
    assert isinstance(rej, ExecReport) and rej.ord_status is OrdStatus.REJECTED
    assert "unknown symbol" in rej.text and rej.exec_id.startswith("X-")
    assert isinstance(cxl, CancelReject) and "unknown order" in cxl.reason
    assert (
        isinstance(st, ExecReport) and st.exec_type is ExecType.ORDER_STATUS and st.order_qty == 0
    )


@pytest.mark.parametrize("speed", [1.0, 20.0])
async def test_driver_releases_the_market_on_the_clock(speed: float) -> None:
    md: list[object] = []
    sim = _replay(md, impact="transient")
    clock = SimClock(10**18)
    pacer = Pacer(clock, speed)
    venue = SimulatedVenue({"AMZN": sim}, lambda s, r: None, pacer.event_now_ns)
    start = sim.now_ns
    driver = SimulationDriver(venue, pacer, end_ns=start + 40 * NS_PER_S, step_s=0.05)
    task = asyncio.create_task(driver.run())
    await clock.run_for(1.0)
    # after 1 s of clock, the market is at about speed seconds of event time
    assert sim.now_ns - start == pytest.approx(speed * NS_PER_S, abs=0.05 * speed * NS_PER_S + 1)
    deltas = [e for e in md if isinstance(e, BookDelta)]
    assert deltas and max(e.ts_ns for e in deltas) <= sim.now_ns
    await clock.run_for(40.0)
    await asyncio.wait_for(task, 1)
    assert sim.now_ns == start + 40 * NS_PER_S


async def test_driver_as_fast_as_possible_and_synthetic_flow() -> None:
    md: list[object] = []
    sim = SyntheticSimulator(
        load_params("AMZN"),
        regime=regime("volatile"),
        instrument=AMZN,
        market_data=md.append,
        seed=3,
    )
    start = sim.now_ns
    sim.reset(start, start + 30 * NS_PER_S)
    clock = SimClock(10**18)
    pacer = Pacer(clock, None)
    venue = SimulatedVenue({"AMZN": sim}, lambda s, r: None, pacer.event_now_ns)
    driver = SimulationDriver(venue, pacer, end_ns=start + 30 * NS_PER_S)
    await asyncio.wait_for(driver.run(), 30)
    assert venue.done and clock.now_ns() == 10**18  # no clock time needed
    assert len([e for e in md if isinstance(e, BookDelta)]) > 100
    assert sim.book.is_two_sided
