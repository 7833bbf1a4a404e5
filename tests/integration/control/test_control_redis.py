"""Redis control plane against a real redis-server: once-only, replies, bad input, reconnect."""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from core.clock import WallClock
from daemon.control.client import send_command
from daemon.control.commands import LoadPolicy, SubmitParent, envelope
from daemon.control.handler import CommandHandler
from daemon.control.redis_plane import RedisControlPlane, RedisPlaneSettings
from daemon.journal import Journal
from risk.command_auth import CommandVerifier, SignedCommand
from tests.conftest import RedisServer, start_redis

KEY = b"k" * 32


class RecordingTarget:
    """Stands in for the node: records what the control plane asked it to do."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.parents: dict[str, SubmitParent] = {}
        # the node's kill switch verifies resets itself, with its own nonce memory
        self.kill_verifier = CommandVerifier(KEY, max_age_ns=30_000_000_000)

    async def submit_parent(self, parent_id: str, args: SubmitParent) -> dict[str, Any]:
        if args.symbol not in ("AMZN", "AAPL"):
            raise ValueError(f"unknown symbol {args.symbol}")
        self.calls.append(("submit_parent", parent_id))
        self.parents.setdefault(parent_id, args)
        return {"parent_id": parent_id}

    async def cancel_parent(self, parent_id: str) -> dict[str, Any]:
        if parent_id not in self.parents:
            raise ValueError(f"no parent {parent_id}")
        self.calls.append(("cancel_parent", parent_id))
        return {"parent_id": parent_id}

    async def pause(self, parent_id: str | None) -> dict[str, Any]:
        self.calls.append(("pause", parent_id))
        return {}

    async def resume(self, parent_id: str | None) -> dict[str, Any]:
        self.calls.append(("resume", parent_id))
        return {}

    async def kill(self, reason: str) -> dict[str, Any]:
        self.calls.append(("kill", reason))
        return {"engaged": True}

    async def reset_kill(self, reason: str, auth: SignedCommand | None) -> dict[str, Any]:
        self.kill_verifier.verify(auth, auth.action if auth else "", time.time_ns())
        self.calls.append(("reset_kill", reason))
        return {"engaged": False}

    async def load_policy(self, args: LoadPolicy) -> dict[str, Any]:
        self.calls.append(("load_policy", str(args.path)))
        return {"loaded": str(args.path)}

    def status(self) -> dict[str, Any]:
        return {"parents": sorted(self.parents)}


async def start_plane(
    server: RedisServer, tmp: Path, target: RecordingTarget
) -> tuple[RedisControlPlane, asyncio.Task[None], Journal]:
    journal = Journal(tmp / "journal.db")
    verifier = CommandVerifier(KEY, max_age_ns=30_000_000_000)
    handler = CommandHandler(target, journal, WallClock(), verifier)
    plane = RedisControlPlane(RedisPlaneSettings(url=server.url, block_ms=50), handler.handle)
    task = asyncio.create_task(plane.run())
    return plane, task, journal


async def stop_plane(plane: RedisControlPlane, task: asyncio.Task[None]) -> None:
    plane.stop()
    await asyncio.wait_for(task, 5)


async def test_submit_status_cancel_round_trip(redis_server: RedisServer, tmp_path: Path) -> None:
    target = RecordingTarget()
    plane, task, _ = await start_plane(redis_server, tmp_path, target)
    try:
        reply = await send_command(
            redis_server.url,
            "submit_parent",
            {"symbol": "AMZN", "side": "sell", "qty": 40_000, "duration_s": 1800},
            command_id="c1",
        )
        assert reply == {"id": "c1", "ok": True, "result": {"parent_id": "P-c1"}}
        status = await send_command(redis_server.url, "status")
        assert status["result"] == {"parents": ["P-c1"]}
        reply = await send_command(redis_server.url, "cancel_parent", {"parent_id": "P-nope"})
        assert reply["ok"] is False
        assert reply["error"] == {"code": "rejected", "message": "no parent P-nope"}
    finally:
        await stop_plane(plane, task)


@pytest.mark.parametrize(
    ("body", "code", "fragment"),
    [
        (b"{not json", "malformed", "not JSON"),
        (b"[1, 2]", "malformed", "must be a JSON object"),
        (orjson.dumps({"id": "x1", "cmd": "launch_rockets"}), "unknown_command", "launch_rockets"),
        (
            orjson.dumps(
                {
                    "id": "x2",
                    "cmd": "submit_parent",
                    "args": {"symbol": "AMZN", "side": "hold", "qty": -5, "duration_s": 1},
                }
            ),
            "invalid_args",
            "args.side",
        ),
        (
            orjson.dumps(
                {
                    "id": "x3",
                    "cmd": "submit_parent",
                    "args": {
                        "symbol": "AMZN",
                        "side": "buy",
                        "qty": 1,
                        "duration_s": 1,
                        "extra": 1,
                    },
                }
            ),
            "invalid_args",
            "args.extra: unknown field",
        ),
        (orjson.dumps({"id": "bad id!", "cmd": "status"}), "malformed", "command.id"),
        # booleans and strings are not numbers anywhere in the control plane
        (
            orjson.dumps(
                {
                    "id": "b1",
                    "cmd": "submit_parent",
                    "args": {"symbol": "AMZN", "side": "buy", "qty": True, "duration_s": 60},
                }
            ),
            "invalid_args",
            "args.qty",
        ),
        (
            orjson.dumps(
                {
                    "id": "b2",
                    "cmd": "submit_parent",
                    "args": {"symbol": "AMZN", "side": "buy", "qty": 100, "duration_s": True},
                }
            ),
            "invalid_args",
            "args.duration_s",
        ),
        (
            orjson.dumps(
                {
                    "id": "b3",
                    "cmd": "submit_parent",
                    "args": {"symbol": "AMZN", "side": "buy", "qty": "100", "duration_s": 60},
                }
            ),
            "invalid_args",
            "args.qty",
        ),
        (
            orjson.dumps(
                {
                    "id": "b4",
                    "cmd": "reset_kill",
                    "args": {},
                    "auth": {"ts_ns": True, "nonce": "n" * 16, "signature": "0" * 64},
                }
            ),
            "malformed",
            "command.auth.ts_ns",
        ),
        (orjson.dumps({"id": "x4", "cmd": "reset_kill"}), "unauthorized", "must be signed"),
    ],
)
async def test_malformed_or_unknown_commands_get_an_error_reply_and_change_nothing(
    redis_server: RedisServer, tmp_path: Path, body: bytes, code: str, fragment: str
) -> None:
    target = RecordingTarget()
    plane, task, _ = await start_plane(redis_server, tmp_path, target)
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        await client.xadd("rlexec:commands", {"body": body})
        reply = await _wait_reply(client)
        assert reply["ok"] is False
        assert reply["error"]["code"] == code
        assert fragment in reply["error"]["message"]
        assert target.calls == []
        # acknowledged: nothing left pending for the group
        pending = await client.xpending("rlexec:commands", "rlexec")
        assert pending["pending"] == 0
    finally:
        await client.aclose()
        await stop_plane(plane, task)


async def _wait_reply(client: aioredis.Redis, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entries = await client.xrange("rlexec:replies")
        if entries:
            return orjson.loads(entries[-1][1][b"body"])  # type: ignore[no-any-return]
        await asyncio.sleep(0.02)
    raise AssertionError("no reply")


async def test_a_redelivered_command_is_applied_once_and_gets_the_same_reply(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    target = RecordingTarget()
    plane, task, _ = await start_plane(redis_server, tmp_path, target)
    try:
        args = {"symbol": "AMZN", "side": "buy", "qty": 100, "duration_s": 60}
        first = await send_command(redis_server.url, "submit_parent", args, command_id="dup")
        again = await send_command(redis_server.url, "submit_parent", args, command_id="dup")
        assert again["duplicate"] is True
        assert again["result"] == first["result"]
        assert target.calls == [("submit_parent", "P-dup")]
    finally:
        await stop_plane(plane, task)


async def test_signed_commands_need_a_valid_fresh_unused_signature(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    target = RecordingTarget()
    plane, task, _ = await start_plane(redis_server, tmp_path, target)
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        ok = await send_command(redis_server.url, "reset_kill", {"reason": "checked"}, key=KEY)
        assert ok["ok"] is True
        wrong = await send_command(redis_server.url, "reset_kill", {}, key=b"x" * 32)
        assert wrong["error"]["code"] == "unauthorized"
        assert "bad_signature" in wrong["error"]["message"]
        # a replay of a captured command under a new command id is refused
        nonce = secrets.token_hex(16)
        body = envelope("r1", "reset_kill", {}, key=KEY, ts_ns=time.time_ns(), nonce=nonce)
        await client.xadd("rlexec:commands", {"body": body})
        replay = orjson.loads(body)
        replay["id"] = "r2"
        await asyncio.sleep(0.3)
        await client.xadd("rlexec:commands", {"body": orjson.dumps(replay)})
        await asyncio.sleep(0.5)
        replies = {
            orjson.loads(f[b"body"])["id"]: orjson.loads(f[b"body"])
            for _, f in await client.xrange("rlexec:replies")
        }
        assert replies["r1"]["ok"] is True
        assert "replayed" in replies["r2"]["error"]["message"]
        # a signature does not carry over to other arguments
        tampered = orjson.loads(
            envelope(
                "t1",
                "load_policy",
                {"path": "/good", "sha256": "0" * 64},
                key=KEY,
                ts_ns=time.time_ns(),
                nonce=secrets.token_hex(16),
            )
        )
        tampered["args"]["path"] = "/evil"
        await client.xadd("rlexec:commands", {"body": orjson.dumps(tampered)})
        await asyncio.sleep(0.5)
        last = orjson.loads((await client.xrange("rlexec:replies"))[-1][1][b"body"])
        assert last["id"] == "t1" and last["error"]["code"] == "unauthorized"
        assert [c for c in target.calls if c[0] == "load_policy"] == []
        assert [c[0] for c in target.calls].count("reset_kill") == 2
    finally:
        await client.aclose()
        await stop_plane(plane, task)


async def test_commands_sent_while_the_node_is_away_are_applied_once_when_it_returns(
    tmp_path: Path,
) -> None:
    server = start_redis(tmp_path)
    target = RecordingTarget()
    try:
        plane, task, _ = await start_plane(server, tmp_path, target)
        await asyncio.sleep(0.2)
        port = server.port
        server.stop()  # Redis goes away under a running plane
        await asyncio.sleep(0.3)
        assert not plane.up
        server = start_redis(tmp_path, port=port)  # comes back empty on the same port
        client = aioredis.Redis.from_url(server.url)
        await client.xadd("rlexec:commands", {"body": envelope("late", "kill", {"reason": "t"})})
        for _ in range(100):
            if target.calls:
                break
            await asyncio.sleep(0.05)
        assert target.calls == [("kill", "t")]
        assert plane.up and plane.reconnects >= 1
        await client.aclose()
        await stop_plane(plane, task)
    finally:
        server.stop()


class FaultyTarget(RecordingTarget):
    """A node whose load_policy fails with an error nobody planned for."""

    async def load_policy(self, args: LoadPolicy) -> dict[str, Any]:
        raise RuntimeError("disk on fire")


async def test_a_command_that_fails_unexpectedly_is_answered_and_the_plane_serves_on(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """The exception escaped the Redis loop: no reply (the operator's ctl timed out) and
    the control plane ended, so every later command went unanswered too."""
    target = FaultyTarget()
    plane, task, _ = await start_plane(redis_server, tmp_path, target)
    try:
        reply = await send_command(
            redis_server.url, "load_policy", {"path": "/x", "sha256": "0" * 64}, key=KEY
        )
        assert reply["ok"] is False
        assert reply["error"]["code"] == "internal"
        assert "disk on fire" in reply["error"]["message"]
        status = await send_command(redis_server.url, "status", timeout_s=5)
        assert status["ok"] is True
        assert not task.done()
    finally:
        await stop_plane(plane, task)
