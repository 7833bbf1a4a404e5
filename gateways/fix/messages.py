"""Application messages <-> core types, both directions.

The daemon (initiator) encodes :mod:`core.requests` and decodes ExecutionReport,
OrderCancelReject and BusinessMessageReject; the exchange (acceptor) does the
reverse. Prices and quantities are decimals on the wire and integer ticks / units
in the process: every conversion goes through the symbol's
:class:`core.instruments.Instrument`, which refuses off-grid values rather than
rounding them.

Anything in a received message that cannot become a core type (unknown symbol,
off-grid price, a Side we do not trade, a missing field) raises
:class:`FixMappingError`, carrying what the application needs to answer it: the
ClOrdID, symbol and side if they were readable, and the tag at fault. The exchange
answers it with an ExecutionReport reject (when ClOrdID/Side/Symbol are usable) or
a BusinessMessageReject; it never escapes the session.

Encoders return :class:`Outbound` ``(msg_type, body)`` pairs for
``FixSession.send_app(*out)``; the hot ones (NewOrderSingle, ExecutionReport) are
one ``bytes %`` format each.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

from core.errors import CoreError
from core.events import CancelReject, ExecReport
from core.requests import (
    CancelRequest,
    MassStatusRequest,
    NewOrderRequest,
    ReplaceRequest,
    StatusRequest,
)
from core.types import ExecType, OrdStatus, OrdType, Side, TimeInForce
from gateways.fix import tags
from gateways.fix.codec import FieldValue, FixMessage, encode_fields
from gateways.fix.decimals import GridCodec, PriceGrid
from gateways.fix.dictionary import DataDictionary, session_dictionary
from gateways.fix.tags import MsgType as M
from gateways.fix.timefmt import TimestampFormatter, parse_utc


class Outbound(NamedTuple):
    msg_type: bytes
    body: bytes


class FixMappingError(ValueError):
    """A received application message that cannot become a core type."""

    def __init__(
        self,
        text: str,
        *,
        tag: int | None = None,
        msg_type: bytes = b"",
        cl_ord_id: str = "",
        symbol: str = "",
        side: Side | None = None,
        ref_seq_num: int = 0,
    ) -> None:
        super().__init__(text)
        self.text = text
        self.tag = tag
        self.msg_type = msg_type
        self.cl_ord_id = cl_ord_id
        self.symbol = symbol
        self.side = side
        self.ref_seq_num = ref_seq_num


@dataclass(frozen=True, slots=True)
class BusinessReject:
    """A BusinessMessageReject (35=j): the peer could not act on one of our messages."""

    ref_seq_num: int
    ref_msg_type: str
    reason: int
    text: str
    ref_id: str = ""


# Before FIX.4.3 ExecType has no Trade (F) or OrderStatus (I): fills are 1/2 and a
# status report repeats the order's status with ExecTransType(20)=3. FIX.4.0 has no
# ExecType at all: what happened is read from OrdStatus and LastShares.
_TRADE_42 = {OrdStatus.PARTIALLY_FILLED: b"1", OrdStatus.FILLED: b"2"}
_EXEC_OF_STATUS = {
    OrdStatus.NEW: ExecType.NEW,
    OrdStatus.CANCELED: ExecType.CANCELED,
    OrdStatus.REPLACED: ExecType.REPLACED,
    OrdStatus.PENDING_CANCEL: ExecType.PENDING_CANCEL,
    OrdStatus.REJECTED: ExecType.REJECTED,
    OrdStatus.PENDING_NEW: ExecType.PENDING_NEW,
    OrdStatus.EXPIRED: ExecType.EXPIRED,
    OrdStatus.PENDING_REPLACE: ExecType.PENDING_REPLACE,
}
_LIQ_OUT = {"A": b"1", "R": b"2"}
_LIQ_IN = {b"1": "A", b"2": "R", b"3": ""}


def _b(text: str, tag: int) -> bytes:
    data = text.encode("latin-1")
    if b"\x01" in data:
        raise ValueError(f"tag {tag}: value {text!r} contains the SOH delimiter")
    return data


class FixMessages:
    """Encoders and decoders for one FIX version and one set of instruments.

    What differs between versions (TransactTime on orders, ExecTransType, how fills
    are typed, LeavesQty, LastLiquidityInd, mass status) is read from the session's
    data dictionary: pass ``dictionary=settings.dictionary()`` for a session with its
    own dictionary or a FIXT.1.1 application version other than FIX.5.0SP2.
    """

    def __init__(
        self,
        begin_string: str,
        instruments: Mapping[str, PriceGrid],
        *,
        dictionary: DataDictionary | None = None,
    ) -> None:
        d = dictionary if dictionary is not None else session_dictionary(begin_string)
        self.begin_string = begin_string
        self.dictionary = d
        self.instruments = instruments
        self._codecs: dict[str, GridCodec] = {}
        er = d.messages[M.EXECUTION_REPORT].body
        self._exec_trans_type = tags.EXEC_TRANS_TYPE in er.tags
        self._has_exec_type = tags.EXEC_TYPE in er.tags  # with LeavesQty, from FIX.4.1
        # Fills typed 1/2 and status reports by ExecTransType (FIX.4.0-4.2).
        self.legacy_exec_type = not d.defines_value(tags.EXEC_TYPE, b"F")
        self._has_leaves = tags.LEAVES_QTY in er.tags
        self._last_always = tags.LAST_QTY in er.required  # FIX.4.0/4.1
        self._liquidity = tags.LAST_LIQUIDITY_IND in er.tags
        self._mass_status = M.ORDER_MASS_STATUS_REQUEST in d.messages
        self._nos_time = d.message_has(M.NEW_ORDER_SINGLE, tags.TRANSACT_TIME)
        # FIX.4.0/4.1: quantities and (4.0) ExecID are integers.
        self._whole_qty = d.fields[tags.ORDER_QTY].type == "INT"
        self._int_exec_id = d.fields[tags.EXEC_ID].type == "INT"
        # FIX.4.0/4.1 timestamps have no fraction of a second.
        self._fmt = TimestampFormatter(millis=d.fields[tags.SENDING_TIME].type != "TIME")

    def _body(self, msg_type: bytes, fields: list[tuple[int, FieldValue]]) -> bytes:
        """The fields this version defines for ``msg_type``, in the order given."""
        defined = self.dictionary.messages[msg_type].body.tags
        return encode_fields((t, v) for t, v in fields if t in defined)

    # ------------------------------------------------------------ helpers
    def codec(self, symbol: str) -> GridCodec | None:
        c = self._codecs.get(symbol)
        if c is None:
            grid = self.instruments.get(symbol)
            if grid is None:
                return None
            if self._whole_qty and grid.qty_unit != grid.qty_unit.to_integral_value():
                raise FixMappingError(
                    f"{self.begin_string} quantities are whole numbers; {symbol} trades in"
                    f" units of {grid.qty_unit}",
                    tag=tags.ORDER_QTY,
                    symbol=symbol,
                )
            if len(self._codecs) >= 4096:  # symbols come from the peer: keep the cache bounded
                self._codecs.clear()
            c = self._codecs[symbol] = GridCodec(grid)
        return c

    def _grid(self, symbol: str) -> GridCodec:
        c = self.codec(symbol)
        if c is None:
            raise FixMappingError(f"unknown symbol {symbol!r}", tag=tags.SYMBOL, symbol=symbol)
        return c

    def _time(self, ts_ns: int) -> bytes:
        return self._fmt.format(ts_ns or time.time_ns())

    # ======================================================= initiator: out
    def new_order_single(self, req: NewOrderRequest) -> Outbound:
        grid = self._grid(req.symbol)
        price = b"" if req.price is None else b"44=%b\x01" % grid.px_text(req.price)
        account = b"1=%b\x01" % _b(req.account, 1) if req.account else b""
        # FIX.4.0/4.1 orders carry no TransactTime(60).
        when = b"60=%b\x01" % self._time(req.ts_ns) if self._nos_time else b""
        body = b"%b11=%b\x0121=1\x0138=%b\x0140=%b\x01%b54=%b\x0155=%b\x0159=%b\x01%b" % (
            account,
            _b(req.cl_ord_id, 11),
            grid.qty_text(req.qty),
            req.ord_type.value.encode(),
            price,
            req.side.fix.encode(),
            _b(req.symbol, 55),
            req.tif.value.encode(),
            when,
        )
        return Outbound(M.NEW_ORDER_SINGLE, body)

    def order_cancel_request(self, req: CancelRequest) -> Outbound:
        grid = self._grid(req.symbol)
        fields: list[tuple[int, FieldValue]] = [
            (tags.CL_ORD_ID, _b(req.cl_ord_id, 11)),
            (tags.ORDER_QTY, grid.qty_text(req.qty)),
            (tags.ORIG_CL_ORD_ID, _b(req.orig_cl_ord_id, 41)),
            (tags.SIDE, req.side.fix),
            (tags.SYMBOL, _b(req.symbol, 55)),
            (tags.TRANSACT_TIME, self._time(req.ts_ns)),
            (tags.CXL_TYPE, b"F"),  # FIX.4.0 only: a full cancel
        ]
        return Outbound(M.ORDER_CANCEL_REQUEST, self._body(M.ORDER_CANCEL_REQUEST, fields))

    def order_cancel_replace_request(self, req: ReplaceRequest) -> Outbound:
        grid = self._grid(req.symbol)
        fields: list[tuple[int, FieldValue]] = [
            (tags.CL_ORD_ID, _b(req.cl_ord_id, 11)),
            (tags.HANDL_INST, b"1"),
            (tags.ORDER_QTY, grid.qty_text(req.qty)),
            (tags.ORD_TYPE, req.ord_type.value),
            (tags.ORIG_CL_ORD_ID, _b(req.orig_cl_ord_id, 41)),
        ]
        if req.price is not None:
            fields.append((tags.PRICE, grid.px_text(req.price)))
        fields += [
            (tags.SIDE, req.side.fix),
            (tags.SYMBOL, _b(req.symbol, 55)),
            (tags.TIME_IN_FORCE, req.tif.value),
            (tags.TRANSACT_TIME, self._time(req.ts_ns)),
        ]
        mt = M.ORDER_CANCEL_REPLACE_REQUEST
        return Outbound(mt, self._body(mt, fields))

    def order_status_request(self, req: StatusRequest) -> Outbound:
        self._grid(req.symbol)
        body = b"11=%b\x0154=%b\x0155=%b\x01" % (
            _b(req.cl_ord_id, 11),
            req.side.fix.encode(),
            _b(req.symbol, 55),
        )
        return Outbound(M.ORDER_STATUS_REQUEST, body)

    def order_mass_status_request(self, req: MassStatusRequest) -> Outbound:
        """All our orders' status (MassStatusReqType 7), for recovery after a restart.

        FIX.4.0-4.2 have no OrderMassStatusRequest; recover there with one
        OrderStatusRequest per order the journal knows.
        """
        if not self._mass_status:
            raise ValueError(f"OrderMassStatusRequest does not exist in {self.begin_string}")
        return Outbound(
            M.ORDER_MASS_STATUS_REQUEST, b"584=%b\x01585=7\x01" % _b(req.request_id, 584)
        )

    # ======================================================== acceptor: out
    def execution_report(
        self, rep: ExecReport, *, mass_status_req_id: str = "", last_report: bool = False
    ) -> Outbound:
        grid = self._grid(rep.symbol)
        exec_type = rep.exec_type.value.encode()
        extra = b""
        if self.legacy_exec_type:
            trans = b"0"
            if rep.exec_type is ExecType.TRADE:
                exec_type = _TRADE_42.get(rep.ord_status, b"1")
            elif rep.exec_type is ExecType.ORDER_STATUS:
                exec_type = rep.ord_status.value.encode()
                trans = b"3"
            if self._exec_trans_type:
                extra = b"20=%b\x01" % trans
        if rep.orig_cl_ord_id:
            extra += b"41=%b\x01" % _b(rep.orig_cl_ord_id, 41)
        if rep.price is not None:
            extra += b"44=%b\x01" % grid.px_text(rep.price)
        if rep.exec_type is ExecType.TRADE or self._last_always:
            extra += b"31=%b\x0132=%b\x01" % (
                grid.px_text(rep.last_px),
                grid.qty_text(rep.last_qty),
            )
        if rep.text:
            extra += b"58=%b\x01" % _b(rep.text, 58)
        if rep.liquidity in _LIQ_OUT and self._liquidity:
            extra += b"851=%b\x01" % _LIQ_OUT[rep.liquidity]
        if mass_status_req_id and self._mass_status:
            extra += b"584=%b\x01912=%b\x01" % (
                _b(mass_status_req_id, 584),
                b"Y" if last_report else b"N",
            )
        if self._has_exec_type and self._has_leaves:  # FIX.4.1 on: one format, as before
            tail = b"150=%b\x01151=%b\x01%b" % (exec_type, grid.qty_text(rep.leaves_qty), extra)
        else:  # FIX.4.0 has neither
            tail = extra
        body = (
            b"6=%b\x0111=%b\x0114=%b\x0117=%b\x0137=%b\x0138=%b\x0139=%b\x0154=%b\x0155=%b\x01"
            b"60=%b\x01%b"
        ) % (
            grid.avg_text(rep.avg_px),
            _b(rep.cl_ord_id, 11),
            grid.qty_text(rep.cum_qty),
            self.wire_exec_id(rep.exec_id),
            _b(rep.venue_order_id or "NONE", 37),
            grid.qty_text(rep.order_qty),
            rep.ord_status.value.encode(),
            rep.side.fix.encode(),
            _b(rep.symbol, 55),
            self._time(rep.ts_ns),
            tail,
        )
        return Outbound(M.EXECUTION_REPORT, body)

    def wire_exec_id(self, exec_id: str) -> bytes:
        """ExecID(17) as sent. FIX.4.0 defines it as an integer: a numeric id goes out
        unchanged, a text id as a stable 63-bit hash of itself, so resends and the
        daemon's de-duplication by ExecID still match (a shorter hash could collide and
        drop a fill as a duplicate). Engines that hold it in 32 bits (QuickFIX) refuse
        such ids: give a FIX.4.0 venue numeric ExecIDs."""
        raw = _b(exec_id, 17)
        if self._int_exec_id and not raw.isdigit():
            return b"%d" % (int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest()) >> 1)
        return raw

    def order_cancel_reject(self, rej: CancelReject, *, venue_order_id: str = "") -> Outbound:
        status = (rej.ord_status or OrdStatus.REJECTED).value
        fields: list[tuple[int, FieldValue]] = [
            (tags.CL_ORD_ID, _b(rej.cl_ord_id, 11)),
            (tags.ORDER_ID, _b(venue_order_id or "NONE", 37)),
            (tags.ORD_STATUS, status),
            (tags.ORIG_CL_ORD_ID, _b(rej.orig_cl_ord_id, 41)),
            (tags.TEXT, _b(rej.reason, 58)),
            (tags.TRANSACT_TIME, self._time(rej.ts_ns)),
            (tags.CXL_REJ_RESPONSE_TO, b"2" if rej.is_replace else b"1"),
        ]
        return Outbound(M.ORDER_CANCEL_REJECT, self._body(M.ORDER_CANCEL_REJECT, fields))

    # ========================================================= acceptor: in
    def decode_request(
        self, msg: FixMessage
    ) -> NewOrderRequest | CancelRequest | ReplaceRequest | StatusRequest | MassStatusRequest:
        mt = msg.msg_type
        if mt == M.NEW_ORDER_SINGLE:
            return self.decode_new_order_single(msg)
        if mt == M.ORDER_CANCEL_REQUEST:
            return self.decode_order_cancel_request(msg)
        if mt == M.ORDER_CANCEL_REPLACE_REQUEST:
            return self.decode_order_cancel_replace_request(msg)
        if mt == M.ORDER_STATUS_REQUEST:
            return self.decode_order_status_request(msg)
        if mt == M.ORDER_MASS_STATUS_REQUEST:
            return self.decode_order_mass_status_request(msg)
        raise FixMappingError(
            f"MsgType {mt!r} is not an order request", tag=tags.MSG_TYPE, msg_type=mt
        )

    def decode_new_order_single(self, msg: FixMessage) -> NewOrderRequest:
        try:
            fast = self._fast_new_order_single(msg)
        except Exception:
            fast = None  # anything unusual: the careful path names the problem
        return fast if fast is not None else self._careful_new_order_single(msg)

    def _fast_new_order_single(self, msg: FixMessage) -> NewOrderRequest | None:
        """The hot path for well-formed orders; None (or any exception) means "ask the
        careful path", which is the authority. Tests check both agree."""
        f = msg.fields
        cl = f[tags.CL_ORD_ID]
        codec = self._codecs.get(f[tags.SYMBOL].decode("latin-1"))
        if codec is None or not cl:
            return None
        ord_type = _ORD_TYPES[f[tags.ORD_TYPE]]
        px_raw = f.get(tags.PRICE)
        price: int | None = None
        if ord_type is OrdType.LIMIT:
            if px_raw is None:
                return None
            price = codec.ticks(px_raw)
            if price <= 0:
                return None
        elif px_raw is not None:
            return None
        qty = codec.units(f[tags.ORDER_QTY])
        tif_raw = f.get(tags.TIME_IN_FORCE)
        ts_raw = f.get(tags.TRANSACT_TIME)
        ts = 0 if ts_raw is None else parse_utc(ts_raw)
        if qty < 0 or ts is None:
            return None
        account = f.get(tags.ACCOUNT)
        return NewOrderRequest(
            cl_ord_id=cl.decode("latin-1"),
            symbol=f[tags.SYMBOL].decode("latin-1"),
            side=_SIDES[f[tags.SIDE]],
            qty=qty,
            price=price,
            ord_type=ord_type,
            tif=TimeInForce.DAY if tif_raw is None else _TIFS[tif_raw],
            ts_ns=ts,
            account=account.decode("latin-1") if account else "",
        )

    def _careful_new_order_single(self, msg: FixMessage) -> NewOrderRequest:
        r = _Reader(msg, self.codec, cl_tag=tags.CL_ORD_ID)
        ord_type = r.enum(tags.ORD_TYPE, OrdType)
        price = r.price(required=ord_type is OrdType.LIMIT)
        if ord_type is OrdType.MARKET and price is not None:
            raise r.error("a market order carries no Price(44)", tags.PRICE)
        return NewOrderRequest(
            cl_ord_id=r.cl,
            symbol=r.symbol,
            side=r.the_side,
            qty=r.qty(tags.ORDER_QTY),
            price=price,
            ord_type=ord_type,
            tif=r.enum(tags.TIME_IN_FORCE, TimeInForce, TimeInForce.DAY),
            ts_ns=r.time(tags.TRANSACT_TIME),
            account=r.opt(tags.ACCOUNT),
        )

    def decode_order_cancel_request(self, msg: FixMessage) -> CancelRequest:
        r = _Reader(msg, self.codec, cl_tag=tags.CL_ORD_ID)
        return CancelRequest(
            cl_ord_id=r.cl,
            orig_cl_ord_id=r.req(tags.ORIG_CL_ORD_ID),
            symbol=r.symbol,
            side=r.the_side,
            qty=r.qty(tags.ORDER_QTY) if tags.ORDER_QTY in msg else 0,
            ts_ns=r.time(tags.TRANSACT_TIME),
        )

    def decode_order_cancel_replace_request(self, msg: FixMessage) -> ReplaceRequest:
        r = _Reader(msg, self.codec, cl_tag=tags.CL_ORD_ID)
        ord_type = r.enum(tags.ORD_TYPE, OrdType)
        return ReplaceRequest(
            cl_ord_id=r.cl,
            orig_cl_ord_id=r.req(tags.ORIG_CL_ORD_ID),
            symbol=r.symbol,
            side=r.the_side,
            qty=r.qty(tags.ORDER_QTY),
            price=r.price(required=ord_type is OrdType.LIMIT),
            ord_type=ord_type,
            tif=r.enum(tags.TIME_IN_FORCE, TimeInForce, TimeInForce.DAY),
            ts_ns=r.time(tags.TRANSACT_TIME),
        )

    def decode_order_status_request(self, msg: FixMessage) -> StatusRequest:
        r = _Reader(msg, self.codec, cl_tag=tags.CL_ORD_ID, need_grid=False)
        return StatusRequest(cl_ord_id=r.cl, symbol=r.symbol, side=r.the_side)

    def decode_order_mass_status_request(self, msg: FixMessage) -> MassStatusRequest:
        v = msg.fields.get(tags.MASS_STATUS_REQ_ID)
        if not v:
            raise FixMappingError(
                "required tag 584 missing",
                tag=tags.MASS_STATUS_REQ_ID,
                msg_type=msg.msg_type,
                ref_seq_num=msg.seq_num,
            )
        return MassStatusRequest(request_id=v.decode("latin-1"))

    # ======================================================== initiator: in
    def decode_report(self, msg: FixMessage) -> ExecReport | CancelReject | BusinessReject:
        mt = msg.msg_type
        if mt == M.EXECUTION_REPORT:
            return self.decode_execution_report(msg)
        if mt == M.ORDER_CANCEL_REJECT:
            return self.decode_order_cancel_reject(msg)
        if mt == M.BUSINESS_MESSAGE_REJECT:
            return self.decode_business_reject(msg)
        raise FixMappingError(f"MsgType {mt!r} is not a report", tag=tags.MSG_TYPE, msg_type=mt)

    def decode_execution_report(self, msg: FixMessage) -> ExecReport:
        fast = None
        if not self.legacy_exec_type:
            try:
                fast = self._fast_execution_report(msg)
            except Exception:
                fast = None  # anything unusual: the careful path names the problem
        return fast if fast is not None else self._careful_execution_report(msg)

    def _fast_execution_report(self, msg: FixMessage) -> ExecReport | None:
        """The hot path (FIX.4.3 on); None or any exception defers to the careful path."""
        f = msg.fields
        codec = self._codecs.get(f[tags.SYMBOL].decode("latin-1"))
        exec_id = f[tags.EXEC_ID]
        if codec is None or not exec_id:
            return None
        exec_type = _EXEC_TYPES[f[tags.EXEC_TYPE]]
        units = codec.units
        cum = units(f[tags.CUM_QTY])
        leaves = units(f[tags.LEAVES_QTY])
        qty_raw = f.get(tags.ORDER_QTY)
        order_qty = 0 if qty_raw is None else units(qty_raw)
        last_qty = last_px = 0
        if exec_type is ExecType.TRADE:
            last_qty = units(f[tags.LAST_QTY])
            last_px = codec.ticks(f[tags.LAST_PX])
        px_raw = f.get(tags.PRICE)
        ts_raw = f.get(tags.TRANSACT_TIME)
        ts = 0 if ts_raw is None else parse_utc(ts_raw)
        if ts is None or min(cum, leaves, order_qty, last_qty) < 0:
            return None
        g = f.get
        return ExecReport(
            cl_ord_id=_text_or_empty(g(tags.CL_ORD_ID)),
            exec_id=exec_id.decode("latin-1"),
            exec_type=exec_type,
            ord_status=_ORD_STATUSES[f[tags.ORD_STATUS]],
            symbol=f[tags.SYMBOL].decode("latin-1"),
            side=_SIDES[f[tags.SIDE]],
            order_qty=order_qty,
            cum_qty=cum,
            leaves_qty=leaves,
            ts_ns=ts,
            price=None if px_raw is None else codec.ticks(px_raw),
            last_qty=last_qty,
            last_px=last_px,
            avg_px=codec.avg_ticks(g(tags.AVG_PX, b"0")),
            orig_cl_ord_id=_text_or_empty(g(tags.ORIG_CL_ORD_ID)),
            venue_order_id=_text_or_empty(g(tags.ORDER_ID)),
            text=_text_or_empty(g(tags.TEXT)),
            liquidity=_LIQ_IN.get(g(tags.LAST_LIQUIDITY_IND, b""), ""),
            poss_dup=msg.poss_dup or g(tags.POSS_RESEND) == b"Y",
        )

    def _careful_execution_report(self, msg: FixMessage) -> ExecReport:
        r = _Reader(msg, self.codec, cl_tag=tags.CL_ORD_ID, cl_required=False)
        status = r.enum(tags.ORD_STATUS, OrdStatus)
        exec_type = self._exec_type(r, msg, status)
        trade = exec_type is ExecType.TRADE
        order_qty = r.qty(tags.ORDER_QTY) if tags.ORDER_QTY in msg else 0
        cum_qty = r.qty(tags.CUM_QTY)
        if tags.LEAVES_QTY in msg or self._has_leaves:
            leaves = r.qty(tags.LEAVES_QTY)
        else:  # FIX.4.0: what is still working, unless the order is done
            leaves = 0 if status.is_terminal else max(order_qty - cum_qty, 0)
        return ExecReport(
            cl_ord_id=r.cl,
            exec_id=r.req(tags.EXEC_ID),
            exec_type=exec_type,
            ord_status=status,
            symbol=r.symbol,
            side=r.the_side,
            order_qty=order_qty,
            cum_qty=cum_qty,
            leaves_qty=leaves,
            ts_ns=r.time(tags.TRANSACT_TIME),
            price=r.price(required=False),
            last_qty=r.qty(tags.LAST_QTY) if trade else 0,
            last_px=r.price_tag(tags.LAST_PX) if trade else 0,
            avg_px=r.avg_px(),
            orig_cl_ord_id=r.opt(tags.ORIG_CL_ORD_ID),
            venue_order_id=r.opt(tags.ORDER_ID),
            text=r.opt(tags.TEXT),
            liquidity=_LIQ_IN.get(msg.fields.get(tags.LAST_LIQUIDITY_IND, b""), ""),
            poss_dup=msg.poss_dup or msg.fields.get(tags.POSS_RESEND) == b"Y",
        )

    def _exec_type(self, r: _Reader, msg: FixMessage, status: OrdStatus) -> ExecType:
        f = msg.fields
        if self.legacy_exec_type:
            if f.get(tags.EXEC_TRANS_TYPE) == b"3":
                return ExecType.ORDER_STATUS
            if f.get(tags.EXEC_TYPE) in (b"1", b"2"):
                return ExecType.TRADE
            if tags.EXEC_TYPE not in f:  # FIX.4.0
                if tags.LAST_QTY in f and r.qty(tags.LAST_QTY) > 0:
                    return ExecType.TRADE
                return _EXEC_OF_STATUS.get(status, ExecType.ORDER_STATUS)
        return r.enum(tags.EXEC_TYPE, ExecType)

    def decode_order_cancel_reject(self, msg: FixMessage) -> CancelReject:
        r = _Reader(msg, self.codec, cl_tag=tags.CL_ORD_ID, need_symbol=False)
        status_raw = msg.fields.get(tags.ORD_STATUS, b"")
        try:
            status: OrdStatus | None = OrdStatus(status_raw.decode("latin-1"))
        except ValueError:
            status = None
        return CancelReject(
            cl_ord_id=r.cl,
            orig_cl_ord_id=r.opt(tags.ORIG_CL_ORD_ID),
            is_replace=msg.fields.get(tags.CXL_REJ_RESPONSE_TO) == b"2",
            reason=r.opt(tags.TEXT) or f"CxlRejReason {r.opt(tags.CXL_REJ_REASON) or '?'}",
            ts_ns=r.time(tags.TRANSACT_TIME),
            ord_status=status,
        )

    def decode_business_reject(self, msg: FixMessage) -> BusinessReject:
        r = _Reader(msg, self.codec, cl_tag=None, need_symbol=False)
        ref = msg.fields.get(tags.REF_SEQ_NUM, b"0")
        reason = msg.fields.get(tags.BUSINESS_REJECT_REASON, b"0")
        return BusinessReject(
            ref_seq_num=int(ref) if ref.isdigit() else 0,
            ref_msg_type=r.opt(tags.REF_MSG_TYPE),
            reason=int(reason) if reason.isdigit() else 0,
            text=r.opt(tags.TEXT),
            ref_id=r.opt(tags.BUSINESS_REJECT_REF_ID),
        )


