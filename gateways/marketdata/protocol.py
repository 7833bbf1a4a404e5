"""rlexec's market-data wire protocol: JSON over a websocket, sequenced per symbol.

The exchange's publisher and the daemon's client both import this module, so the
two ends cannot drift apart. The protocol is documented for humans in
docs/exchange.md; in short:

client -> server (text frames, one JSON object each)::

    {"op": "subscribe",   "symbols": ["AMZN"], "id": 7}     id: optional, echoed back
    {"op": "unsubscribe", "symbols": ["AMZN"]}
    {"op": "ping", "id": 8}

server -> client (text frames: one JSON object, or a JSON array of them when the
publisher has several events queued for the client)::

    {"type": "hello", "protocol": 1, "instruments": {"AMZN": {"tick_size": "0.01", ...}}}
    {"type": "snapshot", "symbol": "AMZN", "seq": 41, "ts": ns, "bids": [[px, qty]...], "asks": [...]}
    {"type": "delta", "symbol": "AMZN", "seq": 42, "ts": ns, "bids": [[px, qty]], "asks": []}
    {"type": "trade", "symbol": "AMZN", "seq": 43, "ts": ns, "px": px, "qty": qty, "aggressor": "buy"}
    {"type": "unsubscribed", "symbols": ["AMZN"], "id": 9}
    {"type": "heartbeat", "ts": ns}
    {"type": "pong", "id": 8, "ts": ns}
    {"type": "error", "code": "unknown_symbol", "message": "...", "id": 7}

Prices are integer ticks and quantities integer units of the symbol's instrument;
a delta's quantity 0 removes the level. Deltas and trades share one per-symbol
sequence: each is the previous + 1, and a snapshot carries the sequence number of
the last event it reflects, so a client that sees anything other than ``seq + 1``
has missed something and must resubscribe. Levels are best first in snapshots.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from core.instruments import Instrument
from core.types import Side

PROTOCOL_VERSION: Final = 1
MAX_REQUEST_BYTES: Final = 64 * 1024
MAX_SYMBOLS_PER_REQUEST: Final = 1000

Level = tuple[int, int]

AGGRESSOR_WIRE: Final = {Side.BUY: "buy", Side.SELL: "sell"}
AGGRESSOR_FROM_WIRE: Final = {"buy": Side.BUY, "sell": Side.SELL}


class ProtocolError(Exception):
    """A client request the server cannot act on; ``code`` goes into the error frame."""

    def __init__(self, code: str, message: str, request_id: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id


# ------------------------------------------------------------------ requests
@dataclass(frozen=True, slots=True)
class Subscribe:
    symbols: tuple[str, ...]
    id: Any = None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    symbols: tuple[str, ...]
    id: Any = None


@dataclass(frozen=True, slots=True)
class Ping:
    id: Any = None


Request = Subscribe | Unsubscribe | Ping

_OPS: Final = ("subscribe", "unsubscribe", "ping")


def parse_request(data: str | bytes) -> Request:
    """A client frame -> request; raises :class:`ProtocolError` naming what is wrong."""
    if len(data) > MAX_REQUEST_BYTES:
        raise ProtocolError(
            "too_large", f"request of {len(data)} bytes exceeds {MAX_REQUEST_BYTES}"
        )
    try:
        msg = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError("bad_json", f"request is not valid JSON: {exc}") from None
    if not isinstance(msg, dict):
        raise ProtocolError(
            "bad_request", f"request must be a JSON object, got {type(msg).__name__}"
        )
    request_id = msg.get("id")
    if isinstance(request_id, bool) or not (
        request_id is None or isinstance(request_id, str | int)
    ):
        raise ProtocolError("bad_request", "'id' must be a string or an integer")
    if isinstance(request_id, str) and len(request_id) > 64:
        raise ProtocolError("bad_request", "'id' longer than 64 characters")
    op = msg.get("op")
    if op not in _OPS:
        raise ProtocolError(
            "unknown_op",
            f"'op' must be one of {', '.join(_OPS)}; got {op!r}",
            request_id,
        )
    unknown = sorted(set(msg) - {"op", "id", "symbols"})
    if unknown:
        raise ProtocolError("bad_request", f"unknown field(s): {', '.join(unknown)}", request_id)
    if op == "ping":
        return Ping(request_id)
    symbols = msg.get("symbols")
    if (
        not isinstance(symbols, list)
        or not symbols
        or not all(isinstance(s, str) and s for s in symbols)
    ):
        raise ProtocolError(
            "bad_request",
            f"'symbols' must be a non-empty list of symbol strings; got {symbols!r}"[:200],
            request_id,
        )
    if len(symbols) > MAX_SYMBOLS_PER_REQUEST:
        raise ProtocolError(
            "bad_request",
            f"{len(symbols)} symbols in one request; at most {MAX_SYMBOLS_PER_REQUEST}",
            request_id,
        )
    unique = tuple(dict.fromkeys(symbols))
    if op == "subscribe":
        return Subscribe(unique, request_id)
    return Unsubscribe(unique, request_id)


def encode_request(req: Request) -> bytes:
    if isinstance(req, Ping):
        body: dict[str, Any] = {"op": "ping"}
    else:
        body = {
            "op": "subscribe" if isinstance(req, Subscribe) else "unsubscribe",
            "symbols": list(req.symbols),
        }
    if req.id is not None:
        body["id"] = req.id
    return orjson.dumps(body)


# ----------------------------------------------------------- server messages
def encode_hello(instruments: Mapping[str, Instrument]) -> bytes:
    return orjson.dumps(
        {
            "type": "hello",
            "protocol": PROTOCOL_VERSION,
            "instruments": {
                sym: {
                    "tick_size": str(ins.tick_size),
                    "qty_unit": str(ins.qty_unit),
                    "currency": ins.currency,
                }
                for sym, ins in instruments.items()
            },
        }
    )


def encode_snapshot(
    symbol: str, seq: int, ts_ns: int, bids: Sequence[Level], asks: Sequence[Level]
) -> bytes:
    return orjson.dumps(
        {"type": "snapshot", "symbol": symbol, "seq": seq, "ts": ts_ns, "bids": bids, "asks": asks}
    )


def encode_delta(
    symbol: str, seq: int, ts_ns: int, bids: Sequence[Level], asks: Sequence[Level]
) -> bytes:
    return orjson.dumps(
        {"type": "delta", "symbol": symbol, "seq": seq, "ts": ts_ns, "bids": bids, "asks": asks}
    )


def encode_trade(
    symbol: str, seq: int, ts_ns: int, *, price: int, qty: int, aggressor: Side
) -> bytes:
    return orjson.dumps(
        {
            "type": "trade",
            "symbol": symbol,
            "seq": seq,
            "ts": ts_ns,
            "px": price,
            "qty": qty,
            "aggressor": AGGRESSOR_WIRE[aggressor],
        }
    )


def encode_heartbeat(ts_ns: int) -> bytes:
    return orjson.dumps({"type": "heartbeat", "ts": ts_ns})


def encode_pong(request_id: Any, ts_ns: int) -> bytes:
    return orjson.dumps({"type": "pong", "id": request_id, "ts": ts_ns})


def encode_unsubscribed(symbols: Iterable[str], request_id: Any) -> bytes:
    return orjson.dumps({"type": "unsubscribed", "symbols": list(symbols), "id": request_id})


def encode_error(code: str, message: str, request_id: Any = None) -> bytes:
    return orjson.dumps({"type": "error", "code": code, "message": message, "id": request_id})


def batch(encoded: Sequence[bytes]) -> bytes:
    """Several encoded messages as one frame (a JSON array), without re-encoding them."""
    if len(encoded) == 1:
        return encoded[0]
    return b"[" + b",".join(encoded) + b"]"
