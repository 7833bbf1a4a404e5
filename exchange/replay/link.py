"""The wire between an agent and the simulated venue: latency both ways, in order.

Requests wait here until their arrival time at the matching engine; reports wait
until their delivery time at the agent. Both directions are FIFO (a jittered latency
never lets a message overtake an earlier one, as on one TCP connection), and ties keep
sending order, so a run is reproducible.
"""

from __future__ import annotations

import heapq
import itertools
from typing import NamedTuple

from core.events import CancelReject, ExecReport
from core.requests import CancelRequest, NewOrderRequest, ReplaceRequest, StatusRequest
from exchange.replay.latency import ConstantLatency, LatencyModel

AgentRequest = NewOrderRequest | CancelRequest | ReplaceRequest | StatusRequest


class Delivery(NamedTuple):
    """A report as the agent receives it."""

    session: str
    report: ExecReport | CancelReject
    ts_ns: int  # when it reaches the agent (exchange time + response latency)


class AgentLink:
    __slots__ = ("_last_arrival", "_last_delivery", "_outbox", "_pending", "_seq", "latency")

    def __init__(self, latency: LatencyModel | None = None) -> None:
        self.latency: LatencyModel = latency or ConstantLatency()
        self._pending: list[tuple[int, int, str, AgentRequest]] = []
        self._outbox: list[tuple[int, int, Delivery]] = []
        self._seq = itertools.count()
        self._last_arrival = 0
        self._last_delivery = 0

    def reset(self, seed: int | None) -> None:
        self._pending.clear()
        self._outbox.clear()
        self._last_arrival = 0
        self._last_delivery = 0
        self.latency.reset(seed)

    def send(self, request: AgentRequest, session: str, now_ns: int) -> int:
        """Queue a request sent at ``now_ns``; returns its arrival time."""
        arrival = max(now_ns + self.latency.entry_ns(now_ns), self._last_arrival)
        self._last_arrival = arrival
        heapq.heappush(self._pending, (arrival, next(self._seq), session, request))
        return arrival

    def next_arrival(self) -> int | None:
        return self._pending[0][0] if self._pending else None

    def pop_arrived(self, ts_ns: int) -> tuple[int, str, AgentRequest] | None:
        """The next request that has arrived by ``ts_ns``, if any."""
        if self._pending and self._pending[0][0] <= ts_ns:
            arrival, _, session, request = heapq.heappop(self._pending)
            return arrival, session, request
        return None

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def deliver(self, session: str, report: ExecReport | CancelReject) -> None:
        """Engine report sink: schedule the report for the agent (reports never
        overtake each other either: an ack must not arrive after its fill)."""
        at = max(report.ts_ns + self.latency.response_ns(report.ts_ns), self._last_delivery)
        self._last_delivery = at
        heapq.heappush(self._outbox, (at, next(self._seq), Delivery(session, report, at)))

    def poll(self, now_ns: int) -> list[Delivery]:
        out = []
        box = self._outbox
        while box and box[0][0] <= now_ns:
            out.append(heapq.heappop(box)[2])
        return out
