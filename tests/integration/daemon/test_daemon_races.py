"""Order-lifecycle races against the scripted venue: a venue answer or an operator command
that lands in between two steps of the daemon must not leave an order working, corrupt
the journal, or halt the node."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from core.types import OrdStatus, Side
from daemon.node import Node
from daemon.recovery import replay_journal
from tests.integration.daemon.daemon_venue import SYMBOL, ScriptedVenue, eventually
from tests.integration.daemon.test_daemon_node import (
    node_config,
    started,
    twap,
    venue,
    working_twap,
)

__all__ = ["venue"]  # the fixture


def _move_bid_up(v: ScriptedVenue) -> None:
    """A better bid: the TWAP's resting buy follows the touch with a replace."""
    v.md.publish_delta(SYMBOL, [(Side.BUY, 22_001, 300)], time.time_ns())


async def test_a_replace_rejected_after_its_parent_was_cancelled_does_not_leave_the_order(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    # the venue answers well within the ack timeout: no status request settles it instead
    node = await started(node_config(tmp_path, venue, RLEXEC__EXECUTION__ACK_TIMEOUT_S="60"))
    try:
        await working_twap(node, venue)
        venue.hold_replaces = True
        _move_bid_up(venue)
        await eventually(lambda: venue.held_replaces, what="a replace in flight")
        (child,) = [o for o in node.engine.live_children("P1") if o.tif.rests]
        assert child.status is OrdStatus.PENDING_REPLACE
        await node.cancel_parent("P1")  # pending replace: nothing to cancel yet
        await eventually(lambda: node.runners["P1"].done, what="the parent's runner done")
        venue.answer_replaces(reject="price outside band")  # the old order keeps working
        await eventually(
            lambda: venue.orders[child.cl_ord_id].status is OrdStatus.CANCELED,
            what="the order cancelled after the reject",
        )
    finally:
        await node.stop()


async def test_a_replace_answered_while_its_status_was_being_asked_is_applied_once(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    # A slow venue, answering in order: the replace outlives the ack timeout, so the
    # node asks its status; the venue then applies the replace and answers the status.
    node = await started(node_config(tmp_path, venue))
    try:
        await working_twap(node, venue)
        venue.hold_replaces = venue.hold_status = True
        _move_bid_up(venue)
        await eventually(lambda: venue.held_replaces, what="a replace in flight")
        new_id = venue.held_replaces[0].cl_ord_id
        await eventually(
            lambda: new_id in {r.cl_ord_id for r in venue.held_status},
            what="the replace's status asked",
        )
        venue.answer_replaces()  # Replaced, then the status answer: the venue's order
        venue.answer_status()
        await eventually(lambda: not len(node.questions), what="the status answer handled")
        successor = node.engine.tracker.get(new_id)
        assert successor.cl_ord_id == new_id and successor.status is OrdStatus.NEW
        assert node.router.initiator.session.stats.internal_errors == 0
    finally:
        await node.stop()
    # the journal re-applies as it was written: the next start recovers without problems
    again = Node(node_config(tmp_path, venue))
    try:
        report = replay_journal(again.journal, again.engine, again.clock.now_ns())
        assert not report.problems
    finally:
        again.journal.close()


async def test_a_parent_cancelled_before_it_could_start_does_not_halt_the_node(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    node = await started(node_config(tmp_path, venue))
    try:
        venue.silence_market_data()
        await eventually(lambda: f"md:{SYMBOL}" in node.halts, what="a market-data halt")
        await node.submit_parent("P1", twap())
        await asyncio.sleep(0)  # one turn of the loop: the runner now waits for a market
        await node.cancel_parent("P1")
        venue.revive_market_data()
        await eventually(lambda: node.runners["P1"].done, what="the parent's runner done")
        assert node.engine.parents["P1"].state.value == "canceled"
        assert "runner_error" not in node.halts
        await eventually(lambda: not node.halts, what="trading again")
    finally:
        await node.stop()


async def test_a_bug_while_applying_a_venue_report_halts_trading_and_cancels_what_rests(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    node = await started(node_config(tmp_path, venue))
    try:
        await working_twap(node, venue)
        (child,) = venue.live()
        real = node.engine.on_exec_report
        calls = {"n": 0}

        def broken_once(report):  # type: ignore[no-untyped-def]
            calls["n"] += 1
            if calls["n"] == 1:
                raise RuntimeError("bug in report handling")
            return real(report)

        node.engine.on_exec_report = broken_once  # type: ignore[method-assign]
        half = child.req.qty // 2
        venue.fill(child.cl_ord_id, half, child.req.price or 0)  # a partial fill we fail on
        await eventually(lambda: "internal_error" in node.halts, what="an internal-error halt")
        assert not node.may_trade(SYMBOL)
        await eventually(lambda: not venue.live(), what="resting children cancelled")
        rest = venue.orders[child.cl_ord_id]
        assert rest.status is OrdStatus.CANCELED and rest.cum == half  # cancelled, not filled
    finally:
        await node.stop()
