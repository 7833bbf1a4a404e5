"""Paper mode's fill model: the daemon's orders against an upstream book, in the engine."""

from __future__ import annotations

import pytest

from core.book import L2Book
from core.events import ExecReport, TradePrint
from core.instruments import Instrument
from core.requests import CancelRequest, NewOrderRequest
from core.types import ExecType, OrdStatus, OrdType, Side, TimeInForce
from exchange.engine import CollectingMarketData, CollectingReports, MatchingEngine
from exchange.paper.venue import PaperVenue

B, S = Side.BUY, Side.SELL
SYM = "BTC"


class Paper:
    def __init__(self, queue_model: str = "back") -> None:
        self.reports = CollectingReports()
        self.md = CollectingMarketData()
        self.engine = MatchingEngine([Instrument(SYM)], self._report, self.md)
        self.venue = PaperVenue(self.engine, queue_model=queue_model)  # type: ignore[arg-type]
        self.up = L2Book(SYM)  # the upstream book as the venue feed rebuilt it
        self.n = 0
        self.ts = 1_000

    def _report(self, session: str, r: object) -> None:
        self.reports(session, r)  # type: ignore[arg-type]
        self.venue.on_report(session, r)  # type: ignore[arg-type]

    def snapshot(self, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        self.ts += 1
        self.up.apply_snapshot(bids, asks, self.ts)
        self.venue.on_sync(SYM, True, "snapshot")
        self.venue.on_book(SYM, self.up, None)

    def delta(self, *changes: tuple[Side, int, int]) -> None:
        self.ts += 1
        self.up.apply_batch(changes, self.ts)
        self.venue.on_book(SYM, self.up, changes)

    def trade(self, price: int, qty: int, aggressor: Side) -> None:
        self.ts += 1
        self.venue.on_trade(TradePrint(SYM, 0, self.ts, price, qty, aggressor))

    def order(
        self, side: Side, qty: int, price: int | None, tif: TimeInForce = TimeInForce.DAY
    ) -> str:
        self.n += 1
        cl = f"C{self.n}"
        ot = OrdType.LIMIT if price is not None else OrdType.MARKET
        self.engine.handle(NewOrderRequest(cl, SYM, side, qty, price, ot, tif), "S1", self.ts)
        return cl

    def fills(self, cl: str) -> list[tuple[int, int, str]]:
        return [
            (r.last_qty, r.last_px, r.liquidity)
            for r in self.reports.exec_reports()
            if r.cl_ord_id == cl and r.exec_type is ExecType.TRADE
        ]

    def status(self, cl: str) -> OrdStatus:
        return [r for r in self.reports.exec_reports() if r.cl_ord_id == cl][-1].ord_status

    @property
    def book(self) -> L2Book:
        return self.engine.books[SYM].l2

    def ahead(self, side: Side, price: int, cl: str) -> int:
        o = self.engine.order("S1", cl)
        assert o is not None
        return self.engine.books[SYM].ahead_of(side, price, o.key)


def test_upstream_book_is_mirrored_and_published() -> None:
    p = Paper()
    p.snapshot([(100, 5), (99, 7)], [(101, 4), (102, 9)])
    assert p.book.snapshot() == p.up.snapshot()
    p.delta((B, 100, 8), (S, 101, 0), (B, 98, 2))
    assert p.book.snapshot() == p.up.snapshot()
    p.snapshot([(90, 1)], [(91, 1)])  # a resync replaces everything
    assert p.book.snapshot() == ([(90, 1)], [(91, 1)])
    assert p.md.events  # the engine published every change
    assert p.engine.books[SYM].problems() == []


def test_symbol_is_halted_until_the_upstream_book_is_known() -> None:
    p = Paper()
    cl = p.order(B, 1, 100)
    assert p.status(cl) is OrdStatus.REJECTED
    assert "halted" in p.reports.exec_reports()[-1].text
    p.snapshot([(100, 5)], [(101, 4)])
    assert p.status(p.order(B, 1, 99)) is OrdStatus.NEW
    p.venue.on_sync(SYM, False, "gap")
    assert p.status(p.order(B, 1, 99)) is OrdStatus.REJECTED


def test_marketable_order_walks_upstream_levels_and_taken_liquidity_stays_taken() -> None:
    p = Paper()
    p.snapshot([(100, 5)], [(101, 4), (102, 9)])
    cl = p.order(B, 6, 102)
    assert p.fills(cl) == [(4, 101, "R"), (2, 102, "R")]
    assert p.book.best_ask == 102 and p.book.best_ask_size == 7
    # The venue never saw our trade: it updates 102 to 10 (someone added 1), we show 8.
    p.delta((S, 102, 10))
    assert p.book.size_at(S, 102) == 8
    # 101 reappears upstream with 3: the 4 we took there are withheld, nothing shows.
    p.delta((S, 101, 3))
    assert p.book.size_at(S, 101) == 0
    # Once the venue removes a level, what we took there is forgotten.
    p.delta((S, 101, 0))
    p.delta((S, 101, 2))
    assert p.book.size_at(S, 101) == 2


def test_resting_order_fills_only_after_the_queue_ahead_trades() -> None:
    p = Paper()
    p.snapshot([(100, 5)], [(101, 4)])
    cl = p.order(B, 3, 100)
    assert p.ahead(B, 100, cl) == 5
    p.delta((B, 100, 9))  # 4 more arrive upstream: they queue behind us
    assert p.ahead(B, 100, cl) == 5 and p.book.size_at(B, 100) == 12
    p.trade(100, 4, S)  # a seller takes 4 of the 5 ahead of us
    assert p.fills(cl) == [] and p.ahead(B, 100, cl) == 1
    p.trade(100, 3, S)  # 1 ahead, then 2 of ours
    assert p.fills(cl) == [(2, 100, "A")]
    prints = [e for e in p.md.events if isinstance(e, TradePrint)]
    assert sum(t.qty for t in prints) == 7  # every upstream trade printed at full size
    p.trade(100, 5, S)
    assert p.fills(cl) == [(2, 100, "A"), (1, 100, "A")]
    assert p.status(cl) is OrdStatus.FILLED


def test_cancels_come_from_behind_us_by_default() -> None:
    p = Paper()
    p.snapshot([(100, 5)], [(101, 4)])
    cl = p.order(B, 3, 100)
    p.delta((B, 100, 9))  # 5 ahead, 4 behind
    p.delta((B, 100, 6))  # 3 cancelled upstream: taken from behind
    assert p.ahead(B, 100, cl) == 5
    p.delta((B, 100, 2))  # 4 more: 1 from behind, then 3 from ahead
    assert p.ahead(B, 100, cl) == 2 and p.book.size_at(B, 100) == 5


def test_pro_rata_cancels_split_between_ahead_and_behind() -> None:
    p = Paper("pro_rata")
    p.snapshot([(100, 6)], [(101, 4)])
    cl = p.order(B, 3, 100)
    p.delta((B, 100, 12))  # 6 ahead, 6 behind
    p.delta((B, 100, 8))  # 4 cancelled: 2 from ahead, 2 from behind
    assert p.ahead(B, 100, cl) == 4 and p.book.size_at(B, 100) == 11


def test_trade_through_our_price_fills_us_first() -> None:
    p = Paper()
    p.snapshot([(100, 5)], [(103, 4)])
    cl = p.order(B, 3, 101)  # better than the upstream bid
    p.trade(100, 4, S)  # a seller reached 100: it met our 101 first
    assert p.fills(cl) == [(3, 101, "A")]
    assert p.engine.books[SYM].level_size(B, 100) == 4  # 1 of the print was left for 100


def test_upstream_moving_through_a_resting_order_fills_it_at_its_price() -> None:
    p = Paper()
    p.snapshot([(100, 5)], [(103, 4)])
    cl = p.order(B, 3, 102)
    p.delta((S, 103, 0), (S, 102, 2), (S, 104, 1))  # asks drop onto our bid
    assert p.fills(cl) == [(2, 102, "A")]
    assert p.book.best_ask == 104  # the 2 that met us do not rest
    assert p.engine.books[SYM].problems() == []


def test_a_level_moving_sides_in_one_update_never_trades_with_itself() -> None:
    p = Paper()
    p.snapshot([(100, 5), (99, 5)], [(101, 4)])
    p.delta((B, 100, 0), (S, 100, 3))  # the bid at 100 is gone, an ask at 100 appears
    assert p.book.best_bid == 99 and p.book.best_ask == 100
    assert not [e for e in p.md.events if isinstance(e, TradePrint)]
    assert p.engine.books[SYM].problems() == []


def test_orders_can_be_cancelled_while_halted() -> None:
    p = Paper()
    p.snapshot([(100, 5)], [(101, 4)])
    cl = p.order(B, 3, 99)
    p.venue.on_sync(SYM, False, "gap")
    p.engine.handle(CancelRequest("X1", cl, SYM, B, 3), "S1", p.ts)
    last = p.reports.exec_reports()[-1]
    assert (last.cl_ord_id, last.orig_cl_ord_id, last.ord_status) == ("X1", cl, OrdStatus.CANCELED)


def test_bad_queue_model() -> None:
    with pytest.raises(ValueError, match="queue_model"):
        PaperVenue(MatchingEngine([Instrument(SYM)], lambda s, r: None), queue_model="lifo")  # type: ignore[arg-type]


def test_ioc_against_upstream() -> None:
    p = Paper()
    p.snapshot([(100, 5)], [(101, 4)])
    cl = p.order(S, 8, 100, TimeInForce.IOC)
    assert p.fills(cl) == [(5, 100, "R")]
    last = [r for r in p.reports.exec_reports() if r.cl_ord_id == cl][-1]
    assert isinstance(last, ExecReport) and last.ord_status is OrdStatus.CANCELED
