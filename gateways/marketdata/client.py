"""The daemon's market-data client: rlexec's websocket feed -> one L2 book per symbol.

It subscribes to its symbols, builds each book from the snapshot the server answers
with plus the sequenced deltas after it, and hands the application every applied book
update and every trade. What it refuses to do is hand out a book it cannot vouch for:

- a sequence gap (or a delta the book refuses) drops that symbol's book and
  resubscribes, which brings a fresh snapshot;
- a snapshot asked for that has not come within ``stale_after_s`` (heartbeats still
  flowing, so the connection looks alive) is asked for again, and after
  ``_SUBSCRIBE_TRIES`` unanswered subscribes the client reconnects: a symbol is never
  left resyncing for good, and it stays not synced until a snapshot has come;
- no message at all (not even a heartbeat) for ``stale_after_s`` of the
  :class:`~core.clock.Clock` means the connection is dead or the server stuck: every
  book is dropped and the client reconnects;
- a lost connection drops every book and reconnects with exponential backoff and
  jitter (so a restarted exchange is not hit by every client at the same instant).

Each of these reaches the application through ``on_status`` (symbol, status, why),
so it can stop quoting off a book that is gone; the daemon treats anything but
``SYNCED`` as "no market data". Counters in :attr:`MarketDataClient.stats` are what
the daemon exports as Prometheus metrics.

The receive path is the daemon's hottest loop (>= 100k book updates/s), so it decodes
with orjson straight from the frame's bytes and applies deltas to the book without
building intermediate event objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any

import aiohttp
import orjson

from core.book import L2Book
from core.clock import Clock
from core.events import TradePrint
from core.instruments import Instrument
from core.log import get_logger
from core.tasks import cancel_and_wait
from core.types import Side
from gateways.marketdata import protocol as proto
from gateways.marketdata.book_builder import BookBuilder, Outcome
from gateways.marketdata.error_tally import ErrorTally
from gateways.marketdata.reconnect import Backoff, Watchdog

log = get_logger("gateways.marketdata.client")

_BUY = Side.BUY
_SELL = Side.SELL
_APPLIED = Outcome.APPLIED
_MAX_FRAME_BYTES = 64 * 1024 * 1024
_SUBSCRIBE_TRIES = 3  # unanswered subscribes for one symbol before reconnecting


class BookStatus(Enum):
    SYNCED = "synced"  # book is current and may be used
    RESYNCING = "resyncing"  # gap or refused delta: waiting for a fresh snapshot
    STALE = "stale"  # nothing heard within stale_after_s; reconnecting
    DISCONNECTED = "disconnected"  # no connection (yet); reconnecting with backoff
    UNAVAILABLE = "unavailable"  # the server refused the symbol (unknown to it)


class FeedMismatch(Exception):
    """The server's instrument grid differs from ours: prices would be misread."""


@dataclass(slots=True)
class ClientStats:
    updates: int = 0  # deltas applied to a book
    snapshots: int = 0
    trades: int = 0
    gaps: int = 0  # sequence gaps and refused deltas (each forces a resubscribe)
    resubscribes: int = 0
    reconnects: int = 0
    stale: int = 0  # staleness timeouts
    server_errors: int = 0  # error frames received
    bad_messages: int = 0  # frames or messages we could not parse
    connected: bool = False
    last_update_ns: int = 0  # clock time of the last message of any kind


BookCallback = Callable[[str, L2Book], None]
TradeCallback = Callable[[TradePrint], None]
StatusCallback = Callable[[str, BookStatus, str], None]


