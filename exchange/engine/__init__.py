"""The matching engine: order-by-order books with price-time priority.

Public API: :class:`MatchingEngine` (requests in, reports and market data out),
:class:`OrderBook` (one symbol's queues and its :class:`EngineL2Book` view),
:class:`RejectReason`, :class:`TradeTape`. See docs/simulation.md.
"""

from exchange.engine.book import PHANTOM_BACK, PHANTOM_FRONT, OrderBook
from exchange.engine.depth import EngineL2Book
from exchange.engine.matching import (
    EngineConfig,
    MarketDataEvent,
    MarketDataSink,
    MatchingEngine,
    Report,
    ReportSink,
    STPMode,
)
from exchange.engine.orders import OwnedOrder
from exchange.engine.reasons import RejectReason
from exchange.engine.sinks import CollectingMarketData, CollectingReports
from exchange.engine.tape import Trade, TradeTape

__all__ = [
    "PHANTOM_BACK",
    "PHANTOM_FRONT",
    "CollectingMarketData",
    "CollectingReports",
    "EngineConfig",
    "EngineL2Book",
    "MarketDataEvent",
    "MarketDataSink",
    "MatchingEngine",
    "OrderBook",
    "OwnedOrder",
    "RejectReason",
    "Report",
    "ReportSink",
    "STPMode",
    "Trade",
    "TradeTape",
]
