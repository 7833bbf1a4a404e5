"""The live node: builds the parts, starts them in order and stops them within a bound.

Wiring only. Every decision about orders happens in the shared execution path
(:mod:`execution.executor`, :mod:`execution.driver`); what only a live process has
lives in one module per concern, and this one connects them:

- :mod:`daemon.halts`: halts, held by the risk overlay's trading state
- :mod:`daemon.market_feed`: books and trades in, feed health
- :mod:`daemon.parents` and :mod:`daemon.runner`: a runner per parent order
- :mod:`daemon.venue_events`: what each FIX message or session change does
- :mod:`daemon.reconciliation`: settling live orders with the venue, overdue answers
- :mod:`daemon.commands`: the effects of control commands
- :mod:`daemon.health`: /readyz, gauges, risk metrics
- :mod:`daemon.posture`: the market models and the tighten-only risk posture
- :mod:`daemon.policy_monitor` and :mod:`daemon.decision_recording`: each decision
  watched against the artifact's references and recorded for retraining

Safety over availability: the node starts halted (``starting``), recovers its journal,
and trades only once FIX is logged on and every live order is settled with the venue.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from core import heap
from core.clock import Clock, ScaledClock, SimClock, WallClock
from core.config import config_hash
from core.ids import ClOrdIdGenerator
from core.instruments import Instrument
from core.log import get_logger
from daemon import volume_history
from daemon.algos import AlgoChoice
from daemon.busy_poll import BusyPoll
from daemon.commands import (
    DEFAULT_POLICY_DIR,
    NodeCommands,
    NodeStartError,
    PolicyGuard,
    check_baselines,
    load_policy_artifact,
)
from daemon.config import DaemonConfig
from daemon.control.commands import LoadPolicy, SubmitParent
from daemon.control.handler import CommandHandler
from daemon.control.redis_plane import RedisControlPlane, RedisPlaneSettings
from daemon.decision_recording import DecisionLog
from daemon.fix_router import FixRouter
from daemon.halts import NodeHalts
from daemon.health import Health
from daemon.http_api import HttpServer, Readiness, build_app
from daemon.journal import Journal, JournalError
from daemon.latency import TickToOrder
from daemon.lockstep import follower_for
from daemon.loop_monitor import LoopMonitor
from daemon.market_feed import MarketFeed
from daemon.market_history import MarketHistory
from daemon.metrics import Metrics
from daemon.parents import Parents
from daemon.periodic import Periodic
from daemon.policy_monitor import PolicyMonitor
from daemon.posture import MarketSignals, SignalsStartError
from daemon.reconciliation import Reconciler
from daemon.recovery import replay_journal
from daemon.runner import ParentRunner
from daemon.sd_notify import Notifier, SdNotifyError
from daemon.status_questions import StatusQuestions
from daemon.venue_events import VenueEvents
from execution.driver import Step
from execution.executor import ExecutionEngine
from gateways.marketdata.client import BookStatus
from policies.learned import LearnedPolicy
from risk.command_auth import CommandVerifier, SignedCommand
from risk.halts import Halt, HaltKind
from risk.overlay import RiskOverlay

log = get_logger("rlexec.node")

__all__ = ["DEFAULT_POLICY_DIR", "Node", "NodeStartError"]


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
        self.started_ns = time.time_ns()
        self._tasks: list[asyncio.Task[Any]] = []
        self.notifier = Notifier.from_env()
        self.tick_to_order = TickToOrder(self.metrics.tick_to_order)
        self.http_port = 0

        try:
            self.journal = Journal(
                self.data_dir / "journal.db",
                fsync=cfg.journal.fsync,
                on_write=self.metrics.journal_write.observe,
            )
        except JournalError as exc:
            raise NodeStartError(str(exc)) from exc
        self.risk, self.verifier = self._risk_overlay()
        self.router = self._fix_router()
        self.ids = ClOrdIdGenerator(f"{cfg.node.id}-", self.journal)
        self.engine = ExecutionEngine(
            clock=self.clock,
            router=self.router,
            risk=self.risk,
            ids=self.ids,
            instruments=self.instruments,
            journal=self.journal,
            on_fill=lambda parent, update: self.parents.on_fill(parent, update),  # noqa: PLW0108 (late-bound)
            data_time=lambda symbol: self.feed.data_time(symbol),  # noqa: PLW0108 (late-bound)
            on_duplicate=lambda r: self.metrics.duplicate_reports.labels(r.symbol).inc(),
        )
        self.halts = NodeHalts(
            self.risk,
            self.engine,
            self.metrics,
            self.clock,
            venue_ready=lambda: self.router.ready,
            on_lifted=lambda: self.parents.wake_all(),  # noqa: PLW0108 (late-bound)
        )
        self.reconciler = Reconciler(
            engine=self.engine,
            risk=self.risk,
            router=self.router,
            halts=self.halts,
            metrics=self.metrics,
            clock=self.clock,
            instruments=self.instruments,
            ack_timeout_s=cfg.execution.ack_timeout_s,
            round_timeout_s=cfg.execution.recovery_timeout_s,
            on_reconciled=self._reconciled,
        )
        self.venue = VenueEvents(
            engine=self.engine,
            risk=self.risk,
            router=self.router,
            halts=self.halts,
            reconciler=self.reconciler,
            metrics=self.metrics,
            clock=self.clock,
            tick_to_order=self.tick_to_order,
        )
        self.policy_guard = PolicyGuard()
        policy = load_policy_artifact(cfg.policy.path, cfg.policy.sha256 or None, self.policy_guard)
        check_baselines(policy)
        # what each symbol's market did lately: a parent's features start from it
        fspec = policy.artifact.feature_spec
        keep_ns = max(600 * 1_000_000_000, 2 * fspec.lookback * fspec.interval_ns)
        self.history = {s: MarketHistory(s, keep_ns) for s in self.instruments}
        self.signals = self._market_signals()
        self.monitor = PolicyMonitor(self.metrics)
        self.monitor.use(policy.artifact)
        self._monitoring = Periodic("monitoring", 5.0, self._export_monitoring)
        sig = cfg.signals
        self.decision_log = (
            DecisionLog(
                sig.recording_dir or self.data_dir / "recordings",
                self.metrics,
                flush_s=sig.recording_flush_s,
            )
            if sig.recording
            else None
        )
        self.feed = MarketFeed(
            clock=self.clock,
            engine=self.engine,
            metrics=self.metrics,
            halts=self.halts,
            instruments=self.instruments,
            settings=cfg.marketdata,
            decide_on_book=cfg.execution.decide_on == "book",
            history=self.history,
            market_signals=self.signals,
        )
        self.md = self.feed.md
        self.parents = Parents(
            clock=self.clock,
            engine=self.engine,
            journal=self.journal,
            md=self.md,
            metrics=self.metrics,
            halts=self.halts,
            tick_to_order=self.tick_to_order,
            frame_rx=self.feed.last_frame_rx,
            policy=policy,
            history=self.history,
            execution=cfg.execution,
            utc_offset_s=cfg.clock.utc_offset_s,
            publish=self._publish,
            on_decision=self._decided,
            on_done=self._parent_done,
            signal_feed=self.signals.feed if self.signals is not None else None,
        )
        try:  # a policy reading a signal this node does not serve never starts trading
            for symbol in self.instruments:
                if symbol in self.risk.limits.symbols:  # the others never trade
                    self.parents.new_builder(symbol)
        except ValueError as exc:
            raise NodeStartError(str(exc)) from exc
        self.feed.attach(self.parents.of_symbol)
        self.commands = NodeCommands(
            node_id=cfg.node.id,
            clock=self.clock,
            engine=self.engine,
            risk=self.risk,
            router=self.router,
            md=self.md,
            halts=self.halts,
            parents=self.parents,
            reconciler=self.reconciler,
            instruments=self.instruments,
            policy_guard=self.policy_guard,
        )
        self.handler = CommandHandler(
            self.commands,
            self.journal,
            WallClock(),  # signatures carry wall time, whatever pace the market keeps
            self.verifier,
            on_result=lambda c, r: self.metrics.commands.labels(c, r).inc(),
        )
        self.control = self._control_plane()
        self.loop_monitor = LoopMonitor(on_sample=self.metrics.loop_lag.set)
        self.busy_poll = BusyPoll()
        self.health = Health(
            metrics=self.metrics,
            halts=self.halts,
            risk=self.risk,
            engine=self.engine,
            router=self.router,
            md=self.md,
            journal=self.journal,
            reconciler=self.reconciler,
            control=self.control,
            instruments=self.instruments,
            loop_monitor=self.loop_monitor,
            notifier=lambda: self.notifier,
            status=self.commands.status,
            publish=self._publish,
        )
        self.http = HttpServer(
            build_app(self.metrics, self.health.readiness), cfg.http.host, cfg.http.port
        )
        self.halt(Halt(HaltKind.STARTING), "recovery and venue reconciliation not done yet")

    # ================================================================ building
    def _risk_overlay(self) -> tuple[RiskOverlay, CommandVerifier | None]:
        cfg = self.cfg
        key = cfg.control.key()
        if key is None or len(key) < 32:
            log.warning(
                "no_control_key",
                detail="no HMAC key of >= 32 bytes configured ([control] hmac_key_file): "
                "reset_kill and load_policy will be refused",
            )
        control_key = key if key is not None and len(key) >= 32 else None
        previous = cfg.control.previous_key()
        if previous is not None and len(previous) < 32:
            raise NodeStartError("[control] previous_hmac_key: fewer than 32 bytes")
        # during a key rollover both keys are accepted (risk/command_auth.py)
        keys = [k for k in (control_key, previous) if k is not None]
        if control_key is None:
            keys = []  # the old key alone never authorises anything
        risk = RiskOverlay.from_config(
            cfg.risk,
            self.instruments.values(),
            state_path=str(self.data_dir / "kill_switch.json"),
            # with no key configured, a random key nobody holds: no reset ever verifies
            reset_key=keys or secrets.token_bytes(32),
            now_ns=self.clock.now_ns(),
            node_id=cfg.node.id,
        )
        verifier = (
            CommandVerifier(keys, max_age_ns=int(cfg.control.max_age_s * 1e9))
            if control_key
            else None
        )
        return risk, verifier

    def _market_signals(self) -> MarketSignals | None:
        """The market models and the risk posture, or None with [signals] enabled = false."""
        if not self.cfg.signals.enabled:
            log.warning(
                "signals_disabled",
                detail="[signals] enabled = false: no market models, no risk posture; "
                "the configured limits alone apply",
            )
            return None
        try:
            return MarketSignals(
                self.cfg.signals,
                list(self.instruments),
                risk=self.risk,
                metrics=self.metrics,
                now_ns=self.clock.now_ns,
                synced=lambda s: self.md.status.get(s) is BookStatus.SYNCED,
            )
        except SignalsStartError as exc:
            raise NodeStartError(str(exc)) from exc

    def _fix_router(self) -> FixRouter:
        """The FIX router; its callbacks reach parts built after it (they run only once
        the session is started)."""
        fix = self.cfg.fix
        session = fix.session.model_copy(
            update={
                "store_dir": fix.session.store_dir or self.data_dir / "fix",
                "log_dir": fix.session.log_dir or self.data_dir / "fix-log",
            }
        )
        return FixRouter(
            fix.model_copy(update={"session": session}),
            self.instruments,
            on_message=lambda msg: self.venue.on_message(msg),  # noqa: PLW0108 (late-bound)
            on_session=lambda up, why: self.venue.on_session(up, why),  # noqa: PLW0108 (late-bound)
            on_unreadable=lambda why: self.venue.on_unreadable(why),  # noqa: PLW0108 (late-bound)
            on_sent=lambda symbol, kind, cl_ord_id: self.venue.on_sent(symbol, kind, cl_ord_id),  # noqa: PLW0108 (late-bound)
            resend_allowed=lambda kind, cl_ord_id, age_s: self.reconciler.resend_allowed(  # noqa: PLW0108 (late-bound)
                kind, cl_ord_id, age_s
            ),
            on_not_resent=lambda req: self.reconciler.on_not_resent(req),  # noqa: PLW0108 (late-bound)
            hold_new=lambda symbol: self.reconciler.hold_new(symbol),  # noqa: PLW0108 (late-bound)
        )

    def _control_plane(self) -> RedisControlPlane | None:
        if not self.cfg.redis.enabled:
            return None
        r = self.cfg.redis
        return RedisControlPlane(
            RedisPlaneSettings(
                url=r.url,
                command_stream=r.command_stream,
                reply_stream=r.reply_stream,
                group=r.group,
                consumer=self.cfg.node.id,
                state_key=r.state_key,
                events_channel=r.events_channel,
                username=r.username or None,
                password=r.password.get_secret_value() or None,
                tls_ca_file=str(r.tls_ca_file) if r.tls_ca_file else None,
                tls_cert_file=str(r.tls_cert_file) if r.tls_cert_file else None,
                tls_key_file=str(r.tls_key_file) if r.tls_key_file else None,
                reconnect_min_s=r.reconnect_min_s,
                reconnect_max_s=r.reconnect_max_s,
                reconnect_jitter=r.reconnect_jitter,
            ),
            self.handler.handle,
            on_up=lambda up: self.metrics.redis_up.set(1 if up else 0),
        )

    # ================================================================ lifecycle
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
            self.halt(Halt(HaltKind.RECOVERY), f"{report.problems[0]}{more}")
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
        self._tasks.append(asyncio.create_task(self.health.housekeeping(), name="housekeeping"))
        self._monitoring.start()
        if self.signals is not None:
            self.signals.start()
        if self.decision_log is not None:
            self.decision_log.start()
        for parent in self.engine.open_parents():
            choice = report.algos.get(parent.parent_id, AlgoChoice("policy"))
            if choice is None:  # never resumed with a guessed algo; the halt names why
                log.error(
                    "parent_not_resumed",
                    parent_id=parent.parent_id,
                    reason="its parent_algo record does not read (recovery halt); "
                    "cancel_parent ends it",
                )
                continue
            log.info("parent_resumed", parent_id=parent.parent_id, **choice.to_json())
            self.parents.spawn(parent, choice)
        if not self.engine.tracker.orders and not self.engine.parents:
            log.info("fresh_start", detail="empty journal: nothing to recover")
        self.halts.clear(Halt(HaltKind.STARTING))
        self.halt(Halt(HaltKind.RECONCILING), "waiting for FIX logon to settle live orders")
        if self.cfg.node.freeze_heap:
            frozen, ms = heap.freeze_after_start()
            log.info("heap_frozen", objects=frozen, collect_ms=round(ms, 1))

    async def stop(self) -> None:
        """SIGTERM: stop deciding, cancel what rests, flush, log out — within a bound."""
        if self.halts.stopping:
            return
        self.halts.stopping = True
        bound = self.cfg.execution.shutdown_timeout_s
        self._tell_systemd(self.notifier.stopping, "cancelling resting child orders")
        log.info("node_stopping", live_children=sum(1 for _ in self.engine.tracker.live()))
        if self.control is not None:
            self.control.stop()
        await self.parents.stop()
        await self._monitoring.stop()
        if self.signals is not None:
            await self.signals.stop()
        if self.decision_log is not None:
            for runner in self.parents.runners.values():  # the steps cut short by the stop
                self.decision_log.on_parent_done(runner.parent, self._mid(runner.parent.symbol))
            with contextlib.suppress(Exception):  # never holds the shutdown: logged inside
                await asyncio.wait_for(self.decision_log.close(), bound / 4)
        if self.cfg.execution.cancel_on_shutdown and self.router.ready:
            await self._cancel_all_resting(deadline=time.monotonic() + bound / 2)
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # bounded too: a task that outlives its cancel (the control plane once did,
            # on a cancel lost in asyncio.wait_for) must not hold the shutdown forever
            _, stuck = await asyncio.wait(self._tasks, timeout=bound / 4)
            for task in stuck:
                log.error("shutdown_task_abandoned", task=task.get_name(), waited_s=bound / 4)
        self.reconciler.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.router.stop("rlexec shutting down"), bound / 2)
        await self.md.stop()
        await self.loop_monitor.stop()
        await self.busy_poll.stop()
        await self.http.stop()
        self.health.keep_volume_history()
        self.journal.close()
        if self.cfg.node.freeze_heap:
            heap.thaw()
        log.info("node_stopped")

    async def _cancel_all_resting(self, deadline: float) -> None:
        next_round = 0.0
        while True:
            now = time.monotonic()
            if now >= next_round:
                # Each round cancels what the venue has acknowledged by now: an order
                # still in flight when shutdown began is cancelled once its ack lands.
                # Rounds are spaced so a venue refusing a cancel is not flooded.
                self.halts.guarded(self.engine.cancel_children)
                next_round = now + 0.2
            if now >= deadline or not any(o.tif.rests for o in self.engine.tracker.live()):
                break
            await asyncio.sleep(0.02)
        left = [o.cl_ord_id for o in self.engine.tracker.live() if o.tif.rests]
        if left:
            log.error("shutdown_orders_still_live", cl_ord_ids=left[:20], count=len(left))

    # ================================================================ decisions watched
    def _decided(self, runner: ParentRunner, step: Step[Any, Any], now_ns: int) -> None:
        """After a decision's orders are out: the signal served and timed, the drift
        monitor fed, the decision recorded. Never raises into the runner: monitoring
        must not stop trading."""
        try:
            parent = runner.parent
            signal, regime = (
                self.signals.at_decision(parent.symbol, now_ns)
                if self.signals is not None
                else (None, None)
            )
            self.monitor.use(self.parents.policy.artifact)
            obs = step.obs
            self.monitor.on_decision(parent, obs.features, obs.ctx.market_rate, regime)
            policy = runner.driver.policy
            if self.decision_log is not None and isinstance(policy, LearnedPolicy):
                self.decision_log.on_decision(
                    parent,
                    ts_ns=now_ns,
                    decision=runner.decisions - 1,
                    features=obs.features,
                    action=policy.last_index,
                    policy_digest=policy.artifact.digest,
                    signal=signal,
                    regime=regime,
                    mid=self._mid(parent.symbol),
                )
        except Exception as exc:
            log.error("decision_watch_failed", parent_id=runner.parent_id, error=repr(exc))

    def _parent_done(self, runner: ParentRunner) -> None:
        try:
            self.monitor.on_parent_done(runner.parent, runner.algo)
            if self.decision_log is not None:
                self.decision_log.on_parent_done(runner.parent, self._mid(runner.parent.symbol))
        except Exception as exc:
            log.error("parent_watch_failed", parent_id=runner.parent_id, error=repr(exc))

    def _mid(self, symbol: str) -> float | None:
        book = self.md.book(symbol)
        return book.mid if book is not None else None

    async def _export_monitoring(self) -> None:
        self.monitor.export()

    def _reconciled(self) -> None:
        if not self.halts.raised(HaltKind.RECOVERY):
            self._tell_systemd(self.notifier.ready, "trading: live orders settled with the venue")

    @staticmethod
    def _tell_systemd(send: Callable[[str], bool], status: str) -> None:
        """A notification that cannot go out is logged, never raised into the caller:
        the next one (or systemd's own timeout) covers it."""
        try:
            send(status)
        except SdNotifyError as exc:
            log.error("sd_notify_failed", error=str(exc))

    def _publish(self, event: dict[str, Any]) -> None:
        if self.control is not None and not self.halts.stopping:
            self.control.post_event(event)  # never waits: the control plane writes it

    # ================================================================ what operators and tests read
    def halt(self, halt: Halt | str, detail: str) -> None:
        """Raise a halt (a :class:`Halt`, or its label as an operator writes it)."""
        self.halts.halt(halt if isinstance(halt, Halt) else Halt.parse(halt), detail)

    def may_trade(self, symbol: str) -> bool:
        return self.halts.may_trade(symbol)

    def readiness(self) -> Readiness:
        return self.health.readiness()

    def status(self) -> dict[str, Any]:
        return self.commands.status()

    @property
    def stopping(self) -> bool:
        return self.halts.stopping

    @property
    def recovered(self) -> bool:
        return self.reconciler.recovered

    @property
    def policy(self) -> LearnedPolicy:
        return self.parents.policy

    @property
    def runners(self) -> dict[str, ParentRunner]:
        return self.parents.runners

    @property
    def questions(self) -> StatusQuestions:
        return self.reconciler.questions

    @property
    def last_frame_rx(self) -> dict[str, int]:
        return self.feed.last_frame_rx

    @property
    def latency_samples(self) -> deque[int]:
        return self.tick_to_order.samples

    # the control target's commands, as tests and the demo call them directly
    async def submit_parent(self, parent_id: str, args: SubmitParent) -> dict[str, Any]:
        return await self.commands.submit_parent(parent_id, args)

    async def cancel_parent(self, parent_id: str) -> dict[str, Any]:
        return await self.commands.cancel_parent(parent_id)

    async def pause(self, parent_id: str | None) -> dict[str, Any]:
        return await self.commands.pause(parent_id)

    async def resume(self, parent_id: str | None) -> dict[str, Any]:
        return await self.commands.resume(parent_id)

    async def kill(self, reason: str) -> dict[str, Any]:
        return await self.commands.kill(reason)

    async def reset_kill(self, reason: str, auth: SignedCommand | None) -> dict[str, Any]:
        return await self.commands.reset_kill(reason, auth)

    async def load_policy(self, args: LoadPolicy) -> dict[str, Any]:
        return await self.commands.load_policy(args)
