"""The in-process router: only approved requests reach the engine, after the entry
latency; reports come back after the response latency, in time order."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.clock import SimClock
from core.ids import ClOrdIdGenerator, MemorySequenceStore
from core.parent import ParentOrder
from core.reconciler import DesiredOrder
from core.requests import NewOrderRequest
from core.types import OrdStatus, OrdType, Side, TimeInForce
from exchange.data import lobster_message_file
from exchange.replay.latency import ConstantLatency
from exchange.replay.prepared import load_day
from exchange.replay.simulator import ReplaySimulator
from execution.executor import ExecutionEngine
from execution.sim_router import SimRouter
from risk.approval import UnapprovedOrder
from risk.command_auth import CommandVerifier
from risk.kill_switch import KillSwitch
from risk.limits import RiskLimitsConfig, build_limits
from risk.overlay import RiskOverlay

MS = 1_000_000
DAY = load_day(lobster_message_file("AMZN", "2012-06-21", 5))
T0 = DAY.day.day_start_ns + 36_000 * 1_000 * MS  # 10:00 (LOBSTER wall time read as UTC)


def setup(
    tmp_path: Path, latency_ms: int
) -> tuple[SimRouter, ExecutionEngine, ReplaySimulator, SimClock]:
    sim = ReplaySimulator(DAY, latency=ConstantLatency(latency_ms * MS, latency_ms * MS))
    sim.reset(T0, T0 + 60_000 * MS)
    inst = sim.instrument
    clock = SimClock(sim.now_ns)
    router = SimRouter(clock)
    limits = build_limits(
        RiskLimitsConfig(allowed_symbols=(inst.symbol,), participation_bps=5000), [inst], log=False
    )
    ks = KillSwitch(tmp_path / "ks.json", CommandVerifier(b"k" * 32, max_age_ns=60 * 10**9), T0)
    risk = RiskOverlay(limits, ks, now_ns=T0)
    risk.set_market_open(True, T0)
    risk.on_market_trade(inst.symbol, 100_000, T0)
    ex = ExecutionEngine(
        clock=clock,
        router=router,
        risk=risk,
        ids=ClOrdIdGenerator("T", MemorySequenceStore()),
        instruments={inst.symbol: inst},
    )
    router.reset(sim, ex)
    ex.add_parent(ParentOrder("P", inst.symbol, Side.BUY, 1_000, T0, T0 + 60_000 * MS))
    mid = sim.book.mid
    assert mid is not None
    ex.parents["P"].start(mid)
    ex.on_book(inst.symbol, sim.book)
    return router, ex, sim, clock


def test_router_refuses_what_risk_did_not_approve(tmp_path: Path) -> None:
    router, *_ = setup(tmp_path, 0)
    req = NewOrderRequest("X1", "XYZ", Side.BUY, 10, 10_010)
    with pytest.raises(UnapprovedOrder):
        router.submit_new(req)  # type: ignore[arg-type]


def test_zero_latency_ioc_fills_at_the_touch(tmp_path: Path) -> None:
    router, ex, sim, clock = setup(tmp_path, 0)
    ask = sim.book.best_ask
    assert ask is not None
    ex.apply("P", [DesiredOrder(Side.BUY, ask, 50, OrdType.LIMIT, TimeInForce.IOC)])
    router.advance_to(clock.now_ns())  # handled before any later replayed message
    assert ex.parents["P"].filled_qty == 50
    assert ex.parents["P"].notional == 50 * ask


def test_latency_delays_arrival_and_reports(tmp_path: Path) -> None:
    router, ex, sim, clock = setup(tmp_path, 1)
    bid = sim.book.best_bid
    assert bid is not None
    ex.apply("P", [DesiredOrder(Side.BUY, bid + 1, 50)])
    assert sim.open_orders() == []  # still on the wire
    router.advance_to(T0 + MS)  # arrives at the venue; the ack is on its way back
    assert len(sim.open_orders()) == 1
    child = ex.live_children("P")[0]
    assert child.status is OrdStatus.PENDING_NEW
    router.advance_to(T0 + 2 * MS)
    assert child.status is OrdStatus.NEW and clock.now_ns() == T0 + 2 * MS
    assert sim.book.best_bid == bid + 1  # our bid improved the market


def test_parent_driver_decides_like_the_daemon_will(tmp_path: Path) -> None:
    """The daemon's loop: trades in, decide() per interval, sweep at the end."""
    from execution.driver import ParentDriver
    from policies.actions import ActionMapper
    from policies.baselines import ScheduleTactic, TwapSchedule
    from policies.features import FeatureBuilder

    router, ex, sim, clock = setup(tmp_path, 0)
    ex.parents["P"].end_ns = T0 + 30_000 * MS
    driver = ParentDriver(
        ex,
        "P",
        ScheduleTactic(TwapSchedule()),
        FeatureBuilder(),
        mapper=ActionMapper(ex.parents["P"].side),
        time_of_day=lambda ns: 36_000.0,
    )
    pos = len(sim.tape)
    now = clock.now_ns()
    sent = 0
    while now < ex.parents["P"].end_ns:
        step = driver.decide(sim.book, now)
        sent += len(step.decision.sent)
        assert step.obs.ctx.remaining == ex.parents["P"].remaining_qty
        now += 5_000 * MS
        router.advance_to(now)
        tape = sim.tape
        for i in range(pos, len(tape)):
            driver.on_trade(
                tape.price[i],
                tape.qty[i],
                Side.BUY if tape.aggressor[i] > 0 else Side.SELL,
                tape.ts_ns[i],
            )
        pos = len(tape)
    assert sent > 0
    driver.cancel_resting()
    router.advance_to(now + MS)
    for _ in range(60):
        if not ex.parents["P"].remaining_qty:
            break
        driver.sweep(sim.book)
        now += 1_000 * MS
        router.advance_to(now)
    assert ex.parents["P"].filled_qty == 1_000


def test_a_venue_cum_qty_we_cannot_account_for_engages_the_kill_switch(tmp_path: Path) -> None:
    from core.events import ExecReport
    from core.types import ExecType

    router, ex, sim, clock = setup(tmp_path, 0)
    bid = sim.book.best_bid
    assert bid is not None
    ex.apply("P", [DesiredOrder(Side.BUY, bid - 5, 100, OrdType.LIMIT, TimeInForce.DAY)])
    router.advance_to(clock.now_ns())
    (child,) = ex.live_children("P")
    assert child.status is OrdStatus.NEW and child.cum_qty == 0
    # a status answer: the venue has filled 30 that no report of ours carried
    ex.on_exec_report(
        ExecReport(
            child.cl_ord_id,
            "",
            ExecType.ORDER_STATUS,
            OrdStatus.PARTIALLY_FILLED,
            child.symbol,
            Side.BUY,
            100,
            30,
            70,
            clock.now_ns(),
            price=bid - 5,
        )
    )
    assert ex.risk.kill_switch.engaged
    assert "fill is missing" in ex.risk.kill_switch.status.detail