class MarketDataClient:
    """Subscribe to ``symbols`` at ``url`` and keep their books; see the module doc."""

    def __init__(
        self,
        url: str,
        symbols: Iterable[str],
        *,
        clock: Clock,
        instruments: Mapping[str, Instrument] | None = None,
        on_book: BookCallback | None = None,
        on_trade: TradeCallback | None = None,
        on_status: StatusCallback | None = None,
        stale_after_s: float = 2.0,
        backoff_initial_s: float = 0.1,
        backoff_max_s: float = 5.0,
        backoff_jitter: float = 0.5,
        connect_timeout_s: float = 5.0,
        rng: random.Random | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.url = url
        self.symbols = tuple(dict.fromkeys(symbols))
        if not self.symbols:
            raise ValueError("market-data client needs at least one symbol")
        self.clock = clock
        self.instruments = dict(instruments or {})
        self.on_book = on_book
        self.on_trade = on_trade
        self.on_status = on_status
        self.stale_after_s = stale_after_s
        self.backoff = Backoff(backoff_initial_s, backoff_max_s, jitter=backoff_jitter, rng=rng)
        self.watchdog = Watchdog(clock, stale_after_s, self._on_silence)
        self.connect_timeout_s = connect_timeout_s
        self._session = session
        self._own_session = session is None
        self.builders: dict[str, BookBuilder] = {s: BookBuilder(s) for s in self.symbols}
        self.status: dict[str, BookStatus] = dict.fromkeys(self.symbols, BookStatus.DISCONNECTED)
        self._last_trade_seq: dict[str, int] = dict.fromkeys(self.symbols, 0)
        self.stats = ClientStats()
        # unreadable messages: the first of each kind logged, repeats counted
        self.errors = ErrorTally(log, "md_bad_message")
        self.frame_rx_ns = 0
        self._ws: aiohttp.ClientWebSocketResponse[bool] | None = None
        self._resubscribe: set[str] = set()
        # symbols waiting for a snapshot -> (clock time of the last subscribe, tries)
        self._awaiting: dict[str, tuple[int, int]] = {}
        self._requests: dict[int, tuple[str, ...]] = {}
        self._next_request_id = 0
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._fatal: BaseException | None = None
        self._offered: frozenset[str] | None = None  # symbols the server's hello lists

    # ================================================================= public API
    def book(self, symbol: str) -> L2Book | None:
        """The symbol's book while it is in sync, else None (never a stale book)."""
        builder = self.builders.get(symbol)
        if builder is None or self.status[symbol] is not BookStatus.SYNCED:
            return None
        return builder.book

    def start(self) -> asyncio.Task[None]:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="md-client")
        return self._task

    async def stop(self) -> None:
        self._stopping = True
        self._changed.set()
        self.errors.summarise(url=self.url)
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        task, self._task = self._task, None
        try:
            # A fatal error already reached whoever awaited the task; stopping
            # must not raise it again.
            await cancel_and_wait(task, task_errors=False)
        finally:
            if self._own_session and self._session is not None:
                await self._session.close()
                self._session = None

    async def wait_synced(self, symbols: Iterable[str] | None = None) -> None:
        """Return once every one of ``symbols`` (default: all) has a book in sync."""
        wanted = tuple(symbols) if symbols is not None else self.symbols
        while not all(self.status[s] is BookStatus.SYNCED for s in wanted):
            if self._fatal is not None:
                raise self._fatal
            if self._stopping:
                raise RuntimeError("market-data client stopped")
            self._changed.clear()
            await self._changed.wait()

    @property
    def stopping(self) -> bool:
        return self._stopping

    # ============================================================ connection loop
    async def run(self) -> None:
        """Connect, subscribe, read; reconnect with backoff until :meth:`stop`."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.connect_timeout_s)
            )
        first = True
        while not self._stopping:
            if not first:
                self.stats.reconnects += 1
                delay = self.backoff.next_delay()
                log.info("md_reconnecting", url=self.url, delay_s=round(delay, 3))
                await self.clock.sleep(delay)
                if self.stopping:
                    break
            first = False
            await self._connect_once()
            if self._fatal is not None:
                raise self._fatal

    async def _connect_once(self) -> bool:
        assert self._session is not None
        synced_any = False
        snapshots_before = self.stats.snapshots
        try:
            async with self._session.ws_connect(
                self.url,
                decode_text=False,
                max_msg_size=_MAX_FRAME_BYTES,
                autoping=True,
                heartbeat=None,
            ) as ws:
                self._ws = ws
                self.stats.connected = True
                log.info("md_connected", url=self.url)
                self.watchdog.arm()
                self._set_all(BookStatus.RESYNCING, "connected; awaiting snapshots")
                await self._send_subscribe(self.symbols)
                async for msg in ws:
                    if msg.type is aiohttp.WSMsgType.TEXT or msg.type is aiohttp.WSMsgType.BINARY:
                        self._on_frame(msg.data)
                        if self._awaiting:
                            self._ask_again_for_overdue_snapshots(ws)
                        if self._resubscribe:
                            pending = tuple(sorted(self._resubscribe))
                            self._resubscribe.clear()
                            self.stats.resubscribes += len(pending)
                            await self._send_subscribe(pending)
                        if not synced_any and self.stats.snapshots > snapshots_before:
                            synced_any = True
                            self.backoff.reset()  # a working connection: start over
                        if self._fatal is not None:
                            break
                    else:
                        break
                close_code = ws.close_code
            if not self._stopping:
                log.warning("md_disconnected", url=self.url, close_code=close_code)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            if not self._stopping:
                log.warning("md_connect_failed", url=self.url, error=str(exc) or type(exc).__name__)
        finally:
            self._ws = None
            self._awaiting.clear()
            self.stats.connected = False
            self.watchdog.disarm()
            reason = "client stopped" if self._stopping else "connection lost"
            if self._fatal is not None:
                reason = str(self._fatal)
            for builder in self.builders.values():
                builder.reset(reason)
            for symbol in self.symbols:
                if self.status[symbol] is not BookStatus.STALE:
                    self._set_status(symbol, BookStatus.DISCONNECTED, reason)
        return synced_any

    async def _send_subscribe(self, symbols: tuple[str, ...]) -> None:
        ws = self._ws
        if ws is None or ws.closed:
            return
        self._next_request_id += 1
        rid = self._next_request_id
        self._requests[rid] = symbols
        now = self.clock.now_ns()
        for symbol in symbols:
            tries = self._awaiting.get(symbol, (0, 0))[1]
            self._awaiting[symbol] = (now, tries + 1)
        if len(self._requests) > 1000:  # unanswered ids of long ago are of no use
            self._requests.pop(next(iter(self._requests)))
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_frame(
                proto.encode_request(proto.Subscribe(symbols, rid)), aiohttp.WSMsgType.TEXT
            )

    # ================================================================== staleness
    def _on_silence(self, silent_s: float) -> None:
        ws = self._ws
        if ws is None:
            return
        self.stats.stale += 1
        why = f"no market data for {silent_s:.3f}s (limit {self.stale_after_s}s)"
        log.warning("md_stale", url=self.url, reason=why)
        for builder in self.builders.values():
            builder.reset(why)
        self._set_all(BookStatus.STALE, why)
        task = asyncio.get_running_loop().create_task(ws.close())
        task.add_done_callback(_ignore_result)

    def _ask_again_for_overdue_snapshots(self, ws: aiohttp.ClientWebSocketResponse[bool]) -> None:
        """A subscribe whose snapshot has not come within ``stale_after_s`` goes again;
        one unanswered ``_SUBSCRIBE_TRIES`` times closes the connection (reconnect)."""
        now = self.clock.now_ns()
        limit_ns = round(self.stale_after_s * 1e9)
        for symbol, (sent_ns, tries) in list(self._awaiting.items()):
            if now - sent_ns < limit_ns or symbol in self._resubscribe:
                continue
            if self.status[symbol] is BookStatus.UNAVAILABLE:
                del self._awaiting[symbol]  # the server said it has no such symbol
                continue
            waited = round((now - sent_ns) / 1e9, 3)
            if tries >= _SUBSCRIBE_TRIES:
                log.warning("md_snapshot_never_came", symbol=symbol, subscribes=tries,
                            action="reconnect")  # fmt: skip
                self._awaiting.clear()
                task = asyncio.get_running_loop().create_task(ws.close())
                task.add_done_callback(_ignore_result)
                return
            log.warning("md_snapshot_overdue", symbol=symbol, waited_s=waited,
                        subscribes=tries, action="subscribe again")  # fmt: skip
            self._resubscribe.add(symbol)

    # ================================================================== receiving
    def _on_frame(self, data: bytes | str) -> None:
        # perf-counter time the frame reached us: the start of tick-to-order latency
        self.frame_rx_ns = time.perf_counter_ns()
        self.stats.last_update_ns = self.watchdog.last_ns = self.clock.now_ns()
        try:
            msg = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            self.stats.bad_messages += 1
            self.errors.record(
                f"unreadable frame: {exc}",
                self.stats.last_update_ns,
                head=bytes(data[:80]) if isinstance(data, bytes) else data[:80],
            )
            return
        if type(msg) is list:
            for m in msg:
                self._on_message(m)
        else:
            self._on_message(msg)

    def _on_message(self, m: Any) -> None:
        try:
            kind = m["type"]
            if kind == "delta":
                self._on_delta(m)
            elif kind == "trade":
                self._on_trade(m)
            elif kind == "snapshot":
                self._on_snapshot(m)
            elif kind in ("heartbeat", "pong"):
                pass
            elif kind == "hello":
                self._on_hello(m)
            elif kind == "error":
                self._on_error(m)
            elif kind == "unsubscribed":
                pass
            else:
                raise ValueError(f"unknown message type {kind!r}")
        except (KeyError, TypeError, ValueError) as exc:
            self.stats.bad_messages += 1
            symbol = m.get("symbol") if isinstance(m, dict) else None
            self.errors.record(repr(exc), self.stats.last_update_ns, symbol=symbol)
            if isinstance(symbol, str) and symbol in self.builders:
                self._lost(symbol, f"unreadable message: {exc!r}")

    def _on_delta(self, m: dict[str, Any]) -> None:
        symbol = m["symbol"]
        builder = self.builders.get(symbol)
        if builder is None:
            return  # not ours (a server answering more than asked); ignore
        seq = m["seq"]
        ts = m["ts"]
        if type(seq) is not int or type(ts) is not int:
            _numbering(seq, ts)
        bids = m["bids"]
        asks = m["asks"]
        if len(bids) + len(asks) == 1:  # the usual delta: one level
            price, size = bids[0] if bids else asks[0]
            outcome = builder.apply_next(seq, _BUY if bids else _SELL, price, size, ts)
        else:
            changes = [(_BUY, p, s) for p, s in bids]
            changes.extend([(_SELL, p, s) for p, s in asks])
            outcome = builder.apply(seq, seq, None, changes, ts)
        if outcome is _APPLIED:
            self.stats.updates += 1
            if self.on_book is not None:
                self.on_book(symbol, builder.book)
        elif outcome is Outcome.GAP or outcome is Outcome.REJECTED:
            self._lost(symbol, builder.last_error)

    def _on_trade(self, m: dict[str, Any]) -> None:
        symbol = m["symbol"]
        builder = self.builders.get(symbol)
        if builder is None:
            return
        seq = m["seq"]
        if type(seq) is not int or type(m["ts"]) is not int:
            _numbering(seq, m["ts"])
        if seq > self._last_trade_seq[symbol]:
            # Trades are facts whatever the book's state: deliver each once, even while
            # the book resyncs.
            self._last_trade_seq[symbol] = seq
            trade = TradePrint(
                symbol, seq, m["ts"], m["px"], m["qty"], proto.AGGRESSOR_FROM_WIRE[m["aggressor"]]
            )
            self.stats.trades += 1
            if self.on_trade is not None:
                self.on_trade(trade)
        outcome = builder.apply(seq, seq, None, (), m["ts"])
        if outcome is Outcome.GAP or outcome is Outcome.REJECTED:
            self._lost(symbol, builder.last_error)

    def _on_snapshot(self, m: dict[str, Any]) -> None:
        symbol = m["symbol"]
        builder = self.builders.get(symbol)
        if builder is None:
            return
        if type(m["seq"]) is not int or type(m["ts"]) is not int:
            _numbering(m["seq"], m["ts"])
        outcome = builder.apply_snapshot(m["seq"], m["bids"], m["asks"], m["ts"])
        self.stats.snapshots += 1
        if outcome is _APPLIED:
            self._awaiting.pop(symbol, None)
            self._last_trade_seq[symbol] = max(self._last_trade_seq[symbol], builder.last_seq)
            self._set_status(symbol, BookStatus.SYNCED, "snapshot")
            if self.on_book is not None:
                self.on_book(symbol, builder.book)
        else:
            self._lost(symbol, builder.last_error)

    def _on_hello(self, m: dict[str, Any]) -> None:
        if m.get("protocol") != proto.PROTOCOL_VERSION:
            self._fatal = FeedMismatch(
                f"{self.url} speaks market-data protocol {m.get('protocol')!r}, "
                f"we speak {proto.PROTOCOL_VERSION}"
            )
            return
        offered: dict[str, Any] = m.get("instruments") or {}
        self._offered = frozenset(offered)
        for symbol, ins in self.instruments.items():
            theirs = offered.get(symbol)
            if theirs is None:
                continue  # the subscription answer will say the symbol is unknown
            for key, ours in (("tick_size", ins.tick_size), ("qty_unit", ins.qty_unit)):
                if Decimal(str(theirs.get(key))) != ours:
                    self._fatal = FeedMismatch(
                        f"{symbol}: server {key} {theirs.get(key)} differs from ours {ours}; "
                        "prices/quantities in ticks/units would be misread"
                    )
                    log.error("md_feed_mismatch", error=str(self._fatal))
                    return

    def _on_error(self, m: dict[str, Any]) -> None:
        self.stats.server_errors += 1
        code, message, rid = m.get("code"), str(m.get("message", "")), m.get("id")
        log.error("md_server_error", code=code, message=message, request_id=rid)
        if code == "unknown_symbol" and isinstance(rid, int) and self._offered is not None:
            for symbol in self._requests.get(rid, ()):
                if symbol not in self._offered:
                    self._set_status(symbol, BookStatus.UNAVAILABLE, message)

    # ================================================================== status
    def _lost(self, symbol: str, why: str) -> None:
        """Book dropped (gap, refused delta/snapshot): resubscribe for a fresh snapshot."""
        self.stats.gaps += 1
        log.warning("md_book_lost", symbol=symbol, reason=why)
        self.builders[symbol].reset(why)
        self._set_status(symbol, BookStatus.RESYNCING, why)
        self._resubscribe.add(symbol)

    def _set_all(self, status: BookStatus, why: str) -> None:
        for symbol in self.symbols:
            self._set_status(symbol, status, why)

    def _set_status(self, symbol: str, status: BookStatus, why: str) -> None:
        if self.status[symbol] is status:
            return
        self.status[symbol] = status
        self._changed.set()
        if self.on_status is not None:
            self.on_status(symbol, status, why)


def _numbering(seq: object, ts: object) -> None:
    """Refuse a message whose sequence number or timestamp is not an integer.

    Why: a snapshot numbered ``null`` was once taken as the book's position, and every
    delta after it failed; a timestamp that is a string would reach the market clock.
    """
    raise ValueError(f"seq and ts must be integers, got seq={seq!r} ts={ts!r}")


def _ignore_result(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()
