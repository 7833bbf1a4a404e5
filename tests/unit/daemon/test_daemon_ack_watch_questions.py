"""The monotonic ack clock and what a status answer settles, without a network."""

from __future__ import annotations

import pytest

from core.events import CancelReject, ExecReport
from core.order_tracker import OrderTracker
from core.orders import ChildOrder
from core.types import ExecType, OrdStatus, Side
from daemon.ack_watch import AckWatch
from daemon.status_questions import StatusQuestions

MS = 1_000_000


class Monotonic:
    def __init__(self) -> None:
        self.ns = 10_000 * MS

    def __call__(self) -> int:
        return self.ns


def order(cl: str = "C1") -> ChildOrder:
    return ChildOrder(cl, "AMZN", Side.BUY, 100, 22_000, parent_id="P1")


def status(cl: str, st: OrdStatus, qty: int = 100) -> ExecReport:
    return ExecReport(cl, f"S-{cl}", ExecType.ORDER_STATUS, st, "AMZN", Side.BUY, qty, 0, qty, 1)


def test_a_request_is_overdue_after_the_timeout_of_the_monotonic_clock() -> None:
    clock = Monotonic()
    acks = AckWatch(2.0, now_ns=clock)
    o = order()
    acks.sent("C1")
    clock.ns += 1_999 * MS
    assert acks.overdue([o]) == []
    clock.ns += 1 * MS
    assert acks.overdue([o]) == [o]
    assert acks.waited_s(o) == pytest.approx(2.0)


def test_each_request_of_an_order_is_timed_from_its_own_send() -> None:
    clock = Monotonic()
    acks = AckWatch(1.0, now_ns=clock)
    o = order()
    acks.sent("C1")
    clock.ns += 500 * MS
    o.on_ack()
    assert acks.overdue([o]) == []  # answered: forgotten
    o.request_cancel(request_id="K1")
    acks.sent("K1")
    clock.ns += 900 * MS
    assert acks.overdue([o]) == []
    clock.ns += 100 * MS
    assert acks.overdue([o]) == [o]


def test_a_request_recovered_from_the_journal_is_timed_from_its_first_sighting() -> None:
    clock = Monotonic()
    acks = AckWatch(1.0, now_ns=clock)
    o = order()  # pending new, never seen going out by this process
    assert acks.overdue([o]) == []
    clock.ns += 1_000 * MS
    assert acks.overdue([o]) == [o]


def _asked(o: ChildOrder) -> tuple[StatusQuestions, str]:
    questions = StatusQuestions()
    req, kind = questions.request_for(o)
    questions.asked(o, req, kind, 0)
    assert req.cl_ord_id in questions
    return questions, req.cl_ord_id


def _replace_asked_about() -> tuple[OrderTracker, ChildOrder, StatusQuestions, str]:
    """A working order with a replace in flight, asked about (under the new ClOrdID)."""
    tracker = OrderTracker()
    o = order()
    tracker.add(o)
    o.on_ack()
    tracker.request_replace("C1", "C2", 22_001, 100)
    questions, qid = _asked(o)
    return tracker, o, questions, qid


def test_an_answer_showing_the_order_working_settles_a_cancel_asked_about_as_never_arrived() -> (
    None
):
    tracker = OrderTracker()
    o = order()
    tracker.add(o)
    o.on_ack()
    tracker.request_cancel("C1", "K1")
    questions, qid = _asked(o)
    answer = status(qid, OrdStatus.NEW)
    question = questions.take(qid)
    assert question is not None and question.pending_id == "K1"
    settled = questions.settle(answer, question, tracker)
    reject, applied = settled.messages
    assert isinstance(reject, CancelReject) and (reject.cl_ord_id, reject.is_replace) == (
        "K1",
        False,
    )
    assert applied is answer


def test_an_answer_to_a_question_asked_before_the_cancel_settles_nothing() -> None:
    tracker = OrderTracker()
    o = order()
    tracker.add(o)
    o.on_ack()
    questions, qid = _asked(o)  # asked while working
    tracker.request_cancel("C1", "K1")  # the cancel goes out after the question
    question = questions.take(qid)
    assert question is not None
    answer = status(qid, OrdStatus.NEW)
    assert questions.settle(answer, question, tracker).messages == (answer,)


def test_a_replace_the_venue_does_not_know_is_settled_as_refused_and_asked_again() -> None:
    tracker, o, questions, qid = _replace_asked_about()
    assert qid == "C2"
    question = questions.take(qid)
    assert question is not None and question.kind == "replace"
    unknown = status("C2", OrdStatus.REJECTED, qty=0)
    settled = questions.settle(unknown, question, tracker)
    (reject,) = settled.messages
    assert isinstance(reject, CancelReject) and reject.is_replace
    assert settled.ask_again is o


def test_a_replace_the_venue_applied_is_settled_with_a_replaced_report_first() -> None:
    tracker, _, questions, qid = _replace_asked_about()
    question = questions.take(qid)
    assert question is not None
    answer = status("C2", OrdStatus.NEW)
    replaced, applied = questions.settle(answer, question, tracker).messages
    assert isinstance(replaced, ExecReport) and replaced.exec_type is ExecType.REPLACED
    assert (replaced.cl_ord_id, replaced.orig_cl_ord_id) == ("C2", "C1")
    assert applied is answer
