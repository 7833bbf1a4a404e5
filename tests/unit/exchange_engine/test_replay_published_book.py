"""What a replay publishes while the impact model moves the crowd under our orders:
every delta a subscriber applies must leave its book sound. The exchange process
mirrors each delta into a refusing book (exchange/service/md_publisher.py); a crossed
intermediate state once reached it, its full-book resend was refused too, and the
market source stopped (the e2e drill `kill9` and the catch-up restart test caught it).
"""

from __future__ import annotations

from pathlib import Path

from exchange_lobster_fixture import Ev, ns, write_day

from core.book import L2Book
from core.errors import BookError
from core.events import BookDelta, ExecReport, TradePrint
from core.requests import NewOrderRequest
from core.types import ExecType, OrdType, Side
from exchange.replay import ReplaySimulator, TransientPropagatorImpact
from exchange.replay.prepared import prepare
from gateways.marketdata.lobster import read_day

INITIAL = {
    "bids": [(100, 1, 50), (100, 2, 30), (99, 3, 100)],
    "asks": [(102, 4, 40), (103, 5, 100)],
}
OPEN = Ev(34200.0, 5, 0, 1, 101, -1)


class Subscriber:
    """A market-data subscriber's book: refuses what a real one would, records why."""

    def __init__(self) -> None:
        self.book = L2Book("TEST")
        self.live = False
        self.refused: list[str] = []

    def __call__(self, event: BookDelta | TradePrint) -> None:
        if not self.live or not isinstance(event, BookDelta):
            return
        try:
            self.book.apply_batch(list(event.changes), event.ts_ns)
        except BookError as exc:
            self.refused.append(str(exc))


def test_a_decaying_impact_that_crosses_two_of_our_bids_publishes_no_crossed_book(
    tmp_path: Path,
) -> None:
    sub = Subscriber()
    impact = TransientPropagatorImpact(kappa=0.1, decay_s=10.0)
    path = write_day(tmp_path, [OPEN], INITIAL, 5)
    sim = ReplaySimulator(prepare(read_day(path)), impact=impact, market_data=sub)
    sim.reset(ns(34200.5), ns(34300.0))
    bids, asks = sim.book.snapshot()
    sub.book.apply_snapshot(bids, asks)
    sub.live = True
    # a market buy of 20 moves the crowd up two ticks: asks at 104 and 105
    sim.send(NewOrderRequest("m1", "TEST", Side.BUY, 20, None, ord_type=OrdType.MARKET))
    sim.advance_to(sim.now_ns)
    assert sim.offset == 2 and sim.book.best_ask == 104
    # two of our bids rest inside the spread, at 103
    sim.send(NewOrderRequest("b1", "TEST", Side.BUY, 3, 103), session="agent")
    sim.send(NewOrderRequest("b2", "TEST", Side.BUY, 3, 103), session="agent")
    sim.advance_to(sim.now_ns)
    assert sim.book.best_bid == 103
    # the impact decays a tick (after 2.9 s): the crowd's asks come down to 103, through
    # both bids, which trade (and their buying moves the crowd back up)
    out = sim.advance_to(sim.now_ns + 5_000_000_000)
    traded = {
        d.report.cl_ord_id
        for d in out
        if isinstance(d.report, ExecReport) and d.report.exec_type is ExecType.TRADE
    }
    assert traded == {"b1", "b2"}
    assert sub.refused == []
    assert sim.order_book.problems() == []
    assert sub.book.snapshot() == sim.book.snapshot()
