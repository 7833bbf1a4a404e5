"""The acceptor (the exchange's order entry): one listening socket, many sessions.

A connection is bound to a session by its first message, which must be a Logon
whose BeginString and CompIDs name a configured session that is not already
connected; anything else is disconnected without an answer (no session to answer
on). From then on the connection belongs to that session's :class:`FixSession`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from typing import cast

from core.clock import Clock, Timer, WallClock
from core.log import get_logger
from gateways.fix import tags
from gateways.fix.codec import FrameDecoder, Garbled, GarbledMessage, parse
from gateways.fix.connection import set_nodelay
from gateways.fix.factory import make_log, make_store
from gateways.fix.message_log import MessageLog
from gateways.fix.session import EventHandler, FixSession, HeaderFields, SessionNotReady, State
from gateways.fix.settings import AcceptorSettings
from gateways.fix.store import MessageStore

_log = get_logger("gateways.fix.acceptor")

_MAX_PRE_LOGON_BYTES = 65536


class _AcceptorConnection(asyncio.Protocol):
    def __init__(self, acceptor: FixAcceptor) -> None:
        self._acceptor = acceptor
        self._transport: asyncio.Transport | None = None
        self.session: FixSession | None = None
        self._pending = b""
        self._decoder = FrameDecoder()
        self._timer: Timer | None = None
        self.peer: IPAddress | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses but have its methods.
        self._transport = cast(asyncio.Transport, transport)
        set_nodelay(self._transport)
        self._acceptor.connections += 1
        self.peer = _peer_address(self._transport)
        if not self._acceptor.may_connect(self.peer, None):
            self._refuse(f"source address {self.peer} is not allowed for any session")
            return
        self._timer = self._acceptor.clock.call_later(
            self._acceptor.logon_timeout_s, lambda: self._refuse("no Logon before the timeout")
        )

    def data_received(self, data: bytes) -> None:
        if self.session is not None:
            self.session.data_received(data)
            return
        if self._transport is None or self._transport.is_closing():
            return
        self._pending += data
        frames = self._decoder.feed(data)
        if not frames:
            if len(self._pending) > _MAX_PRE_LOGON_BYTES:
                self._refuse("no complete message in the first 64 KiB")
            return
        first = frames[0]
        if isinstance(first, Garbled):
            self._refuse(f"garbled first message ({first.reason})")
            return
        try:
            msg = parse(first)
        except GarbledMessage as exc:
            self._refuse(f"garbled first message ({exc})")
            return
        if msg.msg_type != tags.MsgType.LOGON:
            self._refuse(f"first message was MsgType {msg.msg_type!r}, not a Logon")
            return
        key = (
            msg.begin_string.decode("latin-1"),
            (msg.get_str(tags.TARGET_COMP_ID) or ""),
            (msg.get_str(tags.SENDER_COMP_ID) or ""),
        )
        session = self._acceptor.by_key.get(key)
        if session is None:
            self._refuse(f"Logon for unknown session {key}")
            return
        if not self._acceptor.may_connect(self.peer, session):
            self._refuse(f"Logon for {session.session_id} from {self.peer}, not an allowed host")
            return
        if session.state is not State.DISCONNECTED:
            self._refuse(f"Logon for {session.session_id}, which is already connected")
            return
        if self._timer is not None:
            self._timer.cancel()
        self.session = session
        session.connection_made(self)
        pending, self._pending = self._pending, b""
        session.data_received(pending)

    def _refuse(self, reason: str) -> None:
        if self.session is not None or self._transport is None:
            return
        self._acceptor.refused += 1
        peer = self._transport.get_extra_info("peername")
        _log.warning("fix_connection_refused", peer=str(peer), reason=reason)
        self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._transport = None
        if self.session is not None:
            self.session.connection_lost(f"connection lost: {exc}" if exc else "connection closed")

    # SessionIO
    def write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _peer_address(transport: asyncio.BaseTransport) -> IPAddress | None:
    peer = transport.get_extra_info("peername")
    try:
        return ipaddress.ip_address(peer[0]) if peer else None
    except (TypeError, ValueError, IndexError):
        return None  # not an IP socket (a test transport): nothing to match


def _within(addr: IPAddress | None, nets: tuple[Network, ...]) -> bool:
    if addr is None:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return any(addr in n for n in nets)


class FixAcceptor:
    def __init__(
        self,
        settings: AcceptorSettings,
        *,
        on_event: EventHandler | None = None,
        clock: Clock | None = None,
        stores: dict[str, MessageStore] | None = None,
        logs: dict[str, MessageLog] | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or WallClock()
        self.sessions: dict[str, FixSession] = {}
        self.by_key: dict[tuple[str, str, str], FixSession] = {}
        self._allowed: dict[str, tuple[Network, ...]] = {
            s.session_id: tuple(ipaddress.ip_network(h, strict=False) for h in s.allowed_hosts)
            for s in settings.sessions
        }
        self._stores: list[MessageStore] = []
        self._logs: list[MessageLog] = []
        for s in settings.sessions:
            store = (stores or {}).get(s.session_id) or make_store(s)
            log = (logs or {}).get(s.session_id) or make_log(s)
            self._stores.append(store)
            self._logs.append(log)
            session = FixSession(
                s, initiator=False, clock=self.clock, store=store, log=log, on_event=on_event
            )
            self.sessions[s.session_id] = session
            self.by_key[(s.begin_string, s.sender_comp_id, s.target_comp_id)] = session
        self.logon_timeout_s = max(s.logon_timeout_s for s in settings.sessions)
        self._server: asyncio.Server | None = None
        self.connections = 0
        self.refused = 0

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("acceptor not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _AcceptorConnection(self), self.settings.host, self.settings.port
        )

    def may_connect(self, peer: IPAddress | None, session: FixSession | None) -> bool:
        """May ``peer`` connect: to ``session`` (after its Logon names it), or to any
        session at all (before a byte is read)? Sessions without allowed_hosts allow all."""
        if session is not None:
            nets = self._allowed.get(session.session_id, ())
            return not nets or _within(peer, nets)
        return any(not nets or _within(peer, nets) for nets in self._allowed.values())

    def session(self, session_id: str) -> FixSession:
        try:
            return self.sessions[session_id]
        except KeyError:
            raise KeyError(f"no session {session_id!r}; have {sorted(self.sessions)}") from None

    def send_app(
        self, session_id: str, msg_type: bytes, body: bytes, header: HeaderFields = b""
    ) -> int:
        """Send on one session; raises SessionNotReady unless it is logged on."""
        return self.session(session_id).send_app(msg_type, body, header)

    async def stop(self, text: str = "", timeout: float = 2.0) -> None:
        """Log out every session, wait briefly for the handshakes, close everything."""
        for session in self.sessions.values():
            if session.state is State.LOGGED_ON:
                session.logout(text)
        deadline = asyncio.get_running_loop().time() + timeout
        while any(s.state is not State.DISCONNECTED for s in self.sessions.values()):
            if asyncio.get_running_loop().time() >= deadline:
                break
            await asyncio.sleep(0.01)
        for session in self.sessions.values():
            if session.state is not State.DISCONNECTED:
                session.disconnect("acceptor stopping")
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
        for store in self._stores:
            store.close()
        for log in self._logs:
            log.close()


__all__ = ["FixAcceptor", "SessionNotReady"]
