"""Repeated feed errors: logged once per kind, then counted (feed time, no sleeping)."""

from __future__ import annotations

from typing import Any

from gateways.marketdata.error_tally import NS_PER_S, ErrorTally


class Lines:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def error(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))


def test_the_first_of_each_kind_is_logged_and_repeats_are_counted() -> None:
    out = Lines()
    tally = ErrorTally(out, "bad", remind_every_s=60)
    for i in range(10_000):
        tally.record(f"BTCUSDT price 6173{i}.63 is not a multiple of 0.1", i * 1_000_000)
    tally.record("not JSON: unexpected character", 0)
    assert [(e, f["count"]) for e, f in out.lines] == [("bad", 1), ("bad", 1)]
    assert tally.total == 10_001
    tally.summarise(venue="binance")
    assert out.lines[-1] == (
        "bad_repeated",
        {
            "error": "BTCUSDT price 61730.63 is not a multiple of 0.1",
            "count": 10_000,
            "since_last_log": 9_999,
            "venue": "binance",
        },
    )
    tally.summarise()  # nothing new since: nothing logged
    assert len(out.lines) == 3


def test_a_reminder_with_the_count_at_most_every_interval_of_feed_time() -> None:
    out = Lines()
    tally = ErrorTally(out, "bad", remind_every_s=60)
    for second in range(300):
        tally.record("price 1.5 is off the grid", second * NS_PER_S)
    counts = [f["count"] for _, f in out.lines]
    assert counts == [1, 61, 121, 181, 241]
