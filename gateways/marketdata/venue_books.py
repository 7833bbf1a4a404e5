"""Venue events -> one book per symbol, with the resync bookkeeping every feed needs.

:class:`VenueBooks` is transport-free: it is fed raw messages (from a websocket or a
recording) and snapshots (from REST, in-band, or a recording's snapshot line), keeps a
:class:`~gateways.marketdata.book_builder.BookBuilder` per symbol with the adapter's
sequencing rule, and keeps :attr:`VenueBooks.needs_snapshot` up to date so the
transport knows whom to resync. Applied changes go to ``on_book`` with the level
changes (or ``None`` after a snapshot, meaning "take the whole book"), which is what a
republisher needs.

Per symbol it also keeps what a health endpoint needs (:class:`SymbolFeed`): whether
the book is in sync, since when and why not, whether it ever was, and how many
messages naming the symbol could not be read. Unreadable messages are logged through
an :class:`~gateways.marketdata.error_tally.ErrorTally`: the first of each kind in
full, repeats as a count (a wrong tick size fails every message the same way).

Integrity check: when the venue also sends a top-of-book ticker stamped with an update
id (Binance ``bookTicker``), and our book sits at exactly that id, the best levels must
agree. A disagreement means the rebuilt book is wrong, so it is dropped and resynced
like a gap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.book import L2Book
from core.events import BookSnapshot, TradePrint
from core.log import get_logger
from gateways.marketdata.book_builder import BookBuilder, Outcome
from gateways.marketdata.error_tally import ErrorTally
from gateways.marketdata.venue import (
    Change,
    SequencedDelta,
    TopOfBook,
    VenueAdapter,
    VenueFormatError,
    VenueNotice,
)

log = get_logger("gateways.marketdata.venue")

BookCallback = Callable[[str, L2Book, Sequence[Change] | None], None]
TradeCallback = Callable[[TradePrint], None]
SyncCallback = Callable[[str, bool, str], None]


@dataclass(slots=True)
class VenueBookStats:
    messages: int = 0
    applied: int = 0  # deltas applied
    stale: int = 0  # deltas already reflected (dropped)
    buffered: int = 0  # deltas held for a snapshot
    gaps: int = 0
    rejected: int = 0  # deltas/snapshots the book refused (crossed, malformed)
    snapshots: int = 0  # snapshots applied
    resyncs: int = 0  # times a synced book was lost and had to be rebuilt
    trades: int = 0
    bad_messages: int = 0
    ticker_checks: int = 0
    ticker_mismatches: int = 0


@dataclass(slots=True)
class SymbolFeed:
    """One symbol's feed health, in the feed's own time (``recv_ns``)."""

    synced: bool = False
    since_ns: int = 0  # when ``synced`` last changed (0: since the start)
    reason: str = "waiting for the first snapshot"
    ever_synced: bool = False
    bad_messages: int = 0
    last_error: str = ""


class VenueBooks:
    def __init__(
        self,
        adapter: VenueAdapter,
        *,
        on_book: BookCallback | None = None,
        on_trade: TradeCallback | None = None,
        on_sync: SyncCallback | None = None,
        max_buffer: int = 100_000,
    ) -> None:
        self.adapter = adapter
        self.builders = {
            s: BookBuilder(s, adapter.rule, max_buffer=max_buffer) for s in adapter.symbols
        }
        self.on_book = on_book
        self.on_trade = on_trade
        self.on_sync = on_sync
        self.needs_snapshot: set[str] = set(self.builders)
        self._pending_ticker: dict[str, TopOfBook] = {}
        self.stats = VenueBookStats()
        self.feeds = {s: SymbolFeed() for s in self.builders}
        self.errors = ErrorTally(log, "venue_bad_message")
        self._now_ns = 0

    @property
    def now_ns(self) -> int:
        """Receive time of the last message fed (the feed's own clock)."""
        return self._now_ns

    def book(self, symbol: str) -> L2Book | None:
        """The symbol's book while it is in sync, else None."""
        builder = self.builders.get(symbol)
        return builder.book if builder is not None and builder.synced else None

    # ----------------------------------------------------------------- input
    def feed(self, raw: bytes | str, recv_ns: int) -> None:
        """One raw feed message. A message that cannot be read is logged and counted;
        if it was a book delta its absence shows up as a sequence gap."""
        self.stats.messages += 1
        self._now_ns = recv_ns
        try:
            events = self.adapter.parse(raw, recv_ns)
        except VenueFormatError as exc:
            self.bad_message(exc, recv_ns)
            return
        for event in events:
            if isinstance(event, SequencedDelta):
                self._delta(event)
            elif isinstance(event, TradePrint):
                self.stats.trades += 1
                if self.on_trade is not None and event.symbol in self.builders:
                    self.on_trade(event)
            elif isinstance(event, TopOfBook):
                self._ticker(event)
            elif isinstance(event, BookSnapshot):
                self.apply_snapshot(event)
            elif isinstance(event, VenueNotice):
                if event.error:
                    self.stats.bad_messages += 1
                    log.error("venue_notice", venue=self.adapter.name, message=event.message)
                else:
                    log.info("venue_notice", venue=self.adapter.name, message=event.message)

    def bad_message(self, exc: VenueFormatError, recv_ns: int) -> None:
        """Count (and log once per kind) a message that could not be read."""
        self.stats.bad_messages += 1
        feed = self.feeds.get(exc.symbol) if exc.symbol is not None else None
        if feed is not None:
            feed.bad_messages += 1
            feed.last_error = str(exc)
        self.errors.record(str(exc), recv_ns, venue=self.adapter.name, symbol=exc.symbol)

    def summarise_errors(self) -> None:
        """Log the counts of repeated errors (when the feed ends or stops)."""
        self.errors.summarise(venue=self.adapter.name)

    def apply_snapshot(self, snapshot: BookSnapshot) -> bool:
        """Apply a snapshot (and the deltas buffered behind it); True when in sync."""
        builder = self.builders.get(snapshot.symbol)
        if builder is None:
            return False
        outcome = builder.on_snapshot(snapshot)
        if outcome is Outcome.APPLIED:
            self.stats.snapshots += 1
            self.needs_snapshot.discard(snapshot.symbol)
            self._sync(snapshot.symbol, True, f"snapshot at update id {snapshot.seq}")
            if self.on_book is not None:
                self.on_book(snapshot.symbol, builder.book, None)
            return True
        if outcome is Outcome.REJECTED:
            self.stats.rejected += 1
        else:
            self.stats.gaps += 1  # snapshot older than the deltas buffered behind it
        self.feeds[snapshot.symbol].reason = f"snapshot unusable: {builder.last_error}"
        log.warning(
            "venue_snapshot_unusable",
            venue=self.adapter.name,
            symbol=snapshot.symbol,
            reason=builder.last_error,
        )
        self.needs_snapshot.add(snapshot.symbol)
        return False

    def reset_all(self, reason: str) -> None:
        """Connection lost: every book is unknown until its next snapshot."""
        self._pending_ticker.clear()
        for symbol, builder in self.builders.items():
            was_synced = builder.synced
            builder.reset(reason)
            self.needs_snapshot.add(symbol)
            if was_synced:
                self._sync(symbol, False, reason)

    # -------------------------------------------------------------- internals
    def _delta(self, d: SequencedDelta) -> None:
        builder = self.builders.get(d.symbol)
        if builder is None:
            return
        outcome = builder.apply(d.first, d.last, d.prev, d.changes, d.ts_ns)
        if outcome is Outcome.APPLIED:
            self.stats.applied += 1
            if self._pending_ticker:
                self._check_pending_ticker(builder)
                if not builder.synced:
                    return
            if self.on_book is not None and d.changes:
                self.on_book(d.symbol, builder.book, d.changes)
        elif outcome is Outcome.STALE:
            self.stats.stale += 1
        elif outcome is Outcome.BUFFERED:
            self.stats.buffered += 1
        else:
            if outcome is Outcome.GAP:
                self.stats.gaps += 1
            else:
                self.stats.rejected += 1
            self._lost(d.symbol, builder.last_error)

    def _ticker(self, t: TopOfBook) -> None:
        builder = self.builders.get(t.symbol)
        if builder is None or not builder.synced:
            return
        if builder.last_seq == t.update_id:
            self._compare(builder, t)
        elif t.update_id > builder.last_seq:
            # Tickers often run ahead of the (batched) diff stream: check when the
            # book reaches this update id.
            self._pending_ticker[t.symbol] = t

    def _check_pending_ticker(self, builder: BookBuilder) -> None:
        t = self._pending_ticker.get(builder.symbol)
        if t is None or t.update_id > builder.last_seq:
            return
        del self._pending_ticker[builder.symbol]
        if t.update_id == builder.last_seq:
            self._compare(builder, t)

    def _compare(self, builder: BookBuilder, t: TopOfBook) -> None:
        self.stats.ticker_checks += 1
        book = builder.book
        ours = (book.best_bid, book.best_bid_size, book.best_ask, book.best_ask_size)
        theirs = (t.bid, t.bid_size, t.ask, t.ask_size)
        if ours != theirs:
            self.stats.ticker_mismatches += 1
            why = (
                f"top of book {ours} differs from the venue's ticker {theirs} "
                f"at update {t.update_id}"
            )
            builder.reset(why)
            self._lost(t.symbol, why)

    def _lost(self, symbol: str, why: str) -> None:
        self._pending_ticker.pop(symbol, None)
        self.stats.resyncs += 1
        self.needs_snapshot.add(symbol)
        log.warning("venue_book_lost", venue=self.adapter.name, symbol=symbol, reason=why)
        self._sync(symbol, False, why)

    def _sync(self, symbol: str, synced: bool, why: str) -> None:
        feed = self.feeds[symbol]
        feed.synced = synced
        feed.since_ns = self._now_ns
        feed.reason = "" if synced else why
        feed.ever_synced = feed.ever_synced or synced
        if self.on_sync is not None:
            self.on_sync(symbol, synced, why)
