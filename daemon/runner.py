"""One parent order's life in the daemon: start, decide on a cadence, complete.

The decision itself is :class:`execution.driver.ParentDriver` — the very code the
training environment and the backtest run — so a parent executes live exactly as it
did in simulation. What this module adds is what only live has: waiting for a usable
book, honouring node halts and operator pauses, and the end-time completion rule.

Its schedule is the environment's (``policies.env``), so a lock-stepped run matches
the backtest order for order (``tests/e2e/test_e2e_parity.py``): the features start
from the market's last ``lookback`` intervals (:mod:`daemon.market_history`);
decisions fall on the grid ``start + k x interval`` (a late wake-up delays one
decision, never the ones after it); at the end time the resting children are
cancelled and the rest is swept as soon as the cancels are answered (1 ms of market
time later when they are), then every ``sweep_interval_s``.

A runner sees the node only through :class:`RunnerHost` (implemented by
:class:`daemon.parents.Parents`): the few questions and effects a parent needs, so it
can be read, and tested, without the rest of the node.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from core.book import L2Book
from core.clock import Clock
from core.log import bound, get_logger
from core.parent import ParentOrder, ParentState
from core.tasks import cancel_and_wait
from daemon.algos import AlgoChoice
from daemon.metrics import Metrics
from execution.driver import ParentDriver, Step

log = get_logger("rlexec.runner")


@dataclass(frozen=True, slots=True)
class RunnerSettings:
    """The ``[execution]`` settings a parent's run follows."""

    completion: Literal["cross", "stop"]
    sweep_max_s: float
    sweep_interval_s: float
    max_decision_lag_ns: int  # 0: never skip a decision as stale


class RunnerHost(Protocol):
    """What a parent's runner needs of the node, and nothing more."""

    @property
    def clock(self) -> Clock: ...

    @property
    def metrics(self) -> Metrics: ...

    @property
    def settings(self) -> RunnerSettings: ...

    @property
    def decision_interval_s(self) -> float: ...

    def may_trade(self, symbol: str) -> bool: ...

    def book(self, symbol: str) -> L2Book | None: ...

    def warm_features(self, parent: ParentOrder, now_ns: int) -> None:
        """Start the parent's features from its market's recent intervals, as the
        environment does (daemon.market_history)."""
        ...

    def latest_frame_rx(self, symbol: str) -> int | None:
        """When the latest market-data frame of ``symbol`` arrived (perf_counter ns)."""
        ...

    def decision_started(self, frame_rx_ns: int) -> None:
        """A decision on the frame that arrived at ``frame_rx_ns`` runs now (tick to order)."""
        ...

    def decision_ended(self) -> None: ...

    def decided(self, runner: ParentRunner, step: Step[Any, Any], now_ns: int) -> None:
        """A decision was taken (its orders are out): monitoring and recordings."""
        ...

    def runner_failed(self, runner: ParentRunner, exc: Exception) -> None:
        """A bug stopped this runner: halt, the node cannot vouch for its orders."""
        ...

    def start_parent(self, parent: ParentOrder, arrival_mid: float) -> None: ...

    def set_parent_state(self, parent: ParentOrder, state: ParentState, reason: str) -> None: ...

    def parent_finished(self, runner: ParentRunner) -> None: ...


# After the end-time cancels and after each sweep: how long the environment waits for
# the venue's answers before it sweeps again or counts the fills (policies.env._finish
# at its 100 us latency). Doubled while the answers are still out, up to the interval.
SWEEP_SETTLE_S = 0.001

# A parent whose book decisions were skipped as stale this many frames running decides
# on the next one whatever its age: overload may delay a parent, never silence it.
_MAX_STALE_SKIPS = 3


def next_decision_ns(start_ns: int, end_ns: int, interval_s: float, now_ns: int) -> int:
    """The next point of the grid ``start + k x interval`` after ``now`` (at most the end).

    The environment decides on this grid; a runner that woke late decides late once
    and is back on the grid for the next decision rather than shifting every later one.
    """
    if now_ns < start_ns:
        return start_ns
    step = max(1, round(interval_s * 1e9))
    k = (now_ns - start_ns) // step + 1
    return max(now_ns, min(start_ns + k * step, end_ns))


