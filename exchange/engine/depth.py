"""The engine's L2 view: a real :class:`core.book.L2Book`, written only by the engine.

The feature builder reads books through the :class:`~core.book.L2Book` query API in
the simulator and live alike; so the engine does not keep a look-alike but a subclass
whose level dictionaries *are* the engine's level totals. Reading costs nothing extra
and no copy can drift from the order-by-order queues. The public mutators of
:class:`~core.book.L2Book` are refused: a caller that edited this book would make it
disagree with the orders it sums.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NoReturn

from core.book import L2Book, Level
from core.types import Side


class EngineL2Book(L2Book):
    __slots__ = ()

    # Unchecked access for the engine and the replay loop, which keep the invariants
    # themselves (positive sizes, never crossed at rest).
    @property
    def bid_sizes(self) -> dict[int, int]:
        return self._bids

    @property
    def ask_sizes(self) -> dict[int, int]:
        return self._asks

    @property
    def bid_prices(self) -> list[int]:
        """Ascending; the best bid is the last element."""
        return self._bid_px

    @property
    def ask_prices(self) -> list[int]:
        """Ascending; the best ask is the first element."""
        return self._ask_px

    def apply_snapshot(
        self, bids: Iterable[Level], asks: Iterable[Level], ts_ns: int = 0
    ) -> NoReturn:
        raise TypeError(f"{self.symbol}: the matching engine owns this book; it is read-only")

    def apply_delta(self, side: Side, price: int, size: int, ts_ns: int = 0) -> NoReturn:
        raise TypeError(f"{self.symbol}: the matching engine owns this book; it is read-only")

    def apply_batch(self, deltas: Sequence[tuple[Side, int, int]], ts_ns: int = 0) -> NoReturn:
        raise TypeError(f"{self.symbol}: the matching engine owns this book; it is read-only")

    def reset_levels(self) -> None:
        """Empty both sides in place (references held by the replay loop stay valid)."""
        self._bids.clear()
        self._asks.clear()
        self._bid_px.clear()
        self._ask_px.clear()
        self.seq += 1

    def copy_as_l2book(self) -> L2Book:
        """A detached, writable :class:`L2Book` with the same levels (for snapshots)."""
        out = L2Book(self.symbol)
        bids, asks = self.snapshot()
        out.apply_snapshot(bids, asks, self.last_update_ns)
        return out
