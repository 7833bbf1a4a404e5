"""A LOBSTER day made ready for fast, repeated replay, cached in memory.

Parsing is done once per process (:func:`load_day` caches by path); each episode
then only indexes into Python lists, which the replay loop reads several times faster
than numpy scalars. Two things are precomputed here, vectorised:

- ``window_events``: the messages after which a level enters the file's ``L``-level
  window from beyond it (or the side shows fewer than ``L`` levels). A level-``L``
  message file only carries events inside the top ``L`` levels, so such a level's size
  is only known from the orderbook file; the replay takes it from there at exactly
  these messages and nowhere else.
- ``window_start(ts)``: where a window starting at ``ts`` begins, and the orderbook row
  it is seeded from, so an episode never replays from 09:30.
"""

from __future__ import annotations

import functools
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import numpy.typing as npt

from gateways.marketdata.lobster import NEW_LIMIT, LobsterDay, read_day

Row = tuple[int, int, int, int, int, int]  # ts_ns, type, order id, size, price (ticks), side


@dataclass(frozen=True, slots=True)
class WindowFix:
    """What the orderbook file says about one side after a window event.

    ``entering``: levels that came into the window from beyond it, with their sizes;
    ``bound``: the worst price the file shows on this side (None when the side shows
    fewer than ``L`` levels, i.e. the whole side is visible); ``prices``: every price
    the file shows on this side; ``before``: the prices it showed one row earlier;
    ``count``: ``len(prices)``, which the replay compares with its own level count.
    """

    side: int
    entering: tuple[tuple[int, int], ...]
    bound: int | None
    prices: frozenset[int]
    before: frozenset[int]
    count: int


@dataclass(frozen=True, slots=True, eq=False)
class PreparedDay:
    day: LobsterDay
    rows: list[Row]
    ts: npt.NDArray[np.int64]
    ts_list: list[int]  # the same timestamps, for bisect (a numpy call costs more per lookup)
    window_events: list[int]  # sorted message indices that need a window reconcile
    window_fixes: dict[int, tuple[WindowFix, ...]]

    @property
    def levels(self) -> int:
        return self.day.levels

    @property
    def symbol(self) -> str:
        return self.day.ticker

    @property
    def start_ns(self) -> int:
        return int(self.ts[0])

    @property
    def end_ns(self) -> int:
        return int(self.ts[-1])

    def __len__(self) -> int:
        return len(self.rows)

    def book_row(self, i: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(bids, asks) of orderbook row ``i`` (the book after message ``i``), best first."""
        b = self.day.book
        bids = [(int(p), int(s)) for p, s in zip(b.bid_px[i], b.bid_sz[i], strict=True) if p]
        asks = [(int(p), int(s)) for p, s in zip(b.ask_px[i], b.ask_sz[i], strict=True) if p]
        return bids, asks

    def index_at(self, ts_ns: int) -> int:
        """Index of the first message at or after ``ts_ns``."""
        return bisect_left(self.ts_list, ts_ns)

    def index_after(self, ts_ns: int) -> int:
        """Index of the first message strictly after ``ts_ns``."""
        return bisect_right(self.ts_list, ts_ns)


def _entering(
    px: npt.NDArray[np.int64], msg_px: npt.NDArray[np.int64], own_add: npt.NDArray[np.bool_]
) -> npt.NDArray[np.bool_]:
    """Rows whose side shows a price that the previous row did not and that the
    row's own message did not create."""
    prev, cur = px[:-1], px[1:]
    seen = (cur[:, :, None] == prev[:, None, :]).any(axis=2)
    new = (cur != 0) & ~seen & ~(own_add[1:, None] & (cur == msg_px[1:, None]))
    fewer = (cur != 0).sum(axis=1) < (prev != 0).sum(axis=1)
    flagged = new.any(axis=1) | fewer
    return np.concatenate([[False], flagged])


def prepare(day: LobsterDay) -> PreparedDay:
    m = day.messages
    own_add = m.event == NEW_LIMIT
    bid_flag = _entering(day.book.bid_px, m.price, own_add & (m.direction == 1))
    ask_flag = _entering(day.book.ask_px, m.price, own_add & (m.direction == -1))
    events = np.flatnonzero(bid_flag | ask_flag)
    fixes = {int(i): _fixes(day, int(i), bool(bid_flag[i]), bool(ask_flag[i])) for i in events}
    ts_list: list[int] = m.ts_ns.tolist()
    rows: list[Row] = list(
        zip(
            ts_list,
            m.event.tolist(),
            m.order_id.tolist(),
            m.size.tolist(),
            m.price.tolist(),
            m.direction.tolist(),
            strict=True,
        )
    )
    return PreparedDay(
        day=day,
        rows=rows,
        ts=m.ts_ns,
        ts_list=ts_list,
        window_events=events.tolist(),
        window_fixes=fixes,
    )


def _fixes(day: LobsterDay, i: int, bid: bool, ask: bool) -> tuple[WindowFix, ...]:
    b, m = day.book, day.messages
    own = int(m.price[i]) if int(m.event[i]) == NEW_LIMIT else None
    out = []
    for side, flagged, px, sz in ((1, bid, b.bid_px, b.bid_sz), (-1, ask, b.ask_px, b.ask_sz)):
        if not flagged:
            continue
        prev = set(px[i - 1].tolist())
        cur = [(p, s) for p, s in zip(px[i].tolist(), sz[i].tolist(), strict=True) if p]
        entering = tuple(
            (p, s)
            for p, s in cur
            if p not in prev and not (own is not None and p == own and int(m.direction[i]) == side)
        )
        bound = cur[-1][0] if len(cur) == day.levels else None
        shown = frozenset(p for p, _ in cur)
        before = frozenset(prev - {0})
        out.append(WindowFix(side, entering, bound, shown, before, len(shown)))
    return tuple(out)


@functools.lru_cache(maxsize=16)
def _load(message_path: str, mtime_ns: int, tick_size: str) -> PreparedDay:
    return prepare(read_day(message_path, tick_size=Decimal(tick_size)))


def load_day(message_path: str | Path, tick_size: Decimal = Decimal("0.01")) -> PreparedDay:
    """Parse (first call) or fetch (later calls) a prepared day; reloads if the file
    changed on disk."""
    p = Path(message_path).resolve()
    return _load(str(p), p.stat().st_mtime_ns, str(tick_size))
