"""One symbol's L2 book, rebuilt from a snapshot plus sequenced deltas.

The same builder serves rlexec's own feed, LOBSTER replay output and venue diff feeds;
only the :class:`~gateways.marketdata.sequencing.SequenceRule` differs. It follows the
procedure venues document for diff feeds: deltas that arrive before a snapshot are
buffered, the snapshot is applied, buffered deltas it already reflects are dropped,
and the rest must continue its sequence.

A gap, or a delta the book refuses (it would cross the book, or is malformed), drops
the book: a book we cannot vouch for is worse than none, because the daemon would
price orders off it. The caller sees the outcome and fetches a new snapshot
(resubscribe, REST call); meanwhile new deltas are buffered again so the resync can
pick up where the snapshot ends.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from enum import Enum

from core.book import L2Book
from core.errors import BookError
from core.events import BookDelta, BookSnapshot
from core.types import Side
from gateways.marketdata.sequencing import RANGE, SequenceRule, Verdict

Level = tuple[int, int]
Change = tuple[Side, int, int]


class Outcome(Enum):
    APPLIED = "applied"
    STALE = "stale"  # already reflected in the book; dropped
    BUFFERED = "buffered"  # no book yet; kept for the next snapshot
    GAP = "gap"  # sequence broken: book dropped, resync needed
    REJECTED = "rejected"  # the book refused the delta (crossed/malformed): book dropped


class BookBuilder:
    """Snapshot + deltas -> :class:`L2Book`, with buffering and gap detection."""

    __slots__ = (
        "_buffer",
        "_fresh",
        "applied",
        "book",
        "gaps",
        "last_error",
        "last_seq",
        "max_buffer",
        "rejected",
        "rule",
        "snapshots",
        "stale",
        "synced",
    )

    def __init__(
        self, symbol: str, rule: SequenceRule = RANGE, *, max_buffer: int = 100_000
    ) -> None:
        self.book = L2Book(symbol)
        self.rule = rule
        self.max_buffer = max_buffer
        self.synced = False
        self.last_seq = 0
        self._fresh = False
        self._buffer: deque[tuple[int, int, int | None, Sequence[Change], int]] = deque(
            maxlen=max_buffer
        )
        self.applied = 0
        self.stale = 0
        self.gaps = 0
        self.rejected = 0
        self.snapshots = 0
        self.last_error = ""

    @property
    def symbol(self) -> str:
        return self.book.symbol

    # --------------------------------------------------------------- snapshots
    def on_snapshot(self, snapshot: BookSnapshot) -> Outcome:
        return self.apply_snapshot(snapshot.seq, snapshot.bids, snapshot.asks, snapshot.ts_ns)

    def apply_snapshot(
        self, seq: int, bids: Iterable[Level], asks: Iterable[Level], ts_ns: int = 0
    ) -> Outcome:
        """Reset the book to a snapshot taken at update id ``seq``, then replay the buffer.

        Returns APPLIED when the book is in sync afterwards, or GAP/REJECTED when the
        buffered deltas do not continue from this snapshot (it is too old) or the
        snapshot itself is unusable; the book is then dropped again.
        """
        try:
            self.book.apply_snapshot(bids, asks, ts_ns)
        except BookError as exc:
            self._drop(f"snapshot refused: {exc}")
            self.rejected += 1
            return Outcome.REJECTED
        self.snapshots += 1
        self.synced = True
        self.last_seq = seq
        self._fresh = True
        pending = list(self._buffer)
        self._buffer.clear()
        for i, (first, last, prev, changes, ts) in enumerate(pending):
            outcome = self.apply(first, last, prev, changes, ts)
            if outcome is Outcome.GAP or outcome is Outcome.REJECTED:
                # Keep what came after for the next snapshot (the gap delta itself
                # was re-buffered by apply).
                self._buffer.extend(pending[i + 1 :])
                return outcome
        return Outcome.APPLIED

    # ------------------------------------------------------------------ deltas
    def on_delta(
        self, delta: BookDelta, first: int | None = None, prev: int | None = None
    ) -> Outcome:
        """A core :class:`BookDelta`; ``first`` defaults to ``delta.seq`` (contiguous feeds)."""
        return self.apply(
            delta.seq if first is None else first, delta.seq, prev, delta.changes, delta.ts_ns
        )

    def apply(
        self, first: int, last: int, prev: int | None, changes: Sequence[Change], ts_ns: int = 0
    ) -> Outcome:
        """Apply one delta covering update ids ``first..last`` (atomically)."""
        if not self.synced:
            self._buffer.append((first, last, prev, changes, ts_ns))
            return Outcome.BUFFERED
        verdict = self.rule.check(self.last_seq, self._fresh, first, last, prev)
        if verdict is Verdict.APPLY:
            try:
                if len(changes) == 1:
                    side, price, size = changes[0]
                    self.book.apply_delta(side, price, size, ts_ns)
                else:
                    self.book.apply_batch(changes, ts_ns)
            except (BookError, TypeError, ValueError) as exc:
                self.rejected += 1
                self._drop(f"delta {first}..{last} refused: {exc}")
                return Outcome.REJECTED
            self.last_seq = last
            self._fresh = False
            self.applied += 1
            return Outcome.APPLIED
        if verdict is Verdict.STALE:
            self.stale += 1
            return Outcome.STALE
        self.gaps += 1
        self._drop(
            f"sequence gap ({self.rule.name}): book at {self.last_seq}, delta {first}..{last}"
            + ("" if prev is None else f" prev {prev}")
        )
        # The delta that revealed the gap is newer than the book: keep it for the resync.
        self._buffer.append((first, last, prev, changes, ts_ns))
        return Outcome.GAP

    def apply_next(self, seq: int, side: Side, price: int, size: int, ts_ns: int = 0) -> Outcome:
        """One level change numbered ``seq`` on a contiguous feed (rlexec's own).

        The common case (in sync, next in sequence) costs a comparison and one book
        update; anything else takes the general path of :meth:`apply`.
        """
        if self.synced and seq == self.last_seq + 1 and (self.rule is RANGE):
            try:
                self.book.apply_delta(side, price, size, ts_ns)
            except (BookError, TypeError, ValueError) as exc:
                self.rejected += 1
                self._drop(f"delta {seq} refused: {exc}")
                return Outcome.REJECTED
            self.last_seq = seq
            self._fresh = False
            self.applied += 1
            return Outcome.APPLIED
        return self.apply(seq, seq, None, ((side, price, size),), ts_ns)

    def reset(self, reason: str = "reset") -> None:
        """Drop the book and the buffer (e.g. on disconnect); wait for a snapshot."""
        self._drop(reason)
        self._buffer.clear()

    def _drop(self, reason: str) -> None:
        self.synced = False
        self._fresh = False
        self.book.clear()
        self.last_error = reason

    @property
    def buffered(self) -> int:
        return len(self._buffer)
