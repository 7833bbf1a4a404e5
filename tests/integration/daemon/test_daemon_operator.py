"""What an operator sees and does (issue 13 items 7-9): signed commands under a replay
clock, /readyz while halted, and what the kill command reports."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import aiohttp

from core.types import OrdStatus
from daemon.control.commands import envelope, parse
from daemon.node import DEFAULT_POLICY_DIR, Node
from tests.integration.daemon.daemon_venue import SYMBOL, ScriptedVenue, eventually
from tests.integration.daemon.test_daemon_late_answers import replaying
from tests.integration.daemon.test_daemon_node import node_config, started, venue, working_twap

__all__ = ["venue"]  # the fixture


async def _readyz(node: Node) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{node.http_port}/readyz") as r,
    ):
        return r.status, await r.json()


def _signed(key: bytes, cmd: str, args: dict[str, Any]) -> bytes:
    return envelope(
        f"c-{secrets.token_hex(4)}",
        cmd,
        args,
        key=key,
        ts_ns=time.time_ns(),  # the operator's wall clock, as rlexec ctl stamps it
        nonce=secrets.token_hex(16),
    )


async def test_signed_commands_are_checked_on_the_wall_clock_under_a_30x_replay(
    tmp_path: Path,
) -> None:
    # The node's clock reads 2012 and runs at 30x; the operator signs with today's
    # time. Issue 13 item 7: every signed reset_kill was refused as from_the_future.
    key = secrets.token_hex(32).encode()
    (tmp_path / "key").write_bytes(key + b"\n")
    hmac_key = {"RLEXEC__CONTROL__HMAC_KEY_FILE": str(tmp_path / "key")}
    async with replaying(tmp_path, **hmac_key) as (node, _):
        assert node.clock.now_ns() < time.time_ns() - 365 * 86_400 * 10**9  # replay time
        await node.kill("test")
        assert not node.may_trade(SYMBOL)
        reply = await node.handler.handle(parse(_signed(key, "reset_kill", {"reason": "ok"})))
        assert reply["ok"], reply
        assert node.may_trade(SYMBOL)
        digest = node.policy.artifact.digest
        args = {"path": str(DEFAULT_POLICY_DIR), "sha256": digest}
        reply = await node.handler.handle(parse(_signed(key, "load_policy", args)))
        assert reply["ok"], reply


async def test_readyz_is_not_ready_while_halted_and_names_the_halts(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    # Issue 13 item 8: readiness includes "may trade", with the halt reasons in the body.
    node = await started(node_config(tmp_path, venue))
    try:
        status, ready = await _readyz(node)
        assert status == 200
        await node.kill("drill")
        status, body = await _readyz(node)
        assert status == 503, body
        assert ready["checks"]["may_trade"] and ready["halts"] == {}
        assert "may_trade" in body["failing"]
        assert "drill" in body["halts"]["kill_switch"]
        node.halt("internal_error", "applying a report failed")
        status, body = await _readyz(node)
        assert status == 503 and body["halts"]["internal_error"] == "applying a report failed"
        assert node.metrics.ready._value.get() == 0
    finally:
        await node.stop()


async def test_the_kill_reply_reports_what_is_being_cancelled(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    # Issue 13 item 9: "cancels_sent: 0" while cancels were on their way. The reply now
    # names every order being cancelled and those cancelled once the venue answers them.
    node = await started(node_config(tmp_path, venue))
    try:
        venue.hold_acks = True
        await working_twap(node, venue)
        (in_flight,) = node.engine.tracker.live()
        reply = await node.kill("drill")
        assert reply["engaged"] and reply["cancels_sent"] == 0
        assert reply["cancel_on_answer"] == [in_flight.cl_ord_id]
        venue.release_acks()  # acked after the kill: cancelled on the ack
        await eventually(lambda: not venue.live(), what="the late-acked child cancelled")
        assert venue.orders[in_flight.cl_ord_id].status is OrdStatus.CANCELED
    finally:
        await node.stop()
