"""Agent orders inside a LOBSTER replay: queue position, fills by replayed flow,
consistency after the agent takes liquidity, the level-window assumption, latency,
impact and halts. Small hand-made LOBSTER files make every number checkable."""

from __future__ import annotations

from pathlib import Path

import pytest
from exchange_lobster_fixture import Ev, ns, write_day

from core.events import CancelReject, ExecReport
from core.requests import CancelRequest, NewOrderRequest
from core.types import ExecType, OrdStatus, OrdType, Side, TimeInForce
from exchange.engine import RejectReason
from exchange.replay import (
    ConstantLatency,
    Delivery,
    LinearPermanentImpact,
    PowerQueueModel,
    ReplaySimulator,
    TransientPropagatorImpact,
)
from exchange.replay.prepared import prepare
from gateways.marketdata.lobster import read_day

B, S = Side.BUY, Side.SELL
INITIAL = {
    "bids": [(100, 1, 50), (100, 2, 30), (99, 3, 100)],
    "asks": [(102, 4, 40), (103, 5, 100)],
}
OPEN = Ev(34200.0, 5, 0, 1, 101, -1)  # a hidden print: row 0 is the initial book


def sim_for(tmp_path: Path, events: list[Ev], levels: int = 5, **kw: object) -> ReplaySimulator:
    path = write_day(tmp_path, [OPEN, *events], INITIAL, levels)
    sim = ReplaySimulator(prepare(read_day(path)), **kw)  # type: ignore[arg-type]
    sim.reset(ns(34200.5), ns(34300.0))
    return sim


def limit(
    clid: str, side: Side, qty: int, price: int, tif: TimeInForce = TimeInForce.DAY
) -> NewOrderRequest:
    return NewOrderRequest(clid, "TEST", side, qty, price, tif=tif)


def market(clid: str, side: Side, qty: int) -> NewOrderRequest:
    return NewOrderRequest(clid, "TEST", side, qty, None, ord_type=OrdType.MARKET)


def reports(ds: list[Delivery]) -> list[ExecReport]:
    return [d.report for d in ds if isinstance(d.report, ExecReport)]


def fills(ds: list[Delivery]) -> list[tuple[int, int, str]]:
    return [
        (r.last_qty, r.last_px, r.liquidity) for r in reports(ds) if r.exec_type is ExecType.TRADE
    ]


def test_passive_order_queues_behind_displayed_size_and_advances(tmp_path: Path) -> None:
    sim = sim_for(
        tmp_path,
        [
            Ev(34201, 3, 2, 30, 100, 1),  # cancel ahead of the agent
            Ev(34202, 1, 10, 20, 100, 1),  # joins behind the agent
            Ev(34203, 4, 1, 50, 100, 1),  # execution of the last order ahead
            Ev(34204, 4, 10, 20, 100, 1),  # in the data it hit order 10 ...
        ],
    )
    assert sim.book.best_bid == 100 and sim.book.best_bid_size == 80
    sim.send(limit("a1", B, 15, 100))
    assert reports(sim.advance_to(sim.now_ns))[0].exec_type is ExecType.NEW
    assert sim.queue_ahead("a1") == 80
    sim.advance_to(ns(34201.5))
    assert sim.queue_ahead("a1") == 50
    sim.advance_to(ns(34202.5))
    assert sim.queue_ahead("a1") == 50  # order 10 queued behind
    sim.advance_to(ns(34203.5))
    assert sim.queue_ahead("a1") == 0
    out = sim.advance_to(ns(34204.5))
    # ... but the agent was ahead of it: the aggressor fills the agent first.
    assert fills(out) == [(15, 100, "A")]
    assert reports(out)[-1].ord_status is OrdStatus.FILLED
    assert sim.book.best_bid_size == 15  # order 10 keeps what the agent took
    assert sim.stats.displaced_qty == 0 and sim.order_book.problems() == []
    assert [(t.qty, t.agent) for t in sim.tape.recent(2)] == [(15, True), (5, False)]


def test_aggressive_order_walks_book_and_replay_adapts(tmp_path: Path) -> None:
    sim = sim_for(
        tmp_path,
        [
            Ev(34201, 3, 4, 40, 102, -1),  # cancel of an order the agent took
            Ev(34202, 4, 5, 100, 103, -1),  # execution larger than what is left
            Ev(34203, 1, 11, 10, 102, -1),  # new ask: the level re-forms
        ],
    )
    sim.send(market("m1", B, 60))
    out = sim.advance_to(sim.now_ns)
    assert fills(out) == [(40, 102, "R"), (20, 103, "R")]
    assert sim.book.best_ask == 103 and sim.book.best_ask_size == 80
    sim.advance_to(ns(34203.5))
    st = sim.stats
    assert (st.missing, st.clamped, st.dropped_qty) == (1, 1, 20)
    assert sim.book.best_ask == 102 and sim.book.best_ask_size == 10
    assert sim.book.level_count(S) == 1
    assert sim.order_book.problems() == []


