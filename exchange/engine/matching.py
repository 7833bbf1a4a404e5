"""The matching engine: price-time priority over order-by-order books.

One engine serves the exchange process (FIX sessions own orders) and the training
simulator (the agent owns orders, LOBSTER replay or synthetic flow supplies the
background), so the fills a policy learns from are made by the same code that fills
it live.

Requests come in as :mod:`core.requests` objects plus the *session* that sent them
(reports go back to it) and the exchange time; every answer leaves through the report
sink as ``(session, ExecReport | CancelReject)``. Market data leaves through an
optional sink as :class:`~core.events.BookDelta` / :class:`~core.events.TradePrint`
with per-symbol sequence numbers; with no sink nothing is built (training does not
publish).

Rules, in the words of a venue rulebook:

- limit orders rest (DAY); market orders never rest; IOC fills what it can and
  cancels the rest; FOK fills completely at once or is cancelled untouched;
- trades print at the resting order's price;
- cancel/replace loses time priority when the price changes or the quantity goes
  up, keeps it when only the quantity goes down; the new quantity includes what has
  already filled;
- self-trade prevention per account (the order's Account, else its session): by
  default the incoming order's remainder is cancelled (cancel newest); optionally the
  resting order is cancelled (cancel oldest);
- a price band around the reference price (mid, else last trade) refuses limit
  orders outside it and caps how far a market order may walk;
- a halted symbol refuses new orders and replaces; cancels still work.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from core.events import BookDelta, BookSnapshot, CancelReject, ExecReport, TradePrint
from core.instruments import Instrument
from core.requests import CancelRequest, NewOrderRequest, ReplaceRequest, StatusRequest
from core.types import ExecType, OrdStatus, OrdType, Side, TimeInForce
from exchange.engine.book import OrderBook
from exchange.engine.orders import OwnedOrder
from exchange.engine.reasons import RejectReason

Report = ExecReport | CancelReject
ReportSink = Callable[[str, Report], None]
MarketDataEvent = BookDelta | TradePrint
MarketDataSink = Callable[[MarketDataEvent], None]

_S = OrdStatus


class STPMode(StrEnum):
    CANCEL_NEWEST = "cancel_newest"
    CANCEL_OLDEST = "cancel_oldest"


@dataclass(frozen=True, slots=True)
class EngineConfig:
    price_band_bps: int | None = 1000  # 10 % around the reference; None disables
    stp: STPMode = STPMode.CANCEL_NEWEST
    exec_id_prefix: str = "E"
    remember_done: int = 100_000  # terminal orders kept for late cancels / status


class Rejected(Exception):
    """Internal: a request failed validation (turned into a reject report)."""

    def __init__(self, reason: RejectReason, detail: str = "") -> None:
        super().__init__(reason.text(detail))
        self.reason = reason
        self.detail = detail

    @property
    def text(self) -> str:
        return self.reason.text(self.detail)


class MatchingEngine:
    def __init__(
        self,
        instruments: Iterable[Instrument],
        on_report: ReportSink,
        on_market_data: MarketDataSink | None = None,
        config: EngineConfig | None = None,
    ) -> None:
        self.config = config or EngineConfig()
        self._on_report = on_report
        self._on_md = on_market_data
        self.instruments: dict[str, Instrument] = {}
        self.books: dict[str, OrderBook] = {}
        self._orders: dict[int, OwnedOrder] = {}  # live owned orders by key
        self._by_clid: dict[tuple[str, str], int] = {}
        self._done: OrderedDict[tuple[str, str], tuple[OrdStatus, OwnedOrder | None]] = (
            OrderedDict()
        )
        self._next_key = -1
        self._exec_seq = 0
        for inst in instruments:
            self.add_instrument(inst)

    # ------------------------------------------------------------ set-up
    def add_instrument(self, instrument: Instrument) -> OrderBook:
        if instrument.symbol in self.books:
            raise ValueError(f"instrument {instrument.symbol} already listed")
        self.instruments[instrument.symbol] = instrument
        book = OrderBook(instrument.symbol)
        if self._on_md is not None:
            book.touched = {}
        self.books[instrument.symbol] = book
        return book

    @property
    def publishes_market_data(self) -> bool:
        return self._on_md is not None

    def set_market_data_sink(self, sink: MarketDataSink | None) -> None:
        self._on_md = sink
        for book in self.books.values():
            book.touched = {} if sink is not None else None

    def book(self, symbol: str) -> OrderBook:
        return self.books[symbol]

    def reset(self) -> None:
        """Forget every order and level (a new simulation episode)."""
        for book in self.books.values():
            book.clear()
            if book.touched is not None:
                book.touched.clear()
        self._orders.clear()
        self._by_clid.clear()
        self._done.clear()

    # ------------------------------------------------------------ queries
    def order(self, session: str, cl_ord_id: str) -> OwnedOrder | None:
        key = self._by_clid.get((session, cl_ord_id))
        return self._orders.get(key) if key is not None else None

    def open_orders(self, session: str | None = None) -> list[OwnedOrder]:
        return [o for o in self._orders.values() if session is None or o.session == session]

    def snapshot(self, symbol: str, levels: int | None = None, ts_ns: int = 0) -> BookSnapshot:
        """The book now, stamped with the current market-data sequence number: a
        subscriber applies deltas with a higher sequence on top of it."""
        book = self.books[symbol]
        bids, asks = book.l2.snapshot(levels)
        return BookSnapshot(symbol, book.md_seq, ts_ns, tuple(bids), tuple(asks))

    # ------------------------------------------------------------ reports
    def _exec_id(self) -> str:
        self._exec_seq += 1
        return f"{self.config.exec_id_prefix}{self._exec_seq}"

    def _report(
        self,
        o: OwnedOrder,
        exec_type: ExecType,
        ts_ns: int,
        *,
        cl_ord_id: str | None = None,
        orig_cl_ord_id: str = "",
        last_qty: int = 0,
        last_px: int = 0,
        liquidity: str = "",
        text: str = "",
    ) -> None:
        self._on_report(
            o.session,
            ExecReport(
                cl_ord_id=cl_ord_id or o.cl_ord_id,
                exec_id=self._exec_id(),
                exec_type=exec_type,
                ord_status=o.status,
                symbol=o.symbol,
                side=o.side,
                order_qty=o.order_qty,
                cum_qty=o.cum_qty,
                leaves_qty=o.leaves_qty,
                ts_ns=ts_ns,
                price=o.price,
                last_qty=last_qty,
                last_px=last_px,
                avg_px=o.avg_px,
                orig_cl_ord_id=orig_cl_ord_id,
                venue_order_id=o.venue_order_id,
                text=text,
                liquidity=liquidity,
            ),
        )

    def _reject_new(self, req: NewOrderRequest, session: str, ts_ns: int, text: str) -> None:
        self._on_report(
            session,
            ExecReport(
                cl_ord_id=req.cl_ord_id,
                exec_id=self._exec_id(),
                exec_type=ExecType.REJECTED,
                ord_status=OrdStatus.REJECTED,
                symbol=req.symbol,
                side=req.side,
                order_qty=req.qty,
                cum_qty=0,
                leaves_qty=0,
                ts_ns=ts_ns,
                price=req.price,
                text=text,
            ),
        )

    def _cancel_reject(
        self,
        session: str,
        req: CancelRequest | ReplaceRequest,
        ts_ns: int,
        text: str,
        status: OrdStatus | None,
    ) -> None:
        self._on_report(
            session,
            CancelReject(
                cl_ord_id=req.cl_ord_id,
                orig_cl_ord_id=req.orig_cl_ord_id,
                is_replace=isinstance(req, ReplaceRequest),
                reason=text,
                ts_ns=ts_ns,
                ord_status=status,
            ),
        )

    def _flush_md(self, book: OrderBook, ts_ns: int) -> None:
        touched = book.touched
        if self._on_md is None or not touched:
            return
        bids, asks = book.l2.bid_sizes, book.l2.ask_sizes
        changes = tuple(
            (Side.BUY if s > 0 else Side.SELL, p, (bids if s > 0 else asks).get(p, 0))
            for s, p in touched
        )
        touched.clear()
        book.md_seq += 1
        self._on_md(BookDelta(book.symbol, book.md_seq, ts_ns, changes))

    def record_trade(
        self, book: OrderBook, price: int, qty: int, aggressor: int, ts_ns: int, *, agent: bool
    ) -> None:
        """Print a trade: tape, last price and (when published) a TradePrint."""
        book.last_trade_px = price
        book.tape.append(ts_ns, price, qty, aggressor, agent)
        if self._on_md is not None:
            # Level changes made so far go out first, so the print follows the book.
            self._flush_md(book, ts_ns)
            book.md_seq += 1
            self._on_md(
                TradePrint(
                    book.symbol,
                    book.md_seq,
                    ts_ns,
                    price,
                    qty,
                    Side.BUY if aggressor > 0 else Side.SELL,
                )
            )

    def publish(self, book: OrderBook, ts_ns: int) -> None:
        """Send pending level changes (callers that edit the book directly use this)."""
        self._flush_md(book, ts_ns)

    # ----------------------------------------------------------- lifecycle
    def _retire(self, o: OwnedOrder) -> None:
        """Forget a terminal order (kept in the bounded done-list for late requests)."""
        self._orders.pop(o.key, None)
        self._by_clid.pop((o.session, o.cl_ord_id), None)
        book = self.books[o.symbol]
        book.owned(o.side).pop(o.key, None)
        self._remember_done(o.session, o.cl_ord_id, o.status, o)

    def _remember_done(
        self, session: str, cl_ord_id: str, status: OrdStatus, o: OwnedOrder | None
    ) -> None:
        self._done[(session, cl_ord_id)] = (status, o)
        while len(self._done) > self.config.remember_done:
            self._done.popitem(last=False)

    def _id_in_use(self, session: str, cl_ord_id: str) -> bool:
        return (session, cl_ord_id) in self._by_clid or (session, cl_ord_id) in self._done

    def fill_owned(self, o: OwnedOrder, qty: int, price: int, ts_ns: int, liquidity: str) -> None:
        """Book a fill on an owned order and report it. A resting order's queue entry
        must already have been reduced by the caller (its leaves live there)."""
        o.cum_qty += qty
        o.notional += qty * price
        o.status = _S.FILLED if o.cum_qty >= o.order_qty else _S.PARTIALLY_FILLED
        self._report(o, ExecType.TRADE, ts_ns, last_qty=qty, last_px=price, liquidity=liquidity)
        if o.status is _S.FILLED:
            self._retire(o)

    def fill_resting(self, book: OrderBook, key: int, qty: int, aggressor: int, ts_ns: int) -> int:
        """A background aggressor takes up to ``qty`` from resting owned order ``key``:
        the queue, the order, its report and the print. Returns the quantity filled."""
        o = self._orders[key]
        price = o.price
        assert price is not None
        took = book.take(o.side, price, key, qty)
        if took:
            self.fill_owned(o, took, price, ts_ns, "A")
            self.record_trade(book, price, took, aggressor, ts_ns, agent=True)
        return took

    def _cancel_owned(self, o: OwnedOrder, ts_ns: int, text: str, request: str = "") -> None:
        """Take a resting owned order off the book and report it cancelled."""
        book = self.books[o.symbol]
        if o.price is not None:
            book.take(o.side, o.price, o.key, o.order_qty)
        old_id = o.cl_ord_id
        o.status = _S.CANCELED
        self._retire(o)
        if request:
            self._report(o, ExecType.CANCELED, ts_ns, cl_ord_id=request, orig_cl_ord_id=old_id)
            self._remember_done(o.session, request, _S.CANCELED, o)
        else:
            self._report(o, ExecType.CANCELED, ts_ns, text=text)

    # ----------------------------------------------------------- validation
    def _reference_price(self, book: OrderBook) -> int | None:
        bids, asks = book.l2.bid_prices, book.l2.ask_prices
        if bids and asks:
            return (bids[-1] + asks[0]) // 2
        return book.last_trade_px or None

    def _band(self, book: OrderBook) -> tuple[int, int] | None:
        bps = self.config.price_band_bps
        ref = self._reference_price(book)
        if bps is None or ref is None:
            return None
        width = ref * bps // 10_000
        return max(1, ref - width), ref + width

    def _check_qty(self, inst: Instrument, qty: int) -> None:
        if type(qty) is not int or qty <= 0:
            raise Rejected(
                RejectReason.BAD_QTY, f"quantity must be a positive integer, got {qty!r}"
            )
        problem = inst.qty_problem(qty)
        if problem is not None:
            reason = RejectReason.BAD_LOT if "lot" in problem else RejectReason.BAD_QTY
            raise Rejected(reason, problem)

    def _check_price(self, book: OrderBook, ord_type: OrdType, price: int | None) -> None:
        if ord_type is OrdType.MARKET:
            if price is not None:
                raise Rejected(RejectReason.BAD_PRICE, "a market order carries no price")
            return
        if ord_type is not OrdType.LIMIT:
            raise Rejected(RejectReason.UNSUPPORTED, f"order type {ord_type!r}")
        if type(price) is not int or price <= 0:
            raise Rejected(
                RejectReason.BAD_PRICE,
                f"limit price must be a positive whole number of ticks, got {price!r}",
            )
        band = self._band(book)
        if band is not None and not band[0] <= price <= band[1]:
            raise Rejected(
                RejectReason.PRICE_BAND, f"price {price} outside [{band[0]}, {band[1]}] ticks"
            )

    # ------------------------------------------------------------ requests
    def handle(
        self,
        request: NewOrderRequest | CancelRequest | ReplaceRequest | StatusRequest,
        session: str,
        ts_ns: int,
    ) -> None:
        if isinstance(request, NewOrderRequest):
            self.new_order(request, session, ts_ns)
        elif isinstance(request, CancelRequest):
            self.cancel(request, session, ts_ns)
        elif isinstance(request, ReplaceRequest):
            self.replace(request, session, ts_ns)
        else:
            self.status(request, session, ts_ns)

    def new_order(self, req: NewOrderRequest, session: str, ts_ns: int) -> None:
        book = self.books.get(req.symbol)
        try:
            if book is None:
                raise Rejected(RejectReason.UNKNOWN_SYMBOL, repr(req.symbol))
            if not req.cl_ord_id:
                raise Rejected(RejectReason.UNSUPPORTED, "empty ClOrdID")
            if self._id_in_use(session, req.cl_ord_id):
                raise Rejected(RejectReason.DUPLICATE_ID, req.cl_ord_id)
            if book.halted:
                raise Rejected(RejectReason.HALTED, req.symbol)
            if req.side is not Side.BUY and req.side is not Side.SELL:
                raise Rejected(RejectReason.UNSUPPORTED, f"side {req.side!r}")
            if req.tif not in (TimeInForce.DAY, TimeInForce.IOC, TimeInForce.FOK):
                raise Rejected(RejectReason.UNSUPPORTED, f"time in force {req.tif!r}")
            self._check_qty(self.instruments[req.symbol], req.qty)
            self._check_price(book, req.ord_type, req.price)
        except Rejected as rej:
            self._reject_new(req, session, ts_ns, rej.text)
            self._remember_done(session, req.cl_ord_id, _S.REJECTED, None)
            return
        key = self._next_key
        self._next_key -= 1
        o = OwnedOrder(
            key,
            cl_ord_id=req.cl_ord_id,
            session=session,
            account=req.account or session,
            symbol=req.symbol,
            side=req.side,
            order_qty=req.qty,
            price=req.price,
            ord_type=req.ord_type,
            tif=req.tif,
            parent_id=req.parent_id,
            created_ns=ts_ns,
        )
        self._orders[key] = o
        self._by_clid[(session, req.cl_ord_id)] = key
        self._report(o, ExecType.NEW, ts_ns)
        self._execute(book, o, ts_ns)
        self._flush_md(book, ts_ns)

    def _execute(self, book: OrderBook, o: OwnedOrder, ts_ns: int) -> None:
        """Match a new or re-priced owned order, then rest or cancel its remainder."""
        limit = o.price
        if o.ord_type is OrdType.MARKET:
            band = self._band(book)
            if band is not None:
                limit = band[1] if o.side > 0 else band[0]
        leaves = o.order_qty - o.cum_qty
        if o.tif is TimeInForce.FOK and self._fillable(book, o, limit, leaves) < leaves:
            self._kill(o, ts_ns, RejectReason.NOT_FILLABLE.text(f"{leaves} not available"))
            return
        remaining, stopped = self.match(book, o.side, limit, leaves, taker=o, ts_ns=ts_ns)
        if o.status is _S.FILLED:
            return
        if stopped is not None:
            self._kill(o, ts_ns, stopped.text("remainder cancelled"))
        elif o.ord_type is OrdType.LIMIT and o.tif is TimeInForce.DAY:
            assert o.price is not None
            book.add(o.side, o.price, o.key, remaining)
            book.owned(o.side)[o.key] = o
        else:
            why = RejectReason.NO_LIQUIDITY if o.cum_qty == 0 else None
            self._kill(o, ts_ns, why.text("nothing to match") if why else "remainder cancelled")

    def _kill(self, o: OwnedOrder, ts_ns: int, text: str) -> None:
        """Cancel a remainder that never rested (IOC, FOK, market, STP)."""
        o.status = _S.CANCELED
        self._retire(o)
        self._report(o, ExecType.CANCELED, ts_ns, text=text)

    def _fillable(self, book: OrderBook, o: OwnedOrder, limit: int | None, want: int) -> int:
        """How much an order could fill now (stops where self-trade prevention would)."""
        side = o.side
        prices = book.prices(-side)
        queues = book.queues(-side)
        seq = prices if side > 0 else reversed(prices)
        got = 0
        for p in seq:
            if limit is not None and (p > limit if side > 0 else p < limit):
                break
            for k, v in queues[p].items():
                if k < 0 and self._orders[k].account == o.account:
                    if self.config.stp is STPMode.CANCEL_NEWEST:
                        return got
                    continue
                got += v
                if got >= want:
                    return got
        return got

    def match(
        self,
        book: OrderBook,
        side: int,
        limit: int | None,
        qty: int,
        *,
        taker: OwnedOrder | None,
        ts_ns: int,
    ) -> tuple[int, RejectReason | None]:
        """Walk the opposite side in price-time priority for an aggressor of ``qty``.

        ``taker`` is the owned aggressor (None for background flow, which gets no
        reports). Returns the unfilled quantity and, when self-trade prevention
        stopped the walk, why.
        """
        opp = -side
        prices = book.prices(opp)
        queues = book.queues(opp)
        remaining = qty
        stp_newest = self.config.stp is STPMode.CANCEL_NEWEST
        while remaining and prices:
            best = prices[0] if side > 0 else prices[-1]
            if limit is not None and (best > limit if side > 0 else best < limit):
                break
            queue = queues[best]
            for key in list(queue):
                maker = self._orders[key] if key < 0 else None
                if maker is not None and taker is not None and maker.account == taker.account:
                    if stp_newest:
                        return remaining, RejectReason.SELF_TRADE
                    self._cancel_owned(maker, ts_ns, RejectReason.SELF_TRADE.text())
                    if best not in queues:
                        break
                    continue
                took = book.take(opp, best, key, remaining)
                remaining -= took
                if maker is not None:
                    self.fill_owned(maker, took, best, ts_ns, "A")
                if taker is not None:
                    self.fill_owned(taker, took, best, ts_ns, "R")
                self.record_trade(
                    book, best, took, side, ts_ns, agent=maker is not None or taker is not None
                )
                if not remaining:
                    break
        return remaining, None

    def cancel(self, req: CancelRequest, session: str, ts_ns: int) -> None:
        key = self._by_clid.get((session, req.orig_cl_ord_id))
        if key is None:
            self._refuse_missing(req, session, ts_ns)
            return
        o = self._orders[key]
        if req.symbol != o.symbol or req.side is not o.side:
            self._cancel_reject(
                session,
                req,
                ts_ns,
                RejectReason.MISMATCH.text(f"order is {o.side.name} {o.symbol}"),
                o.status,
            )
            return
        if not req.cl_ord_id or self._id_in_use(session, req.cl_ord_id):
            self._cancel_reject(
                session, req, ts_ns, RejectReason.DUPLICATE_ID.text(req.cl_ord_id), o.status
            )
            return
        book = self.books[o.symbol]
        self._cancel_owned(o, ts_ns, "", request=req.cl_ord_id)
        self._flush_md(book, ts_ns)

    def _refuse_missing(
        self, req: CancelRequest | ReplaceRequest, session: str, ts_ns: int
    ) -> None:
        done = self._done.get((session, req.orig_cl_ord_id))
        if done is None:
            self._cancel_reject(
                session, req, ts_ns, RejectReason.UNKNOWN_ORDER.text(req.orig_cl_ord_id), None
            )
        elif done[0] is _S.REPLACED and done[1] is not None:
            # The order lives on (or ended) under its new ClOrdID; OrdStatus on the
            # reject is that order's status: "replaced" (5) is no status from FIX.4.3 on.
            now = done[1]
            self._cancel_reject(
                session,
                req,
                ts_ns,
                RejectReason.TOO_LATE.text(
                    f"order was replaced (now {now.cl_ord_id}, {now.status.name})"
                ),
                now.status,
            )
        else:
            self._cancel_reject(
                session,
                req,
                ts_ns,
                RejectReason.TOO_LATE.text(f"order is {done[0].name}"),
                done[0],
            )

    def replace(self, req: ReplaceRequest, session: str, ts_ns: int) -> None:
        key = self._by_clid.get((session, req.orig_cl_ord_id))
        if key is None:
            self._refuse_missing(req, session, ts_ns)
            return
        o = self._orders[key]
        book = self.books[o.symbol]
        try:
            if req.symbol != o.symbol or req.side is not o.side:
                raise Rejected(RejectReason.MISMATCH, f"order is {o.side.name} {o.symbol}")
            if not req.cl_ord_id or self._id_in_use(session, req.cl_ord_id):
                raise Rejected(RejectReason.DUPLICATE_ID, req.cl_ord_id)
            if book.halted:
                raise Rejected(RejectReason.HALTED, o.symbol)
            if req.ord_type is not o.ord_type or req.tif is not o.tif:
                raise Rejected(RejectReason.UNSUPPORTED, "order type or time in force change")
            self._check_qty(self.instruments[o.symbol], req.qty)
            if req.qty <= o.cum_qty:
                raise Rejected(
                    RejectReason.BAD_QTY, f"new quantity {req.qty} <= filled {o.cum_qty}"
                )
            self._check_price(book, req.ord_type, req.price)
        except Rejected as rej:
            self._cancel_reject(session, req, ts_ns, rej.text, o.status)
            return
        assert o.price is not None and req.price is not None
        old_id = o.cl_ord_id
        old_leaves = o.order_qty - o.cum_qty
        new_leaves = req.qty - o.cum_qty
        del self._by_clid[(session, old_id)]
        self._remember_done(session, old_id, _S.REPLACED, o)  # o lives on under the new id
        self._by_clid[(session, req.cl_ord_id)] = key
        o.cl_ord_id = req.cl_ord_id
        if req.price == o.price and new_leaves <= old_leaves:
            book.set_key(o.side, o.price, key, new_leaves)  # keeps time priority
            o.order_qty = req.qty
            self._report(o, ExecType.REPLACED, ts_ns, orig_cl_ord_id=old_id)
        else:
            book.take(o.side, o.price, key, old_leaves)
            book.owned(o.side).pop(key, None)
            o.order_qty = req.qty
            o.price = req.price
            self._report(o, ExecType.REPLACED, ts_ns, orig_cl_ord_id=old_id)
            self._execute(book, o, ts_ns)
        self._flush_md(book, ts_ns)

    def status(self, req: StatusRequest, session: str, ts_ns: int) -> None:
        o = self.order(session, req.cl_ord_id)
        if o is None:
            done = self._done.get((session, req.cl_ord_id))
            # A replaced ClOrdID is answered "unknown", as ever: the order is asked about
            # under the ClOrdID it has now.
            o = done[1] if done is not None and done[0] is not _S.REPLACED else None
        if o is None:
            self._on_report(
                session,
                ExecReport(
                    cl_ord_id=req.cl_ord_id,
                    exec_id=self._exec_id(),
                    exec_type=ExecType.ORDER_STATUS,
                    ord_status=_S.REJECTED,
                    symbol=req.symbol,
                    side=req.side,
                    order_qty=0,
                    cum_qty=0,
                    leaves_qty=0,
                    ts_ns=ts_ns,
                    text=RejectReason.UNKNOWN_ORDER.text(req.cl_ord_id),
                ),
            )
            return
        self._report(o, ExecType.ORDER_STATUS, ts_ns, cl_ord_id=req.cl_ord_id)

    def cancel_all(self, ts_ns: int, session: str | None = None, symbol: str | None = None) -> int:
        """Cancel resting owned orders (a session logged out, a kill switch); returns how
        many. Each owner gets an unsolicited cancel."""
        victims = [
            o
            for o in self._orders.values()
            if (session is None or o.session == session) and (symbol is None or o.symbol == symbol)
        ]
        for o in victims:
            self._cancel_owned(o, ts_ns, "cancelled by venue")
        for book in self.books.values():
            self._flush_md(book, ts_ns)
        return len(victims)

    # ------------------------------------------------------------ restart
    # A venue keeps its orders across a restart (exchange.service.restart rebuilds them
    # from the audit log); these three put that state back into a fresh engine.

    def adopt(self, o: OwnedOrder) -> None:
        """Take over a live order held before a restart. The caller has already queued
        its leaves in the book where its time priority puts it."""
        self._orders[o.key] = o
        self._by_clid[(o.session, o.cl_ord_id)] = o.key
        if o.price is not None:
            self.books[o.symbol].owned(o.side)[o.key] = o
        self.reserve_keys(o.key)

    def reserve_keys(self, lowest_used: int) -> None:
        """Keys down to ``lowest_used`` were handed out before a restart: OrderIDs made
        from them must not be handed out again."""
        self._next_key = min(self._next_key, lowest_used - 1)

    def remember(
        self, session: str, cl_ord_id: str, status: OrdStatus, o: OwnedOrder | None
    ) -> None:
        """A ClOrdID whose order ended before a restart: a reuse is a duplicate, a
        cancel is "too late", a status request is answered from ``o``."""
        self._remember_done(session, cl_ord_id, status, o)

    def halt(self, symbol: str, halted: bool = True) -> None:
        self.books[symbol].halted = halted

    def rematch_crossing(self, book: OrderBook, ts_ns: int) -> int:
        """Trade resting owned orders that the book now crosses (after the background
        was moved under them); each is matched as if it had just arrived, the
        remainder rests again at its price. Returns how many orders traded.

        Every crossing order leaves the book before the first one trades: a trade
        publishes the levels changed so far, and a published book must never be
        crossed (a subscriber's book refuses it). With the crossing orders out, the
        book is the shifted crowd alone, which is sound. The crowd holds nothing at or
        beyond a crossing price on our side, so putting remainders back in the order
        they were taken keeps their time priority; one that earlier orders left with
        nothing to cross simply rests again."""
        traded = 0
        for side in (1, -1):
            owned = book.owned(side)
            if not owned:
                continue
            opp = book.best(-side)
            crossing: list[tuple[OwnedOrder, int]] = []
            for o in sorted(owned.values(), key=lambda x: (-(x.price or 0) * side, -x.key)):
                price = o.price
                assert price is not None
                if opp is None or (price < opp if side > 0 else price > opp):
                    break
                crossing.append((o, book.take(side, price, o.key, o.order_qty)))
                del owned[o.key]
            for o, leaves in crossing:
                price = o.price
                assert price is not None
                remaining, stopped = self.match(book, side, price, leaves, taker=o, ts_ns=ts_ns)
                traded += int(remaining < leaves)
                if o.status is _S.FILLED:
                    continue
                if stopped is not None:
                    self._kill(o, ts_ns, stopped.text("remainder cancelled"))
                else:
                    book.add(side, price, o.key, remaining)
                    owned[o.key] = o
        self._flush_md(book, ts_ns)
        return traded

    # ------------------------------------------------------- background flow
    def background_order(
        self, symbol: str, side: int, price: int | None, qty: int, *, key: int, ts_ns: int
    ) -> int:
        """An order from the replayed or synthetic crowd: matches like anyone's, rests
        under ``key`` (>= 0) if it is a limit order, never reports. Returns the filled
        quantity."""
        book = self.books[symbol]
        remaining, _ = self.match(book, side, price, qty, taker=None, ts_ns=ts_ns)
        if remaining and price is not None:
            book.add(side, price, key, remaining)
        self._flush_md(book, ts_ns)
        return qty - remaining

    def background_cancel(
        self, symbol: str, side: int, price: int, *, key: int, qty: int, ts_ns: int
    ) -> int:
        book = self.books[symbol]
        took = book.take(side, price, key, qty)
        self._flush_md(book, ts_ns)
        return took
