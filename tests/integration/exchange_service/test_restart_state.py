"""The restart path in process: the shipped AMZN replay, the real audit log and order
entry, a second venue built the way a restarted exchange builds it."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.clock import WallClock
from core.events import CancelReject, ExecReport
from core.instruments import Instrument
from core.requests import NewOrderRequest, ReplaceRequest
from core.types import ExecType, OrdStatus, Side
from exchange.data import lobster_message_file
from exchange.engine import MatchingEngine
from exchange.replay import ReplaySimulator, load_day
from exchange.replay.prepared import PreparedDay
from exchange.service.audit import AuditLog
from exchange.service.checkpoint import Checkpoint, queue_key
from exchange.service.order_entry import EngineOrderEntry
from exchange.service.restart import cancel_all_recovered, plan_restart, restore_simulated
from exchange.service.venue_state import recover_orders
from exchange.service.venues import SimulatedVenue

S = "FIX.4.4:EXCHANGE->RLEXEC"
TEN = 10 * 3600 * 10**9


@pytest.fixture(scope="module")
def day() -> PreparedDay:
    return load_day(lobster_message_file("AMZN", "2012-06-21", 5))


class Venue:
    """A simulated venue behind order entry and an audit log, as in exchange.main."""

    def __init__(self, day: PreparedDay, audit: Path) -> None:
        self.reports: list[tuple[str, ExecReport | CancelReject]] = []
        self.log = AuditLog(audit, clock=WallClock())
        self.entry = EngineOrderEntry(self.log)
        self.entry.connect(S, lambda s, r: self.reports.append((s, r)))
        self.sim = ReplaySimulator(day)
        midnight = day.day.day_start_ns
        self.sim.reset(midnight + TEN, midnight + TEN + 1800 * 10**9)
        self.window = {"AMZN": (self.sim.now_ns, self.sim.end_ns)}
        self.venue = SimulatedVenue({"AMZN": self.sim}, self.entry.on_report, lambda: None)
        self.entry.attach(self.venue)

    def ahead(self, cl: str) -> int:
        o = self.sim.engine.order(S, cl)
        assert o is not None and o.price is not None
        return self.sim.order_book.ahead_of(o.side, o.price, o.key)


def _rest_at_best_bid(v: Venue, cl: str, qty: int) -> ExecReport:
    v.venue.advance_all(v.sim.now_ns + 60 * 10**9)
    bid = v.sim.book.best_bid
    assert bid is not None
    v.entry.submit(S, NewOrderRequest(cl, "AMZN", Side.BUY, qty, bid))
    ack = v.reports[-1][1]
    assert isinstance(ack, ExecReport) and ack.exec_type is ExecType.NEW
    return ack


def test_a_restored_order_keeps_its_queue_position_and_the_market_its_time(
    day: PreparedDay, tmp_path: Path
) -> None:
    before = Venue(day, tmp_path / "audit.jsonl")
    ack = _rest_at_best_bid(before, "Q1", 100)
    ahead = before.ahead(ack.cl_ord_id)
    assert ahead > 0
    saved = Checkpoint(
        "m",
        event_ns={"AMZN": before.sim.now_ns},
        queue_ahead={queue_key(S, ack.venue_order_id): ahead},
    )
    before.log.close()  # the process is gone

    after = Venue(day, tmp_path / "audit.jsonl")
    recovered = recover_orders(tmp_path / "audit.jsonl")
    plan = plan_restart(recovered, saved, "m", after.window)
    assert plan.resume and plan.resume_ns["AMZN"] == before.sim.now_ns
    summary = restore_simulated(after.venue, recovered, plan, saved, keep=True, run_id="r2")
    assert summary.kept == ["Q1"]
    assert after.sim.now_ns == before.sim.now_ns  # the replay resumes, not restarts
    o = after.sim.engine.order(S, "Q1")
    assert o is not None and o.venue_order_id == ack.venue_order_id
    crowd = after.sim.order_book.level_size(Side.BUY, ack.price or 0) - 100
    assert after.ahead("Q1") == min(ahead, crowd)
    assert after.sim.order_book.problems() == []


def test_without_a_checkpoint_the_order_joins_the_back_of_its_level(
    day: PreparedDay, tmp_path: Path
) -> None:
    before = Venue(day, tmp_path / "audit.jsonl")
    ack = _rest_at_best_bid(before, "Q1", 100)
    before.log.close()
    after = Venue(day, tmp_path / "audit.jsonl")
    recovered = recover_orders(tmp_path / "audit.jsonl")
    plan = plan_restart(recovered, None, "m", after.window)
    assert plan.resume  # from the last report's event time
    restore_simulated(after.venue, recovered, plan, None, keep=True, run_id="r2")
    level = after.sim.order_book.level_size(Side.BUY, ack.price or 0)
    assert after.ahead("Q1") == level - 100


def test_a_restart_after_the_market_ended_cancels_what_rested_and_says_why(
    day: PreparedDay, tmp_path: Path
) -> None:
    before = Venue(day, tmp_path / "audit.jsonl")
    _rest_at_best_bid(before, "Q1", 100)
    before.log.close()
    after = Venue(day, tmp_path / "audit.jsonl")
    recovered = recover_orders(tmp_path / "audit.jsonl")
    ended = Checkpoint("m", event_ns={"AMZN": after.sim.end_ns}, finished=True)
    plan = plan_restart(recovered, ended, "m", after.window)
    assert not plan.resume
    summary = restore_simulated(after.venue, recovered, plan, ended, keep=True, run_id="r2")
    assert summary.cancelled == ["Q1"] and after.sim.engine.open_orders() == []
    (session, cxl) = after.reports[-1]
    assert session == S and isinstance(cxl, ExecReport)
    assert (cxl.cl_ord_id, cxl.exec_type, cxl.leaves_qty) == ("Q1", ExecType.CANCELED, 0)
    assert "new trading session" in cxl.text
    after.log.close()
    assert recover_orders(tmp_path / "audit.jsonl").live == []  # the audit has the cancel


def test_a_request_audited_without_its_report_counts_as_never_received(tmp_path: Path) -> None:
    """The process died between auditing a request and its report: the client never
    got an answer and will resend, so the ClOrdID must not be taken."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, clock=WallClock())
    log.record(S, NewOrderRequest("LOST", "AMZN", Side.BUY, 100, 22000))
    log.close()
    with open(path, "ab") as f:
        f.write(b'{"n":2,"ts":1,"session":"x","kind":"exec_rep')  # cut by the crash
    recovered = recover_orders(path)
    assert recovered.live == [] and (S, "LOST") not in recovered.done
    assert len(recovered.notes) == 1