def test_hidden_execution_fills_agent_at_better_or_equal_price(tmp_path: Path) -> None:
    sim = sim_for(
        tmp_path,
        [
            Ev(34201, 5, 0, 5, 102, -1),  # hidden sell hit at 102; the agent offers 101
            Ev(34202, 5, 0, 10, 101, -1),  # hidden sell hit at 101, the agent's price
        ],
    )
    sim.send(limit("s1", S, 10, 101))
    sim.advance_to(sim.now_ns)
    out = sim.advance_to(ns(34201.5))
    assert fills(out) == [(5, 101, "A")]
    out = sim.advance_to(ns(34202.5))
    assert fills(out) == [(5, 101, "A")]
    assert [(t.qty, t.price, t.agent) for t in sim.tape.recent(3)] == [
        (5, 101, True),
        (5, 101, True),
        (5, 101, False),
    ]


def test_replayed_add_that_crosses_the_agent_trades_with_it(tmp_path: Path) -> None:
    sim = sim_for(tmp_path, [Ev(34201, 1, 12, 30, 101, -1)])  # new best ask at 101
    sim.send(limit("b1", B, 10, 101))  # the agent improved the bid to 101
    sim.advance_to(sim.now_ns)
    out = sim.advance_to(ns(34202))
    assert fills(out) == [(10, 101, "A")]
    assert sim.stats.crossed_adds == 1 and sim.stats.crossed_qty == 10
    assert sim.book.best_ask == 101 and sim.book.best_ask_size == 20
    assert sim.book.best_bid == 100


def _window_events() -> list[Ev]:
    return [
        Ev(34201, 1, 20, 40, 100, 1),  # visible, queues behind the agent at 100
        Ev(34202, 1, 21, 10, 101, 1),  # new best bid: 100 leaves the level-1 window
        Ev(34203, 3, 20, 40, 100, 1),  # unseen in a level-1 file
        Ev(34204, 3, 21, 10, 101, 1),  # 100 comes back into view, 40 smaller
    ]


@pytest.mark.parametrize(("n", "ahead"), [(3.0, 44), (1.0, 53)])
def test_unseen_decrease_is_split_by_the_queue_model(tmp_path: Path, n: float, ahead: int) -> None:
    sim = sim_for(tmp_path, _window_events(), levels=1, queue_model=PowerQueueModel(n=n))
    sim.send(limit("a1", B, 5, 100))
    sim.advance_to(ns(34201.5))
    assert sim.queue_ahead("a1") == 80
    assert sim.order_book.ahead_of(B, 100, -1) == 80
    sim.advance_to(ns(34204.5))
    # 80 ahead, 40 behind; the file shows 80 again: 40 went unseen. The model takes
    # round(40 * f(80) / (f(80) + f(40))) from ahead: 36 for x**3, 27 for x.
    assert sim.queue_ahead("a1") == ahead
    assert sim.book.best_bid_size == 80 + 5  # the file's 80 plus the agent
    assert sim.stats.window_levels >= 1


@pytest.mark.parametrize(("unseen_ahead", "ahead"), [(1.0, 60), (0.0, 0)])
def test_unseen_increase_goes_ahead_by_assumption(
    tmp_path: Path, unseen_ahead: float, ahead: int
) -> None:
    events = [
        Ev(34201, 1, 30, 60, 99, 1),  # at 99: beyond a level-1 window, unseen
        Ev(34202, 3, 1, 50, 100, 1),
        Ev(34203, 3, 2, 30, 100, 1),  # 100 empties: 99 enters with 100 + 60 = 160
    ]
    sim = sim_for(
        tmp_path, events, levels=1, queue_model=PowerQueueModel(unseen_ahead=unseen_ahead)
    )
    sim.send(limit("a1", B, 5, 99))
    sim.advance_to(sim.now_ns)
    assert sim.queue_ahead("a1") == 0  # nothing visible at 99 in a level-1 file
    sim.advance_to(ns(34203.5))
    assert sim.book.best_bid == 99 and sim.book.best_bid_size == 165
    assert sim.queue_ahead("a1") == (160 if unseen_ahead else 0)


def test_entry_and_response_latency(tmp_path: Path) -> None:
    sim = sim_for(
        tmp_path,
        [Ev(34200.5005, 4, 4, 40, 102, -1)],  # the ask level goes 0.5 ms after we send
        latency=ConstantLatency(entry=1_000_000, response=2_000_000),
    )
    sent = sim.now_ns
    assert sim.send(limit("b1", B, 40, 103, TimeInForce.IOC)) == sent + 1_000_000
    assert sim.advance_to(sent + 2_999_999) == []  # reports still on the way back
    out = sim.advance_to(sent + 3_000_000)
    assert [r.exec_type for r in reports(out)] == [ExecType.NEW, ExecType.TRADE]
    assert all(r.ts_ns == sent + 1_000_000 for r in reports(out))
    assert all(d.ts_ns == sent + 3_000_000 for d in out)
    assert fills(out) == [(40, 103, "R")]  # 102 was gone by the time we arrived


