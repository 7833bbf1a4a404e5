"""Adversarial policy output, random fills and random prices through the overlay.

Hypothesis drives sequences of requests a broken policy might emit (NaN, inf, 1e18,
negative, wrong types, wrong side, wrong symbol, reused ids, replaces of anything)
interleaved with venue reports, book moves, market prints, time passing and state
changes. A reference model kept by the test (from what was approved and what the
"venue" did, never from the overlay's internals) checks, after every step:

* nothing raised, and every answer is an Approved or a well-formed Denied;
* every approved order respects every per-order limit, judged from the test's own
  copy of the book and limits;
* per symbol, position plus worst-case open exposure stays within the position limit,
  and the overlay's own accounting agrees with the model's.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog
from hypothesis import HealthCheck, event, given, settings, target
from hypothesis import strategies as st
from risk_harness import INSTRUMENTS, Harness, make_config

from core.events import CancelReject, ExecReport
from core.requests import CancelRequest, NewOrderRequest, ReplaceRequest
from core.types import ExecType, OrdStatus, OrdType, Side, TimeInForce
from risk.approval import Approved
from risk.limits import SymbolRiskOverride, build_limits
from risk.reasons import CONTEXT_TYPE, Denied
from risk.trading_state import TradingState

SYMBOLS = ("AMZN", "LOTS", "TINY")
CFG = make_config(
    rejects_before_kill=50,
    participation_bps=5_000,
    max_position=1_000,  # small, so sequences run into it
    max_daily_loss=Decimal("100000"),
    max_open_orders=20,
    max_open_orders_per_symbol=8,
    overrides={
        "LOTS": SymbolRiskOverride(
            max_order_qty=10_000, max_position=2_000, max_order_notional=Decimal("1000000")
        ),
        "TINY": SymbolRiskOverride(max_order_notional=Decimal("10000")),
    },
)
LIMITS = build_limits(CFG, INSTRUMENTS, log=False)

WILD_INTS = st.sampled_from([0, -1, -(10**18), 10**18, 2**63, 1, 99, 100, 101, 299, 300, 301])
WILD = st.sampled_from(
    [
        float("nan"),
        float("inf"),
        -float("inf"),
        1e18,
        -1.0,
        100.0,
        Decimal("NaN"),
        Decimal(100),
        True,
        None,
        "100",
        b"1",
        [1],
    ]
)


def mostly(sane: st.SearchStrategy[Any], *wild: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Sane values nine times in ten, so sequences get far enough to matter."""
    return st.sampled_from([True] * 9 + [False]).flatmap(
        lambda ok: sane if ok else st.one_of(*wild)
    )


QTY = mostly(
    st.sampled_from([1, 10, 50, 100, 200, 300, 500, 800]), st.integers(-5, 1_200), WILD_INTS, WILD
)
REPLACE_QTY = st.one_of(st.tuples(st.just("grow"), st.integers(-300, 800)), QTY)
# distance from the mid, on our own side of it when positive (passive), else aggressive
PRICE_OFFSET = mostly(st.integers(-20, 120), st.integers(-12_000, 12_000))
SIDE = mostly(st.sampled_from([Side.BUY, Side.SELL]), st.sampled_from([1, -1, 2, "1", None]))
SYMBOL = mostly(st.sampled_from(SYMBOLS), st.sampled_from(["MSFT", "", 7, None, "AMZN\x01"]))


@dataclass
class MOrder:
    cl_ord_id: str
    symbol: str
    side: Side
    qty: int
    price: int | None
    cum: int = 0
    pending: tuple[str, int, int] | None = None  # (new id, new qty, new price)

    def worst(self) -> int:
        leaves = self.qty - self.cum
        if self.pending is not None:
            leaves = max(leaves, self.pending[1] - self.cum)
        return max(leaves, 0)


