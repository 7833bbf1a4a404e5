"""The node's parent orders: a runner per parent, their states journalled, their views.

Implements :class:`daemon.runner.RunnerHost`, the only door a runner has to the node:
the market (the book, when the latest frame arrived), halts (``may_trade``) and the
parent's journalled state changes. Every parent-state change is journalled before it
is published, so a restart resumes exactly where the node was.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from core.book import L2Book
from core.clock import Clock
from core.log import get_logger
from core.order_tracker import OrderUpdate
from core.parent import ParentOrder, ParentState
from daemon import records
from daemon.algos import AlgoChoice, algo_record, resolve_catchup_setting
from daemon.config import ExecutionSection
from daemon.control.commands import ALGOS
from daemon.halts import NodeHalts
from daemon.journal import Journal, JournalError
from daemon.latency import TickToOrder
from daemon.market_history import MarketHistory
from daemon.metrics import Metrics
from daemon.runner import ParentRunner, RunnerSettings
from execution.driver import MarketSignal, ParentDriver, Step
from execution.executor import ExecutionEngine
from gateways.marketdata.client import MarketDataClient
from policies.actions import ActionMapper
from policies.baselines import (
    AlmgrenChrissSchedule,
    PassiveCatchUp,
    PovSchedule,
    ScheduleTactic,
    TwapSchedule,
    VwapSchedule,
)
from policies.evaluate import BaselineParams
from policies.features import FeatureBuilder
from policies.learned import LearnedPolicy
from policies.protocol import Policy
from risk.halts import Halt, HaltKind

log = get_logger("rlexec.node")


class Parents:
    def __init__(
        self,
        *,
        clock: Clock,
        engine: ExecutionEngine,
        journal: Journal,
        md: MarketDataClient,
        metrics: Metrics,
        halts: NodeHalts,
        tick_to_order: TickToOrder,
        frame_rx: Mapping[str, int],
        policy: LearnedPolicy,
        history: Mapping[str, MarketHistory],
        execution: ExecutionSection,
        utc_offset_s: int,
        publish: Callable[[dict[str, Any]], None],
        on_decision: Callable[[ParentRunner, Step[Any, Any], int], None] | None = None,
        on_done: Callable[[ParentRunner], None] | None = None,
        signal_feed: Callable[[str], MarketSignal | None] | None = None,
    ) -> None:
        self._clock = clock
        self.engine = engine
        self.journal = journal
        self.md = md
        self._metrics = metrics
        self.halts = halts
        self.tick_to_order = tick_to_order
        self._frame_rx = frame_rx
        self.policy = policy
        self._history = history
        self.baselines = BaselineParams.from_json(policy.artifact.manifest.get("baselines", {}))
        # the node's, for new catchup parents: resolved here once, never by a hot swap
        self.catchup = resolve_catchup_setting(
            execution.catchup_tolerance,
            execution.catchup_urgency,
            policy.artifact.manifest,
            str(policy.artifact.path),
        )
        if not self.catchup.available:
            log.info("catchup_unavailable", reason=self.catchup.source)  # a stock node
        else:
            log.info(
                "catchup_tolerance",
                tolerance=self.catchup.tolerance,
                urgency=self.catchup.urgency,
                source=self.catchup.source,
            )
        self._interval_s = execution.decision_interval_s
        self._settings = RunnerSettings(
            completion=execution.completion,
            sweep_max_s=execution.sweep_max_s,
            sweep_interval_s=execution.sweep_interval_s,
            max_decision_lag_ns=int(execution.max_decision_lag_ms * 1e6),
        )
        self._utc_offset_s = utc_offset_s
        self._publish = publish
        self._on_decision = on_decision  # monitoring and recordings (daemon.node)
        self._on_done = on_done
        # the symbol's signal, for a policy that reads it (daemon.posture.MarketSignals.feed)
        self._signal_feed = signal_feed
        self.runners: dict[str, ParentRunner] = {}
        self._builders: dict[str, FeatureBuilder] = {}  # each parent's, to warm up

    # ---------------------------------------------------------------- runners
    def choose(self, algo: str) -> AlgoChoice:
        """What a new parent naming ``algo`` runs here; ValueError (the submit's refusal,
        nothing created) for an algo this node cannot run, saying why."""
        if algo == "catchup":
            return self.catchup.require()
        return AlgoChoice(algo)

    def policy_for(self, choice: AlgoChoice) -> Policy:
        algo = choice.algo
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
        if algo == "catchup" and choice.tolerance is not None and choice.urgency is not None:
            return PassiveCatchUp.along(choice.tolerance, choice.urgency)
        raise ValueError(f"unknown algo {choice}; known: {', '.join(ALGOS)}")

    def journal_choice(self, parent_id: str, choice: AlgoChoice) -> None:
        """Before the parent exists (a JournalError refuses the submit, nothing created),
        so a restart never resumes a parent with another algo than it was given."""
        self.journal.record("parent_algo", algo_record(parent_id, choice))

    def new_builder(self, symbol: str, policy: LearnedPolicy | None = None) -> FeatureBuilder:
        """A parent's feature builder for ``policy`` (the loaded one by default), fed the
        symbol's signal when the policy reads it. ValueError (nothing created) when it
        reads a signal this node does not serve: signals off, or another model."""
        policy = policy or self.policy
        feed = self._signal_feed(symbol) if self._signal_feed is not None else None
        if policy.signal_digest is not None and feed is None:
            raise ValueError(
                f"policy {policy.artifact.path} reads the short-horizon signal and this node "
                f"serves none for {symbol} ([signals] enabled = false, or a symbol without "
                "market models)"
            )
        return policy.feature_builder(signal=feed)

    def spawn(
        self, parent: ParentOrder, choice: AlgoChoice, builder: FeatureBuilder | None = None
    ) -> ParentRunner:
        """``builder``: one made by :meth:`new_builder` before the parent was created (a
        submit refuses a policy it cannot feed before anything exists); else made here."""
        if builder is None:
            builder = self.new_builder(parent.symbol)
        self._builders[parent.parent_id] = builder
        driver = ParentDriver(
            self.engine,
            parent.parent_id,
            self.policy_for(choice),
            builder,
            mapper=ActionMapper(parent.side),
            time_of_day=self._time_of_day,
        )
        runner = ParentRunner(self, parent, driver, choice)
        self.runners[parent.parent_id] = runner
        runner.start()
        self._metrics.parents_active.set(len(self.runners))
        return runner

    def swap_policy(self, new: LearnedPolicy) -> None:
        """Between decisions (the loop is ours): every ``policy`` parent decides with ``new``.

        Each running parent keeps its feature state and takes ``new``'s normalisation;
        ``new`` is refused (ValueError, nothing changed) while parents run if it reads
        another feature layout than the one their builders produce."""
        running = [
            r
            for r in self.runners.values()
            if r.algo == "policy" and not r.parent.state.is_terminal
        ]
        old = self.policy
        for symbol in sorted({r.parent.symbol for r in running}) or list(self._history)[:1]:
            self.new_builder(symbol, new)  # a signal it cannot be fed: refused, nothing changed
        problem = new.layout_change(old) if running else None
        if problem is not None:
            raise ValueError(
                f"policy {new.artifact.path} refused while {len(running)} parent(s) run on "
                f"{old.artifact.path}: {problem}; the loaded policy stays (load it when no "
                "policy parent runs)"
            )
        self.policy = new
        for runner in running:
            new.take_over(self._builders[runner.parent_id])
            runner.driver.policy = new
        log.info(
            "policy_swapped",
            old_digest=old.artifact.digest,
            new_digest=new.artifact.digest,
            parents=[r.parent_id for r in running],
        )
        tuned = resolve_catchup_setting(None, None, new.artifact.manifest, str(new.artifact.path))
        if (tuned.tolerance, tuned.urgency) != (self.catchup.tolerance, self.catchup.urgency):
            log.info(
                "catchup_tolerance_kept",
                tolerance=self.catchup.tolerance,
                urgency=self.catchup.urgency,
                source=self.catchup.source,
                loaded_artifact_tuned=tuned.tolerance,
                loaded_artifact_tuned_urgency=tuned.urgency,
                detail="a loaded policy changes only algo policy; catchup's tolerance and "
                "urgency are the node's, resolved at start (config, else the starting artifact)",
            )

    def wake_all(self) -> None:
        for runner in self.runners.values():
            runner.wake()

    def wake(self, parent_id: str) -> None:
        runner = self.runners.get(parent_id)
        if runner is not None:
            runner.wake()

    def of_symbol(self, symbol: str) -> list[ParentRunner]:
        return [r for r in self.runners.values() if r.parent.symbol == symbol]

    async def stop(self) -> None:
        for runner in list(self.runners.values()):
            await runner.stop()

    def _time_of_day(self, ns: int) -> float:
        return ((ns // 1_000_000_000) + int(self._utc_offset_s)) % 86_400 + (
            ns % 1_000_000_000
        ) / 1e9

    # ---------------------------------------------------------------- RunnerHost
    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def metrics(self) -> Metrics:
        return self._metrics

    @property
    def settings(self) -> RunnerSettings:
        return self._settings

    @property
    def decision_interval_s(self) -> float:
        if self._interval_s is not None:
            return self._interval_s
        return self.policy.artifact.feature_spec.interval_ns / 1e9

    def may_trade(self, symbol: str) -> bool:
        return self.halts.may_trade(symbol)

    def book(self, symbol: str) -> L2Book | None:
        return self.md.book(symbol)

    def warm_features(self, parent: ParentOrder, now_ns: int) -> None:
        builder = self._builders[parent.parent_id]
        builder.reset()
        history = self._history.get(parent.symbol)
        if history is None:
            return
        spec = builder.spec
        sampled = history.warm(builder.market, now_ns, spec.interval_ns, spec.lookback)
        if sampled < spec.lookback:
            log.info("features_warmed_partly", intervals=sampled, lookback=spec.lookback)

    def latest_frame_rx(self, symbol: str) -> int | None:
        return self._frame_rx.get(symbol)

    def decision_started(self, frame_rx_ns: int) -> None:
        self.tick_to_order.trigger_ns = frame_rx_ns

    def decision_ended(self) -> None:
        self.tick_to_order.trigger_ns = 0

    def decided(self, runner: ParentRunner, step: Step[Any, Any], now_ns: int) -> None:
        if self._on_decision is not None:
            self._on_decision(runner, step, now_ns)

    def runner_failed(self, runner: ParentRunner, exc: Exception) -> None:
        self.halts.halt(Halt(HaltKind.RUNNER_ERROR), f"parent {runner.parent_id}: {exc!r}")

    def start_parent(self, parent: ParentOrder, arrival_mid: float) -> None:
        now = self._clock.now_ns()
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
        if self._on_done is not None:
            self._on_done(runner)
        if self._has_labels(p):
            self._metrics.parent_progress.remove(p.parent_id, p.symbol)
        self._publish({"event": "parent_done", **self.view(p)})

    # ---------------------------------------------------------------- journal, views
    def _journal_state(self, parent: ParentOrder, reason: str) -> None:
        payload = records.parent_state(parent, reason)
        try:
            self.journal.record("parent_state", payload)
        except JournalError as exc:
            self.halts.journal_failed(exc)
        log.info("parent_state", **payload)
        self._publish({"event": "parent_state", **payload})

    def on_fill(self, parent: ParentOrder, update: OrderUpdate) -> None:
        fill = update.fill
        if fill is None:
            return
        side = fill.side.name.lower()
        self._metrics.fills.labels(fill.symbol, side).inc()
        self._metrics.filled_qty.labels(fill.symbol, side).inc(fill.qty)
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

    def _has_labels(self, p: ParentOrder) -> bool:
        try:
            self._metrics.parent_progress.labels(p.parent_id, p.symbol)
            self._metrics.parent_shortfall.labels(p.parent_id, p.symbol)
            return True
        except ValueError:
            return False

    def view(self, p: ParentOrder) -> dict[str, Any]:
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
            "tolerance": runner.choice.tolerance if runner else None,
            "urgency": runner.choice.urgency if runner else None,
            "live_children": len(self.engine.live_children(p.parent_id)),
            "decisions": runner.decisions if runner else 0,
        }
