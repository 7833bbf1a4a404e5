"""What an agent sees of a simulated venue, whatever drives the background market.

The replay simulator (LOBSTER history) and the synthetic simulator (a stochastic
crowd) differ only in where the other orders come from. Everything the agent touches
is here, once: one matching engine, the agent link with its latencies both ways, the
L2 view and trade tape, queue positions, and the clock that only ``advance_to`` moves.
"""

from __future__ import annotations

from core.book import L2Book
from core.events import CancelReject, ExecReport
from core.instruments import Instrument
from exchange.engine.book import OrderBook
from exchange.engine.matching import EngineConfig, MarketDataSink, MatchingEngine
from exchange.engine.orders import OwnedOrder
from exchange.engine.tape import TradeTape
from exchange.replay.latency import LatencyModel
from exchange.replay.link import AgentLink, AgentRequest, Delivery

AGENT = "agent"


class AgentVenue:
    """Base of the simulators: subclasses set the background book and ``advance_to``."""

    def __init__(
        self,
        instrument: Instrument,
        latency: LatencyModel | None,
        engine_config: EngineConfig | None,
        market_data: MarketDataSink | None,
    ) -> None:
        self.instrument = instrument
        self.link = AgentLink(latency)
        self.engine = MatchingEngine([instrument], self._on_report, market_data, engine_config)
        self._now = 0
        self._end = 0

    # ------------------------------------------------------------ views
    @property
    def symbol(self) -> str:
        return self.instrument.symbol

    @property
    def now_ns(self) -> int:
        return self._now

    @property
    def end_ns(self) -> int:
        return self._end

    @property
    def order_book(self) -> OrderBook:
        """The order-by-order book the engine matches against."""
        raise NotImplementedError

    @property
    def book(self) -> L2Book:
        """The L2 view (a real :class:`core.book.L2Book`, kept by the engine)."""
        return self.order_book.l2

    @property
    def tape(self) -> TradeTape:
        return self.order_book.tape

    def open_orders(self, session: str = AGENT) -> list[OwnedOrder]:
        return self.engine.open_orders(session)

    def queue_ahead(self, cl_ord_id: str, session: str = AGENT) -> int:
        """Size queued ahead of a resting agent order (its queue position)."""
        o = self.engine.order(session, cl_ord_id)
        if o is None or o.price is None:
            raise KeyError(f"no resting order {cl_ord_id!r} for session {session!r}")
        return self.order_book.ahead_of(o.side, o.price, o.key)

    # ------------------------------------------------------------ requests
    def send(self, request: AgentRequest, session: str = AGENT) -> int:
        """Send a request now; returns when it reaches the matching engine."""
        return self.link.send(request, session, self._now)

    submit = send
    cancel = send
    replace = send

    def poll(self) -> list[Delivery]:
        """Reports that have reached the agent by now."""
        return self.link.poll(self._now)

    def advance_to(self, ts_ns: int) -> list[Delivery]:
        """Run the venue to ``ts_ns``; returns the reports delivered by then."""
        raise NotImplementedError

    # ------------------------------------------------------------ plumbing
    def _on_report(self, session: str, report: ExecReport | CancelReject) -> None:
        self.link.deliver(session, report)
