"""A hand-driven FIX counterparty on a raw TCP socket, for the session-level scenarios.

It writes exactly the bytes a test crafts (wrong lengths, bad checksums, fields out of
order) and reads answers with simplefix, not with our codec, so a bug in our parser
cannot hide a bug in our session.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import simplefix

from core.clock import SimClock

T0_NS = int(datetime(2026, 1, 5, 14, 30, tzinfo=UTC).timestamp()) * 1_000_000_000
FieldList = Sequence[tuple[int, str | bytes | int]]


def stamp(ns: int, millis: bool = True) -> str:
    dt = datetime.fromtimestamp(ns / 1e9, tz=UTC)
    if not millis:  # FIX.4.0/4.1 timestamps have no fraction
        return dt.strftime("%Y%m%d-%H:%M:%S")
    return dt.strftime("%Y%m%d-%H:%M:%S.") + f"{(ns // 1_000_000) % 1000:03d}"


def checksum_fix(data: bytes) -> bytes:
    """Re-frame raw ``tag=value`` bytes (no 9/10) with a correct BodyLength and CheckSum."""
    first = data.index(b"\x01") + 1
    body = data[first:]
    head = data[:first] + b"9=%d\x01" % len(body)
    msg = head + body
    return msg + b"10=%03d\x01" % (sum(msg) % 256)


class RawPeer:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        clock: SimClock,
        *,
        begin: str = "FIX.4.4",
        sender: str = "CLIENT",
        target: str = "EXCH",
        logon_extra: FieldList = (),
        millis: bool = True,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.clock = clock
        self.begin = begin
        self.sender = sender
        self.target = target
        self.seq = 1
        self.logon_extra = list(logon_extra)  # e.g. DefaultApplVerID(1137) on FIXT.1.1
        self.millis = millis
        self.parser = simplefix.FixParser()
        self.received: list[simplefix.FixMessage] = []

    @classmethod
    async def connect(cls, port: int, clock: SimClock, **kw: Any) -> RawPeer:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer, clock, **kw)

    # --------------------------------------------------------------- building
    def build(
        self,
        msg_type: str,
        fields: FieldList = (),
        *,
        seq: int | None = None,
        poss_dup: bool = False,
        orig_sending_time: str | None = None,
        sending_time: str | None = None,
        begin: str | None = None,
        sender: str | None = None,
        target: str | None = None,
        header_extra: FieldList = (),
    ) -> bytes:
        m = simplefix.FixMessage()
        m.append_pair(8, begin if begin is not None else self.begin)
        m.append_pair(35, msg_type)
        m.append_pair(34, self.seq if seq is None else seq)
        if poss_dup:
            m.append_pair(43, "Y")
        m.append_pair(49, sender if sender is not None else self.sender)
        m.append_pair(52, sending_time or self.stamp())
        m.append_pair(56, target if target is not None else self.target)
        for tag_, value in header_extra:
            m.append_pair(tag_, value)
        if orig_sending_time is not None:
            m.append_pair(122, orig_sending_time)
        for tag, value in fields:
            m.append_pair(tag, value)
        return bytes(m.encode())

    def stamp(self, ns: int | None = None) -> str:
        """A timestamp as this peer's version writes it (now by default)."""
        return stamp(self.clock.now_ns() if ns is None else ns, self.millis)

    async def send(self, msg_type: str, fields: FieldList = (), **kw: object) -> int:
        """Build and send; consumes our next MsgSeqNum unless ``seq`` is given."""
        explicit = kw.get("seq")
        data = self.build(msg_type, fields, **kw)  # type: ignore[arg-type]
        if explicit is None:
            self.seq += 1
        await self.send_raw(data)
        return int(explicit) if explicit is not None else self.seq - 1  # type: ignore[call-overload]

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def logon(self, *, hb: int = 30, extra: FieldList = (), expect: bool = True) -> None:
        await self.send("A", [(98, 0), (108, hb), *self.logon_extra, *extra])
        if expect:
            await self.expect("A")

    # ---------------------------------------------------------------- reading
    async def recv(self, timeout: float = 2.0) -> simplefix.FixMessage:
        while True:
            msg = self.parser.get_message()
            if msg is not None:
                self.received.append(msg)
                return msg
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not data:
                raise ConnectionError("peer disconnected")
            self.parser.append_buffer(data)

    async def expect(self, msg_type: str, timeout: float = 2.0) -> simplefix.FixMessage:
        msg = await self.recv(timeout)
        got = msg.get(35)
        assert got == msg_type.encode(), f"expected MsgType {msg_type}, got {msg}"
        return msg

    async def expect_disconnect(self, timeout: float = 2.0) -> None:
        """Everything up to EOF must have been read already; then the socket closes."""
        try:
            while True:
                msg = self.parser.get_message()
                assert msg is None, f"expected disconnect, got {msg}"
                data = await asyncio.wait_for(self.reader.read(65536), timeout)
                if not data:
                    return
                self.parser.append_buffer(data)
        except ConnectionResetError:
            return

    async def expect_silence(self, wait: float = 0.05) -> None:
        assert self.parser.get_message() is None
        try:
            data = await asyncio.wait_for(self.reader.read(65536), wait)
        except TimeoutError:
            return
        raise AssertionError(f"expected no message, got {data!r}")

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


def tag(msg: simplefix.FixMessage, t: int) -> str | None:
    v = msg.get(t)
    return None if v is None else v.decode()


@dataclass
class RawVenue:
    """A TCP server whose every connection becomes a :class:`RawPeer` (as the venue)."""

    server: asyncio.Server
    clock: SimClock
    conns: asyncio.Queue[RawPeer] = field(default_factory=asyncio.Queue)
    accepted: int = 0

    @classmethod
    async def start(cls, clock: SimClock, **peer_kw: Any) -> RawVenue:
        holder: list[RawVenue] = []

        async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            v = holder[0]
            v.accepted += 1
            kw = {"sender": "EXCH", "target": "CLIENT", **peer_kw}
            await v.conns.put(RawPeer(reader, writer, clock, **kw))

        server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
        v = cls(server, clock)
        holder.append(v)
        return v

    @property
    def port(self) -> int:
        return int(self.server.sockets[0].getsockname()[1])

    async def next_peer(self) -> RawPeer:
        return await asyncio.wait_for(self.conns.get(), 2.0)