def test_a_replace_chain_and_fills_fold_into_one_live_order(
    day: PreparedDay, tmp_path: Path
) -> None:
    v = Venue(day, tmp_path / "audit.jsonl")
    v.venue.advance_all(v.sim.now_ns + 60 * 10**9)
    ask, size = v.sim.book.best_ask, v.sim.book.best_ask_size
    assert ask is not None
    v.entry.submit(S, NewOrderRequest("A1", "AMZN", Side.BUY, size + 50, ask))
    v.entry.submit(S, ReplaceRequest("A2", "A1", "AMZN", Side.BUY, size + 50, ask - 100))
    v.log.close()
    recovered = recover_orders(tmp_path / "audit.jsonl")
    (live,) = recovered.live
    assert (live.cl_ord_id, live.cum_qty, live.order_qty) == ("A2", size, size + 50)
    assert live.notional == size * ask
    assert live.status is OrdStatus.PARTIALLY_FILLED
    assert recovered.done[(S, "A1")][0] is OrdStatus.REPLACED


def test_a_changed_market_configuration_starts_a_new_session(
    day: PreparedDay, tmp_path: Path
) -> None:
    before = Venue(day, tmp_path / "audit.jsonl")
    _rest_at_best_bid(before, "Q1", 100)
    before.log.close()
    recovered = recover_orders(tmp_path / "audit.jsonl")
    saved = Checkpoint("old-market", event_ns={"AMZN": before.sim.now_ns})
    plan = plan_restart(recovered, saved, "new-market", before.window)
    assert not plan.resume and "configuration changed" in plan.reason


def test_a_paper_venue_cancels_what_rested_and_remembers_every_clordid(
    day: PreparedDay, tmp_path: Path
) -> None:
    before = Venue(day, tmp_path / "audit.jsonl")
    _rest_at_best_bid(before, "Q1", 100)
    before.log.close()
    recovered = recover_orders(tmp_path / "audit.jsonl")
    reports: list[tuple[str, ExecReport | CancelReject]] = []
    engine = MatchingEngine([Instrument("AMZN")], lambda s, r: reports.append((s, r)))
    summary = cancel_all_recovered(
        [engine],
        recovered,
        lambda s, r: reports.append((s, r)),
        ts_ns=1,
        run_id="r2",
        why="upstream moved on",
    )
    assert summary.cancelled == ["Q1"]
    (session, cxl) = reports[-1]
    assert isinstance(cxl, ExecReport) and cxl.exec_type is ExecType.CANCELED
    assert session == S and "venue restarted: upstream moved on" in cxl.text
    engine.handle(NewOrderRequest("Q1", "AMZN", Side.BUY, 100, 22000), S, 2)
    dup = reports[-1][1]
    assert isinstance(dup, ExecReport) and "duplicate" in dup.text
