"""Moves simulated markets forward on the exchange's schedule.

Each step advances every symbol's simulator to the next event time and lets the
engines publish what happened; the :class:`~exchange.service.pacing.Pacer` decides
when a step is due (as fast as possible, real time, real time x N). Steps are
``step_s`` of wall time apart when paced (``step_s * speed`` of event time), so market
data leaves in small batches at most one step late; silences in a replay are jumped
over to its next message. Orders arriving between steps are handled at once at the
venue's current event time (see :class:`~exchange.service.venues.SimulatedVenue`).
"""

from __future__ import annotations

import asyncio

from core.clock import NS_PER_S
from core.log import get_logger
from exchange.service.pacing import Pacer
from exchange.service.venues import SimulatedVenue

log = get_logger("exchange.sim")


class SimulationDriver:
    def __init__(
        self,
        venue: SimulatedVenue,
        pacer: Pacer,
        *,
        end_ns: int,
        step_s: float = 0.002,
        asap_step_s: float = 0.1,
    ) -> None:
        if step_s <= 0 or asap_step_s <= 0:
            raise ValueError("steps must be > 0")
        self.venue = venue
        self.pacer = pacer
        self.end_ns = end_ns
        speed = pacer.speed
        step = asap_step_s if speed is None else step_s * speed
        self.step_ns = max(1, round(step * NS_PER_S))
        self.steps = 0

    async def run(self) -> None:
        venue, pacer = self.venue, self.pacer
        t = venue.now_ns
        await pacer.wait(t)  # anchors the schedule at the market's start
        asap = pacer.speed is None
        while not venue.done and t < self.end_ns:
            target = t + self.step_ns
            nxt = venue.next_event_ns()
            if nxt is not None and nxt > target:
                target = nxt  # nothing happens before then: skip the silence
            t = min(target, self.end_ns)
            await pacer.wait(t)
            venue.advance_all(t)
            self.steps += 1
            if asap:
                await asyncio.sleep(0)  # let market data and order entry through
        log.info("simulation_finished", event_time_ns=t, steps=self.steps)
