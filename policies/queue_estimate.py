"""Our resting children's place in the queue, estimated from public data only.

The daemon cannot see the venue's queue, so neither may the policy in training (the
matching engine knows the truth; reading it would train a policy on information it
will not have live). The estimate is the conservative one used by queue-position
backtesters: on joining a level, everything displayed there is ahead of us; after
that, only trades at our price move us forward, and the queue ahead can never be
longer than what is displayed at the level besides our own size (cancellations ahead
of us are thereby taken into account only when they must have happened).
"""

from __future__ import annotations

from collections.abc import Iterable

from core.book import L2Book
from core.orders import ChildOrder
from core.reconciler import resting_view
from core.types import Side


class QueueEstimator:
    __slots__ = ("_ahead", "_since")

    def __init__(self) -> None:
        # ClOrdID -> (price, units ahead); born_ns per ClOrdID for the age feature
        self._ahead: dict[str, tuple[int, int]] = {}
        self._since: dict[str, int] = {}

    def reset(self) -> None:
        self._ahead.clear()
        self._since.clear()

    def update(
        self,
        book: L2Book,
        live: Iterable[ChildOrder],
        traded_at: dict[tuple[Side, int], int],
        now_ns: int,
    ) -> None:
        """Advance every estimate to ``now_ns``; call once per decision before sampling."""
        resting: list[tuple[ChildOrder, int, int]] = []
        own_at: dict[tuple[Side, int], int] = {}
        for order in live:
            view = resting_view(order)
            if view is None or view[1] <= 0:
                continue
            (side, price), leaves = view
            resting.append((order, price, leaves))
            own_at[(side, price)] = own_at.get((side, price), 0) + order.leaves_qty
        if not resting:
            if self._ahead:
                self._ahead = {}
            if self._since:
                self._since = {}
            return
        seen: dict[str, tuple[int, int]] = {}
        for order, price, _ in resting:
            key = (order.side, price)
            displayed_others = max(0, book.size_at(order.side, price) - own_at.get(key, 0))
            # a replace keeps its chain's ClOrdID lineage through orig_cl_ord_id
            prev = self._ahead.get(order.cl_ord_id) or self._ahead.get(order.orig_cl_ord_id)
            if prev is None or prev[0] != price:
                ahead = displayed_others
                self._since[order.cl_ord_id] = now_ns
            else:
                ahead = max(0, prev[1] - traded_at.get(key, 0))
                ahead = min(ahead, displayed_others)
                if order.cl_ord_id not in self._since:
                    self._since[order.cl_ord_id] = self._since.get(order.orig_cl_ord_id, now_ns)
            seen[order.cl_ord_id] = (price, ahead)
        self._ahead = seen
        self._since = {k: v for k, v in self._since.items() if k in seen}

    def best_resting(self, side: Side) -> tuple[int, int, int] | None:
        """(price, units ahead, since_ns) of our most aggressive resting child, or None."""
        best: tuple[int, int, int] | None = None
        for cid, (price, ahead) in self._ahead.items():
            if best is None or (price - best[0]) * side.sign > 0:
                best = (price, ahead, self._since.get(cid, 0))
        return best
