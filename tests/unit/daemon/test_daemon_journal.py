"""Journal: exact round trips, once-only commands, restart-safe ClOrdIDs, kill -9 durability."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from core.events import CancelReject, ExecReport
from core.ids import ClOrdIdGenerator
from core.parent import ParentOrder, ParentState
from core.requests import CancelRequest, NewOrderRequest, ReplaceRequest
from core.types import ExecType, OrdStatus, OrdType, Side, TimeInForce
from daemon.journal import Journal, JournalError

SAMPLES = [
    (
        "parent",
        ParentOrder(
            "P1",
            "AMZN",
            Side.SELL,
            40_000,
            1,
            2,
            arrival_mid=22_000.5,
            state=ParentState.WORKING,
            filled_qty=10,
            notional=220_000,
        ),
    ),
    ("new", NewOrderRequest("C1", "AMZN", Side.BUY, 100, 22_000, parent_id="P1", ts_ns=5)),
    ("new", NewOrderRequest("C2", "AMZN", Side.SELL, 5, None, OrdType.MARKET, TimeInForce.IOC)),
    ("cancel", CancelRequest("C3", "C1", "AMZN", Side.BUY, 100, 7, "P1")),
    ("replace", ReplaceRequest("C4", "C1", "AMZN", Side.BUY, 150, 22_001)),
    (
        "report",
        ExecReport(
            "C1",
            "E1",
            ExecType.TRADE,
            OrdStatus.PARTIALLY_FILLED,
            "AMZN",
            Side.BUY,
            100,
            40,
            60,
            9,
            price=22_000,
            last_qty=40,
            last_px=22_000,
            avg_px=22_000.0,
            liquidity="A",
        ),
    ),
    ("cancel_reject", CancelReject("C3", "C1", False, "too late", 11, OrdStatus.FILLED)),
    ("halt", {"reason": "fix_down", "detail": "heartbeat timeout"}),
]


def test_every_record_kind_round_trips_exactly(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    for kind, payload in SAMPLES:
        j.record(kind, payload)
    j.close()
    back = [(r.kind, r.payload) for r in Journal(tmp_path / "j.db").records()]
    assert back == SAMPLES


def test_sequence_numbers_increase_and_can_resume_after_a_point(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    seqs = [j.record("halt", {"n": i}) for i in range(5)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5
    assert [r.payload["n"] for r in j.records(after_seq=seqs[2])] == [3, 4]


def test_a_command_id_is_journalled_once(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    assert j.record_command("cmd-1", {"cmd": "pause"})
    assert not j.record_command("cmd-1", {"cmd": "pause"})
    j.close()
    j = Journal(tmp_path / "j.db")
    assert not j.record_command("cmd-1", {"cmd": "pause"})
    assert [r.kind for r in j.records()] == ["command"]


def test_clordids_from_the_journal_never_repeat_across_restarts(tmp_path: Path) -> None:
    seen: set[str] = set()
    for _ in range(4):
        j = Journal(tmp_path / "j.db")
        gen = ClOrdIdGenerator("N1-", j, block=3)
        for _ in range(5):
            cid = gen.next_id()
            assert cid not in seen
            seen.add(cid)
        j.close()


def test_records_survive_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "j.db"
    script = textwrap.dedent(f"""
        import os, sys
        from daemon.journal import Journal
        j = Journal({str(db)!r})
        for i in range(200):
            j.record("halt", {{"n": i}})
        print("written", flush=True)
        sys.stdin.read()  # wait to be killed
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "written"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert [r.payload["n"] for r in Journal(db).records()] == list(range(200))


def test_corrupt_record_is_refused_with_its_sequence_number(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    j.record("new", NewOrderRequest("C1", "AMZN", Side.BUY, 1, 1))
    j.close()
    con = sqlite3.connect(tmp_path / "j.db")
    con.execute("UPDATE records SET body = ? WHERE seq = 1", (b'{"cl_ord_id": 5, "side": 7}',))
    con.commit()
    con.close()
    with pytest.raises(JournalError, match="record 1: new record does not fit"):
        list(Journal(tmp_path / "j.db").records())


def test_unwritable_journal_raises_journal_error(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    j.close()
    ro = Journal(tmp_path / "j.db")
    ro._db.execute("PRAGMA query_only = ON")
    assert not ro.writable()
    with pytest.raises(JournalError, match="cannot write halt record"):
        ro.record("halt", {"x": 1})


def test_unserialisable_payload_is_a_journal_error_not_a_crash(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    with pytest.raises(JournalError, match="cannot write"):
        j.record("halt", {"x": object()})


def test_garbage_file_is_refused_at_open(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(JournalError, match="cannot open"):
        Journal(path)
