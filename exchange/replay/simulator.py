"""The replay simulator: a LOBSTER window with the agent's orders and impact in it.

The training environment and the exchange process both drive this class:

    sim = ReplaySimulator(load_day(path), impact=default_impact("sqrt", "AMZN"))
    sim.reset(start_ns, end_ns, seed=7)          # cheap: seeds from one orderbook row
    sim.send(NewOrderRequest(...))                # reaches the engine after the entry latency
    for d in sim.advance_to(sim.now_ns + 1_000_000_000):
        tracker.on_exec_report(d.report)          # reports after the response latency
    sim.book.best_bid, sim.book.microprice()      # a core.book.L2Book

Time only moves in :meth:`advance_to`. Inside it, replayed messages, agent requests
(at their arrival time) and impact shifts (at the exact time the rounded impact
changes) are processed in time order; at equal times replayed messages go first (they
were already in flight). With zero latency a request sent at ``now`` is handled by the
next ``advance_to`` (even ``advance_to(now)``) before any later message.
"""

from __future__ import annotations

import random
from pathlib import Path

from core.events import CancelReject, ExecReport
from core.instruments import Instrument
from exchange.engine.book import OrderBook
from exchange.engine.matching import EngineConfig, MarketDataSink
from exchange.replay.agent_venue import AGENT, AgentVenue
from exchange.replay.impact import ImpactModel, NoImpact
from exchange.replay.impact_driver import ImpactDriver
from exchange.replay.latency import LatencyModel
from exchange.replay.link import Delivery
from exchange.replay.prepared import PreparedDay, load_day
from exchange.replay.queue_model import QueueModel
from exchange.replay.replayer import LobsterReplayer, ReplayStats

__all__ = ["AGENT", "ReplaySimulator"]


class ReplaySimulator(AgentVenue):
    def __init__(
        self,
        day: PreparedDay,
        *,
        instrument: Instrument | None = None,
        latency: LatencyModel | None = None,
        impact: ImpactModel | None = None,
        queue_model: QueueModel | None = None,
        engine_config: EngineConfig | None = None,
        market_data: MarketDataSink | None = None,
    ) -> None:
        self.day = day
        instrument = instrument or Instrument(day.symbol, tick_size=day.day.tick_size)
        if instrument.symbol != day.symbol:
            raise ValueError(f"instrument {instrument.symbol} does not match {day.symbol}")
        self.impact: ImpactModel = impact or NoImpact()
        super().__init__(instrument, latency, engine_config, market_data)
        self.replayer = LobsterReplayer(day, self.engine, queue_model)
        self.impact_driver = ImpactDriver(self.impact, self.replayer)
        self._now = day.start_ns
        self._start = day.start_ns
        self._end = day.end_ns
        self._end_index = len(day)
        self.reset()

    @classmethod
    def from_file(cls, message_path: str | Path, **kwargs: object) -> ReplaySimulator:
        return cls(load_day(message_path), **kwargs)  # type: ignore[arg-type]

    # ------------------------------------------------------------ views
    @property
    def start_ns(self) -> int:
        return self._start

    @property
    def order_book(self) -> OrderBook:
        return self.replayer.book

    @property
    def stats(self) -> ReplayStats:
        return self.replayer.stats

    @property
    def offset(self) -> int:
        """Ticks the replayed market is currently shifted by the impact model."""
        return self.replayer.offset

    @property
    def done(self) -> bool:
        """No replayed message is left in the window."""
        return self.replayer.pos >= self._end_index

    def day_bounds(self) -> tuple[int, int]:
        return self.day.start_ns, self.day.end_ns

    def sample_window(self, rng: random.Random, length_ns: int) -> tuple[int, int]:
        """A uniformly drawn window of ``length_ns`` inside the day."""
        first, last = self.day_bounds()
        if length_ns <= 0 or length_ns > last - first:
            raise ValueError(f"window length {length_ns} ns does not fit the day")
        start = rng.randint(first, last - length_ns)
        return start, start + length_ns

    # ------------------------------------------------------------ episodes
    def reset(
        self, start_ns: int | None = None, end_ns: int | None = None, seed: int | None = None
    ) -> None:
        """Start a window: the book is the orderbook row just before ``start_ns``."""
        start = self.day.start_ns if start_ns is None else start_ns
        end = self.day.end_ns if end_ns is None else end_ns
        if end < start:
            raise ValueError(f"window ends ({end}) before it starts ({start})")
        self.engine.reset()
        self.replayer.seed(self.day.index_at(start))
        self._now = max(start, self.replayer.now_ns)
        self._start = start
        self._end = end
        self._end_index = self.day.index_after(end)
        self.impact_driver.reset()
        self.link.reset(seed)

    # ------------------------------------------------------------ time
    @property
    def shifts(self) -> int:
        """How many times the impact model moved the replayed market."""
        return self.impact_driver.shifts

    def advance_to(self, ts_ns: int) -> list[Delivery]:
        """Run the venue to ``ts_ns``; returns the reports delivered by then."""
        if ts_ns < self._now:
            raise ValueError(f"simulated time cannot go back ({ts_ns} < {self._now})")
        link, impact, replayer = self.link, self.impact_driver, self.replayer
        while True:
            t = ts_ns
            t_req = link.next_arrival()
            if t_req is not None and t_req < t:
                t = t_req
            t_imp = impact.next_change_ns(self._now)
            if t_imp is not None and t_imp < t:
                t = t_imp
            t = max(t, self._now)
            replayer.run_to(min(self.day.index_after(t), self._end_index))
            self._now = t
            if impact.dirty or (t_imp is not None and t_imp <= t):
                impact.apply(t)
            while (item := link.pop_arrived(t)) is not None:
                arrival, session, request = item
                self.engine.handle(request, session, arrival)
                if impact.dirty:
                    impact.apply(t)
            if t >= ts_ns:
                t_imp = impact.next_change_ns(self._now)
                if t_imp is None or t_imp > ts_ns:
                    break
        return link.poll(self._now)

    # ------------------------------------------------------------ plumbing
    def _on_report(self, session: str, report: ExecReport | CancelReject) -> None:
        self.impact_driver.on_report(report)
        super()._on_report(session, report)
