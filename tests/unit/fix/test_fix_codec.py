"""Wire format: our encoder is byte-identical to simplefix, our parser agrees with it,
and the frame decoder drops exactly the garbled input and nothing else."""

from __future__ import annotations

import simplefix
from hypothesis import given, settings
from hypothesis import strategies as st

from gateways.fix.codec import FrameDecoder, Garbled, HeaderEncoder, encode_fields, parse
from gateways.fix.timefmt import format_utc, parse_utc

VALUE = st.binary(min_size=1, max_size=30).filter(lambda b: b"\x01" not in b)
_P = simplefix.FixParser()
# simplefix treats length/data pairs (95/96 ...) specially and re-places 35; keep clear of both
_SPECIAL = {35, *(int(t) for t in _P.raw_len_tags), *(int(t) for t in _P.raw_data_tags)}
TAG = st.integers(min_value=11, max_value=9999).filter(lambda t: t not in _SPECIAL)
FIELDS = st.lists(st.tuples(TAG, VALUE), max_size=25)
COMP = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=12)
STAMP = b"20260105-14:30:00.123"


def simplefix_encode(
    begin: str,
    msg_type: bytes,
    seq: int,
    sender: str,
    target: str,
    body: list[tuple[int, bytes]],
    orig: bytes | None = None,
) -> bytes:
    m = simplefix.FixMessage()
    m.append_pair(8, begin)
    m.append_pair(35, msg_type)
    m.append_pair(34, seq)
    if orig is not None:
        m.append_pair(43, "Y")
    m.append_pair(49, sender)
    m.append_pair(52, STAMP)
    m.append_pair(56, target)
    if orig is not None:
        m.append_pair(122, orig)
    for tag, value in body:
        m.append_pair(tag, value)
    return bytes(m.encode())


@settings(max_examples=150)
@given(
    st.sampled_from(["FIX.4.2", "FIX.4.4"]),
    st.sampled_from([b"D", b"8", b"AF", b"0"]),
    st.integers(min_value=1, max_value=10**9),
    COMP,
    COMP,
    FIELDS,
    st.booleans(),
)
def test_encoder_is_byte_identical_to_simplefix(
    begin: str,
    mt: bytes,
    seq: int,
    sender: str,
    target: str,
    body: list[tuple[int, bytes]],
    dup: bool,
) -> None:
    orig = b"20260105-14:29:59.000" if dup else None
    ours = HeaderEncoder(begin, sender, target).encode(
        mt, seq, STAMP, encode_fields(body), orig_sending_time=orig
    )
    assert ours == simplefix_encode(begin, mt, seq, sender, target, body, orig)


@settings(max_examples=150)
@given(COMP, COMP, FIELDS)
def test_parser_agrees_with_simplefix(
    sender: str, target: str, body: list[tuple[int, bytes]]
) -> None:
    raw = simplefix_encode("FIX.4.4", b"8", 7, sender, target, body)
    ours = parse(raw)
    p = simplefix.FixParser()
    p.append_buffer(raw)
    ref = p.get_message()
    assert ref is not None
    ref_pairs = [(int(t), v) for t, v in ref.pairs if int(t) not in (8, 9, 10)]
    assert ours.pairs == ref_pairs
    assert ours.msg_type == b"8" and ours.seq_num == 7 and ours.begin_string == b"FIX.4.4"


def test_hot_messages_identical_to_simplefix() -> None:
    enc = HeaderEncoder("FIX.4.4", "CLIENT", "EXCH")
    nos = [
        (11, b"RLX-1A2B"),
        (21, b"1"),
        (38, b"400"),
        (40, b"2"),
        (44, b"187.25"),
        (54, b"2"),
        (55, b"AMZN"),
        (59, b"0"),
        (60, STAMP),
    ]
    er = [
        (6, b"187.25"),
        (11, b"RLX-1A2B"),
        (14, b"100"),
        (17, b"E1"),
        (37, b"O1"),
        (38, b"400"),
        (39, b"1"),
        (54, b"2"),
        (55, b"AMZN"),
        (60, STAMP),
        (150, b"F"),
        (151, b"300"),
        (31, b"187.25"),
        (32, b"100"),
    ]
    for mt, body in ((b"D", nos), (b"8", er)):
        assert enc.encode(mt, 42, STAMP, encode_fields(body)) == simplefix_encode(
            "FIX.4.4", mt, 42, "CLIENT", "EXCH", body
        )


def _stream() -> tuple[list[bytes], bytes]:
    enc = HeaderEncoder("FIX.4.4", "A", "B")
    msgs = [enc.encode(b"0", i, STAMP, b"112=%d\x01" % i) for i in range(1, 6)]
    return msgs, b"".join(msgs)


@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=60))
def test_any_chunking_yields_the_same_frames(cuts: list[int]) -> None:
    msgs, data = _stream()
    dec = FrameDecoder()
    got: list[bytes | Garbled] = []
    pos = 0
    for c in cuts:
        got += dec.feed(data[pos : pos + c])
        pos += c
    got += dec.feed(data[pos:])
    assert got == msgs and dec.buffered == 0


def test_bad_checksum_is_dropped_and_the_next_message_survives() -> None:
    msgs, _ = _stream()
    bad = (
        msgs[0][:-4] + b"000\x01"
        if not msgs[0].endswith(b"=000\x01")
        else msgs[0][:-4] + b"001\x01"
    )
    out = FrameDecoder().feed(bad + msgs[1])
    assert isinstance(out[0], Garbled) and "CheckSum" in out[0].reason
    assert out[1:] == [msgs[1]]


def test_body_length_too_long_resyncs_on_the_next_message() -> None:
    msgs, _ = _stream()
    bad = msgs[0].replace(b"\x019=", b"\x019=9", 1)
    out = FrameDecoder().feed(bad + msgs[1])
    assert isinstance(out[0], Garbled) and out[1:] == [msgs[1]]


def test_huge_body_length_is_refused_at_once() -> None:
    out = FrameDecoder(max_message_size=1000).feed(b"8=FIX.4.4\x019=99999999\x0135=0\x01")
    assert len(out) == 1 and isinstance(out[0], Garbled) and "maximum" in out[0].reason


def test_junk_between_messages_is_dropped() -> None:
    msgs, _ = _stream()
    out = FrameDecoder().feed(b"hello" + msgs[0] + b"\x01\x01junk 8=FI")
    assert isinstance(out[0], Garbled) and out[1] == msgs[0] and isinstance(out[2], Garbled)


def test_missing_equals_sign_is_garbled() -> None:
    import pytest

    from gateways.fix.codec import GarbledMessage

    enc = HeaderEncoder("FIX.4.4", "A", "B")
    raw = enc.encode(b"0", 1, STAMP, b"112\x01")
    with pytest.raises(GarbledMessage, match="no '='"):
        parse(raw)


@given(st.integers(min_value=0, max_value=4_102_444_800 * 10**9))
def test_timestamps_round_trip_to_the_millisecond(ns: int) -> None:
    text = format_utc(ns)
    assert parse_utc(text) == ns - ns % 1_000_000


def test_bad_timestamps_are_refused() -> None:
    for bad in (
        b"",
        b"2026-01-05 14:30:00",
        b"20261305-14:30:00",
        b"20260105-25:00:00",
        b"20260105-14:30:00.",
        b"20260105-14:30:00.12x",
    ):
        assert parse_utc(bad) is None, bad
    assert parse_utc(b"20260105-14:30:00.123456") == parse_utc(b"20260105-14:30:00") + 123_456_000  # type: ignore[operator]
