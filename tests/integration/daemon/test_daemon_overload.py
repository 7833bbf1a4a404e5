"""Under overload a parent decides on the latest book, never on a queue of old ones
(decide_on = "book"): frames superseded before a decision ran, and decisions whose
latest frame is older than [execution] max_decision_lag_ms when their turn comes, are
skipped and counted in rlexec_decisions_skipped_total; a parent skipped three frames
running decides on the fourth. The overloaded loop is driven deterministically: the
frames' arrival times are set, not waited for."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from daemon.node import Node
from tests.integration.daemon.daemon_venue import SYMBOL, ScriptedVenue
from tests.integration.daemon.test_daemon_node import node_config, started, venue, working_twap

__all__ = ["venue"]  # the fixture


def _skipped(node: Node, reason: str) -> float:
    return (
        node.metrics.registry.get_sample_value(
            "rlexec_decisions_skipped_total", {"symbol": SYMBOL, "reason": reason}
        )
        or 0.0
    )


@pytest.fixture
async def node(tmp_path: Path, venue: ScriptedVenue) -> AsyncIterator[Node]:
    """A node deciding on every book frame, with one TWAP parent working."""
    n = await started(
        node_config(
            tmp_path,
            venue,
            RLEXEC__EXECUTION__DECIDE_ON="book",
            RLEXEC__EXECUTION__DECISION_INTERVAL_S="600",  # only frames prompt decisions
            RLEXEC__EXECUTION__MAX_DECISION_LAG_MS="5",
        )
    )
    try:
        await working_twap(n, venue)
        yield n
    finally:
        await n.stop()


def _frame(node: Node, age_ms: float) -> Callable[[], None]:
    """The decision on a frame that arrived ``age_ms`` ago, as the loop would run it."""
    book = node.md.book(SYMBOL)
    assert book is not None
    rx = time.perf_counter_ns() - int(age_ms * 1e6)
    node.last_frame_rx[SYMBOL] = rx
    runner = next(iter(node.runners.values()))
    return lambda: runner.on_book(book, rx)


async def test_a_decision_on_a_book_older_than_the_limit_is_skipped_and_counted(
    node: Node,
) -> None:
    runner = next(iter(node.runners.values()))
    before = runner.decisions
    _frame(node, age_ms=50)()
    assert runner.decisions == before and _skipped(node, "stale") == 1
    _frame(node, age_ms=1)()  # a fresh frame: decided
    assert runner.decisions == before + 1


async def test_a_parent_skipped_three_frames_running_decides_on_the_fourth(node: Node) -> None:
    runner = next(iter(node.runners.values()))
    before = runner.decisions
    for _ in range(3):
        _frame(node, age_ms=50)()
    assert runner.decisions == before and _skipped(node, "stale") == 3
    _frame(node, age_ms=50)()
    assert runner.decisions == before + 1, "overload silenced the parent"
    _frame(node, age_ms=50)()
    assert _skipped(node, "stale") == 4  # the count starts again


async def test_frames_superseded_before_the_decision_ran_are_counted_once_each(
    node: Node,
) -> None:
    book = node.md.book(SYMBOL)
    assert book is not None
    runner = next(iter(node.runners.values()))
    before = runner.decisions
    now = time.perf_counter_ns()
    # three frames of the symbol read before the loop got to the decision: two of them
    # twice (several deltas in one frame count once)
    for rx in (now - 3_000_000, now - 2_000_000, now - 2_000_000, now - 1_000, now - 1_000):
        node.md.frame_rx_ns = rx
        node.feed.on_book(SYMBOL, book)
    node.feed.after_frame()
    assert _skipped(node, "superseded") == 2
    assert runner.decisions == before + 1  # one decision, on the latest book


async def test_risk_sees_a_frames_book_once_when_a_parent_decides_on_it(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The feed hands risk each frame's book; the decision on that frame used to hand it
    # over again (ParentDriver.observe), revaluing and re-pricing the same book twice.
    book = node.md.book(SYMBOL)
    assert book is not None
    runner = next(iter(node.runners.values()))
    before = runner.decisions
    seen: list[str] = []
    real = node.risk.on_book

    def counted(symbol: str, b: object, now_ns: int) -> object:  # the real one, counted
        seen.append(symbol)
        return real(symbol, b, now_ns)  # type: ignore[arg-type]

    monkeypatch.setattr(node.risk, "on_book", counted)
    node.md.frame_rx_ns = time.perf_counter_ns()
    node.feed.on_book(SYMBOL, book)
    node.feed.after_frame()
    assert runner.decisions == before + 1  # it decided on the frame
    assert seen == [SYMBOL], f"risk saw the book {len(seen)} times"
