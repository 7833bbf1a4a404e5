"""The Redis transport of the control plane: thin, because the logic is in the handler.

Commands come from a Redis Stream read through a consumer group, so a command is never
lost between delivery and application: it stays pending until XACKed, and we XACK only
after the handler journalled it and stored its reply. On start (and after every
reconnect) this consumer first re-reads its own pending entries, then new ones.

Replies go to a reply stream (field ``id`` = command id) where ``rlexec ctl`` waits for
them; the state snapshot is a hash; events go out on pub/sub. Redis being down never
stops execution: working parents go on, new commands simply wait in Redis until we
reconnect (with exponential backoff + jitter). Redis being *slow or hung* never stops it
either: the node only posts state and events (:mod:`daemon.control.outbox`), which
its own task writes under timeouts, and reads reachability as a value.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.backoff import Backoff
from core.log import get_logger
from core.tasks import cancel_and_wait
from daemon.control.commands import CommandError, parse
from daemon.control.handler import error
from daemon.control.outbox import RedisOutbox

log = get_logger("rlexec.control.redis")

_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)


@dataclass(frozen=True, slots=True)
class RedisPlaneSettings:
    url: str
    command_stream: str = "rlexec:commands"
    reply_stream: str = "rlexec:replies"
    group: str = "rlexec"
    consumer: str = "rlexec-1"
    state_key: str = "rlexec:state"
    events_channel: str = "rlexec:events"
    username: str | None = None
    password: str | None = None
    reply_maxlen: int = 10_000
    block_ms: int = 500
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    io_timeout_s: float = 1.0  # each state/event write and ping
    event_backlog: int = 1_000  # events kept while Redis cannot take them
    reconnect_min_s: float = 0.1  # the backoff every connection uses (core/backoff.py)
    reconnect_max_s: float = 5.0
    reconnect_jitter: float = 0.5

    def tls_kwargs(self) -> dict[str, Any]:
        """redis-py's TLS options (used with a rediss:// url)."""
        if not self.url.startswith("rediss://"):
            return {}
        return {
            "ssl_ca_certs": self.tls_ca_file,
            "ssl_certfile": self.tls_cert_file,
            "ssl_keyfile": self.tls_key_file,
            "ssl_cert_reqs": "required",
        }


class RedisControlPlane:
    def __init__(
        self,
        settings: RedisPlaneSettings,
        handle: Callable[[Any], Awaitable[dict[str, Any]]],
        *,
        on_up: Callable[[bool], None] | None = None,
    ) -> None:
        self.s = settings
        self._handle = handle
        self._on_up = on_up
        self._client: aioredis.Redis | None = None
        self.up = False
        self.processed = 0
        self.malformed = 0
        self.reconnects = 0
        self._stopping = False
        self.outbox = RedisOutbox(
            settings.state_key,
            settings.events_channel,
            io_timeout_s=settings.io_timeout_s,
            backlog=settings.event_backlog,
        )

    def _connect(self) -> aioredis.Redis:
        return aioredis.Redis.from_url(
            self.s.url,
            username=self.s.username or None,
            password=self.s.password or None,
            socket_timeout=max(5.0, self.s.block_ms / 1000 * 4),
            socket_connect_timeout=2.0,
            health_check_interval=10,
            **self.s.tls_kwargs(),
        )

    def _set_up(self, up: bool) -> None:
        if up != self.up:
            self.up = up
            log.info("redis_up" if up else "redis_down", url=_redact(self.s.url))
            if self._on_up is not None:
                self._on_up(up)

    @property
    def reachable(self) -> bool:
        """Connected, and a Redis call succeeded within the last few seconds."""
        return self.up and self.outbox.reachable(within_s=3 * self.s.io_timeout_s + 1.0)

    def post_state(self, state: dict[str, Any]) -> None:
        self.outbox.post_state(state)

    def post_event(self, event: dict[str, Any]) -> None:
        self.outbox.post_event(event)

    async def run(self) -> None:
        """Serve commands until :meth:`stop`; survives Redis restarts."""
        writer = asyncio.create_task(self.outbox.run(lambda: self._client), name="redis-outbox")
        try:
            await self._serve_forever()
        finally:
            await cancel_and_wait(writer)

    async def _serve_forever(self) -> None:
        s = self.s
        backoff = Backoff(s.reconnect_min_s, s.reconnect_max_s, jitter=s.reconnect_jitter)
        while not self._stopping:
            try:
                self._client = self._connect()
                await self._ensure_group()
                self._set_up(True)
                backoff.reset()
                await self._serve()
            except asyncio.CancelledError:
                raise
            except (*_DOWN, ResponseError) as exc:
                self._set_up(False)
                self.reconnects += 1
                delay = backoff.next_delay()
                log.warning("redis_unavailable", error=str(exc), retry_in_s=round(delay, 2))
                await asyncio.sleep(delay)
            finally:
                if self._client is not None:
                    await self._client.aclose()
                    self._client = None
        self._set_up(False)

    def stop(self) -> None:
        self._stopping = True

    async def _ensure_group(self) -> None:
        assert self._client is not None
        try:
            await self._client.xgroup_create(
                self.s.command_stream, self.s.group, id="0", mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _serve(self) -> None:
        client = self._client
        assert client is not None
        # Our own pending entries first: delivered before a crash/disconnect, never acked.
        last = "0"
        while not self._stopping:
            entries: Any = await client.xreadgroup(
                self.s.group,
                self.s.consumer,
                {self.s.command_stream: last},
                count=50,
                block=None if last == "0" else self.s.block_ms,
            )
            batch = entries[0][1] if entries else []
            if last == "0" and not batch:
                last = ">"
                continue
            for msg_id, fields in batch:
                if last == "0" and not fields:
                    # trimmed from the stream while pending: nothing to apply, just ack
                    await client.xack(self.s.command_stream, self.s.group, msg_id)
                    continue
                await self._process(client, msg_id, fields)

    async def _process(
        self, client: aioredis.Redis, msg_id: bytes, fields: dict[bytes, bytes]
    ) -> None:
        raw = fields.get(b"body", b"")
        try:
            cmd = parse(raw)
        except CommandError as exc:
            self.malformed += 1
            reply = error(exc.command_id, exc.code, exc.message)
            log.warning(
                "command_refused", code=str(exc.code), reason=exc.message, command_id=exc.command_id
            )
        else:
            reply = await self._handle(cmd)
        await client.xadd(
            self.s.reply_stream,
            {"id": reply.get("id", ""), "body": orjson.dumps(reply)},
            maxlen=self.s.reply_maxlen,
            approximate=True,
        )
        await client.xack(self.s.command_stream, self.s.group, msg_id)
        self.processed += 1


def _redact(url: str) -> str:
    """Never log a password embedded in a Redis URL."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.split('@', 1)[1]}"
