"""Journal replay against every record order the live path can produce (issue 13 item 2).

The order-path state machine (tests/unit/policies/test_policies_order_path_stateful.py)
plays an adversarial but correct venue against the real execution engine. Here the
engine journals into a real SQLite journal, the node's status questions join in (asked
at any time, answered late but in FIX order, settled by ``daemon.status_questions``
exactly as the node settles them), and the link may lose a request on the way (the
venue never sees it; only a status question settles it). At any step the machine may
"crash": the journal so far is replayed into a fresh engine, which must neither raise
nor report a problem, and must rebuild the books the live engine holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from core.events import CancelReject, ExecReport
from core.ids import ClOrdIdGenerator, MemorySequenceStore
from core.instruments import Instrument
from core.orders import ChildOrder
from core.reconciler import DesiredOrder
from core.types import ExecType, OrdStatus, Side
from daemon import records
from daemon.journal import Journal
from daemon.recovery import replay_journal
from daemon.status_questions import Question, StatusQuestions
from execution.executor import ExecutionEngine
from risk.command_auth import CommandVerifier
from risk.kill_switch import KillSwitch
from risk.overlay import RiskOverlay
from tests.unit.policies.test_policies_order_path_stateful import (
    SYM,
    T0,
    OrderPathMachine,
    VenueOrder,
    _ack_all_new,
    _Draw,
)


@dataclass
class Asked:
    """A status question on its way: processed by the venue once ``waits_for`` (the
    requests we sent before it) are processed, then in transit until delivered."""

    question: Question
    chain: VenueOrder
    waits_for: set[str]
    answer: ExecReport | None = None


@dataclass
class Link:
    asked: list[Asked] = field(default_factory=list)
    delivering: bool = False


class ReplayMachine(OrderPathMachine):
    def __init__(self) -> None:
        super().__init__()
        self.journal = Journal(self.tmp / "journal.db")
        for kind, payload in self.engine.journal.records:  # the parent, before start
            self.journal.record(kind, payload)
        self.journal.record("parent_state", records.parent_state(self.parent, "arrival"))
        self.engine.journal = self.journal
        self.questions = StatusQuestions()
        self.link = Link()
        self.crashes = 0
        venue_report = self.venue.report
        engine_cancel_reject = self.engine.on_cancel_reject

        def report(chain: VenueOrder, *args: object, **kw: object) -> None:
            self._deliver_before(chain)
            venue_report(chain, *args, **kw)  # type: ignore[arg-type]
            self._process_questions()

        def on_cancel_reject(rej: CancelReject) -> object:
            if not self.link.delivering:
                chain = self.venue.chains.get(rej.orig_cl_ord_id)
                if chain is not None:
                    self._deliver_before(chain)
            out = engine_cancel_reject(rej)
            if not self.link.delivering:
                self._process_questions()
            return out

        self.venue.report = report  # type: ignore[method-assign]
        self.engine.on_cancel_reject = on_cancel_reject  # type: ignore[method-assign]

    def teardown(self) -> None:
        try:
            self.crash_and_replay()
        finally:
            self.journal.close()
            super().teardown()

    # ------------------------------------------------------------ the node's questions
    def _in_flight(self, chain: VenueOrder) -> set[str]:
        v = self.venue
        waiting = set(chain.pending)
        if chain.cur in v.news:
            waiting.add(chain.cur)
        return waiting

    @precondition(lambda m: any(True for _ in m.engine.tracker.live()))
    @rule(data=st.data())
    def node_asks_status(self, data: st.DataObject) -> None:
        """An ack timeout (or a logon) makes the node ask where an order stands."""
        live = sorted(self.engine.tracker.live(), key=lambda o: o.cl_ord_id)
        if not live:
            return
        self._ask(data.draw(st.sampled_from(live)))

    @precondition(lambda m: bool(m.link.asked))
    @rule(data=st.data())
    def node_asks_the_same_again(self, data: st.DataObject) -> None:
        """The same question twice, both answered: a status request sent into a silent
        partition goes again in the session's resend after the reconnect, and the
        reconciliation after logon asks too. The node keeps one open question per
        ClOrdID, so the first answer settles it and the second finds none: the node
        applies it as a plain report, as information (issue 13, the 15 s partition of
        the full drills: a second "unknown" for a replace already settled as "not at the
        venue")."""
        asked = data.draw(st.sampled_from(self.link.asked))
        order = self.engine.tracker.orders.get(asked.question.order_id)
        if order is None or not order.is_live:
            return
        self._ask(order, again=True)

    def _ask(self, order: ChildOrder, *, again: bool = False) -> None:
        req, kind = self.questions.request_for(order)
        if req.cl_ord_id in self.questions and not again:
            return
        chain = self.venue.chains[order.cl_ord_id]
        question = self.questions.asked(order, req, kind, self.clock.now_ns())
        self.link.asked.append(Asked(question, chain, self._in_flight(chain)))
        self._process_questions()

    def _process_questions(self) -> None:
        """The venue answers each question once what we sent before it is processed."""
        for asked in self.link.asked:
            if asked.answer is None and not (asked.waits_for & self._in_flight(asked.chain)):
                asked.answer = self._answer(asked)

    def _answer(self, asked: Asked) -> ExecReport:
        qid = asked.question.query_id
        chain = self.venue.chains.get(qid)
        if chain is None or chain.state in ("lost", "in_flight"):
            return ExecReport(
                qid, self.venue.exec_id("S"), ExecType.ORDER_STATUS, OrdStatus.REJECTED,
                SYM, asked.chain.side, 0, 0, 0, self.clock.now_ns(), text="unknown order",
            )  # fmt: skip
        status = chain.final if chain.state == "done" else chain.working_status
        assert status is not None
        return ExecReport(
            cl_ord_id=qid,
            exec_id=self.venue.exec_id("S"),
            exec_type=ExecType.ORDER_STATUS,
            ord_status=status,
            symbol=SYM,
            side=chain.side,
            order_qty=chain.qty,
            cum_qty=chain.cum,
            leaves_qty=chain.leaves,
            ts_ns=self.clock.now_ns(),
            price=chain.price,
        )

    def _deliver_before(self, chain: VenueOrder) -> None:
        """FIX order: an answer the venue sent goes before anything it sends later."""
        for asked in [a for a in self.link.asked if a.chain is chain and a.answer is not None]:
            self._deliver(asked)

    def _deliver(self, asked: Asked) -> None:
        self.link.asked.remove(asked)
        answer = asked.answer
        assert answer is not None
        question = self.questions.take(answer.cl_ord_id)
        if question is None:
            # its question was settled by an earlier answer: the node's _on_report
            # applies this one as any status report (journalled, then information)
            self.engine.on_exec_report(answer)
            self._process_questions()
            return
        settled = StatusQuestions.settle(answer, question, self.engine.tracker)
        self.link.delivering = True
        try:
            for msg in settled.messages:
                if isinstance(msg, CancelReject):
                    self.engine.on_cancel_reject(msg)
                else:
                    self.engine.on_exec_report(msg)
        finally:
            self.link.delivering = False
        if settled.ask_again is not None:
            self._ask(settled.ask_again)
        self._process_questions()

    @precondition(lambda m: any(a.answer is not None for a in m.link.asked))
    @rule(data=st.data())
    def venue_delivers_status_answer(self, data: st.DataObject) -> None:
        # FIX order: answers about one ClOrdID arrive in the order it was asked about
        first: dict[str, Asked] = {}
        for a in self.link.asked:
            first.setdefault(a.question.query_id, a)
        ready = [a for a in first.values() if a.answer is not None]
        if ready:
            self._deliver(data.draw(st.sampled_from(ready)))

    # ------------------------------------------------------------ a lossy link
    @precondition(lambda m: bool(m.venue.news or m.venue.cancels or m.venue.replaces))
    @rule(data=st.data())
    def link_loses_a_request(self, data: st.DataObject) -> None:
        """A request that never reaches the venue (a silent partition, a gap-filled
        resend): only a status question can settle it."""
        v = self.venue
        lost = sorted([*v.news, *v.cancels, *v.replaces])
        if not lost:
            return
        rid = data.draw(st.sampled_from(lost))
        if rid in v.news:
            v.news.remove(rid)
            v.chains[rid].state = "lost"
        else:
            req = v.cancels.pop(rid, None) or v.replaces.pop(rid)
            v.chains[req.orig_cl_ord_id].pending.remove(rid)
        self._process_questions()

    @precondition(lambda m: bool(m.venue.chains))
    @rule(data=st.data())
    def venue_status(self, data: st.DataObject) -> None:
        """As the base machine's, and an order lost on the way is unknown to the venue."""
        v = self.venue
        chains = sorted({id(c): c for c in v.chains.values()}.values(), key=lambda c: c.cur)
        if not chains:
            return
        chain = data.draw(st.sampled_from(chains))
        if chain.state != "lost":
            v.report(chain, ExecType.ORDER_STATUS, v.status_of(chain), exec_id=v.exec_id("S"))
            return
        self._deliver_before(chain)
        asked = Asked(Question(chain.cur, chain.cur, "order", "", 0), chain, set())
        self.engine.on_exec_report(self._answer(asked))

    # ------------------------------------------------------------ kill -9 and restart
    @rule()
    def crash_and_replay(self) -> None:
        """Replay the journal so far into a fresh engine: no exception, no problem, and
        the same books as the live engine."""
        self.crashes += 1
        fresh = ExecutionEngine(
            clock=self.clock,
            router=self.venue,
            risk=RiskOverlay(
                self.risk.limits,
                KillSwitch(
                    self.tmp / "ks-replay.json",  # created once: later loads write nothing
                    CommandVerifier(b"k" * 32, max_age_ns=60 * 10**9),
                    T0,
                ),
                now_ns=T0,
            ),
            ids=ClOrdIdGenerator("T", MemorySequenceStore()),
            instruments={SYM: Instrument(SYM)},
        )
        report = replay_journal(self.journal, fresh, self.clock.now_ns())
        assert report.problems == [], report.problems
        live = {o.cl_ord_id: o for o in self.engine.tracker.live()}
        rebuilt = {o.cl_ord_id: o for o in fresh.tracker.live()}
        assert sorted(rebuilt) == sorted(live), (sorted(rebuilt), sorted(live))
        for cid, order in live.items():
            again = rebuilt[cid]
            view = (order.status, order.cum_qty, order.qty, order.pending_id)
            assert (again.status, again.cum_qty, again.qty, again.pending_id) == view, cid
        parent = fresh.parents[self.parent.parent_id]
        assert (parent.state, parent.filled_qty) == (self.parent.state, self.parent.filled_qty)
        assert fresh.risk.position(SYM) == self.risk.position(SYM)


ReplayMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_journal_replay_of_any_live_record_order = ReplayMachine.TestCase


# ---------------------------------------------------------------- found by the drills
def test_a_second_unknown_answer_for_a_replace_settled_as_lost_replays() -> None:
    """The record order of the full drills' 15 s partition: a replace lost in the cut,
    asked about twice (the status request resent after the reconnect, and the
    reconciliation's own), the first "unknown" settles it as not at the venue, the
    second finds no question and no order under the replace's ClOrdID. The live path
    journals it and applies it as information; replay must do the same."""
    m = ReplayMachine()
    try:
        m.strategy_apply([DesiredOrder(Side.BUY, 9_996, 100)], [])
        _ack_all_new(m)
        m.strategy_apply([DesiredOrder(Side.BUY, 9_998, 100)], [])  # a replace
        (rid,) = m.venue.replaces
        order = m.engine.tracker.get(m.venue.replaces[rid].orig_cl_ord_id)
        m.link_loses_a_request(_Draw(rid))
        m._ask(order)
        m._ask(order, again=True)
        while m.link.asked:
            m.venue_delivers_status_answer(_Draw(m.link.asked[0]))
        assert not m.engine.tracker.get(order.cl_ord_id).status.is_pending
        m.crash_and_replay()
    finally:
        m.teardown()


def test_an_answer_settles_the_oldest_question_about_its_order() -> None:
    """Found by this machine: the order asked about before its cancel went out and again
    after (the reconciliation asks about every live order, whatever is open). The first
    answer ("working", from before the cancel) was taken as the answer to the second
    question and read as "that cancel never arrived"; the venue's own cancel reject
    then hit an order no longer pending, and the journal held both."""
    m = ReplayMachine()
    try:
        m.strategy_apply([DesiredOrder(Side.BUY, 9_996, 10)], [])
        (order,) = m.engine.tracker.live()
        m._ask(order)  # asked while the new order is in flight
        _ack_all_new(m)
        m.strategy_cancel_children()
        (cancel,) = m.venue.cancels
        m._ask(order, again=True)  # asked again, the cancel in flight
        m.venue_answer_cancel(_Draw(cancel), False)  # FIX order: answers, then the reject
        while m.link.asked:
            m.venue_delivers_status_answer(_Draw(m.link.asked[0]))
        m.crash_and_replay()
    finally:
        m.teardown()
