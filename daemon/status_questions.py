"""OrderStatusRequests in flight, and what their answers settle.

The node asks the venue where an order stands after a restart, after a logon and when a
request's answer is overdue. FIX delivers in order on a session, so an answer shows
the order as the venue held it when the *question* arrived: every report the venue
sent before is already here, and every request we sent *after* asking is still ahead
of it. Hence the rules:

- The answer is applied as information about the order it names (the tracker never
  lets it undo a pending state, see :meth:`core.orders.ChildOrder.on_status`).
- It settles a request only when the question was asked *about that request*: a
  replace is asked about under its new ClOrdID ("unknown" there means the replace never
  reached the venue; anything else means the venue applied it), and a cancel that was
  in flight when we asked is shown not to have reached the venue when the answer
  still has the order working with no cancel pending.

Each settlement is turned into the venue message it stands for (a Replaced report, a
cancel reject) so the journal records exactly what was applied and a replay rebuilds
the same state without knowing about questions at all.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

from core.events import CancelReject, ExecReport
from core.order_tracker import OrderTracker, UnknownOrder, venue_does_not_know
from core.orders import ChildOrder
from core.requests import StatusRequest
from core.types import ExecType, OrdStatus

Kind = Literal["order", "replace"]


@dataclass(frozen=True, slots=True)
class Question:
    query_id: str  # the ClOrdID asked about
    order_id: str  # the order it concerns (its ClOrdID when asked)
    kind: Kind  # "replace": asked under the new ClOrdID of a replace in flight
    pending_id: str  # the request in flight when asked ("" if none)
    asked_ns: int  # monotonic


@dataclass(frozen=True, slots=True)
class Settlement:
    """What an answer means: the messages to apply, in order, and whether the order
    must be asked about again (under its own ClOrdID)."""

    messages: tuple[ExecReport | CancelReject, ...]
    ask_again: ChildOrder | None = None


class StatusQuestions:
    """Questions asked and not yet answered, keyed by the ClOrdID asked about.

    The same ClOrdID may be asked about again before the first answer comes (the
    reconciliation after a logon asks about every live order, whatever is open). FIX
    answers in the order asked, so each ClOrdID keeps its questions first in, first
    out: an answer settles the oldest, never a later one asked with another request in
    flight (which would read "working" as "that cancel never arrived")."""

    def __init__(self) -> None:
        self._open: dict[str, deque[Question]] = {}
        self._last_asked_ns: dict[str, int] = {}  # order ClOrdID -> monotonic

    def __contains__(self, query_id: object) -> bool:
        return query_id in self._open

    def __len__(self) -> int:
        return sum(len(q) for q in self._open.values())

    def unanswered(self) -> list[str]:
        return sorted(self._open)

    def clear(self) -> None:
        self._open.clear()

    @staticmethod
    def request_for(order: ChildOrder) -> tuple[StatusRequest, Kind]:
        """Where the order may now be: a pending replace is asked about under its new
        ClOrdID (the venue may have applied it), anything else under its own."""
        pr = order.pending_replace
        if order.status is OrdStatus.PENDING_REPLACE and pr is not None:
            return StatusRequest(pr.new_cl_ord_id, order.symbol, order.side), "replace"
        return StatusRequest(order.cl_ord_id, order.symbol, order.side), "order"

    def asked(self, order: ChildOrder, req: StatusRequest, kind: Kind, now_ns: int) -> Question:
        """``req`` went out (monotonic ``now_ns``) about ``order`` as it stands now."""
        question = Question(req.cl_ord_id, order.cl_ord_id, kind, order.pending_id, now_ns)
        self._open.setdefault(req.cl_ord_id, deque()).append(question)
        self._last_asked_ns[order.cl_ord_id] = now_ns
        return question

    def asked_since(self, order: ChildOrder, since_ns: int) -> bool:
        """Whether ``order`` was asked about at or after ``since_ns`` (monotonic), or a
        question about where it may be is still open."""
        if self._last_asked_ns.get(order.cl_ord_id, -1) >= since_ns:
            return True
        return StatusQuestions.request_for(order)[0].cl_ord_id in self._open

    def forget(self, live_ids: set[str]) -> None:
        """Drop the ask times of orders that are no longer live."""
        self._last_asked_ns = {k: v for k, v in self._last_asked_ns.items() if k in live_ids}

    def take(self, query_id: str) -> Question | None:
        """The oldest open question about ``query_id`` (the one an answer now answers)."""
        waiting = self._open.get(query_id)
        if not waiting:
            return None
        question = waiting.popleft()
        if not waiting:
            del self._open[query_id]
        return question

    @staticmethod
    def settle(answer: ExecReport, question: Question, tracker: OrderTracker) -> Settlement:
        """The messages that apply ``answer`` to our books (see the module doc)."""
        try:
            order = tracker.get(answer.cl_ord_id)
        except UnknownOrder:
            return Settlement(())  # forgotten meanwhile (pruned): nothing to settle
        if question.kind == "replace" and order.cl_ord_id != answer.cl_ord_id:
            # the replace asked about is still pending in our books
            if venue_does_not_know(answer):
                reject = CancelReject(
                    answer.cl_ord_id,
                    order.cl_ord_id,
                    True,
                    "replace not at the venue (status answer: unknown order)",
                    answer.ts_ns,
                )
                return Settlement((reject,), ask_again=order)
            replaced = ExecReport(
                cl_ord_id=answer.cl_ord_id,
                exec_id="",
                exec_type=ExecType.REPLACED,
                ord_status=answer.ord_status,
                symbol=answer.symbol,
                side=answer.side,
                order_qty=answer.order_qty,
                cum_qty=answer.cum_qty,
                leaves_qty=answer.leaves_qty,
                ts_ns=answer.ts_ns,
                price=answer.price,
                orig_cl_ord_id=order.cl_ord_id,
            )
            return Settlement((replaced, answer))
        if (
            order.status is OrdStatus.PENDING_CANCEL
            and question.pending_id
            and question.pending_id == order.pending_id
            and answer.ord_status in (OrdStatus.NEW, OrdStatus.PARTIALLY_FILLED)
        ):
            # asked while this very cancel was in flight, and the venue still works the
            # order with no cancel pending: the cancel never reached it
            reject = CancelReject(
                order.pending_id,
                order.cl_ord_id,
                False,
                "cancel not at the venue (status answer: order working)",
                answer.ts_ns,
                answer.ord_status,
            )
            return Settlement((reject, answer))
        return Settlement((answer,))
