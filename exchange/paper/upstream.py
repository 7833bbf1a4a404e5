"""Wires a paper venue to its upstream: Binance live, another rlexec exchange, or a
recorded capture, per :class:`exchange.config.PaperSourceSection`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from core.clock import Clock
from core.instruments import Instrument
from core.log import get_logger
from exchange.config import PaperSourceSection
from exchange.paper.venue import PaperVenue
from gateways.marketdata.binance import BinanceAdapter
from gateways.marketdata.reconnect import Backoff
from gateways.marketdata.rlexec_adapter import RlexecAdapter
from gateways.marketdata.venue import VenueAdapter
from gateways.marketdata.venue_books import VenueBooks
from gateways.marketdata.venue_feed import LiveVenueFeed, replay_recording

log = get_logger("exchange.paper")


def build_adapter(cfg: PaperSourceSection, instruments: Mapping[str, Instrument]) -> VenueAdapter:
    if cfg.upstream == "rlexec":
        return RlexecAdapter(cfg.url, instruments)
    venue_instruments = {cfg.symbols.get(s, s): ins for s, ins in instruments.items()}
    return BinanceAdapter(
        cfg.market,
        venue_instruments,
        ws_base=cfg.url or None,
        rest_url=cfg.rest_url or None,
        depth_stream=cfg.depth_stream,
        trade_stream=cfg.trade_stream or None,
        book_ticker=cfg.book_ticker,
    )


class PaperUpstream:
    """Feeds the upstream book and trades into a :class:`PaperVenue` until the feed ends
    (a recording) or forever (a live feed, reconnecting as needed)."""

    def __init__(
        self,
        cfg: PaperSourceSection,
        venue: PaperVenue,
        instruments: Mapping[str, Instrument],
        *,
        clock: Clock,
        wait: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        self.cfg = cfg
        self.venue = venue
        self.clock = clock
        self.wait = wait
        self.adapter = build_adapter(cfg, instruments)
        self.books = VenueBooks(
            self.adapter, on_book=venue.on_book, on_trade=venue.on_trade, on_sync=venue.on_sync
        )
        self.feed: LiveVenueFeed | None = None
        self.lines_replayed = 0

    async def run(self) -> None:
        if self.cfg.upstream == "recording":
            log.info("paper_recording_start", files=[str(f) for f in self.cfg.files])
            try:
                self.lines_replayed = await replay_recording(
                    self.cfg.files, self.books, wait=self.wait
                )
            finally:
                self.books.summarise_errors()
            log.info("paper_recording_end", lines=self.lines_replayed, stats=str(self.books.stats))
            return
        self.feed = LiveVenueFeed(
            self.books,
            clock=self.clock,
            stale_after_s=self.cfg.stale_after_s,
            snapshot_retry_s=self.cfg.snapshot_retry_s,
            backoff=Backoff(0.5, 30.0),
        )
        try:
            await self.feed.run()
        finally:
            await self.feed.stop()
            self.books.summarise_errors()