@dataclass
class Model:
    position: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SYMBOLS, 0))
    orders: dict[str, MOrder] = field(default_factory=dict)
    mids2: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SYMBOLS, 20_000))
    book_ns: dict[str, int] = field(default_factory=dict)

    def exposure(self, symbol: str) -> tuple[int, int]:
        buy = sum(
            o.worst() for o in self.orders.values() if o.symbol == symbol and o.side is Side.BUY
        )
        sell = sum(
            o.worst() for o in self.orders.values() if o.symbol == symbol and o.side is Side.SELL
        )
        return buy, sell


class Driver:
    def __init__(self, h: Harness) -> None:
        self.h = h
        self.m = Model()
        self.n = 0
        self.peak = 0.0  # highest worst-case exposure / position limit seen
        for s in SYMBOLS:
            self.m.book_ns[s] = h.now

    def fresh_id(self) -> str:
        self.n += 1
        return f"P{self.n}"

    # --------------------------------------------------------------- checks
    def check_answer(self, result: object) -> None:
        assert isinstance(result, Approved | Denied)
        if isinstance(result, Denied):
            assert type(result.context) is CONTEXT_TYPE[result.reason]
            result.as_dict()

    def check_approved_terms(self, symbol: Any, qty: Any, price: Any, ord_type: OrdType) -> None:
        """Judged from the test's own book and the frozen limits, not the overlay's state."""
        assert symbol in SYMBOLS
        lim = LIMITS.symbols[symbol]
        assert type(qty) is int
        assert lim.min_qty <= qty <= lim.max_order_qty
        assert qty % lim.lot_size == 0
        h = self.h
        assert h.now - self.m.book_ns[symbol] <= LIMITS.stale_after_ns
        mid2 = self.m.mids2[symbol]
        if ord_type is OrdType.LIMIT:
            assert type(price) is int
            assert abs(2 * price - mid2) * 10_000 <= lim.collar_bps * mid2
            notional_px = price
        else:
            assert price is None
            notional_px = mid2 * (10_000 + lim.collar_bps) // 20_000
        assert qty * notional_px * lim.unit_value <= lim.max_order_notional
        assert h.ov.trading_state(symbol) is not TradingState.HALTED

    def check_invariants(self) -> None:
        ov = self.h.ov
        assert ov.internal_errors == 0
        for s in SYMBOLS:
            pos = self.m.position[s]
            buy, sell = self.m.exposure(s)
            assert ov.position(s) == pos
            assert ov.open_exposure(s) == (buy, sell)
            limit = LIMITS.symbols[s].max_position
            assert pos + buy <= limit, (s, pos, buy)
            assert pos - sell >= -limit, (s, pos, sell)
            self.peak = max(self.peak, (pos + buy) / limit, (sell - pos) / limit)

    # ------------------------------------------------------------------ ops
    def new(self, symbol: Any, side: Any, qty: Any, offset: int, market: bool, reuse: bool) -> None:
        h = self.h
        cid = next(iter(self.m.orders), self.fresh_id()) if reuse else self.fresh_id()
        base = self.m.mids2.get(symbol, 20_000) // 2 if isinstance(symbol, str) else 10_000
        sign = side.sign if type(side) is Side else 1
        price = None if market else base - sign * offset
        ord_type = OrdType.MARKET if market else OrdType.LIMIT
        req = NewOrderRequest(cid, symbol, side, qty, price, ord_type, TimeInForce.DAY)
        result = h.ov.check_new(req, h.now)
        self.check_answer(result)
        if isinstance(result, Approved):
            assert result.request is req
            assert cid not in self.m.orders
            self.check_approved_terms(symbol, qty, price, ord_type)
            self.m.orders[cid] = MOrder(cid, symbol, side, qty, price)

    def replace(self, pick: int, qty: Any, offset: int, garbage: bool) -> None:
        h = self.h
        orders = list(self.m.orders.values())
        target = orders[pick % len(orders)] if orders and not garbage else None
        orig = target.cl_ord_id if target else f"NOPE{pick}"
        symbol = target.symbol if target else "AMZN"
        side = target.side if target else Side.BUY
        price = self.m.mids2[symbol] // 2 - side.sign * offset
        if type(qty) is tuple:  # ("grow", n): relative to the order, to reach the limits
            qty = (target.qty if target else 100) + qty[1]
        req = ReplaceRequest(self.fresh_id(), orig, symbol, side, qty, price)
        result = h.ov.check_replace(req, h.now)
        self.check_answer(result)
        if isinstance(result, Approved):
            assert target is not None and target.pending is None and target.price is not None
            self.check_approved_terms(symbol, qty, price, OrdType.LIMIT)
            assert qty > target.cum
            target.pending = (req.cl_ord_id, qty, price)

    def cancel(self, pick: int) -> None:
        orders = list(self.m.orders.values())
        orig = orders[pick % len(orders)].cl_ord_id if orders else "NONE"
        result = self.h.ov.check_cancel(
            CancelRequest(self.fresh_id(), orig, "AMZN", Side.BUY, 0), self.h.now
        )
        assert isinstance(result, Approved)

    def _report(self, o: MOrder, exec_type: ExecType, status: OrdStatus, **kw: Any) -> None:
        self.n += 1
        r = ExecReport(
            kw.pop("cl_ord_id", o.cl_ord_id),
            f"X{self.n}",
            exec_type,
            status,
            o.symbol,
            o.side,
            o.qty,
            o.cum,
            o.qty - o.cum,
            self.h.now,
            **kw,
        )
        self.h.ov.on_exec_report(r)

    def venue(self, pick: int, what: int, frac: float, px_offset: int) -> None:
        orders = list(self.m.orders.values())
        if not orders:
            return
        o = orders[pick % len(orders)]
        what %= 5
        if what == 0:  # a fill of part or all of what rests under the current terms
            leaves = o.qty - o.cum
            if leaves <= 0:
                return
            q = max(1, int(leaves * frac))
            px = max(1, self.m.mids2[o.symbol] // 2 + px_offset)
            o.cum += q
            self.m.position[o.symbol] += o.side.sign * q
            status = OrdStatus.FILLED if o.cum == o.qty else OrdStatus.PARTIALLY_FILLED
            self._report(o, ExecType.TRADE, status, last_qty=q, last_px=px)
            if status is OrdStatus.FILLED or o.worst() == 0:
                del self.m.orders[o.cl_ord_id]
        elif what == 1:  # canceled
            self._report(o, ExecType.CANCELED, OrdStatus.CANCELED)
            del self.m.orders[o.cl_ord_id]
        elif what == 2:  # rejected (only meaningful for a new order; venue may say it anyway)
            self._report(o, ExecType.REJECTED, OrdStatus.REJECTED)
            del self.m.orders[o.cl_ord_id]
        elif what == 3 and o.pending is not None:  # replace applied
            new_id, new_qty, new_price = o.pending
            self._report(
                o, ExecType.REPLACED, OrdStatus.NEW, cl_ord_id=new_id, orig_cl_ord_id=o.cl_ord_id
            )
            del self.m.orders[o.cl_ord_id]
            o.cl_ord_id, o.qty, o.price, o.pending = new_id, new_qty, new_price, None
            if o.worst() > 0:
                self.m.orders[new_id] = o
        elif what == 4 and o.pending is not None:  # replace refused
            self.h.ov.on_cancel_reject(
                CancelReject(o.pending[0], o.cl_ord_id, True, "too late", self.h.now)
            )
            o.pending = None

    def book(self, symbol: str, shift: int, spread: int, one_sided: bool) -> None:
        mid = max(200, self.m.mids2[symbol] // 2 + shift)
        bid, ask = mid - spread, mid + spread
        asks = () if one_sided else ((ask, 500), (ask + 1, 500))
        self.h.book(symbol, bids=((bid, 500), (bid - 1, 500)), asks=asks)
        self.m.mids2[symbol] = bid + ask if not one_sided else self.m.mids2[symbol]
        if one_sided:
            self.m.book_ns[symbol] = -(10**30)  # the model treats it as unusable
        else:
            self.m.book_ns[symbol] = self.h.now

    def state(self, symbol: str | None, state: TradingState) -> None:
        try:
            self.h.ov.set_trading_state(state, now_ns=self.h.now, source="fuzz", symbol=symbol)
        except Exception as exc:  # loosening under the kill switch is refused, by design
            assert type(exc).__name__ == "CommandRefused"


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    table = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.sampled_from(table).flatmap(lambda strategy: strategy)


OPS = weighted(
    (
        10,
        st.tuples(
            st.just("new"),
            SYMBOL,
            SIDE,
            QTY,
            PRICE_OFFSET,
            mostly(st.just(False), st.just(True)),
            mostly(st.just(False), st.just(True)),
        ),
    ),
    (
        4,
        st.tuples(
            st.just("replace"),
            st.integers(0, 50),
            REPLACE_QTY,
            PRICE_OFFSET,
            mostly(st.just(False), st.just(True)),
        ),
    ),
    (2, st.tuples(st.just("cancel"), st.integers(0, 50))),
    (
        8,
        st.tuples(
            st.just("venue"),
            st.integers(0, 50),
            st.integers(0, 4),
            st.floats(0, 1),
            st.integers(-300, 300),
        ),
    ),
    (
        3,
        st.tuples(
            st.just("book"),
            st.sampled_from(SYMBOLS),
            st.integers(-200, 200),
            st.integers(1, 5),
            mostly(st.just(False), st.just(True)),
        ),
    ),
    (2, st.tuples(st.just("trade"), st.sampled_from(SYMBOLS), st.integers(1, 5_000))),
    (3, st.tuples(st.just("advance"), mostly(st.integers(0, 300), st.integers(0, 70_000)))),
    (
        1,
        st.tuples(
            st.just("state"), st.sampled_from([None, *SYMBOLS]), st.sampled_from(list(TradingState))
        ),
    ),
    (1, st.tuples(st.just("kill"), mostly(st.just(False), st.just(True)))),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(OPS, min_size=20, max_size=100))
def test_no_approved_order_ever_breaks_a_limit_and_exposure_stays_inside_limits(
    ops: list[tuple[Any, ...]],
):
    # capture_logs: denials are logged, and rendering thousands of lines is most of the cost
    with tempfile.TemporaryDirectory() as tmp, structlog.testing.capture_logs():
        h = Harness(Path(tmp) / "ks.json", CFG)
        d = Driver(h)
        for op in ops:
            kind, *args = op
            if kind == "new":
                d.new(*args)
            elif kind == "replace":
                d.replace(*args)
            elif kind == "cancel":
                d.cancel(*args)
            elif kind == "venue":
                d.venue(*args)
            elif kind == "book":
                d.book(*args)
            elif kind == "trade":
                h.trade(args[0], args[1])
            elif kind == "advance":
                h.clock.advance_to(h.now + args[0] * 1_000_000)
            elif kind == "state":
                d.state(*args)
            elif kind == "kill" and args[0]:
                for o in h.ov.engage_kill_switch("fuzz", h.now):
                    cancel = CancelRequest(d.fresh_id(), o.cl_ord_id, o.symbol, o.side, o.qty)
                    assert isinstance(h.ov.check_cancel(cancel, h.now), Approved)
            d.check_invariants()
        target(d.peak, label="peak worst-case exposure / limit")
        ov = h.ov
        event(
            f"approved new orders: {min(ov.approved_new, 10)}{'+' if ov.approved_new >= 10 else ''}"
        )
        event(f"approved replaces: {min(ov.approved_replace, 3)}")
        for reason in ov.denials:
            event(f"denied: {reason.value}")
