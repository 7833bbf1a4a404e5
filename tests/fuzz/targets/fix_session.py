"""FIX bytes, as from a socket, into a logged-on acceptor session (with credentials).

Each input is either raw bytes or one to three frames built from the input (correct
length and checksum, a sequence number at, above or below the expected one, any
message type, any body), delivered whole or split across reads. The session must
never raise, never count an internal error, keep its sequence numbers and its store
in step (neither moves back unless a Logon with ResetSeqNumFlag reset both), log no
password, and still accept the next in-sequence Heartbeat when it stayed logged on.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.clock import SimClock
from gateways.fix.codec import FrameDecoder, HeaderEncoder
from gateways.fix.message_log import MemoryLog
from gateways.fix.session import FixSession, State
from gateways.fix.settings import SessionSettings
from gateways.fix.store import MemoryStore
from gateways.fix.timefmt import format_utc
from tests.fuzz.harness import Choices

T0 = 1_767_623_400_000_000_000
PASSWORD = "fuzz-Secret-4711"
MSG_TYPES = (b"0", b"1", b"2", b"3", b"4", b"5", b"A", b"D", b"F", b"G", b"H", b"j", b"8")
BODIES = (
    b"",
    b"112=T1\x01",
    b"7=1\x0116=0\x01",
    b"36=1\x01123=Y\x01",
    b"36=5\x01",
    b"98=0\x01108=30\x01141=Y\x01553=client\x01554=" + PASSWORD.encode() + b"\x01",
    b"11=C1\x0121=1\x0138=100\x0140=2\x0144=10.5\x0154=1\x0155=AMZN\x0160=20260105-14:30:00\x01",
    b"41=C1\x0111=C2\x0154=1\x0155=AMZN\x0160=20260105-14:30:00\x01",
    b"45=3\x01373=1\x0158=bad\x01",
    b"58=bye\x01",
)


class _Wire:
    def __init__(self) -> None:
        self.out = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.out += data

    def close(self) -> None:
        self.closed = True


class FixSessionTarget:
    name = "fix_session"
    surface = "socket bytes -> FixSession.data_received (acceptor, logged on, credentials)"

    def __init__(self) -> None:
        self.settings = SessionSettings(
            sender_comp_id="EXCH",
            target_comp_id="CLIENT",
            username="client",
            password=PASSWORD,  # type: ignore[arg-type]  # pydantic makes it a SecretStr
        )
        self.peer = HeaderEncoder("FIX.4.4", "CLIENT", "EXCH")
        self._fresh()

    def _fresh(self) -> None:
        """A new logged-on session: what every input after a disconnect starts from."""
        self.clock = SimClock(T0)
        self.store = MemoryStore()
        self.log = MemoryLog()
        self.session = FixSession(
            self.settings, initiator=False, clock=self.clock, store=self.store, log=self.log
        )
        self.wire = _Wire()
        self.session.connection_made(self.wire)
        self.seq = 1
        self._send(b"A", 1, BODIES[5].replace(b"141=Y\x01", b""))
        assert self.session.is_logged_on, self.log.events
        self.seq = 2

    def _frame(self, msg_type: bytes, seq: int, body: bytes) -> bytes:
        return self.peer.encode(msg_type, seq, format_utc(self.clock.now_ns()), body)

    def _send(self, msg_type: bytes, seq: int, body: bytes) -> None:
        self.session.data_received(self._frame(msg_type, seq, body))

    def seeds(self) -> Iterable[bytes]:
        # mode byte, then the choices _build reads, then the body
        for mt in range(len(MSG_TYPES)):
            for body in range(len(BODIES)):
                yield bytes([1, mt, 0, body]) + b"58=seed\x01"
        yield bytes([0]) + self._frame(b"0", 2, b"")
        yield bytes([0]) + b"8=FIX.4.4\x019=5\x0135=0\x0110=000\x01"

    def _build(self, c: Choices) -> list[bytes]:
        frames = []
        for _ in range(c.int(1, 3)):
            mt = MSG_TYPES[c.int(0, len(MSG_TYPES) - 1)] if c.int(0, 15) else c.bytes(2)
            shift = c.int(0, 6)
            seq = self.session.next_target_seq + (0, 0, 0, 1, 5, -1, -3)[shift]
            body = BODIES[c.int(0, len(BODIES) - 1)] + c.bytes(c.int(0, 120))
            frames.append(self._frame(mt or b"0", max(seq, 0), body))
        return frames

    def one_input(self, data: bytes) -> None:
        s = self.session
        c = Choices(data)
        mode = c.int(0, 2)
        before_in, before_out, resets = (
            s.next_target_seq,
            s.next_sender_seq,
            s.stats.sequence_resets,
        )
        errors = s.stats.internal_errors
        if mode == 0:
            s.data_received(c.rest())
        else:
            wire = b"".join(self._build(c)) + c.rest()
            if mode == 2 and len(wire) > 1:  # the same bytes over several reads
                cut = 1 + len(data) % (len(wire) - 1)
                s.data_received(wire[:cut])
                s.data_received(wire[cut:])
            else:
                s.data_received(wire)
        assert s.stats.internal_errors == errors, self.log.events[-1:]
        assert s.next_target_seq >= 1 and s.next_sender_seq >= 1
        assert (s.next_target_seq, s.next_sender_seq) == (
            self.store.next_target_seq,
            self.store.next_sender_seq,
        ), "session and store disagree on the sequence numbers"
        if s.stats.sequence_resets == resets:
            assert s.next_target_seq >= before_in, "incoming sequence number moved back"
            assert s.next_sender_seq >= before_out, "outgoing sequence number moved back"
        for line in self.log.events:
            assert PASSWORD not in line, f"password in the session log: {line!r}"
        # every byte we wrote is well-formed FIX
        FrameDecoder().feed(bytes(self.wire.out))
        self.wire.out.clear()
        self.log.messages.clear()
        self.log.events.clear()
        # A partial frame left in the read buffer may swallow the next bytes (garbled,
        # dropped, recovered by resend): the probe is only fair on a clean buffer.
        clean = s._decoder.buffered == 0
        if clean and s.state is State.LOGGED_ON and not s.awaiting_resend and not s._queue:
            nxt = s.next_target_seq
            self._send(b"0", nxt, b"")
            assert s.next_target_seq == nxt + 1, "a valid Heartbeat was not accepted"
            self.wire.out.clear()
        else:
            self._fresh()


def make() -> FixSessionTarget:
    return FixSessionTarget()
