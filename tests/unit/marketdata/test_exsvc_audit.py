"""Audit log (drop copy): append-only JSON lines, flushed, numbered across restarts."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from core.clock import SimClock
from core.events import CancelReject, ExecReport
from core.requests import CancelRequest, NewOrderRequest, ReplaceRequest
from core.types import ExecType, OrdStatus, Side
from exchange.service.audit import AuditCorrupt, AuditLog, read_audit

SESSION = "FIX.4.4:EXCHANGE->RLEXEC"


def _fill() -> ExecReport:
    return ExecReport(
        cl_ord_id="C1",
        exec_id="E7",
        exec_type=ExecType.TRADE,
        ord_status=OrdStatus.PARTIALLY_FILLED,
        symbol="AMZN",
        side=Side.SELL,
        order_qty=100,
        cum_qty=40,
        leaves_qty=60,
        ts_ns=5,
        price=22000,
        last_qty=40,
        last_px=22000,
        avg_px=22000.0,
        liquidity="A",
    )


def test_every_kind_is_written_flushed_and_readable(tmp_path: Path) -> None:
    path = tmp_path / "audit" / "drop.jsonl"
    clock = SimClock(1_000)
    log = AuditLog(path, clock=clock)
    log.record(SESSION, NewOrderRequest("C1", "AMZN", Side.SELL, 100, 22000, parent_id="P1"))
    log.record(SESSION, _fill())
    log.record(SESSION, ReplaceRequest("C2", "C1", "AMZN", Side.SELL, 80, 22001))
    log.record(SESSION, CancelRequest("C3", "C2", "AMZN", Side.SELL, 80))
    log.record(SESSION, CancelReject("C3", "C2", False, "too late: order is FILLED", 9))
    log.bad_message(SESSION, "Price(44) off grid", {"cl_ord_id": "C9"})
    # flushed: another reader sees every line before close
    lines = path.read_bytes().splitlines()
    assert len(lines) == 6
    first = orjson.loads(lines[0])
    assert first == {
        "n": 1,
        "ts": 1_000,
        "session": SESSION,
        "kind": "new_order",
        "cl_ord_id": "C1",
        "symbol": "AMZN",
        "side": -1,
        "qty": 100,
        "price": 22000,
        "ord_type": "2",
        "tif": "0",
        "parent_id": "P1",
        "ts_ns": 0,
        "account": "",
    }
    fill = orjson.loads(lines[1])
    assert (fill["kind"], fill["exec_id"], fill["exec_type"], fill["last_qty"]) == (
        "exec_report",
        "E7",
        "F",
        40,
    )
    log.close()
    records, notes = read_audit(path)
    assert [r["kind"] for r in records] == [
        "new_order",
        "exec_report",
        "replace_request",
        "cancel_request",
        "cancel_reject",
        "bad_message",
    ]
    assert [r["n"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert notes == []


def test_numbering_continues_after_a_restart_and_a_crash_cut_line_is_isolated(
    tmp_path: Path,
) -> None:
    path = tmp_path / "drop.jsonl"
    log = AuditLog(path, clock=SimClock())
    log.record(SESSION, _fill())
    log.record(SESSION, _fill())
    log.close()
    with open(path, "ab") as f:
        f.write(b'{"n":3,"ts":0,"session":"x","kind":"exec_re')  # crash mid-write
    log = AuditLog(path, clock=SimClock())
    log.record(SESSION, _fill())
    log.close()
    records, notes = read_audit(path)
    assert [r["n"] for r in records] == [1, 2, 3]
    assert len(notes) == 1 and ":3: partial record" in notes[0]


def test_a_corrupt_line_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "drop.jsonl"
    path.write_bytes(b'{"n":1,"kind":"new_order"}\nGARBAGE\n{"n":2,"kind":"new_order"}\n')
    with pytest.raises(AuditCorrupt, match=r"drop.jsonl:2"):
        read_audit(path)


def test_closed_log_refuses_writes(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "a.jsonl", clock=SimClock(), fsync=True)
    log.record(SESSION, _fill())
    log.close()
    with pytest.raises(RuntimeError, match="closed"):
        log.record(SESSION, _fill())
