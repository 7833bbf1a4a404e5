"""What the order path sent, heard and saw during one parent order, for the cost report.

The environment takes its venue link as a parameter (the parity test swaps in FIX the
same way), so the backtest records by handing it a :class:`TracingRouter`: the
in-process :class:`~execution.sim_router.SimRouter` itself, unchanged, plus a note of

* every request it carried (new orders, replaces, cancels: all already approved by the
  risk overlay, which is the only way into a router);
* every fill the execution engine applied (taken from the engine's own answer to each
  report, so a duplicate or refused report is never counted);
* the mid of the venue's book each time the environment moves the clock on: the book
  the policy decided on, and the one each sweep round was sized against. These are the
  reference points of the spread / impact / timing split (:mod:`.metrics`).

Nothing here changes what reaches the venue or when: same calls, same order.
"""

from __future__ import annotations

from typing import Any

from core.clock import SimClock
from core.events import CancelReject, ExecReport
from core.requests import CancelRequest, NewOrderRequest, ReplaceRequest
from core.types import OrdType
from exchange.replay.api import MarketSimulator
from execution.sim_router import ReportConsumer, SimRouter
from policies.actions import Action
from policies.backtest.metrics import BookSample, Print
from policies.context import DecisionContext, Observation
from policies.protocol import Policy
from risk.approval import Approved


class _FillTap:
    """Hands each report to the engine and keeps the fills the engine applied."""

    __slots__ = ("consumer", "fills", "sweeps")

    def __init__(self, consumer: ReportConsumer, fills: list[Print], sweeps: set[str]) -> None:
        self.consumer = consumer
        self.fills = fills
        self.sweeps = sweeps

    def on_exec_report(self, report: ExecReport) -> object:
        update = self.consumer.on_exec_report(report)
        fill = getattr(update, "fill", None)
        if fill is not None:
            swept = fill.cl_ord_id in self.sweeps
            self.fills.append(Print(fill.ts_ns, fill.qty, fill.price, swept))
        return update

    def on_cancel_reject(self, rej: CancelReject) -> object:
        return self.consumer.on_cancel_reject(rej)


class TracingRouter(SimRouter[MarketSimulator]):
    def __init__(self, clock: SimClock) -> None:
        super().__init__(clock)
        self.fills: list[Print] = []
        self.samples: list[BookSample] = []
        self.sweep_orders: set[str] = set()  # ClOrdIDs of our market orders
        self.new_orders = 0
        self.replaces = 0
        self.cancels = 0

    def reset(self, sim: MarketSimulator, consumer: ReportConsumer) -> None:
        super().reset(sim, _FillTap(consumer, self.fills, self.sweep_orders))

    def submit_new(self, approved: Approved[NewOrderRequest]) -> None:
        super().submit_new(approved)
        self.new_orders += 1
        if approved.request.ord_type is OrdType.MARKET:  # only the end-of-horizon sweep
            self.sweep_orders.add(approved.request.cl_ord_id)

    def submit_replace(self, approved: Approved[ReplaceRequest]) -> None:
        super().submit_replace(approved)
        self.replaces += 1

    def submit_cancel(self, approved: Approved[CancelRequest]) -> None:
        super().submit_cancel(approved)
        self.cancels += 1

    def advance_to(self, ts_ns: int) -> None:
        self.samples.append(BookSample(self.clock.now_ns(), self._sim().book.mid))
        super().advance_to(ts_ns)

    def tape_since(self, ts_ns: int) -> list[Print]:
        """Every print on the venue's tape from ``ts_ns`` on, ours included."""
        return [Print(t.ts_ns, t.qty, t.price) for t in self._sim().tape.since(ts_ns)]


class TraceFactory:
    """The environment's ``link`` argument: builds one router per parent order and keeps
    the latest, whose record the backtest reads once the order is done."""

    def __init__(self) -> None:
        self.last: TracingRouter | None = None

    def __call__(self, clock: SimClock) -> TracingRouter:
        self.last = TracingRouter(clock)
        return self.last


class ActionRecorder:
    """Wraps a learned policy and notes which row of its action table each decision chose,
    and when (as a fraction of the horizon); the decisions themselves are untouched."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.name = policy.name
        self.chosen: list[tuple[float, int]] = []

    def reset(self, ctx: DecisionContext, seed: int | None = None) -> None:
        self.chosen = []
        self.policy.reset(ctx, seed=seed)

    def act(self, obs: Observation) -> Action:
        action = self.policy.act(obs)
        index: Any = getattr(self.policy, "last_index", -1)
        if isinstance(index, int) and index >= 0:
            self.chosen.append((obs.ctx.elapsed_fraction, index))
        return action

    def counts(self, n_actions: int, parts: int = 5) -> list[list[int]]:
        """How often each action was chosen in each ``parts``-th of the horizon."""
        out = [[0] * n_actions for _ in range(parts)]
        for frac, index in self.chosen:
            out[min(parts - 1, int(frac * parts))][index] += 1
        return out
