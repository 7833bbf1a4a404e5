"""rlexec's own market-data feed as a venue adapter, so one rlexec exchange can be the
paper-trading upstream of another.

The daemon reads this feed through :mod:`.client`, which is tuned for its hot path;
this adapter trades a little speed for plugging into the same feed machinery as any
venue. Trades advance the per-symbol sequence too, so each one is also handed on as
an empty delta: otherwise the book would see a gap at every trade.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from core.events import BookSnapshot, TradePrint
from core.instruments import Instrument
from core.types import Side
from gateways.marketdata import protocol as proto
from gateways.marketdata.sequencing import RANGE, SequenceRule
from gateways.marketdata.venue import (
    RequestResync,
    SequencedDelta,
    VenueEvent,
    VenueFormatError,
    VenueNotice,
)


class RlexecAdapter:
    name = "rlexec"

    def __init__(self, url: str, instruments: Mapping[str, Instrument] | Iterable[str]) -> None:
        self.url = url
        self._symbols = tuple(instruments)
        if not self._symbols:
            raise ValueError("rlexec upstream adapter needs at least one symbol")
        self.rule: SequenceRule = RANGE
        self._wanted = frozenset(self._symbols)

    @property
    def symbols(self) -> Sequence[str]:
        return self._symbols

    def stream_url(self) -> str:
        return self.url

    def on_connect(self) -> Sequence[bytes]:
        # Nothing up front: every symbol needs a snapshot after a connect, and the
        # feed's resync sends one subscribe per symbol (which brings the snapshot).
        return ()

    def resync(self, symbol: str) -> RequestResync:
        return RequestResync(proto.encode_request(proto.Subscribe((symbol,))))

    def parse_snapshot(self, body: bytes, symbol: str, recv_ns: int) -> BookSnapshot:
        raise VenueFormatError("the rlexec feed sends snapshots in-band; there is no REST call")

    def parse(self, raw: bytes | str, recv_ns: int) -> Sequence[VenueEvent]:
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise VenueFormatError(f"not JSON: {exc}") from None
        items = msg if isinstance(msg, list) else (msg,)
        out: list[VenueEvent] = []
        for m in items:
            try:
                self._one(m, out)
            except (KeyError, TypeError, ValueError) as exc:
                # Skip just this message: a lost delta shows up as a sequence gap.
                out.append(VenueNotice(f"unreadable rlexec message {str(m)[:120]}: {exc!r}"))
        return out

    def _one(self, m: Any, out: list[VenueEvent]) -> None:
        kind = m["type"]
        if kind in ("heartbeat", "pong", "hello", "unsubscribed"):
            return
        if kind == "error":
            out.append(
                VenueNotice(f"upstream refused a request: {m.get('code')}: {m.get('message')}")
            )
            return
        symbol = m["symbol"]
        if symbol not in self._wanted:
            return
        seq, ts = m["seq"], m["ts"]
        if kind == "delta":
            changes = [(Side.BUY, p, s) for p, s in m["bids"]]
            changes.extend((Side.SELL, p, s) for p, s in m["asks"])
            out.append(SequencedDelta(symbol, seq, seq, None, ts, tuple(changes)))
        elif kind == "trade":
            aggressor = proto.AGGRESSOR_FROM_WIRE[m["aggressor"]]
            out.append(TradePrint(symbol, seq, ts, m["px"], m["qty"], aggressor))
            out.append(SequencedDelta(symbol, seq, seq, None, ts, ()))
        elif kind == "snapshot":
            bids = tuple((p, s) for p, s in m["bids"])
            asks = tuple((p, s) for p, s in m["asks"])
            out.append(BookSnapshot(symbol, seq, ts, bids, asks))
        else:
            raise VenueFormatError(f"unknown message type {kind!r}")
