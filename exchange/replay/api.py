"""What the environment and the exchange process may rely on from any simulated
market: LOBSTER replay (:class:`~exchange.replay.simulator.ReplaySimulator`) and
synthetic flow (:class:`~exchange.flow.simulator.SyntheticSimulator`) both satisfy
:class:`MarketSimulator`, so an episode runs the same way on either."""

from __future__ import annotations

from typing import Protocol

from core.book import L2Book
from core.instruments import Instrument
from exchange.engine.book import OrderBook
from exchange.engine.matching import MatchingEngine
from exchange.engine.orders import OwnedOrder
from exchange.engine.tape import TradeTape
from exchange.replay.link import AgentRequest, Delivery


class MarketSimulator(Protocol):
    @property
    def symbol(self) -> str: ...

    @property
    def instrument(self) -> Instrument: ...

    @property
    def engine(self) -> MatchingEngine: ...

    @property
    def now_ns(self) -> int: ...

    @property
    def book(self) -> L2Book: ...

    @property
    def order_book(self) -> OrderBook: ...

    @property
    def tape(self) -> TradeTape: ...

    @property
    def done(self) -> bool: ...

    def reset(
        self, start_ns: int | None = None, end_ns: int | None = None, seed: int | None = None
    ) -> None: ...

    def send(self, request: AgentRequest, session: str = ...) -> int: ...

    def advance_to(self, ts_ns: int) -> list[Delivery]: ...

    def poll(self) -> list[Delivery]: ...

    def open_orders(self, session: str = ...) -> list[OwnedOrder]: ...

    def queue_ahead(self, cl_ord_id: str, session: str = ...) -> int: ...
