"""The daemon's Node against a scripted venue over real FIX and websocket on loopback:
safety paths that the real exchange cannot be made to take on demand."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.config import load
from core.requests import CancelRequest, NewOrderRequest
from core.types import OrdStatus
from daemon.config import DaemonConfig
from daemon.control.commands import LoadPolicy, SubmitParent
from daemon.node import DEFAULT_POLICY_DIR, Node, NodeStartError
from tests.integration.daemon.daemon_venue import SYMBOL, ScriptedVenue, eventually


def node_config(tmp: Path, venue: ScriptedVenue, **extra: str) -> DaemonConfig:
    env = {
        "RLEXEC__NODE__DATA_DIR": str(tmp / "node"),
        "RLEXEC__REDIS__ENABLED": "false",
        "RLEXEC__HTTP__PORT": "0",
        "RLEXEC__FIX__PORT": str(venue.fix_port),
        "RLEXEC__FIX__RECONNECT_MIN_S": "0.05",
        "RLEXEC__FIX__RECONNECT_MAX_S": "0.2",
        "RLEXEC__MARKETDATA__URL": f"ws://127.0.0.1:{venue.md_port}/md",
        "RLEXEC__MARKETDATA__STALE_AFTER_S": "0.5",
        "RLEXEC__EXECUTION__DECISION_INTERVAL_S": "0.1",
        "RLEXEC__EXECUTION__ACK_TIMEOUT_S": "0.3",
        "RLEXEC__EXECUTION__RECOVERY_TIMEOUT_S": "2",
        "RLEXEC__INSTRUMENTS": f'[{{symbol = "{SYMBOL}"}}]',
        "RLEXEC__RISK__ALLOWED_SYMBOLS": f'["{SYMBOL}"]',
        "RLEXEC__RISK__PARTICIPATION_BPS": "5000",
        "RLEXEC__RISK__PARTICIPATION_WINDOW_S": "600",
        **extra,
    }
    return load(DaemonConfig, None, env=env)


@pytest.fixture
async def venue() -> AsyncIterator[ScriptedVenue]:
    v = ScriptedVenue()
    await v.start()
    yield v
    await v.stop()


async def started(cfg: DaemonConfig) -> Node:
    node = Node(cfg)
    await node.start()
    await eventually(lambda: node.recovered and not node.halts, what="node trading")
    return node


def twap(qty: int = 600, seconds: float = 30) -> SubmitParent:
    # A TWAP parent: its first decision rests a slice at the touch, deterministically.
    # The scripted venue prints no trades, so each test first tells risk about some market
    # volume (engine.on_market_trade) for the participation check to pass.
    return SubmitParent(symbol=SYMBOL, side="buy", qty=qty, duration_s=seconds, algo="twap")


async def working_twap(
    node: Node, venue: ScriptedVenue, parent_id: str = "P1", *, wait: bool = True
) -> None:
    """A TWAP parent whose first child rests at the venue (its ack may be held back);
    ``wait=False`` when the venue is set to lose it."""
    node.engine.on_market_trade(SYMBOL, 100_000, node.clock.now_ns())
    await node.submit_parent(parent_id, twap())
    if wait:
        await eventually(venue.live, what="a child resting at the venue")


def new_orders(venue: ScriptedVenue) -> list[NewOrderRequest]:
    return [r for r in venue.requests if isinstance(r, NewOrderRequest)]


async def test_an_order_whose_ack_never_comes_is_queried_and_closed_from_the_answer(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    node = await started(node_config(tmp_path, venue))
    try:
        node.engine.on_market_trade(SYMBOL, 100_000, node.clock.now_ns())
        venue.lose_next_orders = 1
        await node.submit_parent("P1", twap())
        await eventually(lambda: new_orders(venue), what="a child order")
        lost = new_orders(venue)[0].cl_ord_id
        # counted against limits while uncertain
        assert lost in {o.cl_ord_id for o in node.risk.open_orders()}
        await eventually(lambda: lost in venue.status_requests, what="an OrderStatusRequest")
        await eventually(
            lambda: node.engine.tracker.get(lost).status is OrdStatus.REJECTED,
            what="the lost order closed",
        )
        assert lost not in {o.cl_ord_id for o in node.risk.open_orders()}
        # and the parent carries on with a fresh child the venue did receive
        await eventually(venue.live, what="a live child at the venue")
    finally:
        await node.stop()


async def test_stale_market_data_halts_the_symbol_and_cancels_its_resting_orders(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    node = await started(node_config(tmp_path, venue))
    try:
        await working_twap(node, venue)
        venue.silence_market_data()
        await eventually(lambda: f"md:{SYMBOL}" in node.halts, what="a market-data halt")
        await eventually(lambda: not venue.live(), what="resting children cancelled")
        assert any(isinstance(r, CancelRequest) for r in venue.requests)
        sent = len(new_orders(venue))
        venue.revive_market_data()
        await eventually(lambda: f"md:{SYMBOL}" not in node.halts, what="the halt lifted")
        await eventually(lambda: len(new_orders(venue)) > sent, what="trading resumed")
    finally:
        await node.stop()


async def test_losing_fix_halts_and_the_next_logon_settles_live_orders_before_trading(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    node = await started(node_config(tmp_path, venue))
    try:
        await working_twap(node, venue)
        resting = venue.live()[0].cl_ord_id
        for session in venue.acceptor.sessions.values():
            session.disconnect("test: venue drops the connection")
        await eventually(lambda: "fix_down" in node.halts, what="a FIX halt")
        await eventually(lambda: "fix_down" not in node.halts, timeout=15, what="reconnected")
        await eventually(lambda: resting in venue.status_requests, what="live order settled")
        await eventually(lambda: not node.halts, what="trading again")
        assert node.recovered
    finally:
        await node.stop()


async def test_kill_cancels_every_child_and_blocks_new_orders(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    node = await started(node_config(tmp_path, venue))
    try:
        await working_twap(node, venue)
        reply = await node.kill("test")
        assert reply["engaged"] and reply["cancels_sent"] >= 1
        await eventually(lambda: not venue.live(), what="everything cancelled")
        sent = len(new_orders(venue))
        await node.submit_parent("P2", twap())
        for _ in range(10):
            await node.clock.sleep(0.05)
        assert len(new_orders(venue)) == sent
        assert node.status()["risk"]["kill_switch"]["engaged"] is True
        assert not node.may_trade(SYMBOL)
    finally:
        await node.stop()
    # the kill switch outlives the process
    again = Node(node_config(tmp_path, venue))
    assert again.risk.kill_switch.engaged
    again.journal.close()


async def test_two_parents_work_at_once_and_a_parent_can_be_paused_resumed_and_cancelled(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    node = await started(node_config(tmp_path, venue))
    try:
        node.engine.on_market_trade(SYMBOL, 100_000, node.clock.now_ns())
        await node.submit_parent("A", twap(300))
        await node.submit_parent("B", twap(300))
        await eventually(
            lambda: node.engine.live_children("A") and node.engine.live_children("B"),
            what="both parents working",
        )
        await node.pause("A")
        await eventually(lambda: not node.engine.live_children("A"), what="A's children cancelled")
        assert node.engine.parents["A"].state.value == "paused"
        assert node.engine.live_children("B")
        await node.resume("A")
        await eventually(lambda: node.engine.live_children("A"), what="A working again")
        child = node.engine.live_children("B")[0]
        venue.fill(child.cl_ord_id, child.qty, child.price or 22_000)
        await eventually(
            lambda: node.engine.parents["B"].filled_qty == child.qty, what="B's fill booked"
        )
        await node.cancel_parent("B")
        await eventually(lambda: not node.engine.live_children("B"), what="B cancelled")
        assert node.engine.parents["B"].state.value == "canceled"
    finally:
        await node.stop()


async def test_a_journal_that_fails_halts_trading_but_cancels_still_go_out(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    node = await started(node_config(tmp_path, venue))
    try:
        await working_twap(node, venue)
        node.journal._db.execute("PRAGMA query_only = ON")  # the disk "fails"
        await eventually(lambda: "journal" in node.halts, what="a journal halt")
        await eventually(lambda: not venue.live(), what="resting children cancelled anyway")
        assert node.metrics.journal_errors._value.get() >= 1
    finally:
        node.journal._db.execute("PRAGMA query_only = OFF")
        await node.stop()


async def test_a_corrupt_policy_is_refused_at_start_with_the_reason(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    bad = tmp_path / "policy"
    bad.mkdir()
    for f in DEFAULT_POLICY_DIR.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    weights = bad / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    cfg = node_config(tmp_path, venue, RLEXEC__POLICY__PATH=str(bad))
    with pytest.raises(NodeStartError, match="sha256"):
        Node(cfg)
    toml = tmp_path / "d.toml"
    toml.write_text(f'[policy]\npath = "{bad}"\n[node]\ndata_dir = "{tmp_path / "n2"}"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "daemon.main", "--config", str(toml)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "cannot start" in proc.stderr and "sha256" in proc.stderr


async def test_load_policy_swaps_the_policy_between_decisions(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    node = await started(node_config(tmp_path, venue))
    try:
        digest = node.policy.artifact.digest
        node.engine.on_market_trade(SYMBOL, 100_000, node.clock.now_ns())
        await node.submit_parent(
            "P1", SubmitParent(symbol=SYMBOL, side="sell", qty=500, duration_s=30)
        )
        before = node.policy
        reply = await node.load_policy(LoadPolicy(path=DEFAULT_POLICY_DIR, sha256=digest))
        assert reply["digest"] == digest
        assert node.policy is not before
        assert node.runners["P1"].driver.policy is node.policy
        with pytest.raises(ValueError, match=r"sha256.*the loaded policy stays"):
            await node.load_policy(LoadPolicy(path=DEFAULT_POLICY_DIR, sha256="0" * 64))
        assert node.runners["P1"].driver.policy is node.policy  # a refused load changes nothing
    finally:
        await node.stop()


async def test_reset_kill_needs_a_fresh_signature_from_the_configured_key(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    import secrets
    import time

    from daemon.control.commands import signed_action
    from risk.command_auth import CommandRefused, signed

    # As deploy/ generates it: hex text, the file ending in a newline the node strips.
    # (Random raw bytes would fail now and then: a leading or trailing whitespace byte
    # is stripped too, and the test would sign with a key the node never loaded.)
    key = secrets.token_hex(32).encode()
    (tmp_path / "key").write_bytes(key + b"\n")
    node = await started(
        node_config(tmp_path, venue, RLEXEC__CONTROL__HMAC_KEY_FILE=str(tmp_path / "key"))
    )
    try:
        await node.kill("test")
        assert not node.may_trade(SYMBOL)
        action = signed_action("reset_kill", {"reason": "checked"})
        forged = signed(b"x" * 32, action, time.time_ns(), secrets.token_hex(16))
        with pytest.raises(CommandRefused, match="bad_signature"):
            await node.reset_kill("checked", forged)
        assert node.risk.kill_switch.engaged
        good = signed(key, action, time.time_ns(), secrets.token_hex(16))
        assert (await node.reset_kill("checked", good))["engaged"] is False
        assert node.may_trade(SYMBOL)
        with pytest.raises(CommandRefused, match="replayed"):
            await node.reset_kill("checked", good)
    finally:
        await node.stop()


async def test_startup_objects_are_frozen_out_of_the_collector_until_stop(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    import gc

    node = await started(node_config(tmp_path, venue))
    try:
        # torch and the policy are loaded by now: far more than a handful of objects
        assert gc.get_freeze_count() > 10_000
    finally:
        await node.stop()
    assert gc.get_freeze_count() == 0


async def test_freeze_heap_false_leaves_the_collector_alone(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    import gc

    before = gc.get_freeze_count()
    node = await started(node_config(tmp_path, venue, RLEXEC__NODE__FREEZE_HEAP="false"))
    try:
        assert gc.get_freeze_count() == before
    finally:
        await node.stop()


async def test_with_busy_poll_the_node_trades_and_stops_cleanly(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    node = await started(node_config(tmp_path, venue, RLEXEC__NODE__BUSY_POLL="true"))
    try:
        assert node.busy_poll.running
        await working_twap(node, venue)
        assert node.busy_poll.spins > 0
    finally:
        await node.stop()
    assert not node.busy_poll.running


async def test_shutdown_cancels_an_order_that_was_still_in_flight_when_it_began(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    import asyncio

    node = await started(node_config(tmp_path, venue))
    venue.hold_acks = True
    await working_twap(node, venue)
    (child,) = node.engine.tracker.live()
    assert child.status is OrdStatus.PENDING_NEW
    stopping = asyncio.create_task(node.stop())
    await eventually(lambda: node.stopping, what="shutdown under way")
    venue.release_acks()  # the ack lands after the shutdown's first round of cancels
    await stopping
    assert not venue.live(), "an order was left working at the venue after shutdown"


async def test_a_child_acked_after_its_parent_was_cancelled_is_cancelled_on_the_ack(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    node = await started(node_config(tmp_path, venue))
    try:
        venue.hold_acks = True
        await working_twap(node, venue)
        await node.cancel_parent("P1")  # the child is still pending new: nothing to cancel yet
        await eventually(lambda: node.runners["P1"].done, what="the parent's runner done")
        venue.release_acks()
        await eventually(lambda: not venue.live(), what="the late-acked child cancelled")
    finally:
        await node.stop()
