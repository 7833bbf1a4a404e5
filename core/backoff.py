"""One way to wait before reconnecting: exponential, capped, jittered down from the cap.

Every connection the daemon and the exchange keep (market data, FIX, Redis, a paper
venue's upstream) backs off the same way and is configured the same way
(``reconnect_min_s``, ``reconnect_max_s``, ``reconnect_jitter``): attempt ``n`` waits
``cap * (1 - jitter * U)``, with ``cap = min(max_s, min_s * 2**n)`` and ``U`` uniform in
[0, 1). Never longer than the cap, so an operator can say how long a reconnect takes at
most; at least ``1 - jitter`` of it, so a venue that refuses us is not hammered; the
random part spreads the reconnects of many clients after a restart.
"""

from __future__ import annotations

import random


def backoff_s(attempt: int, min_s: float, max_s: float, jitter: float, rng: random.Random) -> float:
    """Seconds to wait before reconnect ``attempt`` (0-based)."""
    cap = min(max_s, min_s * float(2 ** min(attempt, 30)))
    return cap * (1.0 - jitter * rng.random())


class Backoff:
    """The attempts so far and the next wait; :meth:`reset` once connected again."""

    def __init__(
        self,
        initial_s: float = 0.1,
        max_s: float = 5.0,
        *,
        jitter: float = 0.5,
        rng: random.Random | None = None,
    ) -> None:
        if initial_s <= 0 or max_s < initial_s:
            raise ValueError(f"need 0 < initial_s <= max_s, got {initial_s}, {max_s}")
        if not 0 <= jitter < 1:
            raise ValueError(f"need 0 <= jitter < 1, got {jitter}")
        self.initial_s = initial_s
        self.max_s = max_s
        self.jitter = jitter
        self.rng = rng or random.Random()
        self.attempt = 0

    def next_delay(self) -> float:
        delay = backoff_s(self.attempt, self.initial_s, self.max_s, self.jitter, self.rng)
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0
