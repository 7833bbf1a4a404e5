"""What the node does with each thing the venue says: session changes, reports, rejects.

Every answer passes one guard: a bug while applying one leaves our order state unknown,
so the node halts (``internal_error``) until a restart instead of going on. A session
lost halts ``fix_down``; a logon starts reconciliation (:mod:`daemon.reconciliation`);
an unreadable report or a business reject does too, since it may hide a fill.
"""

from __future__ import annotations

import re

from core.clock import Clock
from core.events import CancelReject, ExecReport
from core.log import get_logger
from core.types import ExecType
from daemon.fix_router import FixRouter, VenueMessage
from daemon.halts import NodeHalts
from daemon.journal import JournalError
from daemon.latency import TickToOrder
from daemon.metrics import Metrics
from daemon.reconciliation import Reconciler
from execution.executor import ExecutionEngine
from risk.halts import Halt, HaltKind
from risk.overlay import RiskOverlay

log = get_logger("rlexec.node")

_REASON_LABEL = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
FIX_DOWN = Halt(HaltKind.FIX_DOWN)


class VenueEvents:
    def __init__(
        self,
        *,
        engine: ExecutionEngine,
        risk: RiskOverlay,
        router: FixRouter,
        halts: NodeHalts,
        reconciler: Reconciler,
        metrics: Metrics,
        clock: Clock,
        tick_to_order: TickToOrder,
    ) -> None:
        self.engine = engine
        self.risk = risk
        self.router = router
        self.halts = halts
        self.reconciler = reconciler
        self.metrics = metrics
        self.clock = clock
        self.tick_to_order = tick_to_order

    # ---------------------------------------------------------------- session
    def on_session(self, up: bool, why: str) -> None:
        self.metrics.fix_up.set(1 if up else 0)
        if up:
            log.info("fix_logged_on", session=self.router.session_id)
            self.halts.clear(FIX_DOWN)
            self.reconciler.start("settling live orders with the venue after logon")
        elif not self.halts.stopping:
            self.risk.set_market_open(False, self.clock.now_ns())
            # questions asked on the lost session are asked again after the next logon
            # (an answer the venue resends then is applied as any status report)
            self.reconciler.questions.clear()
            self.halts.halt(FIX_DOWN, f"FIX session lost: {why}")

    def on_unreadable(self, why: str) -> None:
        # a report we cannot read may be a fill we would miss: settle with the venue
        self.metrics.fix_dropped.inc()
        log.error("unreadable_report", error=why)
        self.reconciler.start(f"unreadable execution report: {why}")

    def on_sent(self, symbol: str, kind: str, cl_ord_id: str) -> None:
        self.reconciler.request_sent(cl_ord_id)
        self.metrics.orders_sent.labels(symbol, kind).inc()
        if kind == "new":
            self.tick_to_order.order_sent()

    # ---------------------------------------------------------------- messages
    def on_message(self, msg: VenueMessage) -> None:
        """Every venue answer, through one guard: a bug while applying one leaves our
        order state unknown, so trading halts until a restart instead of going on."""
        try:
            self._apply(msg)
        except Exception as exc:
            log.critical(
                "venue_message_failed",
                message=type(msg).__name__,
                cl_ord_id=getattr(msg, "cl_ord_id", ""),
                error=repr(exc),
                exc_info=True,
            )
            self.halts.halt(
                Halt(HaltKind.INTERNAL_ERROR), f"applying a {type(msg).__name__} failed: {exc!r}"
            )

    def _apply(self, msg: VenueMessage) -> None:
        if isinstance(msg, ExecReport):
            self._on_report(msg)
        elif isinstance(msg, CancelReject):
            self.halts.guarded(lambda: self.engine.on_cancel_reject(msg))
            if msg.is_replace:
                # a refused replace leaves the order working as it was: if its parent
                # ended meanwhile, it would rest with no runner left to cancel it
                order = self.engine.tracker.orders.get(msg.orig_cl_ord_id)
                if order is not None:
                    self.reconciler.cancel_if_orphaned(order)
        else:
            log.error("business_reject", ref_seq_num=msg.ref_seq_num, text=msg.text)
            self.reconciler.start(f"venue refused a message: {msg.text}")

    def _on_report(self, r: ExecReport) -> None:
        if self.reconciler.is_answer(r):
            self.reconciler.on_status_answer(r)
            return
        try:
            update = self.engine.on_exec_report(r)
        except JournalError as exc:
            self.halts.journal_failed(exc)
            return
        if update is None or update.duplicate:
            return
        self.reconciler.cancel_if_orphaned(update.order)
        if self.halts.raised(HaltKind.ACK_OVERDUE):
            self.reconciler.check_acks()  # the answer may be the one overdue: lift at once
        if r.exec_type is ExecType.NEW:
            self.metrics.orders_acked.labels(r.symbol).inc()
        elif r.exec_type is ExecType.REJECTED:
            reason = r.text.split(":", 1)[0].strip().lower().replace(" ", "_")
            self.metrics.orders_rejected.labels(
                r.symbol, reason if _REASON_LABEL.match(reason) else "other"
            ).inc()
            log.warning("child_rejected", cl_ord_id=r.cl_ord_id, text=r.text)
