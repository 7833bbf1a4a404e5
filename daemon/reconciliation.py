"""Venue reconciliation: settle every live order with the venue before trading again.

After a logon, an unreadable report or a venue reject, and whenever a request's answer
is overdue, the node does not know where its orders stand. It asks
(OrderStatusRequest, see :mod:`daemon.status_questions`, which turns each answer into
the venue message it stands for, a synthetic Replaced report or cancel reject, so the
journal records exactly what was applied) and keeps the ``reconciling`` or
``ack_overdue:<SYMBOL>`` halt until every question has its answer.

All timeouts here run on the monotonic clock: they guard network replies, never the
market's (replayed) time.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Mapping

from core.clock import Clock
from core.events import CancelReject, ExecReport
from core.instruments import Instrument
from core.log import get_logger
from core.order_tracker import UnknownOrder
from core.orders import ChildOrder
from core.parent import ParentState
from core.types import ExecType
from daemon.ack_watch import AckWatch
from daemon.fix_router import FixRouter, OrderEntry
from daemon.halts import NodeHalts
from daemon.metrics import Metrics
from daemon.status_questions import StatusQuestions
from execution.executor import ExecutionEngine
from risk.halts import Halt, HaltKind
from risk.overlay import RiskOverlay

log = get_logger("rlexec.node")

RECONCILING = Halt(HaltKind.RECONCILING)
# New orders and replaces are held this long before an ack falls due (hold_new): the
# wire's stamp of our send lags ours by the loop's and the kernel's scheduling.
ACK_GUARD_S = 0.05
ACK_GUARD_NS = round(ACK_GUARD_S * 1e9)


class Reconciler:
    def __init__(
        self,
        *,
        engine: ExecutionEngine,
        risk: RiskOverlay,
        router: FixRouter,
        halts: NodeHalts,
        metrics: Metrics,
        clock: Clock,
        instruments: Mapping[str, Instrument],
        ack_timeout_s: float,
        round_timeout_s: float,
        on_reconciled: Callable[[], None],
    ) -> None:
        self.engine = engine
        self.risk = risk
        self.router = router
        self.halts = halts
        self.metrics = metrics
        self.clock = clock
        self.instruments = instruments
        self.ack_timeout_s = ack_timeout_s
        self.round_timeout_s = round_timeout_s
        self._on_reconciled = on_reconciled
        # requests awaiting the venue, and questions about them: on the monotonic clock
        self.acks = AckWatch(ack_timeout_s)
        self.questions = StatusQuestions()
        self.recovered = False  # every live order settled with the venue at least once
        self._task: asyncio.Task[None] | None = None

    # ---------------------------------------------------------------- rounds
    def start(self, why: str) -> None:
        """Halt ``reconciling`` (``why``) and settle every live order with the venue."""
        self.halts.halt(RECONCILING, why)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="reconcile")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        """Ask the venue about every live child; trade again only when all are settled."""
        timeout = self.round_timeout_s
        while not self.halts.stopping:
            if not self.router.ready:
                return  # the next logon starts another round
            live = list(self.engine.tracker.live())
            for order in live:
                self.ask_status(order)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and len(self.questions):
                await asyncio.sleep(0.01)
            if not len(self.questions):
                self.recovered = True
                # the venue session is open to us: risk's market-closed check lifts
                self.risk.set_market_open(True, self.clock.now_ns())
                self.halts.clear(RECONCILING)
                self._on_reconciled()
                log.info("venue_reconciled", orders=len(live))
                return
            unsettled = self.questions.unanswered()
            log.error(
                "venue_reconcile_incomplete",
                unsettled=unsettled[:20],
                count=len(unsettled),
                detail="no answer to OrderStatusRequest; not trading, retrying",
            )
            self.halts.halt(RECONCILING, f"{len(unsettled)} orders unsettled with the venue")
            self.questions.clear()
            await asyncio.sleep(timeout)

    # ---------------------------------------------------------------- questions
    def ask_status(self, order: ChildOrder) -> None:
        """OrderStatusRequest for where an order may now be (see daemon.status_questions)."""
        req, kind = self.questions.request_for(order)
        if self.router.request_status(req):
            self.questions.asked(order, req, kind, time.monotonic_ns())

    def is_answer(self, r: ExecReport) -> bool:
        """Whether ``r`` answers one of our status questions (not a report to apply as is)."""
        return r.exec_type is ExecType.ORDER_STATUS and r.cl_ord_id in self.questions

    def on_status_answer(self, r: ExecReport) -> None:
        question = self.questions.take(r.cl_ord_id)
        if question is None:  # pragma: no cover - the caller checked
            return
        settled = self.questions.settle(r, question, self.engine.tracker)
        if not settled.messages:
            log.warning("status_for_forgotten_order", cl_ord_id=r.cl_ord_id)
            return
        log.info(
            "order_status",
            cl_ord_id=r.cl_ord_id,
            status=r.ord_status.name,
            cum=r.cum_qty,
            asked_while=question.pending_id or "working",
            settles=[type(m).__name__ for m in settled.messages[:-1]],
        )
        for msg in settled.messages:
            self.halts.guarded(functools.partial(self._apply_answer, msg))
        if settled.ask_again is not None:
            self.ask_status(settled.ask_again)
        current = self.engine.tracker.orders.get(r.cl_ord_id)
        if current is not None:
            self.cancel_if_orphaned(current)

    def _apply_answer(self, msg: ExecReport | CancelReject) -> None:
        if isinstance(msg, CancelReject):
            self.engine.on_cancel_reject(msg)
        else:
            self.engine.on_exec_report(msg)

    def cancel_if_orphaned(self, order: ChildOrder) -> None:
        """A child that became cancellable only after its parent ended (a cancel, the end
        time or the last fill raced its ack) must not rest: no runner is left to do it.
        Nor after the kill switch was engaged: the kill's own pass could not reach it."""
        if not order.is_live or order.status.is_pending or not order.tif.rests:
            return
        parent = self.engine.parents.get(order.parent_id)
        if parent is None:
            return
        killed = self.risk.kill_switch.engaged
        if not parent.state.is_terminal and not killed:
            return
        log.warning(
            "orphan_child_cancelled",
            cl_ord_id=order.cl_ord_id,
            parent_id=order.parent_id,
            parent_state=parent.state.value,
            kill_switch=killed,
        )
        self.halts.cancel_parent_children(order.parent_id)

    # ---------------------------------------------------------------- overdue answers
    def request_sent(self, cl_ord_id: str) -> None:
        """A request went out: its answer is due within ack_timeout_s (monotonic)."""
        self.acks.sent(cl_ord_id)
        asyncio.get_running_loop().call_later(self.ack_timeout_s, self._guarded_check_acks)

    def hold_new(self, symbol: str) -> str | None:
        """Asked as each new order or replace goes to the wire. The ack_overdue halt
        stops decisions, but a decision that began just before an ack fell due, or ran
        while the timer that notices it was late (a busy loop), would still send: so
        the last check is here, on the monotonic clock, ACK_GUARD_S early so that what
        the wire sees is never past the timeout either."""
        live = [o for o in self.engine.tracker.live() if o.symbol == symbol]
        if not self.acks.any_due(live, within_ns=ACK_GUARD_NS):
            return None
        self.metrics.orders_held.labels(symbol).inc()
        return f"an acknowledgement is (about to be) overdue in {symbol}: order state unknown"

    def _guarded_check_acks(self) -> None:
        try:
            self.check_acks()
        except Exception as exc:  # a timer callback must never take the loop down
            log.error("ack_check_failed", error=repr(exc))

    def check_acks(self) -> None:
        """Requests without an answer within ack_timeout_s (monotonic): the symbol's
        order state is unknown, so nothing new goes out in it (halt ``ack_overdue``),
        and the venue is asked where each such order stands (never while FIX is down,
        when no answer is possible and nothing is declared lost)."""
        live = list(self.engine.tracker.live())
        overdue = self.acks.overdue(live)
        late = {o.symbol for o in overdue}
        for symbol in self.instruments:
            halt = Halt.ack_overdue(symbol)
            if symbol in late:
                self.halts.halt(
                    halt,
                    f"an acknowledgement is overdue (> {self.ack_timeout_s:g} s): "
                    "order state unknown",
                )
            else:
                self.halts.clear(halt)  # a no-op unless it was raised
        self.questions.forget({o.cl_ord_id for o in live})
        if not self.router.ready or not self.recovered:
            return
        again = time.monotonic_ns() - self.acks.timeout_ns
        for order in overdue:
            if self.questions.asked_since(order, again):
                continue
            log.warning(
                "uncertain_order",
                cl_ord_id=order.cl_ord_id,
                status=order.status.name,
                request=order.pending_id,
                waited_s=round(self.acks.waited_s(order), 3),
            )
            self.ask_status(order)

    # ---------------------------------------------------------------- resend rule
    def resend_allowed(self, kind: str, cl_ord_id: str, age_s: float) -> bool:
        """After a reconnect, may this new order or replace go out again? Only if it is
        younger than the ack timeout, its order awaits exactly that request, the parent
        works and nothing but the reconnect itself halts the symbol (an overdue ack, the
        kill switch, stale data: each means gap-fill it, and settle it as never sent)."""
        if age_s >= self.ack_timeout_s:
            return False
        try:
            order = self.engine.tracker.get(cl_ord_id)
        except UnknownOrder:
            return False
        parent = self.engine.parents.get(order.parent_id)
        if order.pending_id != cl_ord_id or parent is None:
            return False
        if parent.state is not ParentState.WORKING or self.risk.kill_switch.engaged:
            return False
        return not self.halts.blocks_resend(order.symbol)

    def on_not_resent(self, req: OrderEntry) -> None:
        """A request gap-filled on resend: the venue has most likely never processed it.
        Its order is asked about, and the answer settles it ("unknown": never sent,
        rejected or left as it was; anything else: what the venue has), losing nothing."""
        self.metrics.fix_not_resent.inc()
        try:
            order = self.engine.tracker.get(req.cl_ord_id)
        except UnknownOrder:
            return
        log.warning(
            "request_not_resent",
            cl_ord_id=order.cl_ord_id,
            request=req.cl_ord_id,
            awaited=order.pending_id == req.cl_ord_id,
            detail="gap-filled on resend: asking the venue where the order stands",
        )
        if order.is_live and not self.questions.asked_since(order, time.monotonic_ns()):
            self.ask_status(order)