E = TypeVar("E", OrdType, TimeInForce, OrdStatus, ExecType)
_SIDES = {b"1": Side.BUY, b"2": Side.SELL}
_ORD_TYPES = {m.value.encode(): m for m in OrdType}
_TIFS = {m.value.encode(): m for m in TimeInForce}
_ORD_STATUSES = {m.value.encode(): m for m in OrdStatus}
_EXEC_TYPES = {m.value.encode(): m for m in ExecType}


def _text_or_empty(v: bytes | None) -> str:
    return v.decode("latin-1") if v else ""


_BY_WIRE: dict[type, dict[bytes, object]] = {
    k: {m.value.encode(): m for m in k} for k in (OrdType, TimeInForce, OrdStatus, ExecType)
}


class _Reader:
    """Field access that turns every problem into a FixMappingError naming the tag.

    Reads ClOrdID, Symbol and Side first, so every later error carries them and the
    application can answer with an ExecutionReport reject.
    """

    __slots__ = ("cl", "grid", "msg", "side", "symbol")

    def __init__(
        self,
        msg: FixMessage,
        codec_for: Callable[[str], GridCodec | None],
        *,
        cl_tag: int | None,
        cl_required: bool = True,
        need_symbol: bool = True,
        need_grid: bool = True,
    ) -> None:
        self.msg = msg
        self.cl = ""
        self.symbol = ""
        self.side: Side | None = None
        if cl_tag is not None:
            self.cl = self.req(cl_tag) if cl_required else self.opt(cl_tag)
        self.symbol = self.req(tags.SYMBOL) if need_symbol else self.opt(tags.SYMBOL)
        if need_symbol:
            raw = msg.fields.get(tags.SIDE, b"")
            try:
                self.side = Side.from_fix(raw.decode("latin-1"))
            except ValueError:
                raise self.error(
                    f"Side(54) {raw!r} not supported (1 buy, 2 sell)", tags.SIDE
                ) from None
        grid = codec_for(self.symbol) if self.symbol else None
        if grid is None and need_symbol and need_grid:
            raise self.error(f"unknown symbol {self.symbol!r}", tags.SYMBOL)
        self.grid = grid

    @property
    def the_side(self) -> Side:
        if self.side is None:
            raise self.error("Side(54) missing", tags.SIDE)
        return self.side

    def error(self, text: str, tag: int | None) -> FixMappingError:
        return FixMappingError(
            text,
            tag=tag,
            msg_type=self.msg.msg_type,
            cl_ord_id=self.cl,
            symbol=self.symbol,
            side=self.side,
            ref_seq_num=self.msg.seq_num,
        )

    def req(self, tag: int) -> str:
        v = self.msg.fields.get(tag)
        if not v:
            raise self.error(f"required tag {tag} missing", tag)
        return v.decode("latin-1")

    def opt(self, tag: int) -> str:
        v = self.msg.fields.get(tag)
        return v.decode("latin-1") if v else ""

    def _grid(self) -> GridCodec:
        if self.grid is None:
            raise self.error(f"unknown symbol {self.symbol!r}", tags.SYMBOL)
        return self.grid

    def enum(self, tag: int, kind: type[E], default: E | None = None) -> E:
        raw = self.msg.fields.get(tag)
        if raw is None and default is not None:
            return default
        member = _BY_WIRE[kind].get(raw or b"")
        if member is not None:
            return member  # type: ignore[return-value]
        try:
            return kind((raw or b"").decode("latin-1"))
        except ValueError:
            raise self.error(
                f"tag {tag} value {raw!r} not supported ({kind.__name__})", tag
            ) from None

    def qty(self, tag: int) -> int:
        raw = self.msg.fields.get(tag)
        if raw is None:
            raise self.error(f"required tag {tag} missing", tag)
        try:
            units = self._grid().units(raw)
        except CoreError as exc:
            raise self.error(f"tag {tag}: {exc}", tag) from None
        if units < 0:
            raise self.error(f"tag {tag}: negative quantity {raw!r}", tag)
        return units

    def price_tag(self, tag: int) -> int:
        raw = self.msg.fields.get(tag)
        if raw is None:
            raise self.error(f"required tag {tag} missing", tag)
        try:
            return self._grid().ticks(raw)
        except CoreError as exc:
            raise self.error(f"tag {tag}: {exc}", tag) from None

    def price(self, *, required: bool) -> int | None:
        if tags.PRICE not in self.msg.fields:
            if required:
                raise self.error("a limit order needs Price(44)", tags.PRICE)
            return None
        ticks = self.price_tag(tags.PRICE)
        if required and ticks <= 0:
            raise self.error(f"Price(44) must be > 0, got {ticks} ticks", tags.PRICE)
        return ticks

    def avg_px(self) -> float:
        raw = self.msg.fields.get(tags.AVG_PX, b"0")
        try:
            return self._grid().avg_ticks(raw)
        except CoreError:
            raise self.error(f"AvgPx(6) {raw!r} is not a number", tags.AVG_PX) from None

    def time(self, tag: int) -> int:
        raw = self.msg.fields.get(tag)
        if raw is None:
            return 0
        ts = parse_utc(raw)
        if ts is None:
            raise self.error(f"tag {tag}: {raw!r} is not a UTCTimestamp", tag)
        return ts
