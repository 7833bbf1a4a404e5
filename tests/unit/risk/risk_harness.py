"""A risk overlay on a simulated clock with a known book, and helpers to drive it.

Reference market in every symbol: bid 9999 / ask 10001 ticks (mid 10000), 500 on each
of two levels a side; the 100 bps collar is then [9900, 10100]. AMZN: tick 0.01, lot 1,
notional cap $200,000 (20,000,000 tick-units). LOTS: tick 0.05, lot 100, min 100.
TINY: instrument max 300, notional cap $10,000 (1,000,000 tick-units). Limits are
small round numbers so boundary tests read as arithmetic.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path
from typing import Any

from core.book import L2Book
from core.clock import SimClock
from core.events import CancelReject, ExecReport
from core.instruments import Instrument
from core.requests import CancelRequest, NewOrderRequest, ReplaceRequest
from core.types import ExecType, OrdStatus, OrdType, Side
from risk import RiskOverlay
from risk.approval import Approved
from risk.command_auth import signed
from risk.kill_switch import RESET_ACTION
from risk.limits import RiskLimitsConfig, SymbolRiskOverride
from risk.reasons import Denied

KEY = b"test-key-0123456789-abcdefghijklmnop"
START_NS = 1_700_000_000_000_000_000
INSTRUMENTS = (
    Instrument("AMZN"),
    Instrument("LOTS", tick_size=Decimal("0.05"), lot_size=100, min_qty=100, max_qty=50_000),
    Instrument("TINY", max_qty=300),
)


def make_config(**over: Any) -> RiskLimitsConfig:
    base: dict[str, Any] = {
        "allowed_symbols": ("AMZN", "LOTS", "TINY"),
        "max_order_qty": 1_000,
        "max_order_notional": Decimal("200000"),
        "max_position": 2_000,
        "max_open_orders": 10,
        "max_open_orders_per_symbol": 5,
        "collar_bps": 100,
        "participation_bps": 2_500,
        "participation_window_s": 60,
        "orders_per_second": 50,
        "orders_per_minute": 1_000,
        "cancels_per_second": 100,
        "cancels_per_minute": 2_000,
        "max_daily_loss": Decimal("1000"),
        "stale_after_ms": 2_000,
        "rejects_before_kill": 3,
        "reject_window_s": 60,
        "reset_max_age_s": 60,
        "overrides": {
            "LOTS": SymbolRiskOverride(
                max_order_qty=10_000, max_position=20_000, max_order_notional=Decimal("1000000")
            ),
            "TINY": SymbolRiskOverride(max_order_notional=Decimal("10000")),
        },
    }
    base.update(over)
    return RiskLimitsConfig(**base)


class Harness:
    """Drives one overlay the way the engine will: requests, books, trades, reports."""

    def __init__(
        self,
        state_path: Path,
        cfg: RiskLimitsConfig | None = None,
        *,
        with_books: bool = True,
        open_market: bool = True,
    ) -> None:
        self.clock = SimClock(START_NS)
        self.state_path = state_path
        self.cfg = cfg or make_config()
        self.ov = RiskOverlay.from_config(
            self.cfg,
            INSTRUMENTS,
            state_path=str(state_path),
            reset_key=KEY,
            now_ns=self.clock.now_ns(),
            node_id="test-node",
        )
        self._ids = itertools.count(1)
        self._exec = itertools.count(1)
        self.books: dict[str, L2Book] = {}
        if open_market:
            self.ov.set_market_open(True, self.now)
        for symbol in ("AMZN", "LOTS", "TINY"):
            if with_books:
                self.book(symbol)
            self.trade(symbol, 1_000_000)

    # ------------------------------------------------------------------ time
    @property
    def now(self) -> int:
        return self.clock.now_ns()

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    # ------------------------------------------------------------ market data
    def book(
        self,
        symbol: str = "AMZN",
        bids: tuple[tuple[int, int], ...] = ((9_999, 500), (9_998, 500)),
        asks: tuple[tuple[int, int], ...] = ((10_001, 500), (10_002, 500)),
    ) -> L2Book:
        b = L2Book(symbol)
        b.apply_snapshot(bids, asks, self.now)
        self.books[symbol] = b
        self.ov.on_book(symbol, b, self.now)
        return b

    def refresh(self, symbol: str = "AMZN") -> None:
        self.ov.on_book(symbol, self.books[symbol], self.now)

    def trade(self, symbol: str, qty: int) -> None:
        self.ov.on_market_trade(symbol, qty, self.now)

    # ---------------------------------------------------------------- orders
    def next_id(self, prefix: str = "C") -> str:
        return f"{prefix}{next(self._ids)}"

    def new(
        self,
        qty: Any = 100,
        price: Any = 9_999,
        side: Any = Side.BUY,
        symbol: Any = "AMZN",
        **kw: Any,
    ) -> Approved[NewOrderRequest] | Denied:
        kw.setdefault("cl_ord_id", self.next_id())
        req = NewOrderRequest(symbol=symbol, side=side, qty=qty, price=price, **kw)
        return self.ov.check_new(req, self.now)

    def market(self, qty: int, side: Side = Side.BUY, symbol: str = "AMZN") -> Any:
        return self.new(qty=qty, price=None, side=side, symbol=symbol, ord_type=OrdType.MARKET)

    def replace(
        self, approved: Approved[NewOrderRequest], qty: Any, price: Any, **kw: Any
    ) -> Approved[ReplaceRequest] | Denied:
        o = approved.request
        kw.setdefault("cl_ord_id", self.next_id("R"))
        kw.setdefault("orig_cl_ord_id", o.cl_ord_id)
        kw.setdefault("symbol", o.symbol)
        kw.setdefault("side", o.side)
        req = ReplaceRequest(qty=qty, price=price, **kw)
        return self.ov.check_replace(req, self.now)

    def cancel(self, cl_ord_id: str, symbol: str = "AMZN", side: Side = Side.BUY) -> Any:
        req = CancelRequest(self.next_id("X"), cl_ord_id, symbol, side, 0)
        return self.ov.check_cancel(req, self.now)

    # ------------------------------------------------------------ venue side
    def report(
        self,
        cl_ord_id: str,
        exec_type: ExecType,
        status: OrdStatus,
        *,
        symbol: str = "AMZN",
        side: Side = Side.BUY,
        last_qty: int = 0,
        last_px: int = 0,
        orig: str = "",
        exec_id: str | None = None,
        order_qty: int = 0,
        price: int | None = None,
    ) -> Any:
        r = ExecReport(
            cl_ord_id=cl_ord_id,
            exec_id=exec_id if exec_id is not None else f"E{next(self._exec)}",
            exec_type=exec_type,
            ord_status=status,
            symbol=symbol,
            side=side,
            order_qty=order_qty,
            cum_qty=0,
            leaves_qty=0,
            ts_ns=self.now,
            price=price,
            last_qty=last_qty,
            last_px=last_px,
            orig_cl_ord_id=orig,
        )
        return self.ov.on_exec_report(r)

    def fill(
        self, approved: Any, qty: int, px: int, *, status: OrdStatus = OrdStatus.PARTIALLY_FILLED
    ) -> Any:
        o = approved.request
        return self.report(
            o.cl_ord_id,
            ExecType.TRADE,
            status,
            symbol=o.symbol,
            side=o.side,
            last_qty=qty,
            last_px=px,
        )

    def canceled(self, approved: Any) -> Any:
        o = approved.request
        return self.report(
            self.next_id("X"),
            ExecType.CANCELED,
            OrdStatus.CANCELED,
            symbol=o.symbol,
            side=o.side,
            orig=o.cl_ord_id,
        )

    def rejected(self, cl_ord_id: str, symbol: str = "AMZN") -> Any:
        return self.report(cl_ord_id, ExecType.REJECTED, OrdStatus.REJECTED, symbol=symbol)

    def cancel_reject(self, request_id: str, orig: str, *, is_replace: bool) -> None:
        self.ov.on_cancel_reject(
            CancelReject(request_id, orig, is_replace, "too late", self.now, OrdStatus.NEW)
        )

    # --------------------------------------------------------- kill switch
    def reset_command(self, *, ts_ns: int | None = None, nonce: str | None = None) -> Any:
        return signed(
            KEY,
            RESET_ACTION,
            self.now if ts_ns is None else ts_ns,
            nonce or f"nonce-{next(self._ids):012d}",
        )


def approved(result: object) -> Approved[Any]:
    assert isinstance(result, Approved), f"expected approval, got {result}"
    return result


def denied(result: object) -> Denied:
    assert isinstance(result, Denied), f"expected denial, got {result}"
    return result
