"""The one rule, proved: the same policy on the same replay window yields the same child
orders and the same fills whether its orders go through the in-process router or through
the daemon's FIX router to a FIX acceptor over real TCP.

Both runs use the training environment's stepping, the same ExecutionEngine, reconciler,
risk overlay and simulated venue; only the router differs. The FIX side encodes every
request as a FIX message, sends it over loopback to a real acceptor that hands it to
the venue, and every execution report travels back the same way (decoded from FIX,
prices through the wire's decimal text). Time is simulated on both sides, so the two
runs can be compared record by record.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from core.clock import SimClock
from core.events import CancelReject, ExecReport
from core.requests import CancelRequest, NewOrderRequest, ReplaceRequest
from core.types import Side
from daemon.fix_router import FixRouter, VenueMessage
from daemon.node import DEFAULT_POLICY_DIR
from exchange.replay.api import MarketSimulator
from execution.executor import MemoryJournal
from execution.sim_router import SESSION, ReportConsumer
from gateways.fix import AppMessage, FixAcceptor, FixMessages
from gateways.fix.settings import AcceptorSettings, InitiatorSettings, SessionSettings
from policies.data import default_split
from policies.env import EpisodeSpec, ExecutionEnv
from policies.learned import load_policy
from policies.rollout import run_episode
from risk.approval import Approved


class FixLoopback:
    """One FIX connection (daemon's FixRouter -> real FixAcceptor) for many episodes."""

    def __init__(self, instruments: dict[str, Any]) -> None:
        self.loop = asyncio.new_event_loop()
        self.venue_msgs = FixMessages("FIX.4.4", instruments)
        self.acceptor = FixAcceptor(
            AcceptorSettings(
                sessions=(SessionSettings(sender_comp_id="EXCH", target_comp_id="RLX"),)
            ),
            on_event=self._on_venue_event,
        )
        self.loop.run_until_complete(self.acceptor.start())
        self.router = FixRouter(
            InitiatorSettings(
                port=self.acceptor.port,
                session=SessionSettings(sender_comp_id="RLX", target_comp_id="EXCH"),
            ),
            instruments,
            on_message=self._on_report,
            on_session=lambda up, why: None,
            on_unreadable=self._unreadable,
        )
        self.loop.run_until_complete(self.router.start())
        self.pump(lambda: self.router.ready)
        self.session_id = next(iter(self.acceptor.sessions))
        self.sim: MarketSimulator | None = None
        self.consumer: ReportConsumer | None = None
        self.requests_in = self.requests_out = self.reports_in = self.reports_out = 0

    def pump(self, done: Callable[[], bool], timeout: float = 10.0) -> None:
        async def wait() -> None:
            deadline = time.monotonic() + timeout
            while not done():
                if time.monotonic() > deadline:
                    raise AssertionError("FIX round trip did not complete")
                await asyncio.sleep(0)

        self.loop.run_until_complete(wait())

    def _unreadable(self, why: str) -> None:
        raise AssertionError(f"unreadable report: {why}")

    # venue side: FIX request in -> the simulated venue
    def _on_venue_event(self, event: object) -> None:
        if isinstance(event, AppMessage):
            assert self.sim is not None
            self.sim.send(self.venue_msgs.decode_request(event.message), SESSION)
            self.requests_in += 1

    # daemon side: FIX report in -> the execution engine
    def _on_report(self, msg: VenueMessage) -> None:
        assert self.consumer is not None
        if isinstance(msg, ExecReport):
            self.consumer.on_exec_report(msg)
        elif isinstance(msg, CancelReject):
            self.consumer.on_cancel_reject(msg)
        else:
            raise AssertionError(f"venue refused a message: {msg}")
        self.reports_in += 1

    def close(self) -> None:
        self.loop.run_until_complete(self.router.stop("done"))
        self.loop.run_until_complete(self.acceptor.stop("done"))
        self.loop.close()


class FixLink:
    """The environment's venue link, through the FIX loopback: the parity counterpart
    of :class:`execution.sim_router.SimRouter`."""

    def __init__(self, fix: FixLoopback, clock: SimClock) -> None:
        self.fix = fix
        self.clock = clock

    def reset(self, sim: MarketSimulator, consumer: ReportConsumer) -> None:
        self.fix.sim = sim
        self.fix.consumer = consumer

    def _through(self, send: Callable[[], None]) -> None:
        send()
        self.fix.requests_out += 1
        self.fix.pump(lambda: self.fix.requests_in >= self.fix.requests_out)

    def submit_new(self, approved: Approved[NewOrderRequest]) -> None:
        self._through(lambda: self.fix.router.submit_new(approved))

    def submit_replace(self, approved: Approved[ReplaceRequest]) -> None:
        self._through(lambda: self.fix.router.submit_replace(approved))

    def submit_cancel(self, approved: Approved[CancelRequest]) -> None:
        self._through(lambda: self.fix.router.submit_cancel(approved))

    def advance_to(self, ts_ns: int) -> None:
        fix = self.fix
        sim = fix.sim
        assert sim is not None
        for d in sim.advance_to(max(ts_ns, sim.now_ns)):
            if d.session != SESSION:
                continue
            if d.ts_ns > self.clock.now_ns():
                self.clock.advance_to(d.ts_ns)
            r = d.report
            out = (
                fix.venue_msgs.execution_report(r)
                if isinstance(r, ExecReport)
                else fix.venue_msgs.order_cancel_reject(r)
            )
            fix.acceptor.send_app(fix.session_id, *out)
            fix.reports_out += 1
            fix.pump(lambda: fix.reports_in >= fix.reports_out)
        if ts_ns > self.clock.now_ns():
            self.clock.advance_to(ts_ns)


def _requests(journal: MemoryJournal) -> Iterator[tuple[Any, ...]]:
    for kind, p in journal.records:
        if kind in ("new", "cancel", "replace"):
            yield (
                kind,
                p.cl_ord_id,
                getattr(p, "orig_cl_ord_id", ""),
                p.side,
                p.qty,
                getattr(p, "price", None),
                p.ts_ns,
            )


def _reports(journal: MemoryJournal) -> Iterator[tuple[Any, ...]]:
    for kind, p in journal.records:
        if kind == "report":
            yield (
                p.cl_ord_id,
                p.exec_id,
                p.exec_type,
                p.ord_status,
                p.last_qty,
                p.last_px,
                p.cum_qty,
                p.leaves_qty,
            )


@pytest.mark.slow
def test_the_same_policy_on_the_same_window_sends_the_same_orders_and_gets_the_same_fills() -> None:
    policy = load_policy(DEFAULT_POLICY_DIR)
    art = policy.artifact
    split = default_split()
    source = split.test[0]  # held-out AMZN hours
    env_kw: dict[str, Any] = {
        "feature_spec": art.feature_spec,
        "normaliser": art.normaliser,
        "action_spec": art.action_spec,
    }
    fix = FixLoopback({source.instrument.symbol: source.instrument})
    try:
        sim_env = ExecutionEnv([source], **env_kw)
        fix_env = ExecutionEnv([source], link=lambda clock: FixLink(fix, clock), **env_kw)
        lo, _ = source.windows[0]
        compared = 0
        for k, (side, qty, minutes) in enumerate(((Side.SELL, 1_500, 5), (Side.BUY, 900, 3))):
            start = source.day_start_ns + (lo + 600 + 900 * k) * 1_000_000_000
            spec = EpisodeSpec(0, start, minutes * 60 * 1_000_000_000, side, qty)
            a = run_episode(sim_env, policy, seed=k, spec=spec)
            journal_a = sim_env._executor.journal
            b = run_episode(fix_env, policy, seed=k, spec=spec)
            journal_b = fix_env._executor.journal
            assert isinstance(journal_a, MemoryJournal) and isinstance(journal_b, MemoryJournal)
            req_a, req_b = list(_requests(journal_a)), list(_requests(journal_b))
            rep_a, rep_b = list(_reports(journal_a)), list(_reports(journal_b))
            assert req_a, "the policy sent no child order: nothing was compared"
            assert req_b == req_a
            assert rep_b == rep_a
            assert (b.filled, b.swept, b.child_orders, b.actions) == (
                a.filled,
                a.swept,
                a.child_orders,
                a.actions,
            )
            assert b.is_bps == pytest.approx(a.is_bps, abs=1e-9)
            compared += len(req_a)
        assert fix.requests_in == fix.requests_out >= compared
    finally:
        fix.close()
