"""End to end: exchange, redis-server and the daemon as real processes over loopback."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from daemon.stack import Stack, StackSettings
from tests.e2e.e2e_helpers import (
    audit_fills,
    audit_new_order_ids,
    journal_fills,
    parent_view,
    wait_parent,
)

pytestmark = pytest.mark.e2e


def venue_agrees(stack: Stack, qty: int) -> None:
    """No ClOrdID reached the venue twice, and the daemon's journalled fills are the
    exchange's audited ones, exactly, adding up to ``qty``."""
    ids = audit_new_order_ids(stack)
    assert len(ids) == len(set(ids)), "a ClOrdID reached the venue twice"
    ours = journal_fills(stack.daemon_data)
    assert ours == audit_fills(stack)
    assert sum(ours.values()) == qty


def catchup_parent(parent_id: str, side: str, qty: int, duration_s: float) -> dict[str, Any]:
    return {
        "symbol": "AMZN",
        "side": side,
        "qty": qty,
        "duration_s": duration_s,
        "parent_id": parent_id,
        "algo": "catchup",
    }


async def test_a_parent_order_completes_and_the_daemons_fills_equal_the_exchange_audit(
    tmp_path: Path,
) -> None:
    stack = Stack(StackSettings(tmp_path, speed=40))
    stack.start()
    redis = aioredis.Redis.from_url(stack.redis_url)
    try:
        events = redis.pubsub()
        await events.subscribe("rlexec:events")
        reply = await stack.ctl(
            "submit_parent",
            {"symbol": "AMZN", "side": "sell", "qty": 400, "duration_s": 120, "parent_id": "E2E-1"},
        )
        assert reply["ok"], reply
        view = await wait_parent(stack, "E2E-1", timeout=60)
        assert view["state"] == "completed", view
        assert view["filled"] == 400
        assert view["live_children"] == 0
        # the state snapshot in a hash, and events on pub/sub, as operators see them
        await asyncio.sleep(1.5)
        snapshot = orjson.loads(await redis.hget("rlexec:state", "status"))
        assert [p["state"] for p in snapshot["parents"]] == ["completed"]
        assert snapshot["positions"] == {"AMZN": -400}
        assert snapshot["risk"]["kill_switch"]["engaged"] is False
        seen = []
        for _ in range(200):  # drain what was published while the parent ran
            msg = await events.get_message(ignore_subscribe_messages=True, timeout=0.01)
            if msg is not None:
                seen.append(orjson.loads(msg["data"])["event"])
        assert "fill" in seen and "parent_done" in seen
        await events.aclose()
    finally:
        await redis.aclose()
        codes = stack.close()
    assert codes["daemon"] == 0  # a clean SIGTERM shutdown
    ours = journal_fills(stack.daemon_data)
    venue = audit_fills(stack)
    assert ours == venue
    assert sum(ours.values()) == 400


async def test_kill_9_mid_parent_then_restart_resumes_without_duplicates(tmp_path: Path) -> None:
    stack = Stack(StackSettings(tmp_path, speed=20))
    stack.start()
    try:
        reply = await stack.ctl(
            "submit_parent",
            {"symbol": "AMZN", "side": "buy", "qty": 1200, "duration_s": 600, "parent_id": "E2E-K"},
        )
        assert reply["ok"], reply
        before = await wait_parent(stack, "E2E-K", timeout=60, until="filled")
        assert 0 < before["filled"] < 1200
        stack.kill_daemon()  # a crash: no cancel, no logout, no flush
        stack.start_daemon()  # same data dir: journal, FIX store, kill switch
        after = await parent_view(stack, "E2E-K")
        assert after["filled"] >= before["filled"]  # recovered, nothing forgotten
        view = await wait_parent(stack, "E2E-K", timeout=120)
        assert view["state"] == "completed", view
        assert view["filled"] == 1200
    finally:
        stack.close()
    venue_agrees(stack, 1200)


CATCHUP = {"RLEXEC__EXECUTION__CATCHUP_TOLERANCE": "0.2"}


async def test_a_catchup_parent_submitted_over_redis_completes_against_the_exchange(
    tmp_path: Path,
) -> None:
    stack = Stack(StackSettings(tmp_path, speed=40, daemon_env=CATCHUP))
    stack.start()
    try:
        reply = await stack.ctl("submit_parent", catchup_parent("E2E-C", "sell", 600, 120))
        assert reply["ok"], reply
        view = await wait_parent(stack, "E2E-C", timeout=60)
        assert view["state"] == "completed", view
        assert (view["algo"], view["tolerance"], view["filled"]) == ("catchup", 0.2, 600)
        assert view["live_children"] == 0
        status = await stack.ctl("status")
        assert status["result"]["catchup"]["source"] == "config [execution] catchup_tolerance"
    finally:
        codes = stack.close()
    assert codes["daemon"] == 0
    venue_agrees(stack, 600)


async def test_kill_9_mid_catchup_parent_then_restart_without_the_tolerance_resumes_it_as_catchup(
    tmp_path: Path,
) -> None:
    stack = Stack(StackSettings(tmp_path, speed=20, daemon_env=CATCHUP))
    stack.start()
    try:
        reply = await stack.ctl("submit_parent", catchup_parent("E2E-CK", "buy", 1200, 600))
        assert reply["ok"], reply
        before = await wait_parent(stack, "E2E-CK", timeout=60, until="filled")
        assert 0 < before["filled"] < 1200
        stack.kill_daemon()
        stack.s.daemon_env = {}  # the config no longer offers catchup to new parents
        stack.start_daemon()
        after = await parent_view(stack, "E2E-CK")
        assert (after["algo"], after["tolerance"]) == ("catchup", 0.2)
        assert after["filled"] >= before["filled"]
        refused = await stack.ctl("submit_parent", catchup_parent("E2E-C2", "buy", 100, 60))
        assert "algo catchup is unavailable on this node" in refused["error"]["message"]
        view = await wait_parent(stack, "E2E-CK", timeout=120)
        assert view["state"] == "completed", view
        assert view["filled"] == 1200
    finally:
        stack.close()
    venue_agrees(stack, 1200)
