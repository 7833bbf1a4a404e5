"""Sequence numbers and timestamps on the feed must be integers (found by the md_client
fuzz target: a snapshot numbered null was taken as the book's position, so every delta
after it failed, and a string timestamp reached the book)."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from core.clock import SimClock
from core.instruments import Instrument
from gateways.marketdata.client import BookStatus, MarketDataClient

T0 = 1_767_623_400_000_000_000


def _client() -> MarketDataClient:
    return MarketDataClient(
        "ws://127.0.0.1:1/md",
        ["AMZN"],
        clock=SimClock(T0),
        instruments={"AMZN": Instrument("AMZN", Decimal("0.01"))},
    )


def _snapshot(seq: object, ts: object = T0) -> bytes:
    return orjson.dumps(
        {
            "type": "snapshot",
            "symbol": "AMZN",
            "seq": seq,
            "ts": ts,
            "bids": [[22000, 5]],
            "asks": [[22001, 5]],
        }
    )


@pytest.mark.parametrize("seq", [None, "7", 7.0, True])
def test_a_snapshot_whose_seq_is_not_an_integer_is_refused(seq: object) -> None:
    c = _client()
    c._on_frame(_snapshot(seq))
    assert c.status["AMZN"] is not BookStatus.SYNCED
    assert c.book("AMZN") is None
    assert c.stats.bad_messages == 1 and "AMZN" in c._resubscribe


def test_a_delta_with_a_string_timestamp_never_reaches_the_book() -> None:
    c = _client()
    c._on_frame(_snapshot(1))
    c._on_frame(
        orjson.dumps(
            {
                "type": "delta",
                "symbol": "AMZN",
                "seq": 2,
                "ts": "soon",
                "bids": [[21999, 1]],
                "asks": [],
            }
        )
    )
    assert c.book("AMZN") is None and c.stats.bad_messages == 1
    c._on_frame(_snapshot(3))
    book = c.book("AMZN")
    assert book is not None and type(book.last_update_ns) is int


def test_the_book_recovers_with_the_next_good_snapshot() -> None:
    c = _client()
    c._on_frame(_snapshot(None))
    c._on_frame(_snapshot(5))
    c._on_frame(
        orjson.dumps(
            {
                "type": "delta",
                "symbol": "AMZN",
                "seq": 6,
                "ts": T0 + 1,
                "bids": [[21999, 1]],
                "asks": [],
            }
        )
    )
    book = c.book("AMZN")
    assert book is not None and c.builders["AMZN"].last_seq == 6
