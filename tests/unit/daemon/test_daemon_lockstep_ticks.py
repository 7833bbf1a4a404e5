"""The daemon's side of the lock-step protocol reads the exchange's ticks field by field:
a malformed one is a clear error (logged, never acted on), not a traceback."""

from __future__ import annotations

import orjson
import pytest

from daemon.lockstep import Tick, TickError, clock_url, parse_tick


def test_a_tick_is_read_with_its_market_time_and_sequence_numbers() -> None:
    raw = orjson.dumps({"type": "tick", "step": 3, "t": 5, "md_seq": {"AMZN": 7}, "fix_seq": 2})
    assert parse_tick(raw) == Tick(3, 5, {"AMZN": 7}, 2)


def test_another_message_of_the_leader_is_not_a_tick() -> None:
    assert parse_tick(orjson.dumps({"type": "error", "message": "x"})) is None


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"{", "not JSON"),
        (b"[]", "JSON object"),
        (b'{"type": "tick", "step": 1, "t": -1, "md_seq": {}, "fix_seq": 0}', "tick.t"),
        (b'{"type": "tick", "step": 1, "t": 1, "md_seq": {}, "fix_seq": 1.5}', "tick.fix_seq"),
        (b'{"type": "tick", "step": true, "t": 1, "md_seq": {}, "fix_seq": 0}', "tick.step"),
        (b'{"type": "tick", "step": 1, "t": 1, "md_seq": {"AMZN": "7"}, "fix_seq": 0}', "md_seq"),
        (b'{"type": "tick", "step": 1, "t": 1, "fix_seq": 0}', "md_seq"),
    ],
)
def test_a_malformed_tick_is_a_clear_error(raw: bytes, says: str) -> None:
    with pytest.raises(TickError, match=says):
        parse_tick(raw)


def test_the_clock_endpoint_is_next_to_the_market_data_endpoint() -> None:
    assert clock_url("ws://127.0.0.1:8765/md") == "ws://127.0.0.1:8765/clock"
    assert clock_url("wss://venue:443/feed/v1") == "wss://venue:443/clock"
