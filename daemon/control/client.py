"""`rlexec ctl`: send one command over Redis and wait for its reply.

The reply stream's last id is read *before* the command is added, so a reply written
an instant after XADD cannot be missed.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import redis.asyncio as aioredis

from daemon.control.commands import SIGNED_COMMANDS, envelope


class ControlTimeout(TimeoutError):
    pass


def public_url(url: str) -> str:
    """``url`` without the credentials it may carry, for messages and logs."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


async def send_command(
    url: str,
    cmd: str,
    args: dict[str, Any] | None = None,
    *,
    command_stream: str = "rlexec:commands",
    reply_stream: str = "rlexec:replies",
    key: bytes | None = None,
    timeout_s: float = 10.0,
    command_id: str | None = None,
    username: str | None = None,
    password: str | None = None,
    tls: dict[str, Any] | None = None,
) -> dict[str, Any]:
    cid = command_id or uuid.uuid4().hex
    if cmd in SIGNED_COMMANDS and key is not None:
        body = envelope(cid, cmd, args, key=key, ts_ns=time.time_ns(), nonce=secrets.token_hex(16))
    else:
        body = envelope(cid, cmd, args)
    client = aioredis.Redis.from_url(
        url,
        username=username,
        password=password,
        # a blackholed host must not hang the command past its own timeout
        socket_connect_timeout=timeout_s,
        **(tls or {}),
    )
    try:
        last = await client.xrevrange(reply_stream, count=1)
        last_id: Any = last[0][0] if last else "0-0"
        await client.xadd(command_stream, {"body": body})
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ControlTimeout(
                    f"no reply to {cmd} ({cid}) within {timeout_s:.0f} s: is the daemon running "
                    "and connected to this Redis?"
                )
            entries: Any = await client.xread(
                {reply_stream: last_id}, block=max(1, int(min(remaining, 1.0) * 1000))
            )
            for _, items in entries or []:
                for entry_id, fields in items:
                    last_id = entry_id
                    if fields.get(b"id", b"").decode() == cid:
                        reply: dict[str, Any] = orjson.loads(fields[b"body"])
                        return reply
    finally:
        await client.aclose()


def run(coro: Any) -> Any:
    return asyncio.run(coro)
