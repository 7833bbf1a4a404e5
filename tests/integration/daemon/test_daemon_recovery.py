"""Recovery on a journal holding records that cannot be re-applied (issue 13 item 2): the
node starts anyway, halted in ``recovery`` with the record named, and still settles its
orders with the venue, cancels what rests and lets the operator end the parents; and a
report the venue resends after a restart is applied and journalled once."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

from core.events import ExecReport
from core.orders import ChildOrder
from core.types import ExecType, OrdStatus
from daemon.config import DaemonConfig
from daemon.journal import Journal
from daemon.node import Node
from tests.integration.daemon.daemon_venue import (
    SYMBOL,
    ScriptedVenue,
    VenueOrder,
    eventually,
)
from tests.integration.daemon.test_daemon_node import node_config, started, venue, working_twap

__all__ = ["venue"]  # the fixture


async def left_with_a_resting_child(
    cfg: DaemonConfig,
    venue: ScriptedVenue,
    then: Callable[[Node, VenueOrder], Awaitable[None]] | None = None,
) -> ChildOrder:
    """A node that worked a TWAP parent, its child resting at the venue, and stopped
    without cancelling it (as a crash would); ``then`` runs before the stop."""
    node = await started(cfg)
    try:
        await working_twap(node, venue)
        (child,) = venue.live()
        if then is not None:
            await then(node, child)
        return node.engine.tracker.get(child.req.cl_ord_id)
    finally:
        await node.stop()


async def test_a_record_that_cannot_be_applied_halts_in_recovery_and_the_node_still_cleans_up(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    cfg = node_config(tmp_path, venue, RLEXEC__EXECUTION__CANCEL_ON_SHUTDOWN="false")
    rested = await left_with_a_resting_child(cfg, venue)
    # What issue 13 found after a late status answer: a Replaced for an order our books
    # hold as New (and, for good measure, a record that no longer decodes).
    journal = Journal(cfg.node.data_dir / "journal.db")
    bad = journal.record(
        "report",
        ExecReport(
            cl_ord_id="rlexec-1-99",
            exec_id="V-bad",
            exec_type=ExecType.REPLACED,
            ord_status=OrdStatus.NEW,
            symbol=SYMBOL,
            side=rested.side,
            order_qty=rested.qty,
            cum_qty=0,
            leaves_qty=rested.qty,
            ts_ns=1,
            price=rested.price,
            orig_cl_ord_id=rested.cl_ord_id,
        ),
    )
    garbled = journal.record("new", {"placeholder": True})
    journal.close()
    db = sqlite3.connect(cfg.node.data_dir / "journal.db")
    db.execute("UPDATE records SET body = ? WHERE seq = ?", (b'{"cl_ord_id": 5}', garbled))
    db.commit()
    db.close()

    again = Node(cfg)
    await again.start()  # never raises on a record
    try:
        assert f"record {bad} (report)" in again.halts["recovery"]
        assert "IllegalTransition" in again.halts["recovery"]
        assert "and 1 more" in again.halts["recovery"]
        assert not again.may_trade(SYMBOL)
        readiness = again.readiness()
        assert not readiness.ready and "recovery" in readiness.halts
        # settled with the venue, and what rests is cancelled
        await eventually(lambda: again.recovered, what="venue reconciliation")
        assert rested.cl_ord_id in venue.status_requests
        await eventually(lambda: not venue.live(), what="the resting child cancelled")
        # the operator ends the parent
        reply = await again.cancel_parent("P1")
        assert reply["state"] == "canceled"
        assert "recovery" in again.halts  # stays until a restart on a sound journal
    finally:
        await again.stop()


async def test_a_fill_resent_after_a_restart_is_applied_once_and_journalled_once(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    # The kill -9 drill's finding: the node journalled a fill, died before storing the
    # inbound MsgSeqNum, and the venue delivered the report again (PossDup) to the
    # restarted node, which journalled it a second time.
    cfg = node_config(tmp_path, venue, RLEXEC__EXECUTION__CANCEL_ON_SHUTDOWN="false")

    async def fill_100(node: Node, child: VenueOrder) -> None:
        venue.fill(child.req.cl_ord_id, 100, child.req.price or 22_000)
        await eventually(lambda: node.engine.parents["P1"].filled_qty == 100, what="the fill")

    await left_with_a_resting_child(cfg, venue, fill_100)
    (fill,) = [r for r in venue.sent if r.exec_type is ExecType.TRADE]

    again = await started(cfg)
    try:
        venue.resend(fill)
        dupes = again.metrics.duplicate_reports.labels(SYMBOL)
        await eventually(lambda: dupes._value.get() == 1, what="the resent fill")
        assert again.engine.parents["P1"].filled_qty == 100
        assert again.engine.risk.position(SYMBOL) == 100
        assert not again.halts
    finally:
        await again.stop()
    journal = Journal(cfg.node.data_dir / "journal.db")
    try:
        journalled = [
            r.payload.exec_id
            for r in journal.records()
            if r.kind == "report" and r.payload.exec_type is ExecType.TRADE
        ]
    finally:
        journal.close()
    assert journalled == [fill.exec_id]
