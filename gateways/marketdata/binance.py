"""Binance public market data (spot, USD-M and COIN-M futures) as a venue adapter.

Streams used: ``<sym>@depth@100ms`` (diff depth), ``<sym>@trade`` and optionally
``<sym>@bookTicker``, on the combined-stream endpoint (``{"stream":..., "data":...}``);
raw single-stream messages parse too. The book is rebuilt the way Binance documents:

- spot: each diff covers update ids ``U..u``; after a REST snapshot with
  ``lastUpdateId`` L, drop diffs with ``u <= L``, the first applied one has
  ``U <= L + 1 <= u``, and every later one starts at the previous ``u + 1``
  (:class:`~gateways.marketdata.sequencing.RangeRule`);
- futures: diffs also carry ``pu``, the previous diff's ``u``, and ids skip; drop
  diffs with ``u < L`` (a diff ending exactly at L is applied), the first applied one
  has ``U <= L <= u`` (or chains onto L by its ``pu``), and every later one must have
  ``pu`` equal to the last applied ``u``
  (:class:`~gateways.marketdata.sequencing.PrevIdRule`).

A gap means the book is rebuilt from a fresh REST snapshot (``/api/v3/depth``,
``/fapi/v1/depth``, ``/dapi/v1/depth``); diffs keep being buffered meanwhile.
Prices and sizes arrive as decimal strings and are converted exactly onto the
instrument's tick and quantity grid; a value off the grid means the instrument is
misconfigured and is reported, never rounded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import orjson

from core.errors import PrecisionError
from core.events import BookSnapshot, TradePrint
from core.instruments import Instrument
from core.types import Side
from gateways.marketdata.grid import GridParser
from gateways.marketdata.sequencing import PREV_ID, RANGE, SequenceRule
from gateways.marketdata.venue import (
    Change,
    RestResync,
    SequencedDelta,
    TopOfBook,
    VenueEvent,
    VenueFormatError,
)

BinanceMarket = Literal["spot", "usdm", "coinm"]

NS_PER_MS = 1_000_000

# Public endpoints per market: websocket base, REST depth path.
ENDPOINTS: dict[str, tuple[str, str]] = {
    "spot": ("wss://stream.binance.com:9443", "https://api.binance.com/api/v3/depth"),
    "usdm": ("wss://fstream.binance.com", "https://fapi.binance.com/fapi/v1/depth"),
    "coinm": ("wss://dstream.binance.com", "https://dapi.binance.com/dapi/v1/depth"),
}

_BUY = Side.BUY
_SELL = Side.SELL


class _Grid:
    __slots__ = ("price", "qty", "symbol")

    def __init__(self, instrument: Instrument) -> None:
        self.symbol = instrument.symbol
        self.price = GridParser(instrument.tick_size, f"{instrument.symbol} price")
        self.qty = GridParser(instrument.qty_unit, f"{instrument.symbol} quantity")


class BinanceAdapter:
    """One Binance market; ``instruments`` maps Binance symbols (``BTCUSDT``) to ours."""

    name = "binance"

    def __init__(
        self,
        market: BinanceMarket,
        instruments: Mapping[str, Instrument],
        *,
        ws_base: str | None = None,
        rest_url: str | None = None,
        depth_stream: str = "depth@100ms",
        trade_stream: str | None = "trade",
        book_ticker: bool = True,
        snapshot_limit: int = 1000,
    ) -> None:
        if market not in ENDPOINTS:
            raise ValueError(f"unknown Binance market {market!r}; expected spot, usdm or coinm")
        if not instruments:
            raise ValueError("Binance adapter needs at least one instrument")
        self.market = market
        self.rule: SequenceRule = RANGE if market == "spot" else PREV_ID
        self._grids = {venue.upper(): _Grid(ins) for venue, ins in instruments.items()}
        self._venue_symbol = {g.symbol: venue for venue, g in self._grids.items()}
        default_ws, default_rest = ENDPOINTS[market]
        self.ws_base = (ws_base or default_ws).rstrip("/")
        self.rest_url = rest_url or default_rest
        self.depth_stream = depth_stream
        self.trade_stream = trade_stream
        self.book_ticker = book_ticker
        self.snapshot_limit = snapshot_limit

    @property
    def symbols(self) -> Sequence[str]:
        return tuple(self._venue_symbol)

    # ------------------------------------------------------------ connection
    def stream_url(self) -> str:
        streams = []
        for venue in self._grids:
            low = venue.lower()
            streams.append(f"{low}@{self.depth_stream}")
            if self.trade_stream:
                streams.append(f"{low}@{self.trade_stream}")
            if self.book_ticker:
                streams.append(f"{low}@bookTicker")
        return f"{self.ws_base}/stream?streams={'/'.join(streams)}"

    def on_connect(self) -> Sequence[bytes]:
        return ()  # the combined-stream URL already names every stream

    def resync(self, symbol: str) -> RestResync:
        venue = self._venue_symbol[symbol]
        return RestResync(f"{self.rest_url}?symbol={venue}&limit={self.snapshot_limit}")

    # --------------------------------------------------------------- parsing
    def parse(self, raw: bytes | str, recv_ns: int) -> Sequence[VenueEvent]:
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise VenueFormatError(f"not JSON: {exc}") from None
        if not isinstance(msg, dict):
            raise VenueFormatError(f"expected a JSON object, got {type(msg).__name__}")
        data = msg.get("data") if "stream" in msg else msg
        if not isinstance(data, dict):
            raise VenueFormatError("combined-stream message without an object in 'data'")
        try:
            return self._parse_data(data, recv_ns)
        except (KeyError, TypeError, ValueError, PrecisionError) as exc:
            if isinstance(exc, VenueFormatError):
                raise
            what = data.get("e") or (
                "snapshot"
                if "lastUpdateId" in data
                else "bookTicker"
                if "B" in data and "u" in data
                else "message"
            )
            detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
            raise VenueFormatError(f"Binance {what}: {detail}", self._ours(data)) from None

    def _ours(self, data: dict[str, Any]) -> str | None:
        """Our symbol for the one a message names (a snapshot line: the only one)."""
        venue = data.get("s", data.get("symbol"))
        grid = self._grids.get(venue) if isinstance(venue, str) else None
        if grid is None and "lastUpdateId" in data and len(self._grids) == 1:
            grid = next(iter(self._grids.values()))
        return None if grid is None else grid.symbol

    def _parse_data(self, data: dict[str, Any], recv_ns: int) -> Sequence[VenueEvent]:
        kind = data.get("e")
        if kind == "depthUpdate":
            grid = self._grids.get(data["s"])
            if grid is None:
                return ()
            u = _int(data, "u")
            pu = data.get("pu")
            changes: list[Change] = [
                (_BUY, grid.price(p), grid.qty(q)) for p, q in _levels(data, "b")
            ]
            changes.extend((_SELL, grid.price(p), grid.qty(q)) for p, q in _levels(data, "a"))
            return (
                SequencedDelta(
                    grid.symbol,
                    _int(data, "U"),
                    u,
                    None if pu is None else _int(data, "pu"),
                    _ms(data, "E", recv_ns),
                    tuple(changes),
                ),
            )
        if kind in ("trade", "aggTrade"):
            grid = self._grids.get(data["s"])
            if grid is None or data.get("X", "MARKET") != "MARKET":
                return ()  # liquidation / ADL / insurance-fund prints are not book trades
            price, qty = grid.price(data["p"]), grid.qty(data["q"])
            if price <= 0 or qty <= 0:
                raise VenueFormatError(f"trade {qty} @ {price} is not positive")
            maker = data["m"]
            if type(maker) is not bool:
                raise VenueFormatError(f"'m' must be true/false, got {maker!r}")
            return (
                TradePrint(
                    grid.symbol,
                    _int(data, "t" if kind == "trade" else "a"),
                    _ms(data, "T", recv_ns),
                    price,
                    qty,
                    _SELL if maker else _BUY,  # m: the buyer was the maker, so a seller hit
                ),
            )
        if kind == "bookTicker" or (kind is None and "u" in data and "B" in data):
            grid = self._grids.get(data["s"])
            if grid is None:
                return ()
            return (
                TopOfBook(
                    grid.symbol,
                    _int(data, "u"),
                    grid.price(data["b"]),
                    grid.qty(data["B"]),
                    grid.price(data["a"]),
                    grid.qty(data["A"]),
                ),
            )
        if kind is None and "lastUpdateId" in data:
            symbol = data.get("symbol")
            return (self._snapshot(data, self._symbol_for_snapshot(symbol), recv_ns),)
        return ()  # subscription acks, other event types: nothing for the book

    def parse_snapshot(self, body: bytes, symbol: str, recv_ns: int) -> BookSnapshot:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise VenueFormatError(f"snapshot for {symbol} is not JSON: {exc}", symbol) from None
        if not isinstance(data, dict) or "lastUpdateId" not in data:
            raise VenueFormatError(
                f"snapshot for {symbol} has no lastUpdateId: {body[:120]!r}", symbol
            )
        try:
            return self._snapshot(data, symbol, recv_ns)
        except (KeyError, TypeError, ValueError, PrecisionError) as exc:
            if isinstance(exc, VenueFormatError):
                raise
            raise VenueFormatError(f"snapshot for {symbol}: {exc}", symbol) from None

    def _symbol_for_snapshot(self, venue_symbol: object) -> str:
        if isinstance(venue_symbol, str):
            grid = self._grids.get(venue_symbol)
            if grid is None:
                raise VenueFormatError(f"snapshot for unconfigured symbol {venue_symbol!r}")
            return grid.symbol
        if len(self._grids) == 1:
            return next(iter(self._grids.values())).symbol
        raise VenueFormatError(
            "spot REST snapshot names no symbol and this adapter serves several; "
            "use parse_snapshot(body, symbol, ...)"
        )

    def _snapshot(self, data: dict[str, Any], symbol: str, recv_ns: int) -> BookSnapshot:
        grid = self._grids[self._venue_symbol[symbol]]
        bids = tuple((grid.price(p), grid.qty(q)) for p, q in _levels(data, "bids"))
        asks = tuple((grid.price(p), grid.qty(q)) for p, q in _levels(data, "asks"))
        return BookSnapshot(
            symbol,
            _int(data, "lastUpdateId"),
            _ms(data, "E", recv_ns),
            tuple(sorted(bids, reverse=True)),
            tuple(sorted(asks)),
        )


def _int(data: dict[str, Any], key: str) -> int:
    value = data[key]
    if type(value) is not int:
        raise VenueFormatError(f"'{key}' must be an integer, got {value!r}")
    return value


def _ms(data: dict[str, Any], key: str, default_ns: int) -> int:
    value = data.get(key)
    if value is None:
        return default_ns
    if type(value) is not int:
        raise VenueFormatError(f"'{key}' must be integer milliseconds, got {value!r}")
    return value * NS_PER_MS


def _levels(data: dict[str, Any], key: str) -> list[list[str]]:
    levels = data[key]
    if not isinstance(levels, list):
        raise VenueFormatError(
            f"'{key}' must be a list of [price, qty], got {type(levels).__name__}"
        )
    for level in levels:
        if not isinstance(level, list) or len(level) != 2:
            raise VenueFormatError(f"'{key}' level {level!r} is not [price, qty]")
    return levels
