"""A session on a SimClock fed raw bytes, for unit tests (no sockets)."""

from __future__ import annotations

from core.clock import SimClock
from gateways.fix.codec import FrameDecoder, HeaderEncoder, parse
from gateways.fix.events import SessionEvent
from gateways.fix.session import FixSession
from gateways.fix.settings import SessionSettings
from gateways.fix.store import MessageStore
from gateways.fix.timefmt import format_utc

T0 = 1_767_623_400_000_000_000
Answer = list[tuple[bytes, dict[int, bytes]]]


class Harness:
    """An acceptor session on a SimClock fed raw bytes (no sockets)."""

    def __init__(
        self,
        settings: SessionSettings,
        *,
        store: MessageStore | None = None,
        clock: SimClock | None = None,
        logon: bytes | None = b"98=0\x01108=30\x01",
    ) -> None:
        self.events: list[SessionEvent] = []
        self.out = b""
        self.closed = False
        self.clock = clock or SimClock(T0)
        self.session = FixSession(
            settings, initiator=False, clock=self.clock, store=store, on_event=self.events.append
        )
        self.peer = HeaderEncoder(settings.begin_string, "CLIENT", "EXCH")
        self.seq = 1
        self.connect(logon)

    def connect(self, logon: bytes | None = b"98=0\x01108=30\x01") -> Answer:
        self.closed = False
        self.session.connection_made(self)
        return self.send(b"A", logon) if logon is not None else []

    def write(self, data: bytes) -> None:
        self.out += data

    def close(self) -> None:
        self.closed = True

    def send(self, msg_type: bytes, body: bytes, header: bytes = b"") -> Answer:
        self.out = b""
        stamp = format_utc(self.clock.now_ns())
        self.session.data_received(self.peer.encode(msg_type, self.seq, stamp, body, header=header))
        self.seq += 1
        frames = FrameDecoder().feed(self.out)
        return [(m.msg_type, m.fields) for m in (parse(f) for f in frames)]  # type: ignore[arg-type]
