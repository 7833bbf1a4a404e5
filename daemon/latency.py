"""Tick to order: from the market-data frame that prompted a decision to its order sent.

The decision on a frame marks the frame's arrival here (``trigger_ns``, perf_counter
ns) while it runs; each new order the router sends meanwhile is one sample. A decision
a timer prompted leaves it 0 and is not timed: no frame prompted it.
"""

from __future__ import annotations

import time
from collections import deque

from prometheus_client import Histogram


class TickToOrder:
    def __init__(self, histogram: Histogram, keep: int = 100_000) -> None:
        self.histogram = histogram
        self.trigger_ns = 0  # arrival of the frame behind the decision under way (0: none)
        self.samples: deque[int] = deque(maxlen=keep)  # for benches: the last ``keep``

    def order_sent(self) -> None:
        if self.trigger_ns:
            elapsed = time.perf_counter_ns() - self.trigger_ns
            self.samples.append(elapsed)
            self.histogram.observe(elapsed / 1e9)
