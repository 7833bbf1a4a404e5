"""The decision log: each row is a decision and what followed it, and a failing disk
costs recordings (counted, retried, bounded), never a decision. Real files throughout;
failures are real OS errors (a file where a folder must go)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.parent import ParentOrder
from core.types import Side
from daemon import decision_recording
from daemon.decision_recording import DecisionLog
from daemon.metrics import Metrics
from signals.recording import day_of, read_decisions

S = 1_000_000_000
T0 = 1_340_271_300 * S


def parent() -> ParentOrder:
    p = ParentOrder("P1", "AMZN", Side.SELL, 300, T0, T0 + 60 * S)
    p.start(22_000.0)
    return p


def decide(log: DecisionLog, p: ParentOrder, k: int, mid: float) -> None:
    log.on_decision(
        p, ts_ns=T0 + k * S, decision=k, features=np.full(3, k, np.float32), action=k % 4,
        policy_digest="d" * 64, signal=0.1 * k, regime="calm", mid=mid,
    )  # fmt: skip


def errors(m: Metrics, stage: str) -> float:
    return m.registry.get_sample_value("rlexec_recorder_errors_total", {"stage": stage}) or 0.0


async def test_rows_carry_what_followed_each_decision_and_rewards_telescope(
    tmp_path: Path,
) -> None:
    m = Metrics()
    log = DecisionLog(tmp_path / "rec", m, flush_s=60)
    p = parent()
    decide(log, p, 0, 22_000.0)
    p.filled_qty, p.notional = 100, 100 * 21_999  # a fill after decision 0
    decide(log, p, 1, 21_998.0)
    log.on_parent_done(p, 21_997.0)
    assert await log.flush() == 2
    rows = read_decisions(tmp_path / "rec").to_pylist()
    assert [r["fill_qty"] for r in rows] == [100, 0]
    assert [r["fill_notional_tu"] for r in rows] == [100 * 21_999, 0]
    assert [r["remaining_qty"] for r in rows] == [200, 200]
    assert sum(r["reward"] for r in rows) == -p.shortfall_bps(mark=21_997.0)
    assert rows[1]["signal"] == 0.1 and rows[0]["regime"] == "calm"
    assert m.registry.get_sample_value("rlexec_decisions_recorded_total") == 2


async def test_a_part_that_cannot_be_written_is_retried_and_nothing_is_lost(
    tmp_path: Path,
) -> None:
    m = Metrics()
    root = tmp_path / "rec"
    log = DecisionLog(root, m, flush_s=60)
    p = parent()
    decide(log, p, 0, 22_000.0)
    decide(log, p, 1, 22_000.0)
    day = root / f"day={day_of(T0)}"
    root.mkdir()
    day.write_text("in the way")  # the day's folder cannot be made: the flush fails
    assert await log.flush() == 0
    assert errors(m, "flush") == 1 and log.buffered == 1
    day.unlink()
    assert await log.flush() == 1
    assert read_decisions(root).num_rows == 1 and log.buffered == 0
    await log.close()


async def test_a_refused_record_is_dropped_alone(tmp_path: Path) -> None:
    m = Metrics()
    log = DecisionLog(tmp_path / "rec", m, flush_s=60)
    p = parent()
    decide(log, p, 0, 22_000.0)
    log.on_decision(
        p, ts_ns=T0 + S, decision=1, features=np.zeros(3), action=2**40,  # not an int32
        policy_digest="d", signal=None, regime=None, mid=22_000.0,
    )  # fmt: skip
    decide(log, p, 2, 22_000.0)
    log.on_parent_done(p, 22_000.0)
    assert await log.flush() == 2
    assert errors(m, "record") == 1 and log.buffered == 0
    assert [r["decision"] for r in read_decisions(tmp_path / "rec").to_pylist()] == [0, 2]


async def test_while_failing_the_memory_held_is_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decision_recording, "MAX_BUFFERED", 5)
    m = Metrics()
    blocker = tmp_path / "blocked"
    blocker.write_text("x")
    log = DecisionLog(blocker / "rec", m, flush_s=60)
    p = parent()
    for k in range(9):
        decide(log, p, k, 22_000.0)
    assert log.buffered == 5 and errors(m, "dropped") == 3
    assert await log.flush() == 0 and errors(m, "open") == 1 and log.buffered == 5
