"""The one execution path: desired orders in, risk-checked child orders out, fills back.

Training, backtest and live all drive an :class:`ExecutionEngine`; they differ only in
the clock and the router they hand it (a simulated clock and the in-process router to
the matching engine, or the wall clock and the FIX router). Everything between the
policy's decision and the router — reconciliation against live child orders, ClOrdID
assignment, the risk overlay, journalling before acting, order state, fills, parent
progress — happens here, once.

Order of a decision: cancels, then replaces, then new orders, so exposure is released
before it is added and a throttle spends its tokens on the risk-reducing messages
first. Cancels are never denied by the overlay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.book import L2Book
from core.clock import Clock
from core.errors import OverfillError
from core.events import CancelReject, ExecReport
from core.ids import ClOrdIdGenerator
from core.instruments import Instrument
from core.log import get_logger
from core.order_tracker import OrderTracker, OrderUpdate, UnknownOrder
from core.orders import ChildOrder
from core.parent import ParentOrder, ParentState
from core.reconciler import (
    DesiredOrder,
    NewOrder,
    ReconcilePlan,
    ReplaceOrder,
    reconcile,
    resting_view,
)
from core.requests import CancelRequest, NewOrderRequest, OrderRequest, ReplaceRequest
from core.types import ExecType, Side
from risk.approval import Approved
from risk.events import KillSwitchEngaged
from risk.overlay import Denied, RiskOverlay
from risk.router import OrderRouter

log = get_logger("rlexec.execution")


class Journal(Protocol):
    """Where every request and report is written *before* it is acted on."""

    def record(self, kind: str, payload: Any) -> object: ...


class MemoryJournal:
    """A journal for simulations: keeps the records in memory for inspection."""

    def __init__(self) -> None:
        self.records: list[tuple[str, Any]] = []

    def record(self, kind: str, payload: Any) -> None:
        self.records.append((kind, payload))


@dataclass(slots=True)
class Decision:
    """What one call did: what went to the router, what risk refused, what waits."""

    sent: list[OrderRequest] = field(default_factory=list)
    denied: list[tuple[OrderRequest, Denied]] = field(default_factory=list)
    deferred: int = 0


class ExecutionEngine:
    """Node-wide: one order tracker, one risk overlay, one router, many parent orders."""

    def __init__(
        self,
        *,
        clock: Clock,
        router: OrderRouter,
        risk: RiskOverlay,
        ids: ClOrdIdGenerator,
        instruments: Mapping[str, Instrument],
        journal: Journal | None = None,
        on_fill: Callable[[ParentOrder, OrderUpdate], None] | None = None,
        data_time: Callable[[str], int] | None = None,
        on_duplicate: Callable[[ExecReport], None] | None = None,
    ) -> None:
        self.clock = clock
        self.router = router
        self.risk = risk
        self.ids = ids
        self.instruments = dict(instruments)
        self.journal: Journal = journal or MemoryJournal()
        self.tracker = OrderTracker()
        self.parents: dict[str, ParentOrder] = {}
        self._on_fill = on_fill
        self._on_duplicate = on_duplicate
        # When the market data of a symbol was last known good: the clock's now in a
        # simulation; the feed's last sign of life in the daemon (so the overlay's
        # stale-data check watches the feed, not our own decision timer).
        self._data_time: Callable[[str], int] = data_time or (lambda _symbol: clock.now_ns())

    # ------------------------------------------------------------ parents
    def add_parent(self, parent: ParentOrder) -> None:
        if parent.parent_id in self.parents:
            raise ValueError(f"parent {parent.parent_id} already exists")
        if parent.symbol not in self.instruments:
            raise ValueError(f"parent {parent.parent_id}: unknown symbol {parent.symbol}")
        self.journal.record("parent", parent)
        self.parents[parent.parent_id] = parent

    def live_children(self, parent_id: str) -> list[ChildOrder]:
        return list(self.tracker.live(parent_id))

    # ------------------------------------------------------------ decisions
    def apply(self, parent_id: str, desired: Sequence[DesiredOrder]) -> Decision:
        """Move the parent's live child orders to ``desired`` through risk and the router."""
        parent = self.parents[parent_id]
        decision = Decision()
        if parent.state is not ParentState.WORKING:
            desired = ()
        desired = self._cap_to_remaining(parent, desired)
        plan = reconcile(desired, self.tracker.live(parent_id))
        self._trim_plan(parent, plan)
        decision.deferred = len(plan.deferred)
        now = self.clock.now_ns()
        for c in plan.cancels:
            self._cancel(self.tracker.get(c.cl_ord_id), now, decision)
        for r in plan.replaces:
            order = self.tracker.get(r.cl_ord_id)
            req = ReplaceRequest(
                cl_ord_id=self.ids.next_id(),
                orig_cl_ord_id=order.cl_ord_id,
                symbol=order.symbol,
                side=order.side,
                qty=r.qty,
                price=r.price,
                ord_type=order.ord_type,
                tif=order.tif,
                ts_ns=now,
                parent_id=parent_id,
            )
            verdict = self.risk.check_replace(req, now)
            if isinstance(verdict, Denied):
                decision.denied.append((req, verdict))
                continue
            self.journal.record("replace", req)
            self.tracker.request_replace(order.cl_ord_id, req.cl_ord_id, r.price, r.qty, now)
            self.router.submit_replace(verdict)
            decision.sent.append(req)
        for n in plan.news:
            self._send_new(parent, n, now, decision)
        return decision

    def _cap_to_remaining(
        self, parent: ParentOrder, desired: Sequence[DesiredOrder]
    ) -> list[DesiredOrder]:
        """Trim a decision so the parent can never be over-executed, whatever the policy said.

        Worst case after the decision: what already filled, plus everything that could
        still fill (in-flight immediates, orders being cancelled, in-flight new/replace
        orders at their larger size), plus what the decision adds. Quantity already
        working at a desired level is reused rather than counted twice.
        """
        committed = 0
        locked: dict[tuple[Side, int], int] = {}
        for order in self.tracker.live(parent.parent_id):
            view = resting_view(order)
            if view is None:
                committed += order.leaves_qty
            elif order.status.is_pending:
                key, target_leaves = view
                committed += max(0, order.leaves_qty - target_leaves)
                locked[key] = locked.get(key, 0) + target_leaves
        budget = parent.remaining_qty - committed - sum(locked.values())
        lot = self.instruments[parent.symbol].lot_size
        out: list[DesiredOrder] = []
        for d in desired:
            if d.side is not parent.side:
                continue
            reuse = 0
            if d.rests and d.price is not None:
                key = (d.side, d.price)
                reuse = min(locked.get(key, 0), d.qty)
                locked[key] = locked.get(key, 0) - reuse
            extra = min(d.qty - reuse, max(0, budget))
            extra -= extra % lot
            budget -= extra
            qty = reuse + extra
            if qty > 0:
                out.append(
                    d if qty == d.qty else DesiredOrder(d.side, d.price, qty, d.ord_type, d.tif)
                )
        return out

    def _trim_plan(self, parent: ParentOrder, plan: ReconcilePlan) -> None:
        """Cut what ``plan`` adds so filled + everything that could still fill <= parent.

        An order the plan cancels or replaces may fill in full before that request
        reaches the venue, so it still counts at its remainder (a replace at the larger
        of its old and new remainder, as risk counts it). Only growth of a replace and
        new orders are trimmed; cancels and shrinking replaces always go out.
        """
        budget = parent.remaining_qty - sum(
            o.worst_case_leaves for o in self.tracker.live(parent.parent_id)
        )
        lot = self.instruments[parent.symbol].lot_size
        for i, r in enumerate(plan.replaces):
            order = self.tracker.get(r.cl_ord_id)
            base = order.worst_case_leaves
            growth = r.leaves - base
            if growth <= 0:
                continue
            allowed = min(growth, max(0, budget))
            allowed -= allowed % lot
            budget -= allowed
            if allowed < growth:
                leaves = base + allowed
                plan.replaces[i] = ReplaceOrder(
                    r.cl_ord_id, r.price, order.cum_qty + leaves, leaves
                )
        news: list[NewOrder] = []
        for n in plan.news:
            qty = min(n.qty, max(0, budget))
            qty -= qty % lot
            budget -= qty
            if qty > 0:
                news.append(
                    n if qty == n.qty else NewOrder(n.side, n.price, qty, n.ord_type, n.tif)
                )
        plan.news = news

    def _send_new(
        self, parent: ParentOrder, order: NewOrder | DesiredOrder, now: int, decision: Decision
    ) -> None:
        req = NewOrderRequest(
            cl_ord_id=self.ids.next_id(),
            symbol=parent.symbol,
            side=order.side,
            qty=order.qty,
            price=order.price,
            ord_type=order.ord_type,
            tif=order.tif,
            parent_id=parent.parent_id,
            ts_ns=now,
        )
        verdict = self.risk.check_new(req, now)
        if isinstance(verdict, Denied):
            decision.denied.append((req, verdict))
            return
        self.journal.record("new", req)
        self.tracker.add(
            ChildOrder(
                req.cl_ord_id,
                req.symbol,
                req.side,
                req.qty,
                req.price,
                ord_type=req.ord_type,
                tif=req.tif,
                parent_id=req.parent_id,
                created_ns=now,
            )
        )
        self.router.submit_new(verdict)
        decision.sent.append(req)

    def _cancel(self, order: ChildOrder, now: int, decision: Decision) -> None:
        req = CancelRequest(
            cl_ord_id=self.ids.next_id(),
            orig_cl_ord_id=order.cl_ord_id,
            symbol=order.symbol,
            side=order.side,
            qty=order.qty,
            ts_ns=now,
            parent_id=order.parent_id,
        )
        approved: Approved[CancelRequest] = self.risk.check_cancel(req, now)
        try:
            self.journal.record("cancel", req)
        except Exception as exc:  # a cancel only reduces risk: send it even unjournalled
            log.critical("cancel_sent_unjournalled", cl_ord_id=order.cl_ord_id, error=str(exc))
        self.tracker.request_cancel(order.cl_ord_id, req.cl_ord_id, now)
        self.router.submit_cancel(approved)
        decision.sent.append(req)

    def cancel_children(self, parent_id: str | None = None) -> Decision:
        """Cancel every working child (of one parent, or all): pause, kill, shutdown."""
        decision = Decision()
        now = self.clock.now_ns()
        for order in list(self.tracker.live(parent_id)):
            if order.status.is_pending:
                continue  # in flight: cancelled on the next call once the venue answered
            self._cancel(order, now, decision)
        return decision

    def send_immediate(self, parent_id: str, desired: DesiredOrder) -> Decision:
        """One immediate order outside reconciliation (completion sweep at end time)."""
        decision = Decision()
        parent = self.parents[parent_id]
        capped = self._cap_to_remaining(parent, [desired])
        plan = ReconcilePlan(
            news=[NewOrder(d.side, d.price, d.qty, d.ord_type, d.tif) for d in capped]
        )
        self._trim_plan(parent, plan)
        now = self.clock.now_ns()
        for n in plan.news:
            self._send_new(parent, n, now, decision)
        return decision

    # ------------------------------------------------------------ venue events
    def on_exec_report(self, report: ExecReport) -> OrderUpdate | None:
        """Apply one venue report everywhere it matters: order state, risk, the parent.

        The report is journalled first. A report for an order we do not know is still
        shown to risk (a fill moves the position whoever placed it); an unknown *fill*
        means our state is not the venue's, so the kill switch is engaged.

        A report whose ExecID we already hold (a PossDup resend after a restart, when the
        report was journalled but the inbound MsgSeqNum not yet stored) changes nothing
        and is not journalled again: the journal holds each venue report once. It is
        logged and shown to ``on_duplicate`` (the daemon counts it), whether or not its
        order is still remembered.
        """
        seen = bool(report.exec_id) and self.tracker.seen_exec_id(report.exec_id)
        if not seen:
            self.journal.record("report", report)
        try:
            update = self.tracker.on_exec_report(report)
        except UnknownOrder:
            if seen:  # a resend for an order finished and forgotten since
                self._duplicate(report)
                return None
            self._on_kill(self.risk.on_exec_report(report))
            if report.exec_type is ExecType.TRADE:
                log.critical(
                    "fill_for_unknown_order",
                    cl_ord_id=report.cl_ord_id,
                    exec_id=report.exec_id,
                    qty=report.last_qty,
                )
                self.engage_kill(f"fill {report.exec_id} for unknown order {report.cl_ord_id}")
            else:
                log.warning(
                    "report_for_unknown_order",
                    cl_ord_id=report.cl_ord_id,
                    exec_type=report.exec_type.name,
                )
            return None
        if update.duplicate:
            self._duplicate(report)
            return update
        self._on_kill(self.risk.on_exec_report(report))
        if update.fill is not None:
            parent = self.parents.get(update.order.parent_id)
            if parent is not None:
                try:
                    parent.apply_fill(update.fill)
                except OverfillError as exc:
                    log.critical("parent_overfill", parent_id=parent.parent_id, error=str(exc))
                    self.engage_kill(str(exc))
                    return update
                if self._on_fill is not None:
                    self._on_fill(parent, update)
        if update.cum_mismatch:
            # The venue has filled a different quantity than the fills we hold (one was
            # lost, e.g. in an unreadable report): position and parent are now wrong.
            order = update.order
            log.critical(
                "cum_qty_mismatch",
                cl_ord_id=order.cl_ord_id,
                venue_cum_qty=report.cum_qty,
                our_cum_qty=order.cum_qty,
            )
            self.engage_kill(
                f"venue CumQty {report.cum_qty} for {order.cl_ord_id} differs from our "
                f"{order.cum_qty}: a fill is missing"
            )
        return update

    def _duplicate(self, report: ExecReport) -> None:
        log.info("duplicate_report_ignored", exec_id=report.exec_id, cl_ord_id=report.cl_ord_id)
        if self._on_duplicate is not None:
            self._on_duplicate(report)

    def on_cancel_reject(self, rej: CancelReject) -> ChildOrder | None:
        self.journal.record("cancel_reject", rej)
        self.risk.on_cancel_reject(rej)
        try:
            return self.tracker.on_cancel_reject(rej)
        except UnknownOrder:
            log.warning("cancel_reject_for_unknown_order", cl_ord_id=rej.orig_cl_ord_id)
            return None

    def on_book(self, symbol: str, book: L2Book) -> None:
        """Show risk the book, stamped with when the feed last proved itself alive."""
        self._on_kill(self.risk.on_book(symbol, book, self._data_time(symbol)))

    def on_market_trade(self, symbol: str, qty: int, ts_ns: int) -> None:
        self.risk.on_market_trade(symbol, qty, ts_ns)

    def engage_kill(self, detail: str) -> Decision:
        """Engage the kill switch and cancel every working child order."""
        self.risk.engage_kill_switch(detail, self.clock.now_ns())
        return self.cancel_children()

    def _on_kill(self, event: KillSwitchEngaged | None) -> None:
        if event is not None:
            self.cancel_children()

    def open_parents(self) -> Iterable[ParentOrder]:
        return (p for p in self.parents.values() if not p.state.is_terminal)
