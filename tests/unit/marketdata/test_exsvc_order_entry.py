"""The order-entry seam over the real matching engine: routing, queueing, audit."""

from __future__ import annotations

from pathlib import Path

from core.clock import SimClock
from core.events import ExecReport
from core.instruments import Instrument
from core.requests import CancelRequest, MassStatusRequest, NewOrderRequest, StatusRequest
from core.types import ExecType, OrdStatus, Side
from exchange.engine import MatchingEngine
from exchange.service.audit import AuditLog, read_audit
from exchange.service.order_entry import EngineOrderEntry, Report
from exchange.service.venues import EngineVenue

S1, S2 = "FIX.4.4:EXCHANGE->A", "FIX.4.4:EXCHANGE->B"


def _venue(tmp_path: Path, **kw: object) -> tuple[EngineOrderEntry, MatchingEngine, Path]:
    path = tmp_path / "audit.jsonl"
    entry = EngineOrderEntry(AuditLog(path, clock=SimClock()), **kw)  # type: ignore[arg-type]
    engine = MatchingEngine([Instrument("AMZN")], entry.on_report)
    entry.attach(EngineVenue(engine, lambda: 77))
    return entry, engine, path


def test_reports_go_to_their_session_and_everything_is_audited(tmp_path: Path) -> None:
    entry, _, path = _venue(tmp_path)
    got: dict[str, list[Report]] = {S1: [], S2: []}
    entry.connect(S1, lambda s, r: got[s].append(r))
    entry.connect(S2, lambda s, r: got[s].append(r))
    entry.submit(S1, NewOrderRequest("A1", "AMZN", Side.SELL, 10, 100))
    entry.submit(S2, NewOrderRequest("B1", "AMZN", Side.BUY, 4, 100))
    assert [(r.cl_ord_id, r.exec_type) for r in got[S1]] == [  # type: ignore[union-attr]
        ("A1", ExecType.NEW),
        ("A1", ExecType.TRADE),
    ]
    assert [r.exec_type for r in got[S2]] == [ExecType.NEW, ExecType.TRADE]  # type: ignore[union-attr]
    assert all(r.ts_ns == 77 for r in got[S1])  # stamped with venue time
    entry.audit.close()
    records, _ = read_audit(path)
    assert [(r["session"], r["kind"]) for r in records] == [
        (S1, "new_order"),
        (S1, "exec_report"),
        (S2, "new_order"),
        (S2, "exec_report"),
        (S1, "exec_report"),  # the resting sell filled by S2's buy
        (S2, "exec_report"),
    ]
    exec_ids = [r["exec_id"] for r in records if r["kind"] == "exec_report"]
    assert len(set(exec_ids)) == 4


def test_reports_for_a_disconnected_session_wait_for_its_logon(tmp_path: Path) -> None:
    entry, _, _ = _venue(tmp_path)
    got: list[Report] = []
    entry.connect(S1, lambda s, r: got.append(r))
    entry.submit(S1, NewOrderRequest("A1", "AMZN", Side.SELL, 10, 100))
    entry.disconnect(S1)
    entry.connect(S2, lambda s, r: None)
    entry.submit(S2, NewOrderRequest("B1", "AMZN", Side.BUY, 10, 100))  # fills A1 while away
    assert len(got) == 1
    entry.connect(S1, lambda s, r: got.append(r))
    assert [(r.exec_type, r.ord_status) for r in got[1:]] == [  # type: ignore[union-attr]
        (ExecType.TRADE, OrdStatus.FILLED)
    ]


def test_cancel_on_disconnect_and_the_queue_bound(tmp_path: Path) -> None:
    entry, engine, _ = _venue(tmp_path, cancel_on_disconnect=True, max_queued=2)
    entry.connect(S1, lambda s, r: None)
    for i in range(3):
        entry.submit(S1, NewOrderRequest(f"A{i}", "AMZN", Side.SELL, 1, 100 + i))
    entry.disconnect(S1)
    assert engine.open_orders(S1) == []
    assert entry.dropped_reports == 1  # three unsolicited cancels, room for two
    got: list[Report] = []
    entry.connect(S1, lambda s, r: got.append(r))
    assert all(isinstance(r, ExecReport) for r in got)
    assert [(r.cl_ord_id, r.ord_status) for r in got] == [
        ("A1", OrdStatus.CANCELED),
        ("A2", OrdStatus.CANCELED),
    ]


def test_status_and_mass_status_are_answers_not_events(tmp_path: Path) -> None:
    entry, _, path = _venue(tmp_path)
    got: list[Report] = []
    entry.connect(S1, lambda s, r: got.append(r))
    entry.submit(S1, NewOrderRequest("A1", "AMZN", Side.SELL, 10, 100))
    entry.submit(S1, NewOrderRequest("A2", "AMZN", Side.SELL, 5, 101))
    entry.submit(S1, CancelRequest("A3", "A2", "AMZN", Side.SELL, 5))
    n = len(got)
    st = entry.status_of(S1, StatusRequest("A1", "AMZN", Side.SELL))
    assert isinstance(st, ExecReport) and st.exec_type is ExecType.ORDER_STATUS
    assert st.ord_status is OrdStatus.NEW and st.leaves_qty == 10
    assert entry.status_of(S1, StatusRequest("NOPE", "AMZN", Side.SELL)) is None
    mass = entry.mass_status(S1, MassStatusRequest("M1"))
    assert [r.cl_ord_id for r in mass] == ["A1"]
    assert len(got) == n  # none of that went to the session as events
    entry.submit(S1, StatusRequest("A1", "AMZN", Side.SELL))  # an explicit status request
    assert got[-1].exec_type is ExecType.ORDER_STATUS  # type: ignore[union-attr]
    entry.audit.close()
    kinds = [r["kind"] for r in read_audit(path)[0]]
    assert kinds.count("exec_report") == 3  # 2 acks, the cancel (status answers are not audited)
    assert kinds.count("cancel_request") == 1


def test_undeliverable_reports_are_queued_in_order(tmp_path: Path) -> None:
    entry, _, _ = _venue(tmp_path)
    entry.connect(S1, lambda s, r: None)
    entry.submit(S1, NewOrderRequest("A1", "AMZN", Side.SELL, 10, 100))
    failed = ExecReport("A0", "E0", ExecType.NEW, OrdStatus.NEW, "AMZN", Side.SELL, 1, 0, 1, 0)
    entry.undeliverable(S1, failed)  # the wire refused it: the session is down after all
    entry.submit(S1, CancelRequest("A2", "A1", "AMZN", Side.SELL, 10))  # queued behind it
    got: list[Report] = []
    entry.connect(S1, lambda s, r: got.append(r))
    assert got[0] is failed
    assert (got[1].cl_ord_id, got[1].exec_type) == ("A2", ExecType.CANCELED)  # type: ignore[union-attr]
