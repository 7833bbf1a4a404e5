"""The pre-trade risk overlay: every child order passes here, or it does not go out.

It is the last thing between a possibly broken model and the market, so it keeps its
own view of the world (book, position, open orders, P&L) from the feeds it is given,
never from the policy or the engine's bookkeeping, and it answers every request with
a value, never an exception: an :class:`~risk.approval.Approved` the router will take,
or a :class:`~risk.reasons.Denied` saying which limit, what value.

The checks for a new order run in a fixed order, cheapest and most fundamental first
(is the request well formed, may this symbol trade at all, is the node halted), then
the order's own size and price, then what it would do to the node's exposure, and
the rate limits last, so only an order that is otherwise approved spends a token.
An approved new order or replace counts as open exposure at worst case at once; the
venue's execution reports (fed to :meth:`RiskOverlay.on_exec_report`) release it.

Cancels are never blocked: taking risk off must always be possible. They still come
back wrapped in an approval, so a router only ever sees approved objects.

Time is whatever the caller's clock says (``now_ns`` arguments); nothing here reads
wall time, so the simulator and the live daemon get the same decisions.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from core.book import L2Book
from core.events import CancelReject, ExecReport
from core.instruments import Instrument
from core.log import get_logger
from core.requests import CancelRequest, NewOrderRequest, ReplaceRequest
from core.types import ExecType, OrdStatus, OrdType, Side, TimeInForce
from risk import approval as _approval
from risk.approval import Approved
from risk.command_auth import CommandRefused, CommandVerifier
from risk.events import (
    KillCause,
    KillSwitchEngaged,
    KillSwitchReset,
    Listener,
    OpenOrder,
    RiskEvent,
    TradingStateChanged,
)
from risk.exposure import LiveOrder, SymbolRisk
from risk.kill_switch import RESET_ACTION, KillSwitch
from risk.limits import (
    HARD_MAX_CL_ORD_ID_LEN,
    RiskLimits,
    RiskLimitsConfig,
    SymbolLimits,
    build_limits,
)
from risk.reasons import (
    BadField,
    BookState,
    CollarBreach,
    Denied,
    DenyContext,
    DenyReason,
    LimitBreach,
    OrderRef,
    SelfCross,
    StateBlock,
    safe_text,
)
from risk.throttle import TokenBucket
from risk.trading_state import TradingState

__all__ = ["Denied", "RiskOverlay"]  # Denied too: it is half of what the checks return

# Claimed at import; ``risk/__init__`` imports this module first, so no one else can.
_CAP = _approval._issue_capability(__name__)

_NS_PER_S = 1_000_000_000
_NS_PER_MIN = 60 * _NS_PER_S
_MAX_TS_NS = 2**63  # int64 nanoseconds: what every timestamp field downstream can hold

R = DenyReason
BUY = Side.BUY
LIMIT = OrdType.LIMIT
MARKET = OrdType.MARKET
ACTIVE = TradingState.ACTIVE
REDUCING = TradingState.REDUCING
HALTED = TradingState.HALTED

log = get_logger("risk")


class RiskOverlay:
    """Checks requests against frozen limits and its own view of exposure."""

    def __init__(
        self,
        limits: RiskLimits,
        kill_switch: KillSwitch,
        *,
        now_ns: int,
        node_id: str = "",
    ) -> None:
        self.limits = limits
        self.node_id = node_id
        self._kill = kill_switch
        self._symbols: dict[str, SymbolRisk] = {
            name: SymbolRisk(lim, limits.participation_window_ns)
            for name, lim in limits.symbols.items()
        }
        self._node_state = ACTIVE
        self._market_open = False  # closed until the engine says the venue is open
        self._orders: dict[str, LiveOrder] = {}
        self._aliases: dict[str, LiveOrder] = {}  # cancel/replace request id -> order
        self._open_count = 0
        self._seen_ids: set[str] = set()
        self._exec_ids: set[str] = set()
        self._order_sec = TokenBucket(limits.orders_per_second, _NS_PER_S, now_ns)
        self._order_min = TokenBucket(limits.orders_per_minute, _NS_PER_MIN, now_ns)
        self._cancel_sec = TokenBucket(limits.cancels_per_second, _NS_PER_S, now_ns)
        self._cancel_min = TokenBucket(limits.cancels_per_minute, _NS_PER_MIN, now_ns)
        self._rejects: deque[int] = deque()
        self._pnl_total = Decimal(0)
        self._day_base = Decimal(0)
        self._loss_breached = False
        self._listeners: list[Listener] = []
        self.denials: Counter[DenyReason] = Counter()
        self.approved_new = 0
        self.approved_replace = 0
        self.approved_cancel = 0
        self.internal_errors = 0
        if kill_switch.engaged:
            log.critical(
                "risk_started_halted",
                node=node_id,
                cause=str(kill_switch.status.cause),
                detail=kill_switch.status.detail,
            )

    @classmethod
    def from_config(
        cls,
        cfg: RiskLimitsConfig,
        instruments: Iterable[Instrument],
        *,
        state_path: str,
        reset_key: bytes | Sequence[bytes],  # two during a key rollover
        now_ns: int,
        node_id: str = "",
    ) -> RiskOverlay:
        """Freeze the limits (logging the config hash) and load the kill switch."""
        limits = build_limits(cfg, instruments)
        verifier = CommandVerifier(reset_key, max_age_ns=limits.reset_max_age_ns)
        return cls(limits, KillSwitch(state_path, verifier, now_ns), now_ns=now_ns, node_id=node_id)

    # ================================================================ checks
    def check_new(self, req: NewOrderRequest, now_ns: int) -> Approved[NewOrderRequest] | Denied:
        """Approve ``req`` (and count it as open exposure) or say why not. Never raises."""
        try:
            return self._check_new(req, now_ns)
        except Exception as exc:  # a bug here must deny, not crash the node or approve
            return self._internal_error("new", req, now_ns, exc)

    def check_replace(self, req: ReplaceRequest, now_ns: int) -> Approved[ReplaceRequest] | Denied:
        """Approve a cancel/replace (counting the larger remainder) or say why not."""
        try:
            return self._check_replace(req, now_ns)
        except Exception as exc:
            return self._internal_error("replace", req, now_ns, exc)

    def check_cancel(self, req: CancelRequest, now_ns: int) -> Approved[CancelRequest]:
        """Always approved: taking risk off is never blocked, whatever the state or rate.

        Raises TypeError only for something that is not a CancelRequest at all (a
        programming error that must not be approved as a cancel).
        """
        if type(req) is not CancelRequest:
            raise TypeError(f"check_cancel takes a CancelRequest, got {type(req).__name__}")
        self._cancel_sec.take_always(now_ns)
        self._cancel_min.take_always(now_ns)
        self.approved_cancel += 1
        orig = req.orig_cl_ord_id
        order = self._orders.get(orig) if type(orig) is str else None
        if order is not None:
            order.cancel_pending = True
            if type(req.cl_ord_id) is str:
                self._aliases[req.cl_ord_id] = order
        else:
            log.warning(
                "risk_cancel_unknown_order",
                node=self.node_id,
                cl_ord_id=safe_text(req.cl_ord_id),
                orig_cl_ord_id=safe_text(orig),
                detail="approved anyway: cancels are never blocked",
            )
        if type(req.cl_ord_id) is str:
            self._seen_ids.add(req.cl_ord_id)
        return Approved(_CAP, req, now_ns)

    def _check_new(self, req: NewOrderRequest, now: int) -> Approved[NewOrderRequest] | Denied:
        if type(req) is not NewOrderRequest:
            return self._deny_type(req, "new", NewOrderRequest, now)
        cid = req.cl_ord_id
        symbol = req.symbol
        side = req.side
        qty = req.qty
        price = req.price
        ord_type = req.ord_type
        # ---- well formed: exact types, printable ids (a SOH in an id would corrupt FIX)
        bad = self._bad_common(req)
        if bad is None and (type(req.account) is not str or not req.account.isprintable()):
            bad = BadField("account", safe_text(req.account), "printable str")
        if bad is not None:
            return self._deny(
                R.INVALID_QUANTITY if bad.field == "qty" else R.MALFORMED_REQUEST,
                bad,
                "new",
                cid,
                symbol,
                now,
            )
        if ord_type is LIMIT:
            if type(price) is not int or price <= 0:
                return self._deny(
                    R.INVALID_PRICE,
                    BadField("price", safe_text(price), "int ticks > 0"),
                    "new",
                    cid,
                    symbol,
                    now,
                )
        elif price is not None:
            return self._deny(
                R.INVALID_PRICE,
                BadField("price", safe_text(price), "None for a market order"),
                "new",
                cid,
                symbol,
                now,
            )
        # ---- may this symbol trade at all
        s = self._symbols.get(symbol)
        if s is None:
            return self._deny(
                R.SYMBOL_NOT_ALLOWED,
                BadField("symbol", safe_text(symbol), "an allowed symbol"),
                "new",
                cid,
                symbol,
                now,
            )
        gate = self._gate_problem(s, cid, "new", now)
        if gate is not None:
            return gate
        state = self._node_state if self._node_state >= s.state else s.state
        lim = s.limits
        # ---- the order itself: size, price, notional
        if qty <= 0:
            return self._deny(
                R.INVALID_QUANTITY,
                BadField("qty", str(qty), "int units > 0"),
                "new",
                cid,
                symbol,
                now,
            )
        size = self._size_problem(lim, qty, "new", cid, symbol, now)
        if size is not None:
            return size
        priced = self._price_problem(s, side, qty, price, "new", cid, now)
        if priced is not None:
            return priced
        # ---- what it would do to the node's exposure
        exposure = self._exposure_problem(s, side, qty, state, "new", cid, now)
        if exposure is not None:
            return exposure
        if self._open_count >= self.limits.max_open_orders:
            return self._deny(
                R.MAX_OPEN_ORDERS,
                LimitBreach(
                    "max_open_orders", self.limits.max_open_orders, self._open_count + 1, "orders"
                ),
                "new",
                cid,
                symbol,
                now,
            )
        if s.open_count >= lim.max_open_orders:
            return self._deny(
                R.MAX_OPEN_ORDERS,
                LimitBreach(
                    "max_open_orders_per_symbol", lim.max_open_orders, s.open_count + 1, "orders"
                ),
                "new",
                cid,
                symbol,
                now,
            )
        pov = self._participation_problem(s, qty, "new", cid, now)
        if pov is not None:
            return pov
        if not self._take_order_token(now):
            return self._deny_rate("new", cid, symbol, now)
        # ---- approved: count it at once, as if it could all trade now
        order = LiveOrder(cid, s, side, qty, price, ord_type, qty)
        self._orders[cid] = order
        self._seen_ids.add(cid)
        self._open_count += 1
        s.open_count += 1
        if side is BUY:  # the whole quantity, at once (set_exposure, inlined)
            s.open_buy += qty
        else:
            s.open_sell += qty
        if price is not None:
            s.add_resting(side, price)
        self.approved_new += 1
        return Approved(_CAP, req, now)

    def _check_replace(self, req: ReplaceRequest, now: int) -> Approved[ReplaceRequest] | Denied:
        if type(req) is not ReplaceRequest:
            return self._deny_type(req, "replace", ReplaceRequest, now)
        cid = req.cl_ord_id
        symbol = req.symbol
        qty = req.qty
        price = req.price
        bad = self._bad_common(req)
        orig = req.orig_cl_ord_id
        if bad is None and (type(orig) is not str or not orig):
            bad = BadField("orig_cl_ord_id", safe_text(orig), "the ClOrdID of a live order")
        if bad is not None:
            return self._deny(
                R.INVALID_QUANTITY if bad.field == "qty" else R.MALFORMED_REQUEST,
                bad,
                "replace",
                cid,
                symbol,
                now,
            )
        if type(price) is not int or price <= 0:
            return self._deny(
                R.INVALID_PRICE,
                BadField("price", safe_text(price), "int ticks > 0"),
                "replace",
                cid,
                symbol,
                now,
            )
        order = self._orders.get(orig)
        if order is None:
            return self._deny(
                R.UNKNOWN_ORDER,
                OrderRef(orig, "no live order with this ClOrdID"),
                "replace",
                cid,
                symbol,
                now,
            )
        s = order.sym
        if order.ord_type is not LIMIT:
            return self._deny(
                R.ORDER_NOT_REPLACEABLE,
                OrderRef(orig, "only limit orders can be replaced"),
                "replace",
                cid,
                symbol,
                now,
            )
        if order.pending_id is not None or order.cancel_pending:
            return self._deny(
                R.ORDER_NOT_REPLACEABLE,
                OrderRef(orig, "a cancel or replace of this order is still in flight"),
                "replace",
                cid,
                symbol,
                now,
            )
        if symbol != s.limits.symbol or req.side is not order.side or req.ord_type is not LIMIT:
            return self._deny(
                R.REPLACE_MISMATCH,
                OrderRef(orig, "symbol, side and order type must stay those of the order"),
                "replace",
                cid,
                symbol,
                now,
            )
        gate = self._gate_problem(s, cid, "replace", now)
        if gate is not None:
            return gate
        state = self._node_state if self._node_state >= s.state else s.state
        lim = s.limits
        if qty <= order.cum:
            return self._deny(
                R.INVALID_QUANTITY,
                BadField("qty", str(qty), f"more than the {order.cum} already filled"),
                "replace",
                cid,
                symbol,
                now,
            )
        size = self._size_problem(lim, qty, "replace", cid, symbol, now)
        if size is not None:
            return size
        priced = self._price_problem(s, order.side, qty, price, "replace", cid, now)
        if priced is not None:
            return priced
        # Only growth of the remainder adds exposure; a smaller or equal one never does.
        growth = (qty - order.cum) - order.exposure
        if growth > 0:
            exposure = self._exposure_problem(s, order.side, growth, state, "replace", cid, now)
            if exposure is not None:
                return exposure
            pov = self._participation_problem(s, growth, "replace", cid, now)
            if pov is not None:
                return pov
        if not self._take_order_token(now):
            return self._deny_rate("replace", cid, symbol, now)
        order.pending_id = cid
        order.pending_qty = qty
        order.pending_price = price
        self._aliases[cid] = order
        self._seen_ids.add(cid)
        s.add_resting(order.side, price)
        s.set_exposure(order, order.worst_case_leaves())
        self.approved_replace += 1
        return Approved(_CAP, req, now)

    # ------------------------------------------------------ shared check steps
    def _gate_problem(self, s: SymbolRisk, cid: str, kind: str, now: int) -> Denied | None:
        """May anything but a cancel go out for this symbol now, under a fresh ClOrdID."""
        if (
            self._kill.engaged
            or self._node_state is HALTED
            or s.state is HALTED
            or not self._market_open
            or s.venue_halted
        ):
            return self._blocked(s, cid, kind, now)
        if cid in self._seen_ids:
            ref = OrderRef(cid, "ClOrdID already used today")
            return self._deny(R.DUPLICATE_CL_ORD_ID, ref, kind, cid, s.limits.symbol, now)
        return None

    def _price_problem(  # noqa: PLR0917  (hot path: positional)
        self, s: SymbolRisk, side: Side, qty: int, price: int | None, kind: str, cid: str, now: int
    ) -> Denied | None:
        """Fresh two-sided book, price collar (for a market order: enough opposite size),
        order notional, and no crossing of our own resting orders (new and replace)."""
        book_ns = s.book_ns
        if book_ns is None or now - book_ns > self.limits.stale_after_ns or not s.mid2:
            return self._market_data_problem(s, cid, kind, now)
        lim = s.limits
        if price is not None:
            if price < s.collar_low or price > s.collar_high:
                return self._deny_collar(s, price, kind, cid, now)
            notional_px = price
        else:
            depth = s.ask_depth if side is BUY else s.bid_depth
            if qty > depth:
                breach = LimitBreach("opposite_size_within_collar", depth, qty, "units")
                return self._deny(R.INSUFFICIENT_LIQUIDITY, breach, kind, cid, lim.symbol, now)
            notional_px = s.collar_high  # the most a market order may pay inside the collar
        if qty * notional_px > lim.max_order_notional_tu:
            breach = LimitBreach(
                "max_order_notional",
                lim.max_order_notional,
                qty * notional_px * lim.unit_value,
                lim.instrument.currency,
            )
            return self._deny(R.MAX_ORDER_NOTIONAL, breach, kind, cid, lim.symbol, now)
        if side is BUY:
            if s.min_sell is not None and (price is None or price >= s.min_sell):
                cross = SelfCross(price, s.min_sell)
                return self._deny(R.SELF_CROSS, cross, kind, cid, lim.symbol, now)
        elif s.max_buy is not None and (price is None or price <= s.max_buy):
            cross = SelfCross(price, s.max_buy)
            return self._deny(R.SELF_CROSS, cross, kind, cid, lim.symbol, now)
        return None

    def _take_order_token(self, now: int) -> bool:
        """A token from each order-rate bucket, or none taken. The cancel buckets must have
        room too, so whatever goes out can still be cancelled."""
        if (
            self._order_sec.has_token(now)
            and self._order_min.has_token(now)
            and self._cancel_sec.has_token(now)
            and self._cancel_min.has_token(now)
        ):
            self._order_sec.take()
            self._order_min.take()
            return True
        return False

    def _size_problem(  # noqa: PLR0917  (hot path: positional)
        self, lim: SymbolLimits, qty: int, kind: str, cid: str, symbol: str, now: int
    ) -> Denied | None:
        """Quantity on the instrument's lot grid and inside its limits (new and replace)."""
        if qty < lim.min_qty:
            breach = LimitBreach("min_qty", lim.min_qty, qty, "units")
            return self._deny(R.QTY_BELOW_MIN, breach, kind, cid, symbol, now)
        if qty % lim.lot_size:
            breach = LimitBreach("lot_size", lim.lot_size, qty, "units")
            return self._deny(R.LOT_SIZE, breach, kind, cid, symbol, now)
        if qty > lim.max_order_qty:
            breach = LimitBreach("max_order_qty", lim.max_order_qty, qty, "units")
            return self._deny(R.MAX_ORDER_QTY, breach, kind, cid, symbol, now)
        return None

    @staticmethod
    def _bad_common(req: NewOrderRequest | ReplaceRequest) -> BadField | None:
        """Exact types for every field both order requests carry to the wire."""
        cid = req.cl_ord_id
        if (
            type(cid) is not str
            or not 0 < len(cid) <= HARD_MAX_CL_ORD_ID_LEN
            or not cid.isascii()
            or not cid.isprintable()
        ):
            return BadField(
                "cl_ord_id", safe_text(cid), f"1-{HARD_MAX_CL_ORD_ID_LEN} printable ASCII"
            )
        if type(req.symbol) is not str:
            return BadField("symbol", safe_text(req.symbol), "str")
        if type(req.side) is not Side:
            return BadField("side", safe_text(req.side), "Side.BUY or Side.SELL")
        if type(req.ord_type) is not OrdType:
            return BadField("ord_type", safe_text(req.ord_type), "OrdType")
        if type(req.tif) is not TimeInForce:
            return BadField("tif", safe_text(req.tif), "TimeInForce")
        ts = req.ts_ns  # becomes TransactTime(60) on the wire
        if type(ts) is not int or not 0 <= ts < _MAX_TS_NS:
            return BadField("ts_ns", safe_text(ts), "int ns since the epoch, >= 0")
        if type(req.qty) is not int:
            return BadField("qty", safe_text(req.qty), "int units")
        return None

    def _blocked(self, s: SymbolRisk, cid: str, kind: str, now: int) -> Denied:
        """Kill switch, halted states and venue status: nothing but cancels passes.

        Called only once the chain saw one of them set; names the first that applies.
        """
        if self._kill.engaged:
            st = self._kill.status
            return self._deny(
                R.KILL_SWITCH_ENGAGED,
                StateBlock("node", "halted", f"kill switch: {st.cause} {st.detail}".strip()),
                kind,
                cid,
                s.limits.symbol,
                now,
            )
        if self._node_state is HALTED:
            return self._deny(
                R.TRADING_HALTED,
                StateBlock("node", "halted", "node trading state"),
                kind,
                cid,
                s.limits.symbol,
                now,
            )
        if s.state is HALTED:
            return self._deny(
                R.TRADING_HALTED,
                StateBlock("symbol", "halted", "symbol trading state"),
                kind,
                cid,
                s.limits.symbol,
                now,
            )
        if not self._market_open:
            return self._deny(
                R.MARKET_CLOSED,
                StateBlock("market", "closed", "venue session not open"),
                kind,
                cid,
                s.limits.symbol,
                now,
            )
        return self._deny(  # the one left: the venue halted the symbol
            R.SYMBOL_HALTED,
            StateBlock("venue", "halted", "the venue halted this symbol"),
            kind,
            cid,
            s.limits.symbol,
            now,
        )

    def _market_data_problem(self, s: SymbolRisk, cid: str, kind: str, now: int) -> Denied:
        """Called only once the chain saw a stale or one-sided book; says which."""
        book_ns = s.book_ns
        if book_ns is None or now - book_ns > self.limits.stale_after_ns:
            age = -1 if book_ns is None else now - book_ns
            return self._deny(
                R.STALE_MARKET_DATA,
                LimitBreach("stale_after", self.limits.stale_after_ns, age, "ns"),
                kind,
                cid,
                s.limits.symbol,
                now,
            )
        return self._deny(  # fresh, so one-sided: no mid to collar against
            R.NO_REFERENCE_PRICE,
            BookState(s.best_bid, s.best_ask),
            kind,
            cid,
            s.limits.symbol,
            now,
        )

    def _deny_collar(self, s: SymbolRisk, price: int, kind: str, cid: str, now: int) -> Denied:
        return self._deny(
            R.PRICE_COLLAR,
            CollarBreach(
                price, Decimal(s.mid2) / 2, s.limits.collar_bps, s.collar_low, s.collar_high
            ),
            kind,
            cid,
            s.limits.symbol,
            now,
        )

    def _exposure_problem(  # noqa: PLR0917  (hot path: positional, no tuple/dict built)
        self,
        s: SymbolRisk,
        side: Side,
        qty: int,
        state: TradingState,
        kind: str,
        cid: str,
        now: int,
    ) -> Denied | None:
        """Reduce-only states, the daily-loss latch and the position limit, worst case."""
        pos = s.position
        if side is BUY:
            after = pos + s.open_buy + qty
            reduces = pos < 0 and after <= 0
        else:
            after = pos - s.open_sell - qty
            reduces = pos > 0 and after >= 0
        if reduces:
            return None  # |exposure| cannot grow, so neither can the position limit be hit
        if state is REDUCING:
            scope = "node" if self._node_state is REDUCING else "symbol"
            return self._deny(
                R.REDUCE_ONLY,
                StateBlock(scope, "reducing", "only orders that reduce the position pass"),
                kind,
                cid,
                s.limits.symbol,
                now,
            )
        if self._loss_breached:
            return self._deny(
                R.MAX_DAILY_LOSS,
                LimitBreach(
                    "max_daily_loss",
                    self.limits.max_daily_loss,
                    self._day_base - self._pnl_total,
                    "currency",
                ),
                kind,
                cid,
                s.limits.symbol,
                now,
            )
        limit = s.limits.max_position
        if after > limit or after < -limit:
            return self._deny(
                R.MAX_POSITION,
                LimitBreach("max_position", limit, after, "units"),
                kind,
                cid,
                s.limits.symbol,
                now,
            )
        return None

    def _participation_problem(
        self, s: SymbolRisk, qty: int, kind: str, cid: str, now: int
    ) -> Denied | None:
        """Ours (traded in the window + all open + this) against the market's volume."""
        market = s.market_volume.expire(now)
        ours = s.our_volume.expire(now) + s.open_buy + s.open_sell + qty
        if ours * 10_000 > s.limits.participation_bps * market:
            return self._deny(
                R.PARTICIPATION_CAP,
                LimitBreach(
                    "participation_bps",
                    s.limits.participation_bps,
                    ours * 10_000 // market if market else -1,
                    "bps of market volume",
                ),
                kind,
                cid,
                s.limits.symbol,
                now,
            )
        return None

    def _deny_rate(self, kind: str, cid: str, symbol: str, now: int) -> Denied:
        """Name the first exhausted bucket (the check itself is inlined in the chain)."""
        for bucket, reason, name in (
            (self._order_sec, R.ORDER_RATE, "orders_per_second"),
            (self._order_min, R.ORDER_RATE, "orders_per_minute"),
            # A policy churning cancels is stopped at the new-order end: the cancels it
            # already asked for still go out, but nothing new does until the rate recovers.
            (self._cancel_sec, R.CANCEL_RATE, "cancels_per_second"),
            (self._cancel_min, R.CANCEL_RATE, "cancels_per_minute"),
        ):
            if not bucket.has_token(now):
                used = bucket.capacity - bucket.tokens(now) + 1
                return self._deny(
                    reason,
                    LimitBreach(name, bucket.capacity, used, "messages"),
                    kind,
                    cid,
                    symbol,
                    now,
                )
        raise AssertionError("rate denial with a token in every bucket")

    # ------------------------------------------------------------ denials
    def _deny(  # noqa: PLR0917  (called from every check; positional keeps them one-liners)
        self, reason: DenyReason, ctx: DenyContext, kind: str, cid: object, symbol: object, now: int
    ) -> Denied:
        denied = Denied(reason, ctx, kind, safe_text(cid), safe_text(symbol), now)
        self.denials[reason] += 1
        log.warning("risk_denied", node=self.node_id, **denied.as_dict())
        self._notify(denied)
        return denied

    def _deny_type(self, req: object, kind: str, want: type, now: int) -> Denied:
        return self._deny(
            R.MALFORMED_REQUEST,
            BadField("request", type(req).__name__, want.__name__),
            kind,
            getattr(req, "cl_ord_id", ""),
            getattr(req, "symbol", ""),
            now,
        )

    def _internal_error(self, kind: str, req: object, now: int, exc: Exception) -> Denied:
        self.internal_errors += 1
        log.exception("risk_internal_error", node=self.node_id, kind=kind, error=repr(exc))
        try:
            cid, symbol = getattr(req, "cl_ord_id", ""), getattr(req, "symbol", "")
        except Exception:
            cid = symbol = "?"
        return self._deny(
            R.MALFORMED_REQUEST,
            BadField("request", safe_text(exc), "a request the overlay can evaluate"),
            kind,
            cid,
            symbol,
            now,
        )

    # ============================================================ listeners
    def add_listener(self, listener: Listener) -> None:
        """Called with every denial, kill-switch change and trading-state change."""
        self._listeners.append(listener)

    def _notify(self, event: RiskEvent) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # a metrics bug must not change a risk decision
                log.exception("risk_listener_failed", listener=repr(listener))

    # ========================================================== state feeds
    def on_book(self, symbol: str, book: L2Book, now_ns: int) -> KillSwitchEngaged | None:
        """Reference mid and collar band, size inside the band, freshness, the P&L mark."""
        s = self._symbols.get(symbol)
        if s is None:
            return None
        bid = book.best_bid
        ask = book.best_ask
        s.book_ns = now_ns
        s.best_bid = bid
        s.best_ask = ask
        if bid is None or ask is None:
            s.mid2 = s.collar_low = s.collar_high = s.bid_depth = s.ask_depth = 0
        else:
            mid2 = bid + ask
            bps = s.limits.collar_bps
            # price p is inside the collar iff |2p - mid2| * 10_000 <= bps * mid2
            high = mid2 * (10_000 + bps) // 20_000
            low = -(-mid2 * (10_000 - bps) // 20_000)
            s.mid2 = mid2
            s.collar_low = low
            s.collar_high = high
            levels = self.limits.market_depth_levels
            s.ask_depth = sum(q for p, q in book.depth(Side.SELL, levels) if p <= high)
            s.bid_depth = sum(q for p, q in book.depth(Side.BUY, levels) if p >= low)
        return self._revalue(s, now_ns)

    def on_market_trade(self, symbol: str, qty: int, ts_ns: int) -> None:
        """Every print on the tape (ours included) counts toward market volume."""
        s = self._symbols.get(symbol)
        if s is None:
            return
        if type(qty) is not int or qty <= 0:
            log.error("risk_bad_market_trade", symbol=symbol, qty=safe_text(qty))
            return
        s.market_volume.add(ts_ns, qty)

    def on_exec_report(self, r: ExecReport) -> KillSwitchEngaged | None:
        """The venue's word on our orders: releases exposure, books fills, counts rejects."""
        et = r.exec_type
        if r.exec_id and et is not ExecType.ORDER_STATUS:
            if r.exec_id in self._exec_ids:
                return None  # a PossDup resend or a replay: applied once already
            self._exec_ids.add(r.exec_id)
        if et is ExecType.TRADE:
            return self._on_fill(r)
        if et is ExecType.REJECTED:
            order = self._resolve(r.cl_ord_id)
            if order is not None:
                if order.pending_id == r.cl_ord_id:
                    self._drop_pending(order)
                else:
                    self._drop(order)
            return self._count_reject(r)
        if et is ExecType.CANCELED or et is ExecType.EXPIRED:
            order = self._resolve(r.orig_cl_ord_id) or self._resolve(r.cl_ord_id)
            if order is not None:
                self._drop(order)
            return None
        if et is ExecType.REPLACED:
            order = self._resolve(r.orig_cl_ord_id) or self._resolve(r.cl_ord_id)
            if order is not None:
                self._apply_replace(order, r)
            return None
        if et is ExecType.ORDER_STATUS:
            order = self._resolve(r.cl_ord_id)
            if order is not None:
                if r.ord_status.is_terminal:
                    self._drop(order)
                elif type(r.cum_qty) is int and r.cum_qty > order.cum:
                    log.error(
                        "risk_status_shows_unbooked_fills",
                        cl_ord_id=order.cl_ord_id,
                        ours=order.cum,
                        venue=r.cum_qty,
                    )
            return None
        return None  # NEW / PENDING_*: the order is already counted

    def on_cancel_reject(self, rej: CancelReject) -> None:
        """A refused cancel leaves the order working; a refused replace drops the new terms."""
        order = self._resolve(rej.orig_cl_ord_id) or self._resolve(rej.cl_ord_id)
        self._aliases.pop(rej.cl_ord_id, None)
        if order is None:
            return
        if rej.is_replace:
            if order.pending_id == rej.cl_ord_id:
                self._drop_pending(order)
        else:
            order.cancel_pending = False

    def _resolve(self, cl_ord_id: str) -> LiveOrder | None:
        if not cl_ord_id:
            return None
        return self._orders.get(cl_ord_id) or self._aliases.get(cl_ord_id)

    def _on_fill(self, r: ExecReport) -> KillSwitchEngaged | None:
        qty, px = r.last_qty, r.last_px
        if type(qty) is not int or type(px) is not int or qty <= 0 or px <= 0:
            log.error(
                "risk_bad_fill", exec_id=r.exec_id, last_qty=safe_text(qty), last_px=safe_text(px)
            )
            return None
        s = self._symbols.get(r.symbol)
        if s is None:
            log.critical(
                "risk_fill_outside_allow_list", symbol=safe_text(r.symbol), exec_id=r.exec_id
            )
            return self._engage(
                KillCause.UNEXPECTED_FILL,
                f"fill {r.exec_id} in {safe_text(r.symbol)}, a symbol risk never approved",
                r.ts_ns,
            )
        sign = 1 if r.side is BUY else -1
        s.position += sign * qty
        s.cash_tu -= sign * qty * px
        s.last_px = px
        s.our_volume.add(r.ts_ns, qty)
        order = self._resolve(r.cl_ord_id) or self._resolve(r.orig_cl_ord_id)
        if order is None:
            log.error(
                "risk_fill_for_unknown_order",
                cl_ord_id=r.cl_ord_id,
                exec_id=r.exec_id,
                detail="position updated; the order was not approved by this overlay",
            )
        else:
            order.cum += qty
            if order.cum > order.qty and (
                order.pending_id is None or order.cum > order.pending_qty
            ):
                log.error("risk_overfill", cl_ord_id=order.cl_ord_id, cum=order.cum, qty=order.qty)
            if r.ord_status is OrdStatus.FILLED or order.worst_case_leaves() == 0:
                self._drop(order)
            else:
                s.set_exposure(order, order.worst_case_leaves())
        return self._revalue(s, r.ts_ns)

    def _apply_replace(self, order: LiveOrder, r: ExecReport) -> None:
        s = order.sym
        if order.price is not None:
            s.remove_resting(order.side, order.price)
        if order.pending_id is not None:
            new_id, new_qty, new_price = order.pending_id, order.pending_qty, order.pending_price
        else:  # a replace we never asked for: take the venue's terms, count them
            log.error("risk_unsolicited_replace", cl_ord_id=order.cl_ord_id, new=r.cl_ord_id)
            new_id, new_qty, new_price = r.cl_ord_id, r.order_qty, r.price
            if new_price is not None:
                s.add_resting(order.side, new_price)
        del self._orders[order.cl_ord_id]
        self._aliases.pop(new_id, None)
        order.cl_ord_id = new_id
        order.qty = new_qty
        order.price = new_price
        order.pending_id = None
        order.pending_qty = 0
        order.pending_price = None
        self._orders[new_id] = order
        if order.worst_case_leaves() == 0:
            self._drop(order)
        else:
            s.set_exposure(order, order.worst_case_leaves())

    def _drop_pending(self, order: LiveOrder) -> None:
        if order.pending_id is None:
            return
        self._aliases.pop(order.pending_id, None)
        if order.pending_price is not None:
            order.sym.remove_resting(order.side, order.pending_price)
        order.pending_id = None
        order.pending_qty = 0
        order.pending_price = None
        order.sym.set_exposure(order, order.worst_case_leaves())

    def _drop(self, order: LiveOrder) -> None:
        s = order.sym
        self._drop_pending(order)
        if order.price is not None:
            s.remove_resting(order.side, order.price)
        s.set_exposure(order, 0)
        if self._orders.pop(order.cl_ord_id, None) is not None:
            self._open_count -= 1
            s.open_count -= 1
        for alias in [a for a, o in self._aliases.items() if o is order]:
            del self._aliases[alias]

    def _count_reject(self, r: ExecReport) -> KillSwitchEngaged | None:
        now = r.ts_ns
        rejects = self._rejects
        rejects.append(now)
        horizon = now - self.limits.reject_window_ns
        while rejects and rejects[0] <= horizon:
            rejects.popleft()
        log.warning("risk_venue_reject", cl_ord_id=r.cl_ord_id, text=r.text, in_window=len(rejects))
        if len(rejects) >= self.limits.rejects_before_kill:
            return self._engage(
                KillCause.VENUE_REJECTS,
                f"{len(rejects)} venue rejects within {self.limits.reject_window_ns // _NS_PER_S} s",
                now,
            )
        return None

    def _revalue(self, s: SymbolRisk, now: int) -> KillSwitchEngaged | None:
        """Mark the position to the book and latch the daily-loss breach on the way down."""
        pnl_tu = s.cash_tu + s.position * s.mark_price()
        if pnl_tu == s.pnl_tu:
            return None
        s.pnl_tu = pnl_tu
        pnl = pnl_tu * s.limits.unit_value
        self._pnl_total += pnl - s.pnl
        s.pnl = pnl
        loss = self._day_base - self._pnl_total
        if not self._loss_breached and loss > self.limits.max_daily_loss:
            self._loss_breached = True
            log.critical(
                "risk_daily_loss_breached",
                node=self.node_id,
                loss=str(loss),
                limit=str(self.limits.max_daily_loss),
            )
            return self._engage(
                KillCause.MAX_DAILY_LOSS,
                f"daily loss {loss} beyond limit {self.limits.max_daily_loss}",
                now,
            )
        return None

    # ================================================= commands and control
    def set_market_open(self, is_open: bool, now_ns: int) -> None:
        """The venue's session state (or the schedule): closed means no new orders."""
        if is_open != self._market_open:
            log.info("risk_market_open" if is_open else "risk_market_closed", ts_ns=now_ns)
        self._market_open = bool(is_open)

    def set_symbol_halted(self, symbol: str, halted: bool, now_ns: int) -> None:
        """The venue halted (or resumed) trading in ``symbol``."""
        s = self._symbols.get(symbol)
        if s is None:
            return
        if s.venue_halted != halted:
            log.warning(
                "risk_venue_halt" if halted else "risk_venue_resume", symbol=symbol, ts_ns=now_ns
            )
        s.venue_halted = bool(halted)

    def set_trading_state(
        self, state: TradingState, *, now_ns: int, source: str, symbol: str | None = None
    ) -> None:
        """Tightening is always allowed; loosening is refused while the kill switch is on."""
        if type(state) is not TradingState:
            raise CommandRefused("malformed", f"not a trading state: {state!r}")
        if symbol is None:
            old = self._node_state
        else:
            s = self._symbols.get(symbol)
            if s is None:
                raise CommandRefused("unknown_symbol", f"{symbol!r} is not an allowed symbol")
            old = s.state
        if state < old and self._kill.engaged:
            raise CommandRefused(
                "kill_switch_engaged",
                f"cannot loosen {symbol or 'node'} from {old.label} to {state.label} while the "
                "kill switch is engaged; reset it first (signed command)",
            )
        if symbol is None:
            self._node_state = state
        else:
            self._symbols[symbol].state = state
        if state is not old:
            log.warning(
                "risk_trading_state",
                node=self.node_id,
                symbol=symbol or "*",
                old=old.label,
                new=state.label,
                source=source,
            )
            self._notify(TradingStateChanged(symbol, old, state, source, now_ns))

    def trading_state(self, symbol: str | None = None) -> TradingState:
        """The effective state: the tightest of kill switch, node and symbol."""
        if self._kill.engaged:
            return HALTED
        if symbol is None:
            return self._node_state
        s = self._symbols.get(symbol)
        if s is None:
            return HALTED
        return max(self._node_state, s.state)

    def engage_kill_switch(self, detail: str, now_ns: int) -> tuple[OpenOrder, ...]:
        """Operator or engine command; returns every open order, for the engine to cancel."""
        event = self._engage(KillCause.COMMAND, detail, now_ns)
        return event.open_orders if event is not None else self.open_orders()

    def _engage(self, cause: KillCause, detail: str, now: int) -> KillSwitchEngaged | None:
        if not self._kill.engage(cause, detail, now):
            return None
        event = KillSwitchEngaged(cause, detail, now, self.open_orders())
        log.critical(
            "risk_kill_switch_engaged",
            node=self.node_id,
            cause=cause.value,
            detail=detail,
            open_orders=len(event.open_orders),
            action="cancel all open orders, no new ones",
        )
        self._notify(event)
        return event

    def reset_kill_switch(self, cmd: object, now_ns: int, *, action: str = RESET_ACTION) -> bool:
        """Disengage on a valid signed command; raises CommandRefused with the reason.

        ``action``: what the command must be signed for (see :meth:`KillSwitch.reset`).
        """
        try:
            was = self._kill.reset(cmd, now_ns, action=action)
        except CommandRefused as exc:
            log.error(
                "risk_kill_switch_reset_refused",
                node=self.node_id,
                failure=str(exc.failure),
                detail=exc.detail,
            )
            raise
        nonce = getattr(cmd, "nonce", "")
        log.warning("risk_kill_switch_reset", node=self.node_id, was_engaged=was, nonce=nonce)
        self._notify(KillSwitchReset(now_ns, nonce))
        return was

    @property
    def kill_switch(self) -> KillSwitch:
        return self._kill

    def roll_trading_day(self, now_ns: int) -> None:
        """Start a new day for the daily-loss limit: today's P&L starts at zero."""
        self._day_base = self._pnl_total
        if self._loss_breached:
            log.warning("risk_daily_loss_latch_cleared", node=self.node_id, ts_ns=now_ns)
        self._loss_breached = False

    # ------------------------------------------------------------ recovery
    def adopt_position(self, symbol: str, qty: int, avg_px: int, now_ns: int) -> None:
        """Recovery: a position the journal or the venue says we hold (at ``avg_px`` ticks)."""
        s = self._symbols.get(symbol)
        if s is None:
            raise ValueError(f"{symbol!r} is not an allowed symbol; cannot adopt its position")
        if type(qty) is not int or type(avg_px) is not int or avg_px <= 0:
            raise ValueError("adopt_position needs int qty and int avg_px > 0 ticks")
        s.position += qty
        s.cash_tu -= qty * avg_px
        s.last_px = avg_px
        log.warning("risk_position_adopted", symbol=symbol, qty=qty, avg_px=avg_px)
        self._revalue(s, now_ns)
        self._day_base = self._pnl_total

    def market_prints(self, symbol: str, resolution_ns: int = 0) -> list[tuple[int, int]]:
        """Recovery: the market's prints in ``symbol``'s participation window, to keep."""
        return self._symbols[symbol].market_volume.prints(resolution_ns)

    def adopt_volume(
        self,
        symbol: str,
        market: list[tuple[int, int]],
        ours: list[tuple[int, int]],
    ) -> None:
        """Recovery: the participation window as it stood before a restart, the market's
        prints and our fills, so the cap neither starts empty (denying everything) nor
        forgets what we traded."""
        s = self._symbols.get(symbol)
        if s is None:
            raise ValueError(f"{symbol!r} is not an allowed symbol; cannot adopt its volume")
        s.market_volume.adopt(market)
        s.our_volume.adopt(ours)
        log.warning(
            "risk_volume_adopted",
            symbol=symbol,
            market=sum(q for _, q in market),
            ours=sum(q for _, q in ours),
        )

    def adopt_open_order(
        self,
        cl_ord_id: str,
        symbol: str,
        side: Side,
        qty: int,
        price: int | None,
        *,
        ord_type: OrdType = LIMIT,
        cum_qty: int = 0,
    ) -> None:
        """Recovery: an order live at the venue that this process did not approve."""
        s = self._symbols.get(symbol)
        if s is None:
            raise ValueError(f"{symbol!r} is not an allowed symbol; cannot adopt {cl_ord_id}")
        if cl_ord_id in self._orders:
            raise ValueError(f"{cl_ord_id} is already known")
        order = LiveOrder(cl_ord_id, s, side, qty, price, ord_type, 0, cum_qty)
        self._orders[cl_ord_id] = order
        self._seen_ids.add(cl_ord_id)
        self._open_count += 1
        s.open_count += 1
        s.set_exposure(order, order.worst_case_leaves())
        if price is not None:
            s.add_resting(side, price)
        log.warning("risk_order_adopted", cl_ord_id=cl_ord_id, symbol=symbol, qty=qty, cum=cum_qty)

    # ---------------------------------------------------------------- views
    def open_orders(self) -> tuple[OpenOrder, ...]:
        return tuple(o.view() for o in self._orders.values())

    def position(self, symbol: str) -> int:
        return self._symbols[symbol].position

    def open_exposure(self, symbol: str) -> tuple[int, int]:
        """(worst-case open buy qty, worst-case open sell qty) for ``symbol``."""
        s = self._symbols[symbol]
        return s.open_buy, s.open_sell

    def daily_pnl(self) -> Decimal:
        """Realized + marked-to-market P&L since the day started, in currency."""
        return self._pnl_total - self._day_base

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready summary for /healthz, the journal and operator replies."""
        return {
            "node": self.node_id,
            "config_hash": self.limits.config_hash,
            "kill_switch": {
                "engaged": self._kill.engaged,
                "cause": str(self._kill.status.cause) if self._kill.status.cause else None,
                "detail": self._kill.status.detail,
            },
            "node_state": self.trading_state().label,
            "market_open": self._market_open,
            "daily_pnl": str(self.daily_pnl()),
            "loss_breached": self._loss_breached,
            "open_orders": self._open_count,
            "symbols": {
                name: {
                    "state": self.trading_state(name).label,
                    "position": s.position,
                    "open_buy": s.open_buy,
                    "open_sell": s.open_sell,
                    "venue_halted": s.venue_halted,
                }
                for name, s in self._symbols.items()
            },
            "denials": {r.value: n for r, n in self.denials.items()},
        }