def test_permanent_impact_shifts_the_replayed_market(tmp_path: Path) -> None:
    sim = sim_for(tmp_path, [Ev(34201, 1, 12, 7, 101, 1)], impact=LinearPermanentImpact(gamma=0.05))
    sim.send(limit("b1", B, 5, 101), session="agent")
    sim.send(market("s1", S, 40), session="other")  # sells into the book
    out = sim.advance_to(sim.now_ns)
    # Sold 5 to the agent at 101 and 35 at 100; the agent bought 5: net -35 * 0.05.
    assert sim.offset == -2  # round(-1.75)
    assert sim.book.best_ask == 100  # 102 shifted by -2
    assert sim.book.best_bid == 98 and sim.book.best_bid_size == 45  # 100 shifted, 80-35
    assert fills([d for d in out if d.session == "agent"]) == [(5, 101, "A")]
    sim.advance_to(ns(34201.5))
    assert sim.book.size_at(B, 99) == 7  # replayed add at 101 lands at 101 - 2


def test_shifted_market_trades_through_a_resting_agent_order(tmp_path: Path) -> None:
    sim = sim_for(tmp_path, [], impact=LinearPermanentImpact(gamma=0.1))
    sim.send(limit("b1", B, 5, 101), session="agent")
    sim.send(market("s1", S, 20), session="seller")
    out = sim.advance_to(sim.now_ns)
    agent = fills([d for d in out if d.session == "agent"])
    # The seller hit the agent (5) and the bid (15): net impact -(20 - 5) * 0.1 = -1.5
    # rounds to -2; asks move from 102 to 100, which crosses nothing the agent still has.
    assert agent == [(5, 101, "A")]
    assert sim.offset == -2 and sim.book.best_ask == 100
    assert sim.order_book.problems() == []


def test_transient_impact_decays_at_the_predicted_time(tmp_path: Path) -> None:
    impact = TransientPropagatorImpact(kappa=0.1, decay_s=10.0)
    sim = sim_for(tmp_path, [], impact=impact)
    sim.send(market("m1", B, 20))
    sim.advance_to(sim.now_ns)  # 20 * 0.1 = 2 ticks
    t0 = sim.now_ns
    assert sim.offset == 2 and sim.book.best_bid == 102
    change = impact.next_change_ns(t0, 2)
    assert change is not None
    assert abs(change - t0 - 2_876_820_725) < 2  # 10 s * ln(2 / 1.5)
    sim.advance_to(change - 1)
    assert sim.offset == 2
    sim.advance_to(change)
    assert sim.offset == 1 and sim.book.best_bid == 101
    sim.advance_to(t0 + 60_000_000_000)
    assert sim.offset == 0 and sim.book.best_bid == 100
    assert sim.shifts == 3


def test_halt_and_resume_messages(tmp_path: Path) -> None:
    sim = sim_for(tmp_path, [Ev(34201, 7, 0, 0, -1, -1), Ev(34203, 7, 0, 0, 1, -1)])
    sim.advance_to(ns(34202))
    sim.send(limit("h1", B, 5, 100))
    out = reports(sim.advance_to(ns(34202)))
    assert RejectReason.from_text(out[0].text) is RejectReason.HALTED
    sim.advance_to(ns(34204))
    sim.send(limit("h2", B, 5, 100))
    assert reports(sim.advance_to(ns(34204)))[0].exec_type is ExecType.NEW
    assert sim.stats.halts == 2


def test_cancel_and_cancel_reject_through_the_simulator(tmp_path: Path) -> None:
    sim = sim_for(tmp_path, [])
    sim.send(limit("a1", B, 5, 100))
    sim.send(CancelRequest("c1", "a1", "TEST", B, 5))
    sim.send(CancelRequest("c2", "a1", "TEST", B, 5))
    out = sim.advance_to(sim.now_ns)
    assert [type(d.report).__name__ for d in out] == ["ExecReport", "ExecReport", "CancelReject"]
    rej = out[-1].report
    assert isinstance(rej, CancelReject) and rej.ord_status is OrdStatus.CANCELED
    assert sim.book.best_bid_size == 80


def test_reset_restores_the_window_and_forgets_the_agent(tmp_path: Path) -> None:
    sim = sim_for(tmp_path, [Ev(34201, 3, 2, 30, 100, 1)], impact=LinearPermanentImpact(0.5))
    sim.send(market("m1", B, 50))
    sim.advance_to(ns(34202))
    assert sim.offset != 0
    sim.reset(ns(34200.5), ns(34300))
    assert sim.offset == 0 and sim.open_orders() == [] and len(sim.tape) == 0
    assert sim.book.snapshot() == ([(100, 80), (99, 100)], [(102, 40), (103, 100)])
    with pytest.raises(ValueError, match="go back"):
        sim.advance_to(sim.now_ns - 1)
