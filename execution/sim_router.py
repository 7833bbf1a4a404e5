"""The in-process order router: approved requests to the simulated venue, reports back.

The simulator's half of the "only the clock and the router differ" rule. It
implements :class:`risk.router.OrderRouter` (so it only ever accepts what the risk
overlay approved) and hands requests to a simulated venue
(:class:`~exchange.replay.api.SimulatedVenue`: LOBSTER replay with impact, or synthetic
flow), whose matching engine is the one the exchange process runs. The venue is reached
through :class:`SimulatedVenue`, the part of it this router uses, so the order path does
not import the exchange. The simulator owns the link latency and keeps the market moving
while a request is in flight; the execution reports it delivers are handed to the
:class:`~execution.executor.ExecutionEngine` exactly as the FIX router would deliver
them, with the simulated clock set to their arrival time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, Protocol, TypeVar

from core.clock import SimClock
from core.events import CancelReject, ExecReport
from core.requests import CancelRequest, NewOrderRequest, ReplaceRequest
from risk.approval import Approved, require_approved
from risk.router import OrderRouter

SESSION = "agent"


class Delivered(Protocol):
    """A venue answer as it reaches the agent (``exchange.replay.link.Delivery``)."""

    @property
    def session(self) -> str: ...

    @property
    def report(self) -> ExecReport | CancelReject: ...

    @property
    def ts_ns(self) -> int: ...


class SimulatedVenue(Protocol):
    """What the router needs of a simulated market (``exchange.replay.api.SimulatedVenue``)."""

    @property
    def now_ns(self) -> int: ...

    def send(
        self, request: NewOrderRequest | ReplaceRequest | CancelRequest, session: str
    ) -> int: ...

    def advance_to(self, ts_ns: int) -> Sequence[Delivered]: ...


VenueT = TypeVar("VenueT", bound=SimulatedVenue)
VenueT_contra = TypeVar("VenueT_contra", bound=SimulatedVenue, contravariant=True)


class ReportConsumer(Protocol):
    def on_exec_report(self, report: ExecReport) -> object: ...

    def on_cancel_reject(self, rej: CancelReject) -> object: ...


class VenueLink(OrderRouter, Protocol[VenueT_contra]):
    """A router plus the venue-side driving the environment needs; :class:`SimRouter`
    is the in-process one, and any other (e.g. FIX over loopback) must deliver the same
    reports at the same simulated times."""

    def reset(self, sim: VenueT_contra, consumer: ReportConsumer) -> None: ...

    def advance_to(self, ts_ns: int) -> None: ...


class SimRouter(Generic[VenueT]):
    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.sim: VenueT | None = None
        self.consumer: ReportConsumer | None = None
        self.sent = 0
        self.reports = 0

    def reset(self, sim: VenueT, consumer: ReportConsumer) -> None:
        self.sim = sim
        self.consumer = consumer

    def _sim(self) -> VenueT:
        if self.sim is None:
            raise RuntimeError("SimRouter used before reset(): no simulated venue attached")
        return self.sim

    # ------------------------------------------------------------ OrderRouter
    def submit_new(self, approved: Approved[NewOrderRequest]) -> None:
        self._sim().send(require_approved(approved, NewOrderRequest), SESSION)
        self.sent += 1

    def submit_replace(self, approved: Approved[ReplaceRequest]) -> None:
        self._sim().send(require_approved(approved, ReplaceRequest), SESSION)
        self.sent += 1

    def submit_cancel(self, approved: Approved[CancelRequest]) -> None:
        self._sim().send(require_approved(approved, CancelRequest), SESSION)
        self.sent += 1

    # ------------------------------------------------------------ venue side
    def advance_to(self, ts_ns: int) -> None:
        """Run the venue to ``ts_ns`` and deliver, in order, every report that reached us."""
        sim = self._sim()
        consumer = self.consumer
        clock = self.clock
        for d in sim.advance_to(max(ts_ns, sim.now_ns)):
            if d.session != SESSION or consumer is None:
                continue
            if d.ts_ns > clock.now_ns():
                clock.advance_to(d.ts_ns)
            self.reports += 1
            report = d.report
            if isinstance(report, ExecReport):
                consumer.on_exec_report(report)
            else:
                consumer.on_cancel_reject(report)
        if ts_ns > clock.now_ns():
            clock.advance_to(ts_ns)
