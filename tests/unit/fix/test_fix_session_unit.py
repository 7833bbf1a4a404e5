"""The sans-I/O session on a SimClock: exact timer behaviour, and hostile input that
must never raise out of the session, never crash it, and always be counted and logged."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.clock import SimClock
from gateways.fix.codec import FixMessage, FrameDecoder, Garbled, HeaderEncoder, parse
from gateways.fix.dictionary import dictionary
from gateways.fix.events import AppMessage, SessionEvent
from gateways.fix.message_log import MemoryLog
from gateways.fix.session import FixSession, State
from gateways.fix.settings import SessionSettings
from gateways.fix.timefmt import format_utc
from gateways.fix.validation import validate

T0 = 1_767_623_400_000_000_000
NOS_BODY = (
    b"11=C1\x0121=1\x0138=100\x0140=2\x0144=10.5\x0154=1\x0155=AMZN\x0160=20260105-14:30:00\x01"
)


class Wire:
    def __init__(self) -> None:
        self.data = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        self.data += data

    def close(self) -> None:
        self.closed = True

    def take(self) -> list[FixMessage]:
        frames = FrameDecoder().feed(self.data)
        self.data = b""
        assert not any(isinstance(f, Garbled) for f in frames), frames
        return [parse(f) for f in frames if isinstance(f, bytes)]


class Harness:
    def __init__(self) -> None:
        self.clock = SimClock(T0)
        self.events: list[SessionEvent] = []
        self.log = MemoryLog()
        self.session = FixSession(
            SessionSettings(sender_comp_id="EXCH", target_comp_id="CLIENT"),
            initiator=False,
            clock=self.clock,
            log=self.log,
            on_event=self.events.append,
        )
        self.wire = Wire()
        self.peer = HeaderEncoder("FIX.4.4", "CLIENT", "EXCH")
        self.seq = 1
        self.session.connection_made(self.wire)

    def msg(self, msg_type: bytes, body: bytes = b"") -> bytes:
        raw = self.peer.encode(msg_type, self.seq, format_utc(self.clock.now_ns()), body)
        self.seq += 1
        return raw

    def logon(self) -> None:
        self.session.data_received(self.msg(b"A", b"98=0\x01108=30\x01"))
        assert [m.msg_type for m in self.wire.take()] == [b"A"]
        assert self.session.is_logged_on


def test_heartbeat_goes_out_exactly_at_the_interval() -> None:
    h = Harness()
    h.logon()
    h.clock.advance(29.999)
    assert h.wire.take() == []
    h.clock.advance(0.001)
    assert [m.msg_type for m in h.wire.take()] == [b"0"]


def test_sending_resets_the_heartbeat_timer() -> None:
    h = Harness()
    h.logon()
    h.clock.advance(20)
    h.session.data_received(h.msg(b"1", b"112=X\x01"))
    assert [m.msg_type for m in h.wire.take()] == [b"0"]  # the answer, at t=20
    h.clock.advance(29.9)
    assert [m.msg_type for m in h.wire.take()] == []
    h.clock.advance(0.1)
    assert [m.msg_type for m in h.wire.take()] == [b"0"]


def test_silent_peer_gets_a_test_request_then_is_disconnected() -> None:
    h = Harness()
    h.logon()
    h.clock.advance(35.9)
    assert [m.msg_type for m in h.wire.take()] == [b"0"]
    h.clock.advance(0.1)  # 1.2 x HeartBtInt of silence
    (tr,) = h.wire.take()
    assert tr.msg_type == b"1" and tr.get(112) == b"TEST1"
    h.clock.advance(36)
    out = h.wire.take()
    assert out[-1].msg_type == b"5" and h.wire.closed
    assert h.session.state is State.DISCONNECTED


def test_application_handler_that_raises_does_not_break_the_session() -> None:
    h = Harness()
    h.logon()

    def boom(ev: SessionEvent) -> None:
        if isinstance(ev, AppMessage):
            raise RuntimeError("bug in the app")

    h.session.on_event = boom
    h.session.data_received(h.msg(b"D", NOS_BODY))
    h.session.data_received(h.msg(b"1", b"112=STILL\x01"))
    assert h.wire.take()[-1].get(112) == b"STILL"
    assert h.session.stats.internal_errors == 1
    assert any("application handler raised" in e for e in h.log.events)


def _check_output(h: Harness) -> None:
    """Everything the session wrote is a well-formed message of ours."""
    dd = dictionary("FIX.4.4")
    for m in h.wire.take():
        assert m.get(49) == b"EXCH" and m.get(56) == b"CLIENT"
        assert validate(m, dd) is None, (m, validate(m, dd))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=300), max_size=8))
def test_random_bytes_never_escape_the_session(chunks: list[bytes]) -> None:
    h = Harness()
    h.logon()
    for chunk in chunks:
        h.session.data_received(chunk)
    assert h.session.stats.internal_errors == 0
    _check_output(h)
    if h.session.stats.garbled_dropped:
        assert any("dropped garbled input" in e for e in h.log.events)


def _mutate(data: bytes, kind: int, pos: int, blob: bytes) -> bytes:
    pos %= max(1, len(data))
    if kind == 0:  # flip a byte
        return data[:pos] + bytes([data[pos] ^ 0x5A]) + data[pos + 1 :]
    if kind == 1:  # truncate
        return data[:pos]
    if kind == 2:  # insert bytes
        return data[:pos] + blob + data[pos:]
    if kind == 3:  # wrong checksum
        return data[:-4] + b"%03d\x01" % ((int(data[-4:-1]) + 1) % 256)
    if kind == 4:  # huge field inside a correctly framed message
        body = data[data.index(b"\x0135=") + 1 : data.rindex(b"10=")]
        body += b"58=" + b"x" * 70_000 + b"\x01"
        head = b"8=FIX.4.4\x019=%d\x01" % len(body)
        return head + body + b"10=%03d\x01" % (sum(head + body) % 256)
    # drop a field, keeping the framing correct
    body = data[data.index(b"\x0135=") + 1 : data.rindex(b"10=")]
    fields = body.split(b"\x01")[:-1]
    if len(fields) > 1:
        del fields[pos % len(fields)]
    body = b"\x01".join(fields) + b"\x01"
    head = b"8=FIX.4.4\x019=%d\x01" % len(body)
    return head + body + b"10=%03d\x01" % (sum(head + body) % 256)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from([b"D", b"1", b"0", b"2", b"4", b"3", b"8", b"5"]),
            st.integers(min_value=0, max_value=5),
            st.integers(min_value=0, max_value=10_000),
            st.binary(max_size=20),
            st.booleans(),
        ),
        min_size=1,
        max_size=10,
    )
)
def test_mutated_messages_are_dropped_or_rejected_never_raised(
    steps: list[tuple[bytes, int, int, bytes, bool]],
) -> None:
    h = Harness()
    h.logon()
    bodies = {
        b"D": NOS_BODY,
        b"1": b"112=T\x01",
        b"0": b"",
        b"2": b"7=1\x0116=0\x01",
        b"4": b"123=Y\x0136=3\x01",
        b"3": b"45=1\x01",
        b"8": b"6=0\x01",
        b"5": b"",
    }
    for mt, kind, pos, blob, mutate in steps:
        raw = h.msg(mt, bodies[mt])
        h.session.data_received(_mutate(raw, kind, pos, blob) if mutate else raw)
        if h.session.state is State.DISCONNECTED:
            break
    stats = h.session.stats
    assert stats.internal_errors == 0, h.log.events
    _check_output(h)
    if h.session.state is State.DISCONNECTED:
        assert h.session.last_disconnect_reason


def test_oversized_message_is_dropped_and_counted() -> None:
    h = Harness()
    h.logon()
    raw = h.msg(b"D", NOS_BODY + b"58=" + b"x" * 70_000 + b"\x01")
    h.session.data_received(raw)
    h.seq -= 1
    h.session.data_received(h.msg(b"1", b"112=OK\x01"))
    assert h.wire.take()[-1].get(112) == b"OK"
    assert h.session.stats.garbled_dropped == 1 and h.session.stats.garbled_bytes >= 70_000


def test_a_gap_that_never_fills_cannot_grow_the_queue_without_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gateways.fix.session as session_mod

    monkeypatch.setattr(session_mod, "MAX_QUEUED", 5)
    h = Harness()
    h.logon()
    h.seq = 100
    for _ in range(6):
        h.session.data_received(h.msg(b"0"))
    out = h.wire.take()
    assert [m.msg_type for m in out] == [b"2", b"5"] and h.wire.closed
    assert "queued behind a gap" in h.session.last_disconnect_reason


def test_missing_sending_time_is_rejected_and_its_seq_used() -> None:
    h = Harness()
    h.logon()
    raw = h.msg(b"0")
    body = raw[raw.index(b"\x0135=") + 1 : raw.rindex(b"10=")]
    body = b"\x01".join(f for f in body.split(b"\x01") if not f.startswith(b"52="))
    head = b"8=FIX.4.4\x019=%d\x01" % len(body)
    h.session.data_received(head + body + b"10=%03d\x01" % (sum(head + body) % 256))
    (rej,) = h.wire.take()
    assert rej.get(373) == b"1" and rej.get(371) == b"52"
    h.session.data_received(h.msg(b"1", b"112=NEXT\x01"))
    assert h.wire.take()[-1].get(112) == b"NEXT"
