"""How long each request to the venue has waited for its answer, on the monotonic clock.

A request whose answer is overdue leaves the order's state unknown: the venue may have
it, or not, or may have answered into a link that went silent. The node then sends
nothing new in that symbol and asks the venue where the order stands.

Why the monotonic clock: the node's own clock is market time, which in a replay runs at
N x real time (a 2 s ack timeout would expire after 67 ms at 30x) and jumps when it is
synced to the feed. A timeout that guards a network reply must measure the network,
so it runs on ``time.monotonic_ns`` whatever pace the market keeps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from core.orders import ChildOrder


class AckWatch:
    """Send times of the requests in flight, keyed by the request's ClOrdID."""

    def __init__(self, timeout_s: float, now_ns: Callable[[], int] = time.monotonic_ns) -> None:
        if not timeout_s > 0:
            raise ValueError(f"ack timeout must be > 0 s, got {timeout_s}")
        self.timeout_ns = round(timeout_s * 1e9)
        self._now_ns = now_ns
        self._since: dict[str, int] = {}

    def sent(self, request_id: str) -> None:
        """A new order, cancel or replace went out under ``request_id`` just now."""
        self._since[request_id] = self._now_ns()

    def sent_at_ns(self, request_id: str) -> int | None:
        """When ``request_id`` went out (monotonic ns), while it waits for its answer."""
        return self._since.get(request_id)

    def overdue(self, orders: Iterable[ChildOrder]) -> list[ChildOrder]:
        """The orders among ``orders`` whose request in flight has waited too long.

        A request never seen going out (recovered from the journal after a restart) is
        timed from its first sighting. Requests no longer in flight are forgotten.
        """
        now = self._now_ns()
        since: dict[str, int] = {}
        late = []
        for order in orders:
            pending = order.pending_id
            if not pending:
                continue
            since[pending] = sent = self._since.get(pending, now)
            if now - sent >= self.timeout_ns:
                late.append(order)
        self._since = since
        return late

    def any_due(self, orders: Iterable[ChildOrder], within_ns: int = 0) -> bool:
        """Whether a request in flight among ``orders`` is overdue, or will be within
        ``within_ns``; unlike :meth:`overdue` it forgets nothing (a query on a subset)."""
        deadline = self._now_ns() - self.timeout_ns + within_ns
        return any(
            self._since.get(o.pending_id, deadline + 1) <= deadline for o in orders if o.pending_id
        )

    def waited_s(self, order: ChildOrder) -> float:
        """How long ``order``'s request in flight has waited so far (0 when none)."""
        sent = self._since.get(order.pending_id)
        return 0.0 if sent is None else (self._now_ns() - sent) / 1e9
