"""Synthetic-regime episodes through the same API as LOBSTER replay episodes.

    sim = SyntheticSimulator(load_params("AMZN"), regime=regime("volatile"))
    sim.reset(seed=11)                       # a fresh book from the calibrated profile
    sim.send(NewOrderRequest(...))
    deliveries = sim.advance_to(sim.now_ns + 1_000_000_000)

Same matching engine, same agent link (latency both ways), same L2 view and trade
tape as :class:`~exchange.replay.simulator.ReplaySimulator`; only the background
crowd differs. Runs are reproducible for a given seed, regime and sequence of calls.
"""

from __future__ import annotations

import random

from core.instruments import Instrument
from exchange.engine.book import OrderBook
from exchange.engine.matching import EngineConfig, MarketDataSink
from exchange.flow.generator import FlowStats, ZeroIntelligenceFlow
from exchange.flow.model import FlowParams, Regime, regime
from exchange.replay.agent_venue import AgentVenue
from exchange.replay.latency import LatencyModel
from exchange.replay.link import Delivery
from gateways.marketdata.lobster import NS_PER_S

# 2012-06-21 09:30, the calibration day's open on the replay's time axis, so features
# that read the time of day see the same clock in replay and synthetic episodes.
DEFAULT_START_NS = 1_340_271_000 * NS_PER_S
DEFAULT_LENGTH_NS = 6 * 3600 * NS_PER_S + 1800 * NS_PER_S


class SyntheticSimulator(AgentVenue):
    def __init__(
        self,
        params: FlowParams,
        *,
        regime: Regime | None = None,
        instrument: Instrument | None = None,
        latency: LatencyModel | None = None,
        engine_config: EngineConfig | None = None,
        market_data: MarketDataSink | None = None,
        seed: int = 0,
    ) -> None:
        self.params = params
        self.regime = regime or _calm()
        instrument = instrument or Instrument(params.symbol)
        if instrument.symbol != params.symbol:
            raise ValueError(f"instrument {instrument.symbol} does not match {params.symbol}")
        super().__init__(instrument, latency, engine_config, market_data)
        self._rng = random.Random(seed)
        self._seed = seed
        self.flow = ZeroIntelligenceFlow(
            params, self.regime, self.engine, self.instrument.symbol, self._rng
        )
        self._now = DEFAULT_START_NS
        self._end = DEFAULT_START_NS + DEFAULT_LENGTH_NS
        self._next_event = self._now
        self.reset()

    # ------------------------------------------------------------ views
    @property
    def order_book(self) -> OrderBook:
        return self.flow.book

    @property
    def stats(self) -> FlowStats:
        return self.flow.stats

    @property
    def done(self) -> bool:
        return self._now >= self._end

    # ------------------------------------------------------------ episodes
    def reset(
        self,
        start_ns: int | None = None,
        end_ns: int | None = None,
        seed: int | None = None,
        *,
        regime: Regime | None = None,
        mid: int | None = None,
    ) -> None:
        """A new episode: fresh seeded randomness and a book drawn around ``mid``."""
        start = DEFAULT_START_NS if start_ns is None else start_ns
        end = start + DEFAULT_LENGTH_NS if end_ns is None else end_ns
        if end < start:
            raise ValueError(f"episode ends ({end}) before it starts ({start})")
        if seed is not None:
            self._seed = seed
        self._rng.seed(self._seed)
        if regime is not None:
            self.regime = regime
        self.engine.reset()
        self.flow = ZeroIntelligenceFlow(
            self.params, self.regime, self.engine, self.instrument.symbol, self._rng
        )
        self._now = start
        self._end = end
        self.flow.seed_book(self.params.start_price if mid is None else mid, start)
        self.link.reset(self._seed)
        self._next_event = self.flow.next_event_ns(start)

    # ------------------------------------------------------------ time
    def advance_to(self, ts_ns: int) -> list[Delivery]:
        if ts_ns < self._now:
            raise ValueError(f"simulated time cannot go back ({ts_ns} < {self._now})")
        link, flow = self.link, self.flow
        while True:
            t_req = link.next_arrival()
            t_ev = self._next_event
            if t_ev <= ts_ns and (t_req is None or t_ev <= t_req):
                self._now = t_ev
                flow.step(t_ev)
                self._next_event = flow.next_event_ns(t_ev)
            elif t_req is not None and t_req <= ts_ns:
                self._now = max(self._now, t_req)
                item = link.pop_arrived(t_req)
                assert item is not None
                arrival, session, request = item
                self.engine.handle(request, session, arrival)
                self._next_event = flow.next_event_ns(self._now)  # the book changed
            else:
                break
        self._now = ts_ns
        return link.poll(ts_ns)


def _calm() -> Regime:
    return regime("calm")
