"""The real order path against an adversarial but correct venue, one message at a time.

A hypothesis state machine plays both the strategy (``apply`` with random desired
orders, ``cancel_children``, the kill switch) and the venue. The venue is a small fake
router: it records every approved request as in flight and the machine's rules answer
them in any order a correct FIX venue could: ack or reject a new order, fill part or
all of a live order (also while a cancel or replace is in flight, also before the
ack), cancel or refuse a cancel, replace or refuse a replace, expire or cancel an
order unsolicited, repeat an already-sent report, answer a status request truthfully.
The venue keeps its own OrderQty / CumQty per order chain and never fills past it.

After every step the engine, its order tracker, the parent order and the risk overlay
must agree with the venue and with each other (see the ``@invariant`` methods), and at
every order the engine sends, the parent's worst case (filled plus everything that
could still fill) must stay within the parent quantity.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from core.book import L2Book
from core.clock import SimClock
from core.events import CancelReject, ExecReport
from core.ids import ClOrdIdGenerator, MemorySequenceStore
from core.instruments import Instrument
from core.orders import ChildOrder
from core.parent import ParentOrder
from core.reconciler import DesiredOrder
from core.requests import CancelRequest, NewOrderRequest, ReplaceRequest
from core.types import ExecType, OrdStatus, OrdType, Side, TimeInForce
from execution.executor import ExecutionEngine
from risk.approval import Approved, require_approved
from risk.command_auth import CommandVerifier
from risk.events import KillCause
from risk.kill_switch import KillSwitch
from risk.limits import RiskLimitsConfig, build_limits
from risk.overlay import RiskOverlay

SYM = "XYZ"
T0 = 1_700_000_000_000_000_000
MS = 1_000_000
PARENT_QTY = 1_000
BID, ASK = 10_000, 10_002
REJECTS_BEFORE_KILL = 15
KILL_RULE_DETAIL = "stateful test: strategy engaged the kill switch"

PRICES = st.sampled_from([9_996, 9_998, 9_999, 10_000, 10_001])
QTYS = st.sampled_from([10, 20, 50, 100, 200, 500])
DESIRED = st.builds(
    DesiredOrder,
    side=st.just(Side.BUY),
    price=PRICES,
    qty=QTYS,
)
IMMEDIATE = st.builds(
    DesiredOrder,
    side=st.just(Side.BUY),
    price=st.sampled_from([10_002, 10_003]),
    qty=QTYS,
    ord_type=st.just(OrdType.LIMIT),
    tif=st.just(TimeInForce.IOC),
)


def worst_case_leaves(order: ChildOrder) -> int:
    """What a live child could still fill: its remainder, or the larger one of an
    in-flight replace (either may be the one that trades) -- as the overlay counts."""
    leaves = order.qty - order.cum_qty
    if order.pending_replace is not None:
        leaves = max(leaves, order.pending_replace.qty - order.cum_qty)
    return max(0, leaves)


@dataclass
class VenueOrder:
    """One order chain as the venue sees it (a replace keeps the chain, new ClOrdID)."""

    cur: str  # the ClOrdID the order carries now
    side: Side
    qty: int
    price: int | None
    tif: TimeInForce
    parent_id: str
    cum: int = 0
    state: str = "in_flight"  # in_flight (not yet received) | working | done
    final: OrdStatus | None = None
    pending: list[str] = field(default_factory=list)  # cancel/replace ids not yet answered

    @property
    def leaves(self) -> int:
        return self.qty - self.cum if self.state == "working" else 0

    @property
    def working_status(self) -> OrdStatus:
        return OrdStatus.PARTIALLY_FILLED if self.cum else OrdStatus.NEW


class FakeVenue:
    """The router the engine calls, and a correct venue behind it that answers only when
    the state machine says so."""

    def __init__(self, machine: OrderPathMachine) -> None:
        self.m = machine
        self.chains: dict[str, VenueOrder] = {}  # every ClOrdID of a chain -> the chain
        self.news: list[str] = []  # new orders in flight, by ClOrdID
        self.cancels: dict[str, CancelRequest] = {}
        self.replaces: dict[str, ReplaceRequest] = {}
        self.sent_reports: list[ExecReport] = []
        self.fills: dict[str, int] = {}  # ExecID -> LastQty, every distinct fill sent
        self.rejects = 0
        self._seq = 0

    # ------------------------------------------------------------ the router
    def submit_new(self, approved: Approved[NewOrderRequest]) -> None:
        req = require_approved(approved, NewOrderRequest)
        self.m.check_worst_case(f"new {req.cl_ord_id} qty {req.qty}")
        chain = VenueOrder(req.cl_ord_id, req.side, req.qty, req.price, req.tif, req.parent_id)
        self.chains[req.cl_ord_id] = chain
        self.news.append(req.cl_ord_id)

    def submit_replace(self, approved: Approved[ReplaceRequest]) -> None:
        req = require_approved(approved, ReplaceRequest)
        self.m.check_worst_case(f"replace {req.orig_cl_ord_id}->{req.cl_ord_id} qty {req.qty}")
        self.replaces[req.cl_ord_id] = req
        self.chains[req.orig_cl_ord_id].pending.append(req.cl_ord_id)

    def submit_cancel(self, approved: Approved[CancelRequest]) -> None:
        req = require_approved(approved, CancelRequest)
        self.cancels[req.cl_ord_id] = req
        self.chains[req.orig_cl_ord_id].pending.append(req.cl_ord_id)

    # ------------------------------------------------------------ the venue
    def exec_id(self, prefix: str = "E") -> str:
        self._seq += 1
        return f"{prefix}{self._seq}"

    def report(
        self,
        chain: VenueOrder,
        exec_type: ExecType,
        ord_status: OrdStatus,
        *,
        cl_ord_id: str = "",
        orig_cl_ord_id: str = "",
        last_qty: int = 0,
        exec_id: str = "",
    ) -> None:
        r = ExecReport(
            cl_ord_id=cl_ord_id or chain.cur,
            exec_id=exec_id or self.exec_id(),
            exec_type=exec_type,
            ord_status=ord_status,
            symbol=SYM,
            side=chain.side,
            order_qty=chain.qty,
            cum_qty=chain.cum,
            leaves_qty=chain.leaves,
            ts_ns=self.m.clock.now_ns(),
            price=chain.price,
            last_qty=last_qty,
            last_px=(chain.price or ASK) if last_qty else 0,
            orig_cl_ord_id=orig_cl_ord_id,
            venue_order_id=f"V-{id(chain)}",
        )
        if exec_type is ExecType.TRADE:
            self.fills[r.exec_id] = last_qty
        if exec_type is not ExecType.ORDER_STATUS:
            self.sent_reports.append(r)
        self.m.engine.on_exec_report(r)

    def end(self, chain: VenueOrder, status: OrdStatus) -> None:
        chain.state = "done"
        chain.final = status

    def fill(self, chain: VenueOrder, qty: int) -> None:
        assert 0 < qty <= chain.leaves
        chain.cum += qty
        status = OrdStatus.FILLED if chain.cum == chain.qty else OrdStatus.PARTIALLY_FILLED
        if status is OrdStatus.FILLED:
            self.end(chain, status)
        self.report(chain, ExecType.TRADE, status, last_qty=qty)

    def status_of(self, chain: VenueOrder) -> OrdStatus:
        """The truthful answer to a status request that arrives now."""
        if chain.state == "done":
            assert chain.final is not None
            return chain.final
        if chain.state == "in_flight":
            return OrdStatus.PENDING_NEW
        if chain.pending:
            pending = chain.pending[0]
            return (
                OrdStatus.PENDING_REPLACE if pending in self.replaces else OrdStatus.PENDING_CANCEL
            )
        return chain.working_status

    def working(self) -> list[VenueOrder]:
        return sorted(
            {id(c): c for c in self.chains.values() if c.state == "working"}.values(),
            key=lambda c: c.cur,
        )


class OrderPathMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self._logs = structlog.testing.capture_logs()
        self._logs.__enter__()
        self.tmp = Path(tempfile.mkdtemp(prefix="order-path-"))
        self.clock = SimClock(T0)
        inst = Instrument(SYM)
        limits = build_limits(
            RiskLimitsConfig(
                allowed_symbols=(SYM,),
                participation_bps=5_000,
                orders_per_second=200,
                orders_per_minute=6_000,
                rejects_before_kill=REJECTS_BEFORE_KILL,
            ),
            [inst],
            log=False,
        )
        ks = KillSwitch(self.tmp / "ks.json", CommandVerifier(b"k" * 32, max_age_ns=60 * 10**9), T0)
        self.risk = RiskOverlay(limits, ks, now_ns=T0)
        self.risk.set_market_open(True, T0)
        self.venue = FakeVenue(self)
        self.engine = ExecutionEngine(
            clock=self.clock,
            router=self.venue,
            risk=self.risk,
            ids=ClOrdIdGenerator("T", MemorySequenceStore()),
            instruments={SYM: inst},
        )
        self.book = L2Book(SYM)
        self.book.apply_snapshot([(BID, 500), (BID - 1, 500)], [(ASK, 500), (ASK + 1, 500)], T0)
        self.parent = ParentOrder("P", SYM, Side.BUY, PARENT_QTY, T0, T0 + 3_600 * 1_000 * MS)
        self.engine.add_parent(self.parent)
        self.parent.start((BID + ASK) / 2)
        self.kill_by_rule = False
        self.check_sends = True  # the regression tests turn it off to show the consequence
        self.tick()

    def teardown(self) -> None:
        self._logs.__exit__(None, None, None)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def tick(self) -> None:
        """Time moves on; the book stays put and the market keeps trading."""
        self.clock.advance_to(self.clock.now_ns() + 100 * MS)
        now = self.clock.now_ns()
        self.engine.on_book(SYM, self.book)
        self.engine.on_market_trade(SYM, 1_000_000, now)

    def check_worst_case(self, what: str) -> None:
        """Called by the router as an order goes out (it is already in the tracker)."""
        if not self.check_sends:
            return
        live = list(self.engine.tracker.live("P"))
        worst = sum(worst_case_leaves(o) for o in live)
        assert self.parent.filled_qty + worst <= self.parent.qty, (
            f"engine sent {what}: filled {self.parent.filled_qty} + worst case of working "
            f"children {worst} exceeds parent qty {self.parent.qty}; live: {live}"
        )

    # ============================================================ strategy
    @rule(
        desired=st.lists(DESIRED, max_size=3),
        immediate=st.lists(IMMEDIATE, max_size=1),
    )
    def strategy_apply(self, desired: list[DesiredOrder], immediate: list[DesiredOrder]) -> None:
        self.tick()
        self.engine.apply("P", desired + immediate)

    @rule(immediate=IMMEDIATE)
    def strategy_sweep(self, immediate: DesiredOrder) -> None:
        """The end-time completion sweep: one immediate order outside reconciliation."""
        self.tick()
        self.engine.send_immediate("P", immediate)

    @rule()
    def strategy_cancel_children(self) -> None:
        self.tick()
        self.engine.cancel_children("P")

    @rule(go=st.integers(0, 49))
    def strategy_engage_kill(self, go: int) -> None:
        if go == 17:  # rarely: once engaged nothing new goes out for the rest of the run
            self.kill_by_rule = True
            self.engine.engage_kill(KILL_RULE_DETAIL)

    # ============================================================ venue
    @precondition(lambda m: any(m.venue.chains[c].tif is TimeInForce.DAY for c in m.venue.news))
    @rule(data=st.data())
    def venue_ack_new(self, data: st.DataObject) -> None:
        v = self.venue
        day = [c for c in v.news if v.chains[c].tif is TimeInForce.DAY]
        if not day:
            return
        cid = data.draw(st.sampled_from(day))
        v.news.remove(cid)
        chain = v.chains[cid]
        chain.state = "working"
        v.report(chain, ExecType.NEW, OrdStatus.NEW)

    @precondition(lambda m: bool(m.venue.news))
    @rule(data=st.data())
    def venue_reject_new(self, data: st.DataObject) -> None:
        v = self.venue
        if not v.news:
            return
        cid = data.draw(st.sampled_from(v.news))
        v.news.remove(cid)
        chain = v.chains[cid]
        v.end(chain, OrdStatus.REJECTED)
        v.rejects += 1
        v.report(chain, ExecType.REJECTED, OrdStatus.REJECTED)

    @precondition(lambda m: any(m.venue.chains[c].tif is not TimeInForce.DAY for c in m.venue.news))
    @rule(data=st.data(), ack_first=st.booleans())
    def venue_execute_immediate(self, data: st.DataObject, ack_first: bool) -> None:
        """An IOC arrives: it trades what it can and the rest is canceled at once."""
        v = self.venue
        ioc = [c for c in v.news if v.chains[c].tif is not TimeInForce.DAY]
        if not ioc:
            return
        cid = data.draw(st.sampled_from(ioc))
        v.news.remove(cid)
        chain = v.chains[cid]
        chain.state = "working"
        if ack_first:
            v.report(chain, ExecType.NEW, OrdStatus.NEW)
        traded = data.draw(st.integers(0, chain.qty))
        while traded:
            part = data.draw(st.integers(1, traded))
            v.fill(chain, part)
            traded -= part
        if chain.state == "working":
            v.end(chain, OrdStatus.CANCELED)
            v.report(chain, ExecType.CANCELED, OrdStatus.CANCELED)

    @precondition(lambda m: bool(m.venue.news or m.venue.working()))
    @rule(data=st.data())
    def venue_fill(self, data: st.DataObject) -> None:
        """Fill a working order, or accept a resting new order and fill it unacknowledged."""
        v = self.venue
        unacked = [
            v.chains[c] for c in v.news if v.chains[c].tif is TimeInForce.DAY
        ]  # a venue may answer a marketable order with its first fill, no New
        candidates = v.working() + unacked
        if not candidates:
            return
        chain = data.draw(st.sampled_from(candidates))
        if chain.state == "in_flight":
            v.news.remove(chain.cur)
            chain.state = "working"
        qty = data.draw(st.one_of(st.just(chain.leaves), st.integers(1, chain.leaves)))
        v.fill(chain, qty)

    @precondition(lambda m: bool(m.venue.cancels))
    @rule(data=st.data(), accept=st.booleans())
    def venue_answer_cancel(self, data: st.DataObject, accept: bool) -> None:
        v = self.venue
        if not v.cancels:
            return
        cid = data.draw(st.sampled_from(sorted(v.cancels)))
        req = v.cancels.pop(cid)
        chain = v.chains[req.orig_cl_ord_id]
        chain.pending.remove(cid)
        if accept and chain.state == "working":
            v.end(chain, OrdStatus.CANCELED)
            v.report(
                chain,
                ExecType.CANCELED,
                OrdStatus.CANCELED,
                cl_ord_id=cid,
                orig_cl_ord_id=chain.cur,
            )
            return
        status = chain.final if chain.state == "done" else chain.working_status
        self.engine.on_cancel_reject(
            CancelReject(
                cid, req.orig_cl_ord_id, False, "too late to cancel", self.clock.now_ns(), status
            )
        )

    @precondition(lambda m: bool(m.venue.replaces))
    @rule(data=st.data(), accept=st.booleans())
    def venue_answer_replace(self, data: st.DataObject, accept: bool) -> None:
        v = self.venue
        if not v.replaces:
            return
        rid = data.draw(st.sampled_from(sorted(v.replaces)))
        req = v.replaces.pop(rid)
        chain = v.chains[req.orig_cl_ord_id]
        chain.pending.remove(rid)
        if accept and chain.state == "working" and req.qty > chain.cum:
            old = chain.cur
            chain.cur = rid
            chain.qty = req.qty
            chain.price = req.price
            v.chains[rid] = chain
            v.report(
                chain,
                ExecType.REPLACED,
                chain.working_status,
                cl_ord_id=rid,
                orig_cl_ord_id=old,
            )
            return
        status = chain.final if chain.state == "done" else chain.working_status
        self.engine.on_cancel_reject(
            CancelReject(
                rid, req.orig_cl_ord_id, True, "cannot replace", self.clock.now_ns(), status
            )
        )

    @precondition(lambda m: bool(m.venue.working()))
    @rule(data=st.data(), expire=st.booleans())
    def venue_ends_order(self, data: st.DataObject, expire: bool) -> None:
        """Unsolicited: the order expires, or the venue cancels it on its own."""
        working = self.venue.working()
        if not working:
            return
        chain = data.draw(st.sampled_from(working))
        status = OrdStatus.EXPIRED if expire else OrdStatus.CANCELED
        self.venue.end(chain, status)
        self.venue.report(chain, ExecType(status.value), status)

    @precondition(lambda m: bool(m.venue.sent_reports))
    @rule(data=st.data(), poss_dup=st.booleans())
    def venue_repeats_report(self, data: st.DataObject, poss_dup: bool) -> None:
        v = self.venue
        if not v.sent_reports:
            return
        r = data.draw(st.sampled_from(v.sent_reports))
        self.engine.on_exec_report(dataclasses.replace(r, poss_dup=poss_dup))

    @rule(keep=st.integers(0, 3))
    def node_forgets_finished_orders(self, keep: int) -> None:
        """A long day prunes finished orders (ExecIDs are kept): late and repeated reports
        for them must still change nothing."""
        self.engine.tracker.prune(keep)

    @precondition(lambda m: bool(m.venue.chains))
    @rule(data=st.data())
    def venue_status(self, data: st.DataObject) -> None:
        """An OrderStatusRequest answered truthfully. FIX delivers in order, so every
        request we sent before it has reached the venue: one not answered yet shows as
        PendingNew / PendingCancel / PendingReplace."""
        v = self.venue
        chains = sorted({id(c): c for c in v.chains.values()}.values(), key=lambda c: c.cur)
        if not chains:
            return
        chain = data.draw(st.sampled_from(chains))
        v.report(chain, ExecType.ORDER_STATUS, v.status_of(chain), exec_id=v.exec_id("S"))

    @precondition(lambda m: any(c.state == "working" for c in m.venue.chains.values()))
    @rule(data=st.data())
    def venue_status_asked_before_our_requests(self, data: st.DataObject) -> None:
        """A late OrderStatusRequest answer: asked before the cancel or replace we have in
        flight (it may have waited for an ack timeout), so the venue answers from before
        them. It must not undo what we asked for since (issue 13 item 1)."""
        working = self.venue.working()
        if not working:
            return
        chain = data.draw(st.sampled_from(working))
        self.venue.report(
            chain, ExecType.ORDER_STATUS, chain.working_status, exec_id=self.venue.exec_id("S")
        )

    # ============================================================ invariants
    @invariant()
    def parent_fills_are_the_venue_fills(self) -> None:
        sent = sum(self.venue.fills.values())
        assert self.parent.filled_qty == sent, (
            f"parent filled {self.parent.filled_qty}, venue sent distinct fills of {sent}"
        )
        assert self.parent.filled_qty <= self.parent.qty

    @invariant()
    def venue_working_orders_are_live_in_the_tracker(self) -> None:
        tracker = self.engine.tracker
        for chain in self.venue.working():
            order = tracker.orders.get(chain.cur)
            assert order is not None and order.is_live, (
                f"venue works {chain.cur} ({chain.cum}/{chain.qty}), tracker has {order!r}"
            )
            assert (order.cum_qty, order.qty) == (chain.cum, chain.qty), (
                f"{chain.cur}: venue {chain.cum}/{chain.qty}, tracker {order!r}"
            )
        could_trade = {c.cur for c in self.venue.chains.values() if c.state != "done"}
        for order in tracker.live():
            assert order.cl_ord_id in could_trade, (
                f"tracker holds {order!r} live; the venue has it done: "
                f"{self.venue.chains.get(order.cl_ord_id)}"
            )

    @invariant()
    def risk_open_orders_are_the_tracker_live_orders(self) -> None:
        ours = {o.cl_ord_id for o in self.engine.tracker.live()}
        risk = {o.cl_ord_id for o in self.risk.open_orders()}
        assert ours == risk, f"tracker live {sorted(ours)}, risk open {sorted(risk)}"

    @invariant()
    def risk_exposure_is_what_the_live_orders_could_fill(self) -> None:
        live = list(self.engine.tracker.live())
        buy = sum(worst_case_leaves(o) for o in live if o.side is Side.BUY)
        sell = sum(worst_case_leaves(o) for o in live if o.side is Side.SELL)
        assert self.risk.open_exposure(SYM) == (buy, sell), (
            f"risk open (buy, sell) {self.risk.open_exposure(SYM)}, tracker worst case "
            f"{(buy, sell)}; live: {live}"
        )
        assert self.risk.position(SYM) == self.parent.filled_qty

    @invariant()
    def kill_switch_only_for_a_reason(self) -> None:
        ks = self.risk.kill_switch
        if not ks.engaged:
            return
        st_ = ks.status
        reason = f"kill switch engaged: cause {st_.cause}, detail {st_.detail!r}"
        if st_.cause is KillCause.COMMAND:
            assert self.kill_by_rule and st_.detail == KILL_RULE_DETAIL, (
                f"{reason}: the engine engaged it although the venue behaved correctly"
            )
        else:
            assert st_.cause is KillCause.VENUE_REJECTS, reason
            assert self.venue.rejects >= REJECTS_BEFORE_KILL, reason


OrderPathMachine.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_order_path_stateful = OrderPathMachine.TestCase


# ---------------------------------------------------------------- found by the machine
# A decision that cancels (or shrinks by replace) a working child and adds quantity
# elsewhere used to budget the new quantity as if the cancel had already succeeded. The
# venue may fill the old child before the cancel reaches it, and then the new order too:
# the parent is over-executed and the engine engages the kill switch on the overfill.


def _ack_all_new(m: OrderPathMachine) -> None:
    while m.venue.news:
        m.venue_ack_new(_Draw(m.venue.news[0]))


class _Draw:
    """Stands in for ``st.data()`` in a hand-written sequence: always draws ``value``."""

    def __init__(self, *values: object) -> None:
        self.values = list(values)

    def draw(self, _strategy: object) -> object:
        return self.values.pop(0)


def _run_then_fill_everything(m: OrderPathMachine) -> None:
    """The worst a correct venue may do: fill every child about to be canceled before
    the cancel arrives (then refuse it as too late), apply every replace, then fill
    every working child and every immediate order in full."""
    v = m.venue
    for cid in sorted(v.cancels):
        chain = v.chains[v.cancels[cid].orig_cl_ord_id]
        if chain.state == "working":
            m.venue_fill(_Draw(chain, chain.leaves))
        m.venue_answer_cancel(_Draw(cid), False)
    for rid in sorted(v.replaces):
        m.venue_answer_replace(_Draw(rid), True)
    for chain in v.working():
        m.venue_fill(_Draw(chain, chain.leaves))
    while v.news:
        qty = v.chains[v.news[0]].qty
        m.venue_execute_immediate(_Draw(v.news[0], qty, qty), True)
    m.check_sends = True
    for check in (
        m.parent_fills_are_the_venue_fills,
        m.venue_working_orders_are_live_in_the_tracker,
        m.risk_open_orders_are_the_tracker_live_orders,
        m.risk_exposure_is_what_the_live_orders_could_fill,
        m.kill_switch_only_for_a_reason,
    ):
        check()
    assert m.parent.filled_qty == PARENT_QTY


def test_cancel_plus_immediate_in_one_decision_cannot_overfill_the_parent() -> None:
    m = OrderPathMachine()
    try:
        m.strategy_apply([DesiredOrder(Side.BUY, 9_996, PARENT_QTY)], [])
        _ack_all_new(m)
        m.check_sends = False
        # rest nothing, take 10 now: cancel the working 1000, and (the bug) an IOC for 10
        m.strategy_apply([], [DesiredOrder(Side.BUY, ASK, 10, tif=TimeInForce.IOC)])
        _run_then_fill_everything(m)
    finally:
        m.teardown()


def test_cancel_plus_growing_replace_in_one_decision_cannot_overfill_the_parent() -> None:
    m = OrderPathMachine()
    try:
        m.strategy_apply(
            [DesiredOrder(Side.BUY, 9_996, 600), DesiredOrder(Side.BUY, 9_998, 400)], []
        )
        _ack_all_new(m)
        m.check_sends = False
        # all 1000 at one new price: one child is replaced up to 1000, the other canceled
        m.strategy_apply([DesiredOrder(Side.BUY, 10_000, PARENT_QTY)], [])
        _run_then_fill_everything(m)
    finally:
        m.teardown()


def test_sweep_beside_a_working_child_cannot_overfill_the_parent() -> None:
    m = OrderPathMachine()
    try:
        m.strategy_apply([DesiredOrder(Side.BUY, 9_996, PARENT_QTY)], [])
        _ack_all_new(m)
        m.check_sends = False
        m.strategy_sweep(DesiredOrder(Side.BUY, ASK, 500, tif=TimeInForce.IOC))
        _run_then_fill_everything(m)
    finally:
        m.teardown()


def test_a_fill_resent_after_its_order_was_forgotten_changes_nothing() -> None:
    # ExecIDs are kept all day, finished orders only the newest: a venue that resends a
    # fill of a pruned order must find the ExecID, not an "unknown order" fill that moves
    # the position again and engages the kill switch.
    m = OrderPathMachine()
    try:
        m.strategy_apply([DesiredOrder(Side.BUY, 9_996, PARENT_QTY)], [])
        _ack_all_new(m)
        (chain,) = m.venue.working()
        m.venue_fill(_Draw(chain, chain.leaves))
        (fill,) = [r for r in m.venue.sent_reports if r.exec_type is ExecType.TRADE]
        position = m.risk.position(SYM)
        assert m.engine.tracker.prune(0) == 1
        assert m.engine.on_exec_report(dataclasses.replace(fill, poss_dup=True)) is None
        assert m.risk.position(SYM) == position == PARENT_QTY
        assert not m.risk.kill_switch.engaged
        assert m.parent.filled_qty == PARENT_QTY
    finally:
        m.teardown()
