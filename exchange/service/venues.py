"""The market behind order entry: simulated symbols or a paper-trading engine.

Order entry (:mod:`exchange.service.order_entry`) only needs to hand a request to
"the venue" and get reports back through one sink; how the market moves is the
venue's business:

- :class:`SimulatedVenue` holds one market simulator per symbol (LOBSTER replay with
  its impact model, or synthetic flow; :class:`exchange.replay.api.MarketSimulator`),
  each with its own matching engine. Requests reach the simulator of their symbol at
  the venue's current event time and are handled at once (zero latency inside the
  venue: the real latency is the network's); reports come back through the sink.
- :class:`EngineVenue` is a bare matching engine whose book something else drives
  (paper mode: the upstream feed).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from core.events import CancelReject, ExecReport
from core.requests import CancelRequest, NewOrderRequest, ReplaceRequest, StatusRequest
from core.types import ExecType, OrdStatus
from exchange.engine import MatchingEngine, OwnedOrder, RejectReason
from exchange.replay.api import MarketSimulator
from exchange.replay.simulator import ReplaySimulator

Request = NewOrderRequest | CancelRequest | ReplaceRequest | StatusRequest
Report = ExecReport | CancelReject
ReportSink = Callable[[str, Report], None]


class OrderVenue(Protocol):
    def submit(self, session: str, request: Request) -> None:
        """Act on ``request``; every report goes to the venue's report sink."""
        ...

    def open_orders(self, session: str) -> list[OwnedOrder]: ...

    def cancel_all(self, session: str) -> int:
        """Cancel every resting order of ``session`` (unsolicited cancels reported)."""
        ...

    def engines(self) -> Iterable[MatchingEngine]: ...


class EngineVenue:
    """One matching engine; reports leave through the engine's own report sink."""

    def __init__(self, engine: MatchingEngine, venue_time: Callable[[], int]) -> None:
        self.engine = engine
        self.venue_time = venue_time

    def submit(self, session: str, request: Request) -> None:
        self.engine.handle(request, session, self.venue_time())

    def open_orders(self, session: str) -> list[OwnedOrder]:
        return self.engine.open_orders(session)

    def cancel_all(self, session: str) -> int:
        return self.engine.cancel_all(self.venue_time(), session=session)

    def engines(self) -> Iterable[MatchingEngine]:
        return (self.engine,)


class SimulatedVenue:
    """One simulator per symbol, advanced together by the exchange's driver."""

    def __init__(
        self,
        sims: Mapping[str, MarketSimulator],
        on_report: ReportSink,
        event_now: Callable[[], int | None],
        *,
        id_prefix: str = "",
    ) -> None:
        if not sims:
            raise ValueError("a simulated venue needs at least one symbol")
        self.sims = dict(sims)
        self.on_report = on_report
        self.event_now = event_now
        self.id_prefix = id_prefix
        self._reject_ids = itertools.count(1)

    # ------------------------------------------------------------------ time
    @property
    def now_ns(self) -> int:
        return min(s.now_ns for s in self.sims.values())

    @property
    def done(self) -> bool:
        return all(s.done for s in self.sims.values())

    def next_event_ns(self) -> int | None:
        """The earliest known next market event (replays know theirs), else None."""
        best: int | None = None
        for sim in self.sims.values():
            if isinstance(sim, ReplaySimulator) and not sim.done:
                ts = sim.replayer.next_ts()
                if ts is not None and (best is None or ts < best):
                    best = ts
        return best

    def advance_all(self, ts_ns: int) -> None:
        for sim in self.sims.values():
            self._advance(sim, ts_ns)

    def _advance(self, sim: MarketSimulator, ts_ns: int) -> None:
        for d in sim.advance_to(max(ts_ns, sim.now_ns)):
            self.on_report(d.session, d.report)

    def deliver(self, sim: MarketSimulator) -> None:
        """Hand on the reports ``sim`` made outside a request (a restart's restore)."""
        for d in sim.poll():
            self.on_report(d.session, d.report)

    # -------------------------------------------------------------- requests
    def submit(self, session: str, request: Request) -> None:
        sim = self.sims.get(request.symbol)
        if sim is None:
            self._not_listed(session, request)
            return
        now = self.event_now()
        self._advance(sim, now if now is not None else sim.now_ns)
        sim.send(request, session)
        self._advance(sim, sim.now_ns)  # zero latency: handled now

    def open_orders(self, session: str) -> list[OwnedOrder]:
        return [o for sim in self.sims.values() for o in sim.open_orders(session)]

    def cancel_all(self, session: str) -> int:
        n = 0
        for sim in self.sims.values():
            n += sim.engine.cancel_all(sim.now_ns, session=session)
            self.deliver(sim)
        return n

    def engines(self) -> Iterable[MatchingEngine]:
        return (s.engine for s in self.sims.values())

    def _not_listed(self, session: str, request: Request) -> None:
        """A symbol the venue lists but does not simulate (no data for it)."""
        text = RejectReason.UNKNOWN_SYMBOL.text(f"{request.symbol} is not traded here")
        ts = self.event_now() or self.now_ns
        if isinstance(request, CancelRequest | ReplaceRequest):
            self.on_report(
                session,
                CancelReject(
                    request.cl_ord_id,
                    request.orig_cl_ord_id,
                    isinstance(request, ReplaceRequest),
                    RejectReason.UNKNOWN_ORDER.text(request.orig_cl_ord_id),
                    ts,
                ),
            )
            return
        qty = request.qty if isinstance(request, NewOrderRequest) else 0
        self.on_report(
            session,
            ExecReport(
                cl_ord_id=request.cl_ord_id,
                exec_id=f"{self.id_prefix}U{next(self._reject_ids)}",
                exec_type=ExecType.REJECTED if qty else ExecType.ORDER_STATUS,
                ord_status=OrdStatus.REJECTED,
                symbol=request.symbol,
                side=request.side,
                order_qty=qty,
                cum_qty=0,
                leaves_qty=0,
                ts_ns=ts,
                text=text,
            ),
        )
