"""Shared helpers for the matching-engine unit tests (imported by basename)."""

from __future__ import annotations

from core.events import CancelReject, ExecReport
from core.instruments import Instrument
from core.requests import NewOrderRequest
from core.types import OrdType, Side, TimeInForce
from exchange.engine import (
    CollectingMarketData,
    CollectingReports,
    EngineConfig,
    MatchingEngine,
    OrderBook,
)

SYM = "AMZN"


class Venue:
    """An engine with collecting sinks and short helpers for tests."""

    def __init__(self, config: EngineConfig | None = None, lot: int = 1) -> None:
        self.reports = CollectingReports()
        self.md = CollectingMarketData()
        self.engine = MatchingEngine(
            [Instrument(SYM, lot_size=lot), Instrument("AAPL")], self.reports, self.md, config
        )
        self.n = 0
        self.t = 1_000

    def tick(self) -> int:
        self.t += 1
        return self.t

    def limit(
        self,
        side: Side,
        qty: int,
        price: int,
        session: str = "s1",
        clid: str | None = None,
        tif: TimeInForce = TimeInForce.DAY,
        account: str = "",
    ) -> str:
        self.n += 1
        clid = clid or f"{session}-{self.n}"
        self.engine.new_order(
            NewOrderRequest(clid, SYM, side, qty, price, tif=tif, account=account),
            session,
            self.tick(),
        )
        return clid

    def market(self, side: Side, qty: int, session: str = "s1") -> str:
        self.n += 1
        clid = f"{session}-{self.n}"
        self.engine.new_order(
            NewOrderRequest(clid, SYM, side, qty, None, ord_type=OrdType.MARKET),
            session,
            self.tick(),
        )
        return clid

    def bg(self, side: Side, qty: int, price: int, key: int) -> None:
        self.engine.background_order(SYM, side, price, qty, key=key, ts_ns=self.tick())

    def last(self, session: str = "s1") -> ExecReport | CancelReject:
        return self.reports.reports(session)[-1]

    def execs(self, session: str = "s1") -> list[ExecReport]:
        return self.reports.exec_reports(session)

    @property
    def book(self) -> OrderBook:
        return self.engine.book(SYM)
