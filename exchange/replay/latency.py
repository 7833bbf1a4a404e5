"""Order-entry and response latency between the agent and the simulated venue.

Like hftbacktest's latency models: a request sent at ``t`` reaches the matching engine
at ``t + entry``, and what the engine says at ``u`` reaches the agent at
``u + response``. Replayed messages keep their own timestamps, so the market goes on
moving while an order is in flight, which is the point: a child order priced off a
stale book may miss. Requests from one agent never overtake each other (FIFO link).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Protocol


class LatencyModel(Protocol):
    def reset(self, seed: int | None) -> None: ...

    def entry_ns(self, ts_ns: int) -> int:
        """Travel time of a request sent at ``ts_ns`` to the matching engine."""
        ...

    def response_ns(self, ts_ns: int) -> int:
        """Travel time of a report produced at ``ts_ns`` back to the agent."""
        ...


@dataclass(slots=True)
class ConstantLatency:
    entry: int = 0  # ns
    response: int = 0  # ns

    def __post_init__(self) -> None:
        if self.entry < 0 or self.response < 0:
            raise ValueError("latencies must be >= 0 ns")

    def reset(self, seed: int | None) -> None:
        return None

    def entry_ns(self, ts_ns: int) -> int:
        return self.entry

    def response_ns(self, ts_ns: int) -> int:
        return self.response


@dataclass(slots=True)
class JitteredLatency:
    """Base latency plus an exponential jitter of mean ``jitter`` ns, seeded."""

    entry: int = 50_000
    response: int = 50_000
    jitter: int = 20_000
    seed: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        if min(self.entry, self.response, self.jitter) < 0:
            raise ValueError("latencies must be >= 0 ns")
        self._rng.seed(self.seed)

    def reset(self, seed: int | None) -> None:
        self._rng.seed(self.seed if seed is None else seed)

    def _draw(self) -> int:
        return round(self._rng.expovariate(1.0 / self.jitter)) if self.jitter else 0

    def entry_ns(self, ts_ns: int) -> int:
        return self.entry + self._draw()

    def response_ns(self, ts_ns: int) -> int:
        return self.response + self._draw()
