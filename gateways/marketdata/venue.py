"""The venue adapter interface: how a venue's public L2 feed plugs into paper trading.

An adapter knows one venue's wire format and nothing else. It turns a raw message
into zero or more venue events (a book snapshot, a sequenced delta, a trade, a
top-of-book ticker) on our integer grid, names the sequencing rule its deltas follow,
and says how to get a fresh snapshot when the book is lost: either a REST URL (Binance)
or a request to send on the websocket itself (rlexec's own feed). Connection handling,
buffering, gap detection and resync live once, in :mod:`.venue_books` and
:mod:`.venue_feed`, for every adapter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from core.events import BookDelta, BookSnapshot, TradePrint
from core.types import Side
from gateways.marketdata.sequencing import SequenceRule

Change = tuple[Side, int, int]


class VenueFormatError(ValueError):
    """A venue message we cannot read; says which field and why, and for which of our
    symbols when the message named one (so a symbol that never gets a book can say
    why)."""

    def __init__(self, message: str, symbol: str | None = None) -> None:
        super().__init__(message)
        self.symbol = symbol


@dataclass(frozen=True, slots=True)
class SequencedDelta:
    """A diff-depth update covering the venue's update ids ``first..last``.

    ``prev`` is the venue's "previous update's last id" for feeds that send one
    (Binance futures ``pu``), else None.
    """

    symbol: str
    first: int
    last: int
    prev: int | None
    ts_ns: int
    changes: tuple[Change, ...]

    def as_book_delta(self) -> BookDelta:
        return BookDelta(self.symbol, self.last, self.ts_ns, self.changes)


@dataclass(frozen=True, slots=True)
class TopOfBook:
    """A venue's best bid/ask ticker stamped with the update id it reflects.

    Not needed to build the book, but a free integrity check: whenever the rebuilt
    book sits at the same update id, its best levels must equal these.
    """

    symbol: str
    update_id: int
    bid: int
    bid_size: int
    ask: int
    ask_size: int


@dataclass(frozen=True, slots=True)
class VenueNotice:
    """Something the feed should log: an upstream error frame, a message skipped in a
    batch (its sequence number goes missing, so the book notices the gap anyway)."""

    message: str
    error: bool = True


VenueEvent = BookSnapshot | SequencedDelta | TradePrint | TopOfBook | VenueNotice


@dataclass(frozen=True, slots=True)
class RestResync:
    """Fetch a snapshot with an HTTP GET of ``url`` and parse it with the adapter."""

    url: str


@dataclass(frozen=True, slots=True)
class RequestResync:
    """Send ``message`` on the feed's own websocket; the snapshot arrives in-band."""

    message: bytes


Resync = RestResync | RequestResync


class VenueAdapter(Protocol):
    name: str
    rule: SequenceRule

    @property
    def symbols(self) -> Sequence[str]:
        """Our symbols this adapter serves."""
        ...

    def parse(self, raw: bytes | str, recv_ns: int) -> Sequence[VenueEvent]:
        """One raw feed message -> venue events (empty for messages we do not use).

        Raises :class:`VenueFormatError` for a message that should be readable but is
        not; ``recv_ns`` stamps events whose message carries no venue time.
        """
        ...

    def parse_snapshot(self, body: bytes, symbol: str, recv_ns: int) -> BookSnapshot:
        """The body of a :class:`RestResync` answer for ``symbol``."""
        ...

    def stream_url(self) -> str:
        """Websocket URL carrying every stream the adapter needs."""
        ...

    def on_connect(self) -> Sequence[bytes]:
        """Messages to send right after connecting (subscriptions)."""
        ...

    def resync(self, symbol: str) -> Resync:
        """How to get a fresh snapshot of ``symbol`` after a gap or a (re)connect."""
        ...