class ParentRunner:
    def __init__(
        self,
        node: RunnerHost,
        parent: ParentOrder,
        driver: ParentDriver[Any, Any],
        choice: AlgoChoice,
    ) -> None:
        self.node = node
        self.parent = parent
        self.driver = driver
        self.choice = choice  # the algo (and catchup's settings) it was given
        self.decisions = 0
        self.denials = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._resting_cleared = True
        self._stale_skips = 0  # book decisions skipped in a row as stale (see on_book)

    @property
    def parent_id(self) -> str:
        return self.parent.parent_id

    @property
    def algo(self) -> str:
        return self.choice.algo

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"parent-{self.parent_id}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    def wake(self) -> None:
        """A state change (resume, halt cleared, kill reset): decide now."""
        self._wake.set()

    def on_book(self, book: L2Book, frame_rx_ns: int, superseded: int = 0) -> None:
        """decide_on = "book": decide right here, in the market-data callback.

        No hop through the event loop: the order that a tick prompts is on the wire
        before the next frame is read. ``frame_rx_ns`` (when the oldest frame not yet
        decided on arrived) times the path tick to order. Under overload several frames
        of the symbol arrive before this runs (``superseded`` of them after the first):
        the parent decides once, on the book as it is now, and the decisions those
        frames would have prompted are counted as skipped rather than queued. When even
        the latest frame is older than ``max_decision_lag_ms`` by the time this parent's
        turn comes, its decision is skipped as stale: it decides on the next frame (at
        the latest on the fourth), not on a book the market has moved away from.
        """
        node = self.node
        if (
            self.parent.state is not ParentState.WORKING
            or node.clock.now_ns() >= self.parent.end_ns
            or not node.may_trade(self.parent.symbol)
        ):
            return
        symbol = self.parent.symbol
        if superseded:
            node.metrics.decisions_skipped.labels(symbol, "superseded").inc(superseded)
        now_ns = time.perf_counter_ns()
        lag_ns = now_ns - frame_rx_ns
        # the book is as fresh as the latest frame applied to it
        latest = node.latest_frame_rx(symbol)
        age_ns = now_ns - (frame_rx_ns if latest is None else latest)
        limit_ns = node.settings.max_decision_lag_ns
        if limit_ns and age_ns > limit_ns and self._stale_skips < _MAX_STALE_SKIPS:
            self._stale_skips += 1
            node.metrics.decisions_skipped.labels(symbol, "stale").inc()
            return
        self._stale_skips = 0
        node.decision_started(frame_rx_ns)
        node.metrics.decision_lag.observe(lag_ns / 1e9)
        try:
            # the feed handed risk this frame's book a moment ago: not twice
            self._decide(book, node.clock.now_ns(), risk_has_book=True)
        finally:
            node.decision_ended()

    @property
    def done(self) -> bool:
        return self._task is not None and self._task.done()

    # ------------------------------------------------------------------ loop
    async def _run(self) -> None:
        with bound(parent_id=self.parent_id):
            try:
                await self._work()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must stop this parent safely, not the node
                log.critical("parent_runner_failed", error=repr(exc))
                self.node.runner_failed(self, exc)
                self._cancel_resting()

    async def _work(self) -> None:
        node = self.node
        clock = node.clock
        interval = node.decision_interval_s
        if self.parent.state is ParentState.PENDING:
            await self._arrive()
        if not self.parent.state.is_terminal:
            node.warm_features(self.parent, clock.now_ns())
        log.info(
            "parent_working",
            algo=self.algo,
            qty=self.parent.qty,
            side=self.parent.side.name,
            arrival_mid=self.parent.arrival_mid,
        )
        while not self.parent.state.is_terminal:
            now = clock.now_ns()
            if now >= self.parent.end_ns:
                await self._complete()
                break
            book = node.book(self.parent.symbol)
            if (
                self.parent.state is ParentState.PAUSED
                or book is None
                or not node.may_trade(self.parent.symbol)
            ):
                self._cancel_resting()
            else:
                self._decide(book, now)
            await self._sleep(self._until_next_decision(clock.now_ns(), interval))
        self._cancel_resting()
        node.parent_finished(self)

    def _until_next_decision(self, now: int, interval_s: float) -> float:
        nxt = next_decision_ns(self.parent.start_ns, self.parent.end_ns, interval_s, now)
        return (nxt - now) / 1e9

    async def _arrive(self) -> None:
        """Wait for a usable book, then fix the arrival mid: the benchmark of this parent."""
        node = self.node
        while True:
            if self.parent.state.is_terminal:
                return  # cancelled (cancel_parent) before it could start
            book = node.book(self.parent.symbol)
            if book is not None and book.mid is not None and node.may_trade(self.parent.symbol):
                node.start_parent(self.parent, book.mid)
                return
            if node.clock.now_ns() >= self.parent.end_ns:
                node.set_parent_state(
                    self.parent, ParentState.EXPIRED, "no usable market before end"
                )
                return
            await self._sleep(0.5)

    def _decide(self, book: L2Book, now: int, *, risk_has_book: bool = False) -> None:
        t0 = time.perf_counter()
        step = self.driver.decide(book, now, risk_has_book=risk_has_book)
        self.node.metrics.inference.observe(time.perf_counter() - t0)
        self.decisions += 1
        self._resting_cleared = False
        # each denial is logged and counted by the overlay itself (one line, one metric)
        self.denials += len(step.decision.denied)
        self.node.decided(self, step, now)

    def _cancel_resting(self) -> None:
        if self._resting_cleared:
            return
        if not self.driver.live_children():
            self._resting_cleared = True
            return
        self.driver.cancel_resting()

    async def _complete(self) -> None:
        """End time: cross for the rest (repeatedly, as the book refills), or stop."""
        node = self.node
        self._resting_cleared = False
        self._cancel_resting()
        settings = node.settings
        if settings.completion == "cross":
            interval = settings.sweep_interval_s
            deadline = node.clock.now_ns() + int(settings.sweep_max_s * 1e9)
            settle = SWEEP_SETTLE_S
            await self._sleep(settle)
            while self.parent.remaining_qty > 0 and node.clock.now_ns() < deadline:
                book = node.book(self.parent.symbol)
                live = self.driver.live_children()
                if book is None or not node.may_trade(self.parent.symbol):
                    await self._sleep(interval)
                    continue
                if any(o.status.is_pending or o.tif.rests for o in live):
                    self._resting_cleared = False
                    self._cancel_resting()  # still cancelling: sweep once they are gone
                    await self._sleep(settle)
                    settle = min(interval, settle * 2)
                    continue
                settle = SWEEP_SETTLE_S
                self.driver.sweep(book)
                await self._sleep(settle)  # its fills come back
                if self.parent.remaining_qty > 0:
                    await self._sleep(interval)
        if not self.parent.state.is_terminal:
            node.set_parent_state(
                self.parent,
                ParentState.EXPIRED,
                f"end time reached with {self.parent.remaining_qty} unfilled "
                f"(completion={settings.completion})",
            )

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        sleeper = asyncio.ensure_future(self.node.clock.sleep(seconds))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for fut in (sleeper, waker):
                fut.cancel()
