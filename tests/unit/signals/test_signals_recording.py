"""Decision recordings: append-only Parquet parts, rotated daily, readable after a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from signals.recording import (
    DecisionRecord,
    DecisionRecorder,
    RecordingError,
    part_files,
    read_decisions,
    recorded_days,
)

DAY_NS = 86_400 * 1_000_000_000
T0 = 1_796_342_400 * 1_000_000_000  # 2026-12-04 00:00 UTC


def rec(i: int, ts_ns: int | None = None, **over: object) -> DecisionRecord:
    base: dict[str, object] = {
        "ts_ns": T0 + 3_600_000_000_000 + i * 1_000_000_000 if ts_ns is None else ts_ns,
        "symbol": "AMZN", "parent_id": f"P{i // 10}", "decision": i % 10,
        "observation": [0.5 * i, -1.0, 2.0], "action": i % 5, "fill_qty": 100 * (i % 3),
        "fill_notional_tu": 100 * (i % 3) * 22_000, "reward": -0.01 * i, "remaining_qty": 1_000 - i,
        "policy_digest": "b792148c", "signal": 0.1 if i % 2 else None, "regime": "calm" if i % 3 else None,
    }  # fmt: skip
    base.update(over)
    return DecisionRecord(**base)  # type: ignore[arg-type]


def test_records_read_back_as_written_in_order(tmp_path: Path) -> None:
    with DecisionRecorder(tmp_path, flush_rows=7) as w:
        for i in range(30):
            w.record(rec(i))
    t = read_decisions(tmp_path)
    assert t.num_rows == 30 and w.parts_written == 5  # 4 full parts of 7, then the last 2
    assert t["decision"].to_pylist() == [i % 10 for i in range(30)]
    assert t["observation"].to_pylist()[3] == [1.5, -1.0, 2.0]
    assert t["signal"].to_pylist()[:2] == [None, 0.1]
    assert t.schema.metadata[b"rlexec.decisions.schema_version"] == b"1"


def test_a_record_past_midnight_utc_starts_the_next_days_folder(tmp_path: Path) -> None:
    with DecisionRecorder(tmp_path, flush_rows=100) as w:
        w.record(rec(0, ts_ns=T0 + DAY_NS - 1))
        w.record(rec(1, ts_ns=T0 + DAY_NS))
    assert recorded_days(tmp_path) == ["2026-12-04", "2026-12-05"]
    assert read_decisions(tmp_path, ["2026-12-05"])["decision"].to_pylist() == [1]


def test_a_restarted_writer_appends_new_parts_and_never_overwrites(tmp_path: Path) -> None:
    with DecisionRecorder(tmp_path, flush_rows=5) as w:
        for i in range(10):
            w.record(rec(i))
    first = {p: p.read_bytes() for p in part_files(tmp_path)}
    with DecisionRecorder(tmp_path, flush_rows=5) as w:
        for i in range(10, 15):
            w.record(rec(i))
    assert all(p.read_bytes() == b for p, b in first.items())
    assert [p.name for p in part_files(tmp_path)] == [f"part-0000000{k}.parquet" for k in (1, 2, 3)]
    assert read_decisions(tmp_path).num_rows == 15


def test_a_second_writer_on_the_same_folder_is_refused(tmp_path: Path) -> None:
    with DecisionRecorder(tmp_path), pytest.raises(RecordingError, match="another writer"):
        DecisionRecorder(tmp_path)


@pytest.mark.parametrize(("field", "value"), [("ts_ns", 1.5), ("action", 2**40), ("symbol", None),
                                               ("observation", [1.0, "x"]), ("reward", "1")])  # fmt: skip
def test_a_bad_record_is_refused_alone_and_the_good_ones_are_kept(tmp_path: Path, field: str, value: object) -> None:  # fmt: skip
    with DecisionRecorder(tmp_path, flush_rows=3) as w:
        w.record(rec(0))
        with pytest.raises(RecordingError, match=field):
            w.record(rec(1, **{field: value}))
        w.record(rec(2))
    assert read_decisions(tmp_path)["decision"].to_pylist() == [0, 2]


WRITER = """
import sys, time
sys.path.insert(0, {root!r})
from signals.recording import DecisionRecord, DecisionRecorder
w = DecisionRecorder({folder!r}, flush_rows=10)
i = 0
while True:
    w.record(DecisionRecord(ts_ns={t0} + i, symbol="AMZN", parent_id="P", decision=i,
                            observation=[float(i)] * 40, action=1, fill_qty=0,
                            fill_notional_tu=0, reward=0.0, remaining_qty=1, policy_digest="d"))
    if i % 10 == 9:
        print(w.rows_written, flush=True)
    i += 1
"""


def test_a_writer_killed_mid_stream_leaves_every_flushed_row_readable(tmp_path: Path) -> None:
    root = str(Path(__file__).resolve().parents[3])
    code = WRITER.format(root=root, folder=str(tmp_path), t0=T0)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        flushed = 0
        assert proc.stdout is not None
        while flushed < 2_000:  # a few hundred parts, then kill it wherever it is
            line = proc.stdout.readline()
            assert line, "the writer died on its own"
            flushed = int(line)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    t = read_decisions(tmp_path)
    assert t.num_rows >= flushed
    assert t["decision"].to_pylist() == list(range(t.num_rows))  # nothing torn, nothing twice
    w = DecisionRecorder(tmp_path)  # the next writer starts cleanly: no temporary left
    assert not list(tmp_path.glob("day=*/.part-*"))
    w.close()


def test_an_unreadable_part_is_named_not_skipped(tmp_path: Path) -> None:
    with DecisionRecorder(tmp_path, flush_rows=2) as w:
        for i in range(4):
            w.record(rec(i))
    bad = part_files(tmp_path)[1]
    bad.write_bytes(b"PAR1 not really")
    with pytest.raises(RecordingError, match=bad.name):
        read_decisions(tmp_path)
