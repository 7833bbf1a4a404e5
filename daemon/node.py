"""The live node: market data, the policy, risk and FIX on one asyncio loop.

Wiring only — every decision about orders happens in the shared execution path
(:mod:`policies.executor`, :mod:`policies.driver`); this module owns what only a live
process has: connections, recovery, halts, the control plane, health and metrics.

Safety over availability. Whenever the node cannot vouch for its state — FIX down,
a symbol's market data stale, the journal failing, orders unsettled after a restart,
a runner crashing — it *halts*: no new orders, resting ones cancelled where the venue
can still hear us, the reason logged, exported as ``rlexec_trading_halted{reason}``
and listed by ``/readyz``. Halts clear themselves only when their cause is gone and,
for FIX, after every live order has been settled with the venue again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import policies
from core import heap
from core.book import L2Book
from core.clock import Clock, ScaledClock, SimClock, WallClock
from core.config import config_hash
from core.events import CancelReject, ExecReport, TradePrint
from core.ids import ClOrdIdGenerator
from core.instruments import Instrument
from core.log import get_logger
from core.order_tracker import OrderUpdate, UnknownOrder
from core.orders import ChildOrder
from core.parent import ParentOrder, ParentState
from core.types import ExecType, OrdStatus, Side
from daemon import records, volume_history
from daemon.ack_watch import AckWatch
from daemon.busy_poll import BusyPoll
from daemon.config import DaemonConfig
from daemon.control.commands import LoadPolicy, SubmitParent
from daemon.control.handler import CommandHandler
from daemon.control.redis_plane import RedisControlPlane, RedisPlaneSettings
from daemon.fix_router import FixRouter, OrderEntry, VenueMessage
from daemon.http_api import HttpServer, Readiness, build_app
from daemon.journal import Journal, JournalError
from daemon.lockstep import follower_for
from daemon.loop_monitor import LoopMonitor
from daemon.market_history import MarketHistory
from daemon.metrics import Metrics
from daemon.recovery import replay_journal
from daemon.runner import ParentRunner
from daemon.sd_notify import Notifier, SdNotifyError
from daemon.status_questions import StatusQuestions
from gateways.marketdata.client import BookStatus, MarketDataClient
from policies.baselines import (
    AlmgrenChrissSchedule,
    PovSchedule,
    ScheduleTactic,
    TwapSchedule,
    VwapSchedule,
)
from policies.driver import ParentDriver
from policies.evaluate import BaselineParams
from policies.executor import ExecutionEngine
from policies.learned import LearnedPolicy, load_policy
from policies.protocol import Policy
from risk.command_auth import CommandRefused, CommandVerifier, SignedCommand
from risk.events import KillSwitchEngaged, KillSwitchReset, RiskEvent
from risk.overlay import RiskOverlay
from risk.reasons import Denied

log = get_logger("rlexec.node")

DEFAULT_POLICY_DIR = Path(policies.__file__).resolve().parent / "artifacts" / "ppo_amzn"
_REASON_LABEL = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# Halts limited to one symbol, as "<kind>:<SYMBOL>": its feed (md), or an overdue
# acknowledgement (ack_overdue) that leaves the symbol's order state unknown.
_SYMBOL_HALTS = frozenset({"md", "ack_overdue"})


class NodeStartError(RuntimeError):
    """The node cannot start (bad policy, unreadable journal, ...); the message says why."""


class Node:
    def __init__(self, cfg: DaemonConfig, *, clock: Clock | None = None) -> None:
        self.cfg = cfg
        if clock is not None:
            self.clock: Clock = clock
        elif cfg.clock.mode == "scaled":
            # market time starts unknown (0) and is synced forward from the feed
            self.clock = ScaledClock(cfg.clock.speed, start_ns=0)
        elif cfg.clock.mode == "lockstep":
            # market time starts unknown (0); the exchange moves it (daemon.lockstep)
            self.clock = SimClock(0)
        else:
            self.clock = WallClock()
        self.metrics = Metrics()
        self.instruments: dict[str, Instrument] = {
            i.symbol: i.instrument() for i in cfg.instruments
        }
        self.data_dir = cfg.node.data_dir
        self.halts: dict[str, str] = {}
        self.runners: dict[str, ParentRunner] = {}
        self.recovered = False
        self.started_ns = time.time_ns()
        self._md_good_ns: dict[str, int] = dict.fromkeys(self.instruments, 0)
        # requests awaiting the venue, and questions about them: on the monotonic clock
        self.acks = AckWatch(cfg.execution.ack_timeout_s)
        self.questions = StatusQuestions()
        self._tasks: list[asyncio.Task[Any]] = []
        self._reconcile_task: asyncio.Task[None] | None = None
        self._stopping = False
        self.notifier = Notifier.from_env()
        self.policy_guard_trips = 0
        # tick-to-order: the frame that prompted the decision under way (0: a timer did)
        self.decision_trigger_ns = 0
        self.max_decision_lag_ns = int(cfg.execution.max_decision_lag_ms * 1e6)
        self.latency_samples: deque[int] = deque(maxlen=100_000)
        self._frame_books: dict[str, int] = {}  # symbols updated by this frame -> its arrival
        self.last_frame_rx: dict[str, int] = {}  # arrival of the latest frame per symbol
        self._superseded: dict[str, int] = {}  # frames behind a decision not yet run
        self._md_counts: dict[str, int] = {}
        self.http_port = 0

        try:
            self.journal = Journal(
                self.data_dir / "journal.db",
                fsync=cfg.journal.fsync,
                on_write=self.metrics.journal_write.observe,
            )
        except JournalError as exc:
            raise NodeStartError(str(exc)) from exc
        key = cfg.control.key()
        if key is None or len(key) < 32:
            log.warning(
                "no_control_key",
                detail="no HMAC key of >= 32 bytes configured ([control] hmac_key_file): "
                "reset_kill and load_policy will be refused",
            )
        self._control_key = key if key is not None and len(key) >= 32 else None
        previous = cfg.control.previous_key()
        if previous is not None and len(previous) < 32:
            raise NodeStartError("[control] previous_hmac_key: fewer than 32 bytes")
        # during a key rollover both keys are accepted (risk/command_auth.py)
        keys = [k for k in (self._control_key, previous) if k is not None]
        if self._control_key is None:
            keys = []  # the old key alone never authorises anything
        self.risk = RiskOverlay.from_config(
            cfg.risk,
            self.instruments.values(),
            state_path=str(self.data_dir / "kill_switch.json"),
            reset_key=keys or _unusable_key(),
            now_ns=self.clock.now_ns(),
            node_id=cfg.node.id,
        )
        self.risk.add_listener(self._on_risk_event)
        self.verifier = (
            CommandVerifier(keys, max_age_ns=int(cfg.control.max_age_s * 1e9))
            if self._control_key
            else None
        )
        session = cfg.fix.session
        session = session.model_copy(
            update={
                "store_dir": session.store_dir or self.data_dir / "fix",
                "log_dir": session.log_dir or self.data_dir / "fix-log",
            }
        )
        self.router = FixRouter(
            cfg.fix.model_copy(update={"session": session}),
            self.instruments,
            on_message=self._on_venue_message,
            on_session=self._on_fix_session,
            on_unreadable=self._on_unreadable_report,
            on_sent=self._on_sent,
            resend_allowed=self._resend_allowed,
            on_not_resent=self._on_not_resent,
        )
        self.ids = ClOrdIdGenerator(f"{cfg.node.id}-", self.journal)
        self.engine = ExecutionEngine(
            clock=self.clock,
            router=self.router,
            risk=self.risk,
            ids=self.ids,
            instruments=self.instruments,
            journal=self.journal,
            on_fill=self._on_fill,
            data_time=self._data_time,
        )
        self.policy = self._load_policy(cfg.policy.path, cfg.policy.sha256 or None)
        self.baselines = BaselineParams.from_json(
            self.policy.artifact.manifest.get("baselines", {})
        )
        # what each symbol's market did lately: a parent's features start from it
        fspec = self.policy.artifact.feature_spec
        keep_ns = max(600 * 1_000_000_000, 2 * fspec.lookback * fspec.interval_ns)
        self.history = {s: MarketHistory(s, keep_ns) for s in self.instruments}
        self.md = MarketDataClient(
            cfg.marketdata.url,
            list(self.instruments),
            clock=WallClock(),  # feed health is judged in real time whatever the pace
            instruments=self.instruments,
            on_book=self._on_book,
            on_trade=self._on_trade,
            on_status=self._on_md_status,
            stale_after_s=cfg.marketdata.stale_after_s,
        )
        self.loop_monitor = LoopMonitor(on_sample=self.metrics.loop_lag.set)
        self.busy_poll = BusyPoll()
        self.http = HttpServer(
            build_app(self.metrics, self.readiness), cfg.http.host, cfg.http.port
        )
        self.control: RedisControlPlane | None = None
        self.handler = CommandHandler(
            self,
            self.journal,
            WallClock(),  # signatures carry wall time, whatever pace the market keeps
            self.verifier,
            on_result=lambda c, r: self.metrics.commands.labels(c, r).inc(),
        )
        if cfg.redis.enabled:
            r = cfg.redis
            self.control = RedisControlPlane(
                RedisPlaneSettings(
                    url=r.url,
                    command_stream=r.command_stream,
                    reply_stream=r.reply_stream,
                    group=r.group,
                    consumer=cfg.node.id,
                    state_key=r.state_key,
                    events_channel=r.events_channel,
                    username=r.username or None,
                    password=r.password.get_secret_value() or None,
                    tls_ca_file=str(r.tls_ca_file) if r.tls_ca_file else None,
                    tls_cert_file=str(r.tls_cert_file) if r.tls_cert_file else None,
                    tls_key_file=str(r.tls_key_file) if r.tls_key_file else None,
                ),
                self.handler.handle,
                on_up=lambda up: self.metrics.redis_up.set(1 if up else 0),
            )
        self.halt("starting", "recovery and venue reconciliation not done yet")

    # ================================================================ lifecycle
    @property
    def decision_interval_s(self) -> float:
        if self.cfg.execution.decision_interval_s is not None:
            return self.cfg.execution.decision_interval_s
        return self.policy.artifact.feature_spec.interval_ns / 1e9

    def _load_policy(self, path: Path | None, sha256: str | None) -> LearnedPolicy:
        from policies.artifact import ArtifactError

        target = path or DEFAULT_POLICY_DIR
        try:
            policy = load_policy(target, sha256, on_error=self._on_policy_error)
        except (ArtifactError, OSError) as exc:
            raise NodeStartError(f"policy {target}: {exc}") from exc
        log.info("policy_loaded", path=str(target), name=policy.name, digest=policy.artifact.digest)
        return policy

    async def start(self) -> None:
        log.info(
            "node_starting",
            node=self.cfg.node.id,
            config_sha256=config_hash(self.cfg),
            data_dir=str(self.data_dir),
            clock=self.cfg.clock.mode,
        )
        try:
            report = replay_journal(self.journal, self.engine, self.clock.now_ns())
        except JournalError as exc:  # the database itself cannot be read
            raise NodeStartError(str(exc)) from exc
        if report.problems:
            more = f" (and {len(report.problems) - 1} more)" if len(report.problems) > 1 else ""
            self.halt("recovery", f"{report.problems[0]}{more}")
        restored = volume_history.restore(self.journal, self.risk, report.our_prints)
        log.info("participation_window_restored", market_volume=restored)
        self.http_port = await self.http.start()
        self.loop_monitor.start()
        if self.cfg.node.busy_poll:
            self.busy_poll.start()
        self.md.start()
        await self.router.start()
        if self.cfg.clock.mode == "lockstep" and isinstance(self.clock, SimClock):
            follower = follower_for(self.cfg, self.clock, self.md, self.router)
            self._tasks.append(asyncio.create_task(follower.run(), name="lockstep"))
        if self.control is not None:
            self._tasks.append(asyncio.create_task(self.control.run(), name="control-plane"))
        self._tasks.append(asyncio.create_task(self._housekeeping(), name="housekeeping"))
        for parent in self.engine.open_parents():
            self._spawn_runner(parent, "policy")
        if not self.engine.tracker.orders and not self.engine.parents:
            log.info("fresh_start", detail="empty journal: nothing to recover")
        self.clear_halt("starting")
        self.halt("reconciling", "waiting for FIX logon to settle live orders")
        if self.cfg.node.freeze_heap:
            frozen, ms = heap.freeze_after_start()
            log.info("heap_frozen", objects=frozen, collect_ms=round(ms, 1))

    async def stop(self) -> None:
        """SIGTERM: stop deciding, cancel what rests, flush, log out — within a bound."""
        if self._stopping:
            return
        self._stopping = True
        bound = self.cfg.execution.shutdown_timeout_s
        self._tell_systemd(self.notifier.stopping, "cancelling resting child orders")
        log.info("node_stopping", live_children=sum(1 for _ in self.engine.tracker.live()))
        if self.control is not None:
            self.control.stop()
        for runner in list(self.runners.values()):
            await runner.stop()
        if self.cfg.execution.cancel_on_shutdown and self.router.ready:
            deadline = time.monotonic() + bound / 2
            next_round = 0.0
            while True:
                now = time.monotonic()
                if now >= next_round:
                    # Each round cancels what the venue has acknowledged by now: an order
                    # still in flight when shutdown began is cancelled once its ack lands.
                    # Rounds are spaced so a venue refusing a cancel is not flooded.
                    self._safe(self.engine.cancel_children)
                    next_round = now + 0.2
                if now >= deadline or not any(o.tif.rests for o in self.engine.tracker.live()):
                    break
                await asyncio.sleep(0.02)
            left = [o.cl_ord_id for o in self.engine.tracker.live() if o.tif.rests]
            if left:
                log.error("shutdown_orders_still_live", cl_ord_ids=left[:20], count=len(left))
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # bounded too: a task that outlives its cancel (the control plane once did,
            # on a cancel lost in asyncio.wait_for) must not hold the shutdown forever
            _, stuck = await asyncio.wait(self._tasks, timeout=bound / 4)
            for task in stuck:
                log.error("shutdown_task_abandoned", task=task.get_name(), waited_s=bound / 4)
        if self._reconcile_task is not None:
            self._reconcile_task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.router.stop("rlexec shutting down"), bound / 2)
        await self.md.stop()
        await self.loop_monitor.stop()
        await self.busy_poll.stop()
        await self.http.stop()
        self._keep_volume_history()
        self.journal.close()
        if self.cfg.node.freeze_heap:
            heap.thaw()
        log.info("node_stopped")

    @staticmethod
    def _tell_systemd(send: Callable[[str], bool], status: str) -> None:
        """A notification that cannot go out is logged, never raised into the caller:
        the next one (or systemd's own timeout) covers it."""
        try:
            send(status)
        except SdNotifyError as exc:
            log.error("sd_notify_failed", error=str(exc))

    # ================================================================ safety
    def halt(self, reason: str, detail: str) -> None:
        """Stop new orders (in one symbol for a ``kind:SYMBOL`` reason, else everywhere)
        and cancel what rests there."""
        if self.halts.get(reason) == detail:
            return
        self.halts[reason] = detail
        self.metrics.trading_halted.labels(reason.split(":", maxsplit=1)[0]).set(1)
        log.warning("trading_halted", reason=reason, detail=detail)
        self._cancel_for_halt(reason)

    def clear_halt(self, reason: str) -> None:
        if self.halts.pop(reason, None) is not None:
            label = reason.split(":", maxsplit=1)[0]
            if not any(r.split(":")[0] == label for r in self.halts):
                self.metrics.trading_halted.labels(label).set(0)
            log.info(
                "trading_resumed" if not self.halts else "halt_cleared",
                reason=reason,
                remaining=sorted(self.halts),
            )
            for runner in self.runners.values():
                runner.wake()

    def may_trade(self, symbol: str) -> bool:
        if self._stopping:
            return False
        for reason in self.halts:
            scope = _halt_scope(reason)
            if scope is None or scope == symbol:
                return False
        return not self.risk.kill_switch.engaged

    def _cancel_for_halt(self, reason: str) -> None:
        if not self.router.ready:
            return  # nothing reaches the venue; orders are settled on reconnect
        symbol = _halt_scope(reason)
        for order in list(self.engine.tracker.live()):
            if (symbol is None or order.symbol == symbol) and not order.status.is_pending:
                self._cancel_parent_children(order.parent_id)

    def _cancel_parent_children(self, parent_id: str) -> None:
        self._safe(lambda: self.engine.cancel_children(parent_id))

    def _safe(self, fn: Callable[[], object]) -> None:
        """Run an engine action; a journal failure halts instead of crashing the loop."""
        try:
            fn()
        except JournalError as exc:
            self.metrics.journal_errors.inc()
            log.critical("journal_failed", error=str(exc))
            self.halt("journal", str(exc))

    # ================================================================ market data
    def _data_time(self, symbol: str) -> int:
        if self.md.status.get(symbol) is BookStatus.SYNCED:
            return self.clock.now_ns()
        return self._md_good_ns.get(symbol, 0)

    def _on_book(self, symbol: str, book: L2Book) -> None:
        """Per delta: only bookkeeping. Everything else runs once per frame (below)."""
        self._md_counts[symbol] = self._md_counts.get(symbol, 0) + 1
        self.history[symbol].on_book(book)
        rx = self.md.frame_rx_ns
        if symbol not in self._frame_books:
            self._frame_books[symbol] = self.last_frame_rx[symbol] = rx
            if len(self._frame_books) == 1:
                asyncio.get_running_loop().call_soon(self._after_frame)
        elif self.last_frame_rx.get(symbol) != rx:
            # A newer frame before the decision on the last one ran (the loop is behind):
            # that decision is skipped, the one to come sees this book (runner.py).
            self.last_frame_rx[symbol] = rx
            self._superseded[symbol] = self._superseded.get(symbol, 0) + 1

    def _after_frame(self) -> None:
        """Once the frame's deltas are applied: risk sees the book, and with
        decide_on = "book" each parent of the symbol decides, still before the next frame
        is read (one decision per frame, not per delta)."""
        pending, self._frame_books = self._frame_books, {}
        decide = self.cfg.execution.decide_on == "book"
        for symbol, rx in pending.items():
            self.metrics.md_updates.labels(symbol).inc(self._md_counts.pop(symbol, 0))
            book = self.md.book(symbol)
            if book is None:
                continue
            if isinstance(self.clock, ScaledClock) and book.last_update_ns:
                self.clock.sync(book.last_update_ns)
            self._md_good_ns[symbol] = self.clock.now_ns()
            self.engine.on_book(symbol, book)
            skipped = self._superseded.pop(symbol, 0)
            if decide:
                for runner in list(self.runners.values()):
                    if runner.parent.symbol == symbol:
                        runner.on_book(book, rx, skipped)

    def _on_trade(self, tp: TradePrint) -> None:
        if isinstance(self.clock, ScaledClock):
            self.clock.sync(tp.ts_ns)
        history = self.history.get(tp.symbol)
        if history is not None:
            history.on_trade(tp)
        self.engine.on_market_trade(tp.symbol, tp.qty, tp.ts_ns)
        for runner in self.runners.values():
            if runner.parent.symbol == tp.symbol:
                runner.driver.builder.market.on_trade(tp.price, tp.qty, tp.aggressor)

    def _on_md_status(self, symbol: str, status: BookStatus, why: str) -> None:
        stale = status is not BookStatus.SYNCED
        self.metrics.md_stale.labels(symbol).set(1 if stale else 0)
        if stale:
            if status is BookStatus.RESYNCING:
                self.metrics.md_gaps.labels(symbol).inc()
            self.halt(f"md:{symbol}", f"{status.value}: {why}")
        else:
            self.clear_halt(f"md:{symbol}")

    # ================================================================ FIX
    def _on_unreadable_report(self, why: str) -> None:
        # a report we cannot read may be a fill we would miss: settle with the venue
        self.metrics.fix_dropped.inc()
        log.error("unreadable_report", error=why)
        self.halt("reconciling", f"unreadable execution report: {why}")
        self._start_reconcile()

    def _on_fix_session(self, up: bool, why: str) -> None:
        self.metrics.fix_up.set(1 if up else 0)
        if up:
            log.info("fix_logged_on", session=self.router.session_id)
            self.clear_halt("fix_down")
            self.halt("reconciling", "settling live orders with the venue after logon")
            self._start_reconcile()
        elif not self._stopping:
            self.risk.set_market_open(False, self.clock.now_ns())
            # questions asked on the lost session are asked again after the next logon
            # (an answer the venue resends then is applied as any status report)
            self.questions.clear()
            self.halt("fix_down", f"FIX session lost: {why}")

    def _on_venue_message(self, msg: VenueMessage) -> None:
        """Every venue answer, through one guard: a bug while applying one leaves our
        order state unknown, so trading halts until a restart instead of going on."""
        try:
            self._apply_venue_message(msg)
        except Exception as exc:
            log.critical(
                "venue_message_failed",
                message=type(msg).__name__,
                cl_ord_id=getattr(msg, "cl_ord_id", ""),
                error=repr(exc),
                exc_info=True,
            )
            self.halt("internal_error", f"applying a {type(msg).__name__} failed: {exc!r}")

    def _apply_venue_message(self, msg: VenueMessage) -> None:
        if isinstance(msg, ExecReport):
            self._on_report(msg)
        elif isinstance(msg, CancelReject):
            self._safe(lambda: self.engine.on_cancel_reject(msg))
            if msg.is_replace:
                # a refused replace leaves the order working as it was: if its parent
                # ended meanwhile, it would rest with no runner left to cancel it
                order = self.engine.tracker.orders.get(msg.orig_cl_ord_id)
                if order is not None:
                    self._cancel_if_orphaned(order)
        else:
            log.error("business_reject", ref_seq_num=msg.ref_seq_num, text=msg.text)
            self.halt("reconciling", f"venue refused a message: {msg.text}")
            self._start_reconcile()

    def _on_report(self, r: ExecReport) -> None:
        if r.exec_type is ExecType.ORDER_STATUS and r.cl_ord_id in self.questions:
            self._on_status_answer(r)
            return
        try:
            update = self.engine.on_exec_report(r)
        except JournalError as exc:
            self.metrics.journal_errors.inc()
            self.halt("journal", str(exc))
            return
        if update is None or update.duplicate:
            return
        self._cancel_if_orphaned(update.order)
        if any(h.startswith("ack_overdue:") for h in self.halts):
            self._check_acks()  # the answer may be the one overdue: lift the halt at once
        if r.exec_type is ExecType.NEW:
            self.metrics.orders_acked.labels(r.symbol).inc()
        elif r.exec_type is ExecType.REJECTED:
            reason = r.text.split(":", 1)[0].strip().lower().replace(" ", "_")
            self.metrics.orders_rejected.labels(
                r.symbol, reason if _REASON_LABEL.match(reason) else "other"
            ).inc()
            log.warning("child_rejected", cl_ord_id=r.cl_ord_id, text=r.text)

    def _on_sent(self, symbol: str, kind: str, cl_ord_id: str) -> None:
        self.acks.sent(cl_ord_id)
        # the answer is due within ack_timeout_s of the monotonic clock: look then
        asyncio.get_running_loop().call_later(
            self.cfg.execution.ack_timeout_s, self._guarded_check_acks
        )
        self.metrics.orders_sent.labels(symbol, kind).inc()
        if self.decision_trigger_ns and kind == "new":
            elapsed = time.perf_counter_ns() - self.decision_trigger_ns
            self.latency_samples.append(elapsed)
            self.metrics.tick_to_order.observe(elapsed / 1e9)

    def _resend_allowed(self, kind: str, cl_ord_id: str, age_s: float) -> bool:
        """After a reconnect, may this new order or replace go out again? Only if it is
        younger than the ack timeout, its order awaits exactly that request, the parent
        works and nothing but the reconnect itself halts the symbol (an overdue ack, the
        kill switch, stale data: each means gap-fill it, and settle it as never sent)."""
        if age_s >= self.cfg.execution.ack_timeout_s:
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
        reconnecting = {"fix_down", "reconciling"}
        return not any(
            _halt_scope(r) in (None, order.symbol) and r not in reconnecting for r in self.halts
        )

    def _on_not_resent(self, req: OrderEntry) -> None:
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
            self._ask_status(order)

    def _on_fill(self, parent: ParentOrder, update: OrderUpdate) -> None:
        fill = update.fill
        if fill is None:
            return
        side = fill.side.name.lower()
        self.metrics.fills.labels(fill.symbol, side).inc()
        self.metrics.filled_qty.labels(fill.symbol, side).inc(fill.qty)
        log.info(
            "fill",
            parent_id=parent.parent_id,
            cl_ord_id=fill.cl_ord_id,
            exec_id=fill.exec_id,
            qty=fill.qty,
            price=fill.price,
            filled=parent.filled_qty,
            of=parent.qty,
        )
        self._publish(
            {
                "event": "fill",
                "parent_id": parent.parent_id,
                "qty": fill.qty,
                "price": fill.price,
                "filled": parent.filled_qty,
            }
        )

    # ---------------------------------------------------------- reconciliation
    def _start_reconcile(self) -> None:
        if self._reconcile_task is None or self._reconcile_task.done():
            self._reconcile_task = asyncio.create_task(self._reconcile(), name="reconcile")

    async def _reconcile(self) -> None:
        """Ask the venue about every live child; trade again only when all are settled."""
        timeout = self.cfg.execution.recovery_timeout_s
        while not self._stopping:
            if not self.router.ready:
                return  # the next logon starts another round
            live = list(self.engine.tracker.live())
            for order in live:
                self._ask_status(order)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and len(self.questions):
                await asyncio.sleep(0.01)
            if not len(self.questions):
                self.recovered = True
                # the venue session is open to us: risk's market-closed check lifts
                self.risk.set_market_open(True, self.clock.now_ns())
                self.clear_halt("reconciling")
                if "recovery" not in self.halts:
                    self._tell_systemd(
                        self.notifier.ready, "trading: live orders settled with the venue"
                    )
                log.info("venue_reconciled", orders=len(live))
                return
            unsettled = self.questions.unanswered()
            log.error(
                "venue_reconcile_incomplete",
                unsettled=unsettled[:20],
                count=len(unsettled),
                detail="no answer to OrderStatusRequest; not trading, retrying",
            )
            self.halt("reconciling", f"{len(unsettled)} orders unsettled with the venue")
            self.questions.clear()
            await asyncio.sleep(timeout)

    def _ask_status(self, order: ChildOrder) -> None:
        """OrderStatusRequest for where an order may now be (see daemon.status_questions)."""
        req, kind = self.questions.request_for(order)
        if self.router.request_status(req):
            self.questions.asked(order, req, kind, time.monotonic_ns())

    def _on_status_answer(self, r: ExecReport) -> None:
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
            self._safe(functools.partial(self._apply_answer, msg))
        if settled.ask_again is not None:
            self._ask_status(settled.ask_again)
        current = self.engine.tracker.orders.get(r.cl_ord_id)
        if current is not None:
            self._cancel_if_orphaned(current)

    def _apply_answer(self, msg: ExecReport | CancelReject) -> None:
        if isinstance(msg, CancelReject):
            self.engine.on_cancel_reject(msg)
        else:
            self.engine.on_exec_report(msg)

    def _cancel_if_orphaned(self, order: ChildOrder) -> None:
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
        self._cancel_parent_children(order.parent_id)

    def _guarded_check_acks(self) -> None:
        try:
            self._check_acks()
        except Exception as exc:  # a timer callback must never take the loop down
            log.error("ack_check_failed", error=repr(exc))

    def _check_acks(self) -> None:
        """Requests without an answer within ack_timeout_s (monotonic): the symbol's
        order state is unknown, so nothing new goes out in it (halt ``ack_overdue``),
        and the venue is asked where each such order stands (never while FIX is down,
        when no answer is possible and nothing is declared lost)."""
        live = list(self.engine.tracker.live())
        overdue = self.acks.overdue(live)
        late = {o.symbol for o in overdue}
        timeout = self.cfg.execution.ack_timeout_s
        for symbol in self.instruments:
            reason = f"ack_overdue:{symbol}"
            if symbol in late:
                self.halt(
                    reason, f"an acknowledgement is overdue (> {timeout:g} s): order state unknown"
                )
            elif reason in self.halts:
                self.clear_halt(reason)
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
            self._ask_status(order)

    # ================================================================ risk events
    def _on_risk_event(self, event: RiskEvent) -> None:
        if isinstance(event, Denied):
            self.metrics.risk_denials.labels(event.reason.value).inc()
        elif isinstance(event, KillSwitchEngaged):
            self.metrics.kill_switch.set(1)
            self._publish({"event": "kill_switch", "engaged": True, "detail": event.detail})
        elif isinstance(event, KillSwitchReset):
            self.metrics.kill_switch.set(0)
            self._publish({"event": "kill_switch", "engaged": False})

    def _on_policy_error(self, why: str) -> None:
        self.policy_guard_trips += 1
        log.error("policy_guard", detail=why, action="wait (no new orders this decision)")

    # ================================================================ parents
    def _policy_for(self, algo: str) -> Policy:
        if algo == "policy":
            return self.policy
        if algo == "twap":
            return ScheduleTactic(TwapSchedule())
        if algo == "vwap":
            return ScheduleTactic(VwapSchedule(self.baselines.profile))
        if algo == "pov":
            return ScheduleTactic(PovSchedule())
        if algo == "ac":
            return ScheduleTactic(AlmgrenChrissSchedule(self.baselines.ac))
        raise ValueError(f"unknown algo {algo!r}")

    def _spawn_runner(self, parent: ParentOrder, algo: str) -> ParentRunner:
        policy = self._policy_for(algo)
        driver = ParentDriver(
            self.engine,
            parent.parent_id,
            policy,
            self.policy.feature_builder(),
            time_of_day=self._time_of_day,
        )
        runner = ParentRunner(self, parent, driver, algo)
        self.runners[parent.parent_id] = runner
        runner.start()
        self.metrics.parents_active.set(len(self.runners))
        return runner

    def _time_of_day(self, ns: int) -> float:
        return ((ns // 1_000_000_000) + int(self.cfg.clock.utc_offset_s)) % 86_400 + (
            ns % 1_000_000_000
        ) / 1e9

    def start_parent(self, parent: ParentOrder, arrival_mid: float) -> None:
        now = self.clock.now_ns()
        if parent.start_ns < now - 1:
            # the parent's window counts from when it could actually start
            span = parent.end_ns - parent.start_ns
            if parent.filled_qty == 0 and parent.state is ParentState.PENDING:
                parent.start_ns, parent.end_ns = now, now + span
        parent.start(arrival_mid)
        self._journal_state(parent, "arrival")

    def set_parent_state(self, parent: ParentOrder, state: ParentState, reason: str) -> None:
        parent.transition(state, reason)
        self._journal_state(parent, reason)

    def _journal_state(self, parent: ParentOrder, reason: str) -> None:
        payload = records.parent_state(parent, reason)
        try:
            self.journal.record("parent_state", payload)
        except JournalError as exc:
            self.metrics.journal_errors.inc()
            self.halt("journal", str(exc))
        log.info("parent_state", **payload)
        self._publish({"event": "parent_state", **payload})

    def parent_finished(self, runner: ParentRunner) -> None:
        p = runner.parent
        log.info(
            "parent_done",
            parent_id=p.parent_id,
            state=p.state.value,
            filled=p.filled_qty,
            qty=p.qty,
            avg_px=round(p.avg_px, 4),
            shortfall_bps=round(p.shortfall_bps(), 3),
        )
        self.metrics.parent_progress.remove(p.parent_id, p.symbol) if self._has_labels(p) else None
        self._publish({"event": "parent_done", **self._parent_view(p)})

    def _has_labels(self, p: ParentOrder) -> bool:
        try:
            self.metrics.parent_progress.labels(p.parent_id, p.symbol)
            self.metrics.parent_shortfall.labels(p.parent_id, p.symbol)
            return True
        except ValueError:
            return False

    def _parent_view(self, p: ParentOrder) -> dict[str, Any]:
        runner = self.runners.get(p.parent_id)
        book = self.md.book(p.symbol)
        mark = book.mid if book is not None else None
        return {
            "parent_id": p.parent_id,
            "symbol": p.symbol,
            "side": p.side.name.lower(),
            "qty": p.qty,
            "filled": p.filled_qty,
            "avg_px": p.avg_px,
            "arrival_mid": p.arrival_mid,
            "shortfall_bps": p.shortfall_bps(),
            "shortfall_marked_bps": p.shortfall_bps(mark) if mark else None,
            "state": p.state.value,
            "reason": p.last_reason,
            "start_ns": p.start_ns,
            "end_ns": p.end_ns,
            "algo": runner.algo if runner else "",
            "live_children": len(self.engine.live_children(p.parent_id)),
            "decisions": runner.decisions if runner else 0,
        }

    # ================================================================ control target
    async def submit_parent(self, parent_id: str, args: SubmitParent) -> dict[str, Any]:
        existing = self.engine.parents.get(parent_id)
        if existing is not None:
            return {"parent_id": parent_id, "state": existing.state.value, "existing": True}
        if args.symbol not in self.instruments:
            raise ValueError(
                f"unknown symbol {args.symbol}; configured: {sorted(self.instruments)}"
            )
        if args.algo != "policy":
            self._policy_for(args.algo)  # refuse an unknown algo before creating anything
        now = self.clock.now_ns()
        if now < 1_000_000_000 * 86_400:
            raise ValueError("market clock not synced yet (no market data): try again shortly")
        side = Side.BUY if args.side == "buy" else Side.SELL
        parent = ParentOrder(
            parent_id, args.symbol, side, args.qty, now, now + int(args.duration_s * 1e9)
        )
        self.engine.add_parent(parent)
        self._spawn_runner(parent, args.algo)
        log.info(
            "parent_submitted",
            parent_id=parent_id,
            symbol=args.symbol,
            side=args.side,
            qty=args.qty,
            duration_s=args.duration_s,
            algo=args.algo,
        )
        return {"parent_id": parent_id, "state": parent.state.value}

    def _parent(self, parent_id: str) -> ParentOrder:
        parent = self.engine.parents.get(parent_id)
        if parent is None:
            raise ValueError(f"no parent {parent_id}")
        return parent

    async def cancel_parent(self, parent_id: str) -> dict[str, Any]:
        parent = self._parent(parent_id)
        if not parent.state.is_terminal:
            self.set_parent_state(parent, ParentState.CANCELED, "cancel_parent command")
            self._safe(lambda: self.engine.cancel_children(parent_id))
            runner = self.runners.get(parent_id)
            if runner is not None:
                runner.wake()
        return {"parent_id": parent_id, "state": parent.state.value, "filled": parent.filled_qty}

    async def pause(self, parent_id: str | None) -> dict[str, Any]:
        targets = [self._parent(parent_id)] if parent_id else list(self.engine.open_parents())
        for p in targets:
            if p.state is ParentState.WORKING:
                self.set_parent_state(p, ParentState.PAUSED, "pause command")
                self._cancel_parent_children(p.parent_id)
        return {"paused": [p.parent_id for p in targets if p.state is ParentState.PAUSED]}

    async def resume(self, parent_id: str | None) -> dict[str, Any]:
        targets = [self._parent(parent_id)] if parent_id else list(self.engine.open_parents())
        for p in targets:
            if p.state is ParentState.PAUSED:
                self.set_parent_state(p, ParentState.WORKING, "resume command")
                runner = self.runners.get(p.parent_id)
                if runner is not None:
                    runner.wake()
        return {"working": [p.parent_id for p in targets if p.state is ParentState.WORKING]}

    async def kill(self, reason: str) -> dict[str, Any]:
        """Engage the kill switch; the reply says what is being cancelled, whichever pass
        sent the cancel, and what is cancelled as soon as the venue answers it."""
        decision = self.engine.engage_kill(f"command: {reason}")
        live = list(self.engine.tracker.live())
        return {
            "engaged": True,
            "cancels_sent": len(decision.sent),
            "cancelling": sorted(o.cl_ord_id for o in live if o.status is OrdStatus.PENDING_CANCEL),
            "cancel_on_answer": sorted(
                o.cl_ord_id
                for o in live
                if o.status in (OrdStatus.PENDING_NEW, OrdStatus.PENDING_REPLACE) and o.tif.rests
            ),
        }

    async def reset_kill(self, reason: str, auth: SignedCommand | None) -> dict[str, Any]:
        if auth is None:
            raise CommandRefused("malformed", "reset_kill must be signed")
        # signed with the operator's wall clock: checked against ours, never market time
        was = self.risk.reset_kill_switch(auth, time.time_ns(), action=auth.action)
        log.warning("kill_switch_reset_by_command", reason=reason, was_engaged=was)
        for runner in self.runners.values():
            runner.wake()
        return {"engaged": False, "was_engaged": was}

    async def load_policy(self, args: LoadPolicy) -> dict[str, Any]:
        new = self._load_policy(args.path, args.sha256)
        self.policy = new
        for runner in self.runners.values():
            if runner.algo == "policy":
                runner.driver.policy = new  # swapped between decisions: the loop is ours
        return {"loaded": str(args.path), "digest": new.artifact.digest, "name": new.name}

    def status(self) -> dict[str, Any]:
        return {
            "node": self.cfg.node.id,
            "market_time_ns": self.clock.now_ns(),
            "halts": dict(self.halts),
            "recovered": self.recovered,
            "fix": {
                "logged_on": self.router.ready,
                "next_sender_seq": self.router.next_sender_seq,
                "next_target_seq": self.router.next_target_seq,
            },
            "marketdata": {s: st.value for s, st in self.md.status.items()},
            "parents": [self._parent_view(p) for p in self.engine.parents.values()],
            "positions": {s: self.risk.position(s) for s in self.risk.limits.symbols},
            "risk": self.risk.snapshot(),
            "policy": {
                "name": self.policy.name,
                "digest": self.policy.artifact.digest,
                "guard_trips": self.policy_guard_trips,
            },
        }

    # ================================================================ health
    def readiness(self) -> Readiness:
        """May this node trade, and if not, why: every failing condition by name, and
        the halts with their reasons (the kill switch among them). Never waits on
        anything: Redis reachability is what the control plane's own task last saw."""
        halts = dict(self.halts)
        if self.risk.kill_switch.engaged:
            halts["kill_switch"] = self.risk.kill_switch.status.detail or "engaged"
        checks = {
            "fix_logged_on": self.router.ready,
            "market_data_fresh": all(st is BookStatus.SYNCED for st in self.md.status.values()),
            "journal_writable": self.journal.writable(),
            "recovered": self.recovered and "recovery" not in self.halts,
            "may_trade": not halts and not self._stopping,
        }
        if self.control is not None:
            checks["redis_reachable"] = self.control.reachable
        return Readiness(checks, halts)

    async def _housekeeping(self) -> None:
        tick = 0
        while True:
            await asyncio.sleep(0.25)
            tick += 1
            try:
                self._check_acks()
                self._refresh_gauges()
                if tick % 4 == 0:
                    self.metrics.ready.set(1 if self.readiness().ready else 0)
                    self._keep_volume_history()
                    if self.control is not None:
                        self.control.post_state({"status": self.status()})
                interval = self.notifier.watchdog_ping_interval_s
                if interval is not None and self.loop_monitor.last_lag_s < interval:
                    self.notifier.watchdog()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # housekeeping must never take the node down
                log.error("housekeeping_failed", error=repr(exc))

    def _keep_volume_history(self) -> None:
        try:
            volume_history.keep(self.journal, self.risk, self.instruments)
        except JournalError as exc:
            self.metrics.journal_errors.inc()
            log.error("volume_history_not_saved", error=str(exc))

    def _refresh_gauges(self) -> None:
        m = self.metrics
        now_wall = time.time_ns()
        for symbol in self.instruments:
            last = self.md.stats.last_update_ns
            m.md_age.labels(symbol).set(max(0.0, (now_wall - last) / 1e9) if last else 0.0)
        m.fix_seq.labels("out").set(self.router.next_sender_seq)
        m.fix_seq.labels("in").set(self.router.next_target_seq)
        m.kill_switch.set(1 if self.risk.kill_switch.engaged else 0)
        for symbol in self.risk.limits.symbols:
            m.position.labels(symbol).set(self.risk.position(symbol))
        pnl = float(self.risk.daily_pnl())
        m.pnl.labels("daily").set(pnl)
        limit = float(self.risk.limits.max_daily_loss)
        m.daily_loss_ratio.set(max(0.0, -pnl) / limit if limit > 0 else 0.0)
        active = 0
        for p in self.engine.parents.values():
            if p.state.is_terminal:
                continue
            active += 1
            m.parent_progress.labels(p.parent_id, p.symbol).set(p.progress)
            m.parent_shortfall.labels(p.parent_id, p.symbol).set(p.shortfall_bps())
        m.parents_active.set(active)

    def _publish(self, event: dict[str, Any]) -> None:
        if self.control is not None and not self._stopping:
            self.control.post_event(event)  # never waits: the control plane writes it


def _halt_scope(reason: str) -> str | None:
    """The symbol a halt is limited to (``md:AMZN``, ``ack_overdue:AMZN``), or None."""
    kind, _, symbol = reason.partition(":")
    return symbol or None if kind in _SYMBOL_HALTS else None


def _unusable_key() -> bytes:
    """A random key nobody holds: with no key configured, no reset can ever verify."""
    import secrets

    return secrets.token_bytes(32)
