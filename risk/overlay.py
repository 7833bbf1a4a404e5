"""The pre-trade risk overlay: every child order passes here, or it does not go out.

It is the last thing between a possibly broken model and the market, so it keeps its
own view of the world (book, position, open orders, P&L) from the feeds it is given,
never from the policy or the engine's bookkeeping, and it answers every request with
a value, never an exception: an :class:`~risk.approval.Approved` the router will take,
or a :class:`~risk.reasons.Denied` saying which limit, what value.

The checks read like the table in docs/risk.md, one short method per row in its order
(a test holds the two together): is the request well formed, may this symbol trade at
all and is anything halted, then the order's own size and price, then what it would do
to the node's exposure, and the rate limits last, so only an order that is otherwise
approved spends a token. The first that fails is the answer. An approved new order or
replace counts as open exposure at worst case at once; the venue's execution reports
(fed to :meth:`RiskOverlay.on_exec_report`) release it.

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
from core.seen_ids import SeenIds
from core.types import ExecType, OrdStatus, OrdType, Side, TimeInForce
from risk import approval as _approval
from risk.approval import Approved
from risk.check_chain import ComposedChecks
from risk.command_auth import CommandRefused, CommandVerifier
from risk.dynamic_limits import Posture, PostureRefused, looser_than
from risk.events import (
    HaltCleared,
    HaltRaised,
    KillCause,
    KillSwitchEngaged,
    KillSwitchReset,
    Listener,
    OpenOrder,
    RiskEvent,
    TradingStateChanged,
)
from risk.exposure import LiveOrder, SymbolRisk
from risk.halts import Halt, HaltKind, HaltLift
from risk.kill_switch import RESET_ACTION, KillSwitch
from risk.limits import (
    HARD_MAX_CL_ORD_ID_LEN,
    RiskLimits,
    RiskLimitsConfig,
    build_limits,
)
from risk.order_context import OrderContext
from risk.reasons import (
    BadField,
    BookState,
    CollarBreach,
    Denied,
    DenyReason,
    InternalFault,
    LimitBreach,
    OrderKind,
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
_KILL_HALT = Halt(HaltKind.KILL_SWITCH)
_INTERNAL_ERROR_HALT = Halt(HaltKind.INTERNAL_ERROR)
_AFTER_INTERNAL_ERROR = "node halted until a restart (halt internal_error); cancels still pass"
# what denials say (expected forms, details), kept here so each denial fits on one line
_ID_FORM = f"1-{HARD_MAX_CL_ORD_ID_LEN} printable ASCII"
_ORIG_FORM = "the ClOrdID of a live order"
_SIDE_FORM = "Side.BUY or Side.SELL"
_TS_FORM = "int ns since the epoch, >= 0"
_ACCOUNT = "printable str"
_ALLOWED = "an allowed symbol"
_LIMIT_ONLY = "only limit orders can be replaced"
_IN_FLIGHT = "a cancel or replace of this order is still in flight"
_MISMATCH = "symbol, side and order type must stay those of the order"
_VENUE_HALT = "the venue halted this symbol"
_USED_TODAY = "ClOrdID already used today"
_REDUCING = "only orders that reduce the position pass"

R = DenyReason
NEW = OrderKind.NEW
REPLACE = OrderKind.REPLACE
BUY = Side.BUY
LIMIT = OrdType.LIMIT
ACTIVE = TradingState.ACTIVE
REDUCING = TradingState.REDUCING
HALTED = TradingState.HALTED

log = get_logger("risk")


class RiskOverlay(metaclass=ComposedChecks):
    """Checks requests against frozen limits and its own view of exposure."""

    # written as one short method per check, run with each chain inlined (check_chain.py)
    _composed_entries = ("check_new", "check_replace")

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
        self._posture_reducing: dict[str, str] = {}  # symbol -> who asked (dynamic limits)
        self._ctx = OrderContext()
        self._halts: dict[Halt, str] = {}  # raised halts -> detail, oldest first
        self._market_open = False  # closed until the engine says the venue is open
        self._orders: dict[str, LiveOrder] = {}
        self._open_count = 0
        self._aliases: dict[str, LiveOrder] = {}  # cancel/replace request id -> order
        self._seen_ids = SeenIds()  # every ClOrdID approved today: compact, exact
        self._exec_ids = SeenIds()
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

    # ============================================================== requests
    def check_new(self, req: NewOrderRequest, now_ns: int) -> Approved[NewOrderRequest] | Denied:
        """Approve ``req`` (and count it as open exposure) or say why not. Never raises."""
        try:
            if type(req) is not NewOrderRequest:  # the first row: only then can it be bound
                return self._record(self._wrong_request(req, NEW, NewOrderRequest, now_ns))
            o = self._ctx
            o.bind(NEW, req, now_ns)
            denied = (  # the rows of the checks table in docs/risk.md, in its order
                self._check_wire_fields(o)
                or self._check_order_fields(o)
                or self._check_symbol_allowed(o)
                or self._check_trading_state(o)
                or self._check_fresh_cl_ord_id(o)
                or self._check_quantity(o)
                or self._check_price(o)
                or self._check_order_notional(o)
                or self._check_self_cross(o)
                or self._check_exposure(o)
                or self._check_open_orders(o)
                or self._check_participation(o)
                or self._check_message_rates(o)
            )
            return self._approve_new(o, req) if denied is None else self._record(denied)
        except Exception as exc:  # a bug here must deny, not crash the node or approve
            return self._internal_error(NEW, req, now_ns, exc)

    def check_replace(self, req: ReplaceRequest, now_ns: int) -> Approved[ReplaceRequest] | Denied:
        """Approve a cancel/replace (counting the larger remainder) or say why not."""
        try:
            if type(req) is not ReplaceRequest:
                return self._record(self._wrong_request(req, REPLACE, ReplaceRequest, now_ns))
            o = self._ctx
            o.bind(REPLACE, req, now_ns)
            denied = (
                self._check_wire_fields(o)
                or self._check_order_fields(o)
                or self._check_live_order(o)
                or self._check_trading_state(o)
                or self._check_fresh_cl_ord_id(o)
                or self._check_quantity(o)
                or self._check_price(o)
                or self._check_order_notional(o)
                or self._check_self_cross(o)
                or self._check_exposure(o)
                or self._check_participation(o)
                or self._check_message_rates(o)
            )
            return self._approve_replace(o, req) if denied is None else self._record(denied)
        except Exception as exc:
            return self._internal_error(REPLACE, req, now_ns, exc)

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

    # ======================================== the checks, in the table's order
    # One method per row of the checks table in docs/risk.md, in its order. Each returns
    # None (passed) or its denial, one line through the bound context. None of them
    # changes the overlay's state; a few bind to the context what they looked up.

    @staticmethod
    def _wrong_request(req: object, kind: OrderKind, want: type, now: int) -> Denied:
        """Row ``request_type``: not exactly the type the call takes (a subclass neither),
        so its fields cannot be trusted to be read."""
        bad = BadField("request", type(req).__name__, want.__name__)
        cid, symbol = getattr(req, "cl_ord_id", ""), getattr(req, "symbol", "")
        return Denied(R.MALFORMED_REQUEST, bad, kind, safe_text(cid), safe_text(symbol), now)

    def _check_wire_fields(self, o: OrderContext) -> Denied | None:
        """Exact types for the fields both requests carry to the wire: a SOH in an id would
        corrupt the FIX message, and a float quantity must never be rounded into one."""
        req, cid = o.req, o.cl_ord_id
        if (
            type(cid) is not str
            or not 0 < len(cid) <= HARD_MAX_CL_ORD_ID_LEN
            or not cid.isascii()
            or not cid.isprintable()
        ):
            return o.deny(R.MALFORMED_REQUEST, BadField.of("cl_ord_id", cid, _ID_FORM))
        if type(o.symbol) is not str:
            return o.deny(R.MALFORMED_REQUEST, BadField.of("symbol", o.symbol, "str"))
        if type(o.side) is not Side:
            return o.deny(R.MALFORMED_REQUEST, BadField.of("side", o.side, _SIDE_FORM))
        if type(req.ord_type) is not OrdType:
            return o.deny(R.MALFORMED_REQUEST, BadField.of("ord_type", req.ord_type, "OrdType"))
        if type(req.tif) is not TimeInForce:
            return o.deny(R.MALFORMED_REQUEST, BadField.of("tif", req.tif, "TimeInForce"))
        ts = req.ts_ns  # becomes TransactTime(60) on the wire
        if type(ts) is not int or not 0 <= ts < _MAX_TS_NS:
            return o.deny(R.MALFORMED_REQUEST, BadField.of("ts_ns", ts, _TS_FORM))
        if type(o.qty) is not int:
            return o.deny(R.INVALID_QUANTITY, BadField.of("qty", o.qty, "int units"))
        return None

    def _check_order_fields(self, o: OrderContext) -> Denied | None:
        """The fields only one kind carries (a new order's account, a replace's original
        ClOrdID, bound), then the price: int ticks > 0 for a limit order (every replace is
        of one), none for a market order."""
        req, price = o.req, o.price
        if isinstance(req, NewOrderRequest):  # exactly one of the two: see check_*
            if type(req.account) is not str or not req.account.isprintable():
                return o.deny(R.MALFORMED_REQUEST, BadField.of("account", req.account, _ACCOUNT))
            limit = req.ord_type is LIMIT
        else:
            orig = req.orig_cl_ord_id
            if type(orig) is not str or not orig:
                return o.deny(R.MALFORMED_REQUEST, BadField.of("orig_cl_ord_id", orig, _ORIG_FORM))
            o.orig_cl_ord_id = orig
            limit = True
        if limit:
            if type(price) is not int or price <= 0:
                return o.deny(R.INVALID_PRICE, BadField.of("price", price, "int ticks > 0"))
        elif price is not None:
            return o.deny(R.INVALID_PRICE, BadField.of("price", price, "None for a market order"))
        return None

    def _check_symbol_allowed(self, o: OrderContext) -> Denied | None:
        """New orders: the symbol is on the allow-list (binds its risk state)."""
        s = self._symbols.get(o.symbol)
        if s is None:
            return o.deny(R.SYMBOL_NOT_ALLOWED, BadField.of("symbol", o.symbol, _ALLOWED))
        o.sym = s
        return None

    def _check_live_order(self, o: OrderContext) -> Denied | None:
        """Replaces: a live limit order with no cancel or replace in flight, kept in its
        symbol, side and type (binds it, its symbol's risk state, what it filled, and
        what the new terms add to its worst-case remainder)."""
        orig = o.orig_cl_ord_id
        order = self._orders.get(orig)
        if order is None:
            return o.deny(R.UNKNOWN_ORDER, OrderRef(orig, "no live order with this ClOrdID"))
        if order.ord_type is not LIMIT:
            return o.deny(R.ORDER_NOT_REPLACEABLE, OrderRef(orig, _LIMIT_ONLY))
        if order.pending_id is not None or order.cancel_pending:
            return o.deny(R.ORDER_NOT_REPLACEABLE, OrderRef(orig, _IN_FLIGHT))
        s = order.sym
        if o.symbol != s.limits.symbol or o.side is not order.side or o.req.ord_type is not LIMIT:
            return o.deny(R.REPLACE_MISMATCH, OrderRef(orig, _MISMATCH))
        o.order = order
        o.sym = s
        o.filled = order.cum
        o.added = (o.qty - order.cum) - order.exposure  # only growth adds exposure
        return None

    def _check_trading_state(self, o: OrderContext) -> Denied | None:
        """Anything but a cancel may go out: ours (kill switch, the node's and symbol's
        trading states, halts), then the venue's (session open, symbol not halted)."""
        if self._kill.engaged:
            st = self._kill.status
            cause = f"kill switch: {st.cause} {st.detail}".strip()
            return o.deny(R.KILL_SWITCH_ENGAGED, StateBlock("node", "halted", cause, _KILL_HALT))
        if self._node_state is HALTED:
            return o.deny(R.TRADING_HALTED, StateBlock("node", "halted", "node trading state"))
        s = o.sym
        if s.state is HALTED:
            return o.deny(R.TRADING_HALTED, StateBlock("symbol", "halted", "symbol trading state"))
        if self._halts:
            halt = self._first_halt(o.symbol)
            if halt is not None:
                return o.deny(R.TRADING_HALTED, self._halt_block(halt))
        if not self._market_open:
            return o.deny(R.MARKET_CLOSED, StateBlock("market", "closed", "venue session not open"))
        if s.venue_halted:
            return o.deny(R.SYMBOL_HALTED, StateBlock("venue", "halted", _VENUE_HALT))
        return None

    def _check_fresh_cl_ord_id(self, o: OrderContext) -> Denied | None:
        """Never used today (approved new, replace or cancel ids)."""
        if o.cl_ord_id in self._seen_ids:
            return o.deny(R.DUPLICATE_CL_ORD_ID, OrderRef(o.cl_ord_id, _USED_TODAY))
        return None

    def _check_quantity(self, o: OrderContext) -> Denied | None:
        """More than already filled (0 for a new order), on the lot grid, within limits."""
        qty, lim = o.qty, o.sym.limits
        if qty <= o.filled:
            want = "int units > 0" if o.kind is NEW else f"more than the {o.filled} already filled"
            return o.deny(R.INVALID_QUANTITY, BadField("qty", str(qty), want))
        if qty < lim.min_qty:
            return o.deny(R.QTY_BELOW_MIN, LimitBreach("min_qty", lim.min_qty, qty, "units"))
        if qty % lim.lot_size:
            return o.deny(R.LOT_SIZE, LimitBreach("lot_size", lim.lot_size, qty, "units"))
        if qty > lim.max_order_qty:
            breach = LimitBreach("max_order_qty", lim.max_order_qty, qty, "units")
            return o.deny(R.MAX_ORDER_QTY, breach)
        return None

    def _check_price(self, o: OrderContext) -> Denied | None:
        """Priced against a fresh, two-sided book: a limit price inside its collar, a
        market order no larger than the opposite size inside it."""
        s, price, stale_after = o.sym, o.price, self.limits.stale_after_ns
        book_ns = s.book_ns
        if book_ns is None or o.now - book_ns > stale_after:
            age = -1 if book_ns is None else o.now - book_ns
            return o.deny(R.STALE_MARKET_DATA, LimitBreach("stale_after", stale_after, age, "ns"))
        if not s.mid2:
            return o.deny(R.NO_REFERENCE_PRICE, BookState(s.best_bid, s.best_ask))
        if price is None:
            depth = s.ask_depth if o.side is BUY else s.bid_depth
            if o.qty > depth:
                breach = LimitBreach("opposite_size_within_collar", depth, o.qty, "units")
                return o.deny(R.INSUFFICIENT_LIQUIDITY, breach)
        elif price < s.collar_low or price > s.collar_high:
            mid = Decimal(s.mid2) / 2
            band = CollarBreach(price, mid, s.limits.collar_bps, s.collar_low, s.collar_high)
            return o.deny(R.PRICE_COLLAR, band)
        return None

    def _check_order_notional(self, o: OrderContext) -> Denied | None:
        """Quantity x price within the limit (a market order at the far collar edge)."""
        lim = o.sym.limits
        notional = o.qty * (o.price if o.price is not None else o.sym.collar_high)
        if notional > lim.max_order_notional_tu:
            value = notional * lim.unit_value
            limit = LimitBreach(
                "max_order_notional", lim.max_order_notional, value, lim.instrument.currency
            )
            return o.deny(R.MAX_ORDER_NOTIONAL, limit)
        return None

    def _check_self_cross(self, o: OrderContext) -> Denied | None:
        """Never trading against our own resting orders (a market order against any)."""
        s, price = o.sym, o.price
        if o.side is BUY:
            if s.min_sell is not None and (price is None or price >= s.min_sell):
                return o.deny(R.SELF_CROSS, SelfCross(price, s.min_sell))
        elif s.max_buy is not None and (price is None or price <= s.max_buy):
            return o.deny(R.SELF_CROSS, SelfCross(price, s.max_buy))
        return None

    def _check_exposure(self, o: OrderContext) -> Denied | None:
        """Nothing added, or only towards flat, passes; otherwise not while REDUCING, nor
        after the daily-loss latch, and the position with all open orders filled stays
        within the limit."""
        added, s = o.added, o.sym
        if added <= 0:
            return None  # a replace that does not grow its remainder adds no exposure
        pos = s.position
        if o.side is BUY:
            after = pos + s.open_buy + added
            if pos < 0 and after <= 0:
                return None  # |exposure| cannot grow, so no limit here can be hit
        else:
            after = pos - s.open_sell - added
            if pos > 0 and after >= 0:
                return None
        if self._node_state is REDUCING:
            return o.deny(R.REDUCE_ONLY, StateBlock("node", "reducing", _REDUCING))
        if s.state is REDUCING:
            return o.deny(R.REDUCE_ONLY, StateBlock("symbol", "reducing", _REDUCING))
        if o.symbol in self._posture_reducing:
            why = f"risk posture ({self._posture_reducing[o.symbol]}): {_REDUCING}"
            return o.deny(R.REDUCE_ONLY, StateBlock("symbol", "reducing", why))
        if self._loss_breached:
            loss = self._day_base - self._pnl_total
            breach = LimitBreach("max_daily_loss", self.limits.max_daily_loss, loss, "currency")
            return o.deny(R.MAX_DAILY_LOSS, breach)
        limit = s.limits.max_position
        if after > limit or after < -limit:
            return o.deny(R.MAX_POSITION, LimitBreach("max_position", limit, after, "units"))
        return None

    def _check_open_orders(self, o: OrderContext) -> Denied | None:
        """New orders: live orders per node, then per symbol (a replace adds none)."""
        limit, count = self.limits.max_open_orders, self._open_count
        if count >= limit:
            breach = LimitBreach("max_open_orders", limit, count + 1, "orders")
            return o.deny(R.MAX_OPEN_ORDERS, breach)
        limit, count = o.sym.limits.max_open_orders, o.sym.open_count
        if count >= limit:
            breach = LimitBreach("max_open_orders_per_symbol", limit, count + 1, "orders")
            return o.deny(R.MAX_OPEN_ORDERS, breach)
        return None

    def _check_participation(self, o: OrderContext) -> Denied | None:
        """Ours (traded in the window + all open + this) against the market's volume."""
        added, s = o.added, o.sym
        if added <= 0:
            return None  # a replace that does not grow its remainder adds no volume
        market = s.market_volume.expire(o.now)
        ours = s.our_volume.expire(o.now) + s.open_buy + s.open_sell + added
        bps = s.limits.participation_bps
        if ours * 10_000 > bps * market:
            ratio = ours * 10_000 // market if market else -1
            breach = LimitBreach("participation_bps", bps, ratio, "bps of market volume")
            return o.deny(R.PARTICIPATION_CAP, breach)
        return None

    def _check_message_rates(self, o: OrderContext) -> Denied | None:
        """A token in each order-rate bucket (spent only at approval), and room in each
        cancel-rate bucket so whatever goes out can still be cancelled: a policy churning
        cancels is stopped at the new-order end (the cancels themselves still go)."""
        now = o.now
        if not self._order_sec.has_token(now):
            return self._rate_denial(o, self._order_sec, R.ORDER_RATE, "orders_per_second")
        if not self._order_min.has_token(now):
            return self._rate_denial(o, self._order_min, R.ORDER_RATE, "orders_per_minute")
        if not self._cancel_sec.has_token(now):
            return self._rate_denial(o, self._cancel_sec, R.CANCEL_RATE, "cancels_per_second")
        if not self._cancel_min.has_token(now):
            return self._rate_denial(o, self._cancel_min, R.CANCEL_RATE, "cancels_per_minute")
        return None

    @staticmethod
    def _rate_denial(o: OrderContext, bucket: TokenBucket, reason: DenyReason, name: str) -> Denied:
        used = bucket.capacity - bucket.tokens(o.now) + 1
        return o.deny(reason, LimitBreach(name, bucket.capacity, used, "messages"))

    # ============================================================ approvals
    def _approve_new(self, o: OrderContext, req: NewOrderRequest) -> Approved[NewOrderRequest]:
        """Spend the order tokens; count the whole quantity as open, as if it could all
        trade now."""
        self._order_sec.take()
        self._order_min.take()
        s = o.sym
        cid = o.cl_ord_id
        side = o.side
        qty = o.qty
        price = o.price
        self._orders[cid] = LiveOrder(cid, s, side, qty, price, req.ord_type, qty)
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
        return Approved(_CAP, req, o.now)

    def _approve_replace(self, o: OrderContext, req: ReplaceRequest) -> Approved[ReplaceRequest]:
        """Spend the order tokens; until the venue answers, both prices rest and the
        larger remainder counts."""
        self._order_sec.take()
        self._order_min.take()
        order, cid, price, s = o.order, o.cl_ord_id, req.price, o.sym
        assert price is not None  # checked: a replace carries a limit price
        order.pending_id = cid
        order.pending_qty = o.qty
        order.pending_price = price
        self._aliases[cid] = order
        self._seen_ids.add(cid)
        s.add_resting(order.side, price)
        s.set_exposure(order, order.worst_case_leaves())
        self.approved_replace += 1
        return Approved(_CAP, req, o.now)

    # ============================================================== denials
    def _record(self, denied: Denied) -> Denied:
        """Count, log and tell the listeners; every denial passes here once."""
        self.denials[denied.reason] += 1
        log.warning("risk_denied", node=self.node_id, **denied.as_dict())
        self._notify(denied)
        return denied

    def _internal_error(self, kind: OrderKind, req: object, now: int, exc: Exception) -> Denied:
        """A bug inside the chain: deny, and halt the node until a restart.

        The request may be fine; the overlay's own books may be half-updated, so none of
        its answers can be trusted: nothing new passes (cancels do) until a restart
        rebuilds them from the journal. Safety over availability.
        """
        self.internal_errors += 1
        log.exception(
            "risk_internal_error",
            node=self.node_id,
            kind=kind.value,
            error=repr(exc),
            action=_AFTER_INTERNAL_ERROR,
        )
        try:
            cid, symbol = getattr(req, "cl_ord_id", ""), getattr(req, "symbol", "")
        except Exception:
            cid = symbol = "?"
        error = safe_text(exc)
        self.halt(_INTERNAL_ERROR_HALT, f"risk check of a {kind} request raised {error}", now)
        fault = InternalFault(error, _AFTER_INTERNAL_ERROR)
        return self._record(
            Denied(R.INTERNAL_ERROR, fault, kind, safe_text(cid), safe_text(symbol), now)
        )

    # ============================================================ listeners
    def add_listener(self, listener: Listener) -> None:
        """Called with every denial, kill-switch change, trading-state change and halt."""
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
        """The effective state: the tightest of kill switch, halts, node and symbol."""
        if self._kill.engaged or self._first_halt(symbol) is not None:
            return HALTED
        if symbol is None:
            return self._node_state
        s = self._symbols.get(symbol)
        if s is None:
            return HALTED
        posture = REDUCING if symbol in self._posture_reducing else ACTIVE
        return max(self._node_state, s.state, posture)

    def apply_posture(self, posture: Posture, now_ns: int) -> None:
        """Use a symbol's dynamic limits (risk/dynamic_limits.py) from now on: only ever
        at or inside the configured limits, checked field by field here (PostureRefused
        otherwise, and nothing changes). The configured posture undoes it."""
        if type(posture) is not Posture or type(posture.limits.symbol) is not str:
            raise PostureRefused(f"not a posture: {posture!r:.200}")
        lim = posture.limits
        s = self._symbols.get(lim.symbol)
        if s is None:
            raise PostureRefused(f"{lim.symbol!r:.40} is not an allowed symbol")
        problem = looser_than(self.limits.symbols[lim.symbol], lim)
        if problem is not None:
            raise PostureRefused(f"{lim.symbol}: {problem}")
        s.limits = lim
        if posture.reduce_only:
            self._posture_reducing[lim.symbol] = ",".join(posture.sources) or "posture"
        else:
            self._posture_reducing.pop(lim.symbol, None)
        log.info("risk_posture", node=self.node_id, symbol=lim.symbol, sources=posture.sources,
                 reduce_only=posture.reduce_only, max_order_qty=lim.max_order_qty,
                 participation_bps=lim.participation_bps, ts_ns=now_ns)  # fmt: skip

    # ------------------------------------------------------------------ halts
    def halt(self, halt: Halt, detail: str, now_ns: int) -> bool:
        """Raise ``halt`` (or update its detail): nothing new passes where it applies
        (the node, or the halt's symbol) until it is cleared; cancels always pass.

        Returns True if it was not raised already. The kill switch is not raised here
        (:meth:`engage_kill_switch` persists it); ``halts()`` lists it all the same.
        """
        if type(halt) is not Halt:
            raise TypeError(f"halt takes a Halt, got {halt!r}")
        if halt.kind is HaltKind.KILL_SWITCH:
            raise ValueError("the kill switch is engaged with engage_kill_switch (it persists)")
        old = self._halts.get(halt)
        if old == detail:
            return False
        self._halts[halt] = detail
        log.warning(
            "risk_halt",
            node=self.node_id,
            halt=halt.label,
            detail=detail,
            lift=halt.kind.lift.value,
            ts_ns=now_ns,
        )
        if old is not None:
            return False
        self._notify(HaltRaised(halt, detail, now_ns))
        return True

    def clear_halt(self, halt: Halt, now_ns: int) -> bool:
        """Lift ``halt`` once its cause is gone; True if it was raised.

        Refused (CommandRefused) for a kind that only a restart or a signed reset lifts:
        whatever raised it cannot vouch for the node's state any more.
        """
        if type(halt) is not Halt:
            raise TypeError(f"clear_halt takes a Halt, got {halt!r}")
        lift = halt.kind.lift
        if lift is not HaltLift.WHEN_CLEARED:
            raise CommandRefused(f"needs_{lift.value}", f"a {halt} halt is lifted by {lift.value}")
        if self._halts.pop(halt, None) is None:
            return False
        remaining = [h.label for h in self._halts]
        log.info("risk_halt_cleared", node=self.node_id, halt=halt.label, remaining=remaining)
        self._notify(HaltCleared(halt, now_ns))
        return True

    def halts(self) -> dict[Halt, str]:
        """Every active halt -> its detail: the kill switch first, then oldest first."""
        out: dict[Halt, str] = {}
        if self._kill.engaged:
            st = self._kill.status
            out[_KILL_HALT] = f"{st.cause} {st.detail}".strip()
        out.update(self._halts)
        return out

    def halted_by(self, symbol: str | None = None) -> Halt | None:
        """The halt that stops new orders in ``symbol`` (or node-wide, for None), if any."""
        if self._kill.engaged:
            return _KILL_HALT
        return self._first_halt(symbol)

    def _first_halt(self, symbol: object) -> Halt | None:
        for halt in self._halts:
            if halt.applies_to(symbol):
                return halt
        return None

    def _halt_block(self, halt: Halt) -> StateBlock:
        """What a denial says about the halt behind it."""
        scope = "node" if halt.symbol is None else "symbol"
        return StateBlock(scope, "halted", f"halt {halt}: {self._halts[halt]}", halt)

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
            "halts": {h.label: detail for h, detail in self.halts().items()},
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
