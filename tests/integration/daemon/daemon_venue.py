"""A scripted venue for daemon tests: a real FIX acceptor and a real market-data publisher,
with order handling the test controls (ack or lose an order, fill on demand, go silent).

The daemon under test cannot tell it from the exchange process: same FIX sessions, same
websocket protocol. What the exchange cannot do on demand — lose an order, stop its feed —
this venue can, which is what the daemon's safety paths need to be exercised.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from core.clock import WallClock
from core.events import CancelReject, ExecReport
from core.instruments import Instrument
from core.requests import (
    CancelRequest,
    MassStatusRequest,
    NewOrderRequest,
    ReplaceRequest,
    StatusRequest,
)
from core.types import ExecType, OrdStatus, Side
from exchange.service.md_publisher import MarketDataPublisher
from gateways.fix import AppMessage, FixAcceptor, FixMessages
from gateways.fix.settings import AcceptorSettings, SessionSettings

SYMBOL = "AMZN"


@dataclass
class VenueOrder:
    req: NewOrderRequest
    status: OrdStatus = OrdStatus.NEW
    cum: int = 0
    cl_ord_id: str = ""


@dataclass
class ScriptedVenue:
    lose_next_orders: int = 0  # the next N NewOrderSingles never "arrive"
    hold_acks: bool = False  # orders rest, but their acks wait for release_acks()
    held: list[ExecReport] = field(default_factory=list)
    hold_replaces: bool = False  # replace requests wait, unanswered, for answer_replaces()
    held_replaces: list[ReplaceRequest] = field(default_factory=list)
    hold_status: bool = False  # status requests wait, unanswered, for answer_status()
    held_status: list[StatusRequest] = field(default_factory=list)
    orders: dict[str, VenueOrder] = field(default_factory=dict)
    requests: list[Any] = field(default_factory=list)
    status_requests: list[str] = field(default_factory=list)
    received_at: dict[str, float] = field(default_factory=dict)  # ClOrdID -> monotonic
    asked_at: dict[str, float] = field(default_factory=dict)  # status requests, likewise
    market_ns: int = 1  # the market time of the first snapshot (a replayed day, say)
    sent: list[ExecReport] = field(default_factory=list)  # every report, in order

    def __post_init__(self) -> None:
        inst = Instrument(SYMBOL)
        self.msgs = FixMessages("FIX.4.4", {SYMBOL: inst})
        self.acceptor = FixAcceptor(
            AcceptorSettings(
                sessions=(SessionSettings(sender_comp_id="EXCHANGE", target_comp_id="RLEXEC"),)
            ),
            on_event=self._on_event,
        )
        self.md = MarketDataPublisher({SYMBOL: inst}, clock=WallClock(), heartbeat_s=0.1)
        self._exec_ids = itertools.count(1)
        self.fix_port = 0
        self.md_port = 0

    async def start(self) -> None:
        await self.acceptor.start()
        self.fix_port = self.acceptor.port
        self.md.publish_snapshot(
            SYMBOL, [(22_000, 500), (21_999, 800)], [(22_002, 400), (22_003, 900)], self.market_ns
        )
        self.md_port = await self.md.start(port=0)

    async def stop(self) -> None:
        await self.acceptor.stop("test over")
        await self.md.close()

    def silence_market_data(self) -> None:
        """No deltas, no heartbeats: the feed looks dead to the client."""
        if self.md._heartbeat_task is not None:
            self.md._heartbeat_task.cancel()
            self.md._heartbeat_task = None

    def revive_market_data(self) -> None:
        self.md.start_heartbeats()

    # ---------------------------------------------------------------- orders
    @property
    def session_id(self) -> str:
        return next(iter(self.acceptor.sessions))

    def resend(self, report: ExecReport) -> None:
        """Deliver a report already sent once more, as a venue replaying its outbound
        messages after a reconnect does."""
        self._send(report)

    def _send(self, report: ExecReport | CancelReject) -> None:
        if isinstance(report, ExecReport):
            self.sent.append(report)
        out = (
            self.msgs.execution_report(report)
            if isinstance(report, ExecReport)
            else self.msgs.order_cancel_reject(report)
        )
        self.acceptor.send_app(self.session_id, *out)

    def _report(self, o: VenueOrder, et: ExecType, **kw: Any) -> ExecReport:
        req = o.req
        return ExecReport(
            cl_ord_id=kw.pop("cl_ord_id", o.cl_ord_id or req.cl_ord_id),
            exec_id=f"V{next(self._exec_ids)}",
            exec_type=et,
            ord_status=o.status,
            symbol=req.symbol,
            side=req.side,
            order_qty=req.qty,
            cum_qty=o.cum,
            leaves_qty=0 if o.status.is_terminal else req.qty - o.cum,
            ts_ns=1,
            price=req.price,
            **kw,
        )

    def _on_event(self, event: object) -> None:
        if not isinstance(event, AppMessage):
            return
        req = self.msgs.decode_request(event.message)
        self.requests.append(req)
        if isinstance(req, StatusRequest):
            self.asked_at.setdefault(req.cl_ord_id, time.monotonic())
        elif not isinstance(req, MassStatusRequest):
            self.received_at.setdefault(req.cl_ord_id, time.monotonic())
        if isinstance(req, NewOrderRequest):
            if self.lose_next_orders:
                self.lose_next_orders -= 1
                return  # lost on the way: the venue never saw it
            o = VenueOrder(req, cl_ord_id=req.cl_ord_id)
            self.orders[req.cl_ord_id] = o
            ack = self._report(o, ExecType.NEW)
            if self.hold_acks:
                self.held.append(ack)
            else:
                self._send(ack)
        elif isinstance(req, CancelRequest):
            o = self._find(req.orig_cl_ord_id)
            if o is None or o.status.is_terminal:
                self._send(
                    CancelReject(req.cl_ord_id, req.orig_cl_ord_id, False, "unknown order", 1)
                )
                return
            o.status = OrdStatus.CANCELED
            self._send(
                self._report(
                    o, ExecType.CANCELED, cl_ord_id=req.cl_ord_id, orig_cl_ord_id=o.cl_ord_id
                )
            )
        elif isinstance(req, ReplaceRequest):
            if self.hold_replaces:
                self.held_replaces.append(req)
                return
            self._replace(req)
        elif isinstance(req, StatusRequest):
            self.status_requests.append(req.cl_ord_id)
            if self.hold_status:
                self.held_status.append(req)
                return
            self._status(req)

    def forget_orders(self) -> None:
        """A venue restart that lost its book: every order, fills and all, is unknown."""
        self.orders.clear()

    def _status(self, req: StatusRequest) -> None:
        o = self._find(req.cl_ord_id)
        if o is None:
            self._send(
                ExecReport(
                    req.cl_ord_id,
                    f"V{next(self._exec_ids)}",
                    ExecType.ORDER_STATUS,
                    OrdStatus.REJECTED,
                    req.symbol,
                    req.side,
                    0,
                    0,
                    0,
                    1,
                    text="unknown_order: never seen",
                )
            )
        else:
            self._send(self._report(o, ExecType.ORDER_STATUS, cl_ord_id=req.cl_ord_id))

    def _replace(self, req: ReplaceRequest) -> None:
        o = self._find(req.orig_cl_ord_id)
        if o is None or o.status.is_terminal:
            self._send(CancelReject(req.cl_ord_id, req.orig_cl_ord_id, True, "unknown order", 1))
            return
        old = o.cl_ord_id
        o.req = NewOrderRequest(req.cl_ord_id, req.symbol, req.side, req.qty, req.price)
        o.cl_ord_id = req.cl_ord_id
        self.orders[req.cl_ord_id] = o
        self._send(self._report(o, ExecType.REPLACED, orig_cl_ord_id=old))

    def answer_replaces(self, *, reject: str = "") -> None:
        """Answer the held replace requests: apply them, or refuse each with ``reject``
        as the text (the order then keeps working as it was)."""
        self.hold_replaces = False
        held, self.held_replaces = self.held_replaces, []
        for req in held:
            if reject:
                self._send(CancelReject(req.cl_ord_id, req.orig_cl_ord_id, True, reject, 1))
            else:
                self._replace(req)

    def answer_status(self) -> None:
        """Answer the held status requests with the orders as they stand now."""
        self.hold_status = False
        held, self.held_status = self.held_status, []
        for req in held:
            self._status(req)

    def release_acks(self) -> None:
        self.hold_acks = False
        held, self.held = self.held, []
        for ack in held:
            self._send(ack)

    def _find(self, cl_ord_id: str) -> VenueOrder | None:
        o = self.orders.get(cl_ord_id)
        return o if o is not None and o.cl_ord_id == cl_ord_id else None

    def fill(self, cl_ord_id: str, qty: int, price: int) -> None:
        o = self.orders[cl_ord_id]
        o.cum += qty
        o.status = OrdStatus.FILLED if o.cum == o.req.qty else OrdStatus.PARTIALLY_FILLED
        self._send(self._report(o, ExecType.TRADE, last_qty=qty, last_px=price))

    def live(self) -> list[VenueOrder]:
        seen: set[int] = set()
        out = []
        for o in self.orders.values():
            if id(o) not in seen and not o.status.is_terminal:
                seen.add(id(o))
                out.append(o)
        return out


async def eventually(cond: Any, timeout: float = 10.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


__all__ = ["SYMBOL", "ScriptedVenue", "Side", "eventually"]
