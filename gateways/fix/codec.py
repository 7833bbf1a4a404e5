"""The FIX tag=value wire format: framing, parsing and encoding.

simplefix is the reference for this format and is used where speed does not matter,
but it builds every message field by field in Python and re-scans the bytes it made;
at ~13k NewOrderSingle encode+parse a second it would be most of an order's latency.
Here the standard header is laid out once per session, a message is one ``bytes %``
format, and parsing is one ``split``. Tests check the output is byte-identical to
simplefix for the same fields.

Framing is separate from parsing so that a garbled message (bad BodyLength or
CheckSum, the first three fields out of order, junk between messages) is dropped
before it can touch a sequence number, as the session-level test cases require.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gateways.fix import tags

SOH = 1
_START = b"8=FIX"


class GarbledMessage(ValueError):
    """Bytes that cannot be a FIX message; dropped without consuming a sequence number."""


@dataclass(frozen=True, slots=True)
class Garbled:
    """A stretch of input the decoder dropped, and why (counted and logged by the session)."""

    reason: str
    data: bytes


class FixMessage:
    """A parsed message: fields in wire order plus a tag -> first-value index.

    Values stay ``bytes``: most are never looked at, and the ones the application
    reads are decoded where they are used.
    """

    __slots__ = ("begin_string", "fields", "msg_type", "pairs", "raw")

    def __init__(
        self,
        raw: bytes,
        begin_string: bytes,
        pairs: list[tuple[int, bytes]],
        fields: dict[int, bytes],
    ) -> None:
        self.raw = raw
        self.begin_string = begin_string
        self.pairs = pairs
        self.fields = fields
        self.msg_type = fields.get(tags.MSG_TYPE, b"")

    def get(self, tag: int) -> bytes | None:
        return self.fields.get(tag)

    def get_str(self, tag: int) -> str | None:
        v = self.fields.get(tag)
        return None if v is None else v.decode("latin-1")

    def __contains__(self, tag: int) -> bool:
        return tag in self.fields

    def __getitem__(self, tag: int) -> bytes:
        return self.fields[tag]

    @property
    def seq_num(self) -> int:
        """MsgSeqNum(34), or 0 when missing or not a number (validation rejects those)."""
        v = self.fields.get(tags.MSG_SEQ_NUM)
        return int(v) if v is not None and v.isdigit() else 0

    @property
    def poss_dup(self) -> bool:
        return self.fields.get(tags.POSS_DUP_FLAG) == b"Y"

    def __repr__(self) -> str:
        return f"FixMessage({pipe(self.raw)!r})"


def pipe(raw: bytes) -> str:
    """A message as humans and log tools read it: SOH shown as ``|``."""
    return raw.replace(b"\x01", b"|").decode("latin-1")


def checksum(data: bytes) -> int:
    return sum(data) & 0xFF


def parse(raw: bytes) -> FixMessage:
    """Parse one framed message (as returned by :class:`FrameDecoder`).

    Raises :class:`GarbledMessage` when a field is not ``tag=value`` with a numeric tag;
    an empty value is kept (the validator answers it with a session Reject).
    """
    i = raw.find(b"\x01")
    j = raw.find(b"\x01", i + 1)
    if not raw.startswith(b"8=") or i < 0 or j < 0:
        raise GarbledMessage("no BeginString/BodyLength")
    begin = raw[2:i]
    parts = raw[j + 1 : -7].split(b"\x01")
    parts.pop()  # the empty piece after the SOH that precedes 10=
    try:
        pairs = [(int(t), v) for t, v in (p.split(b"=", 1) for p in parts)]
    except ValueError:
        raise GarbledMessage(_bad_field(parts)) from None
    fields = dict(pairs)
    if len(fields) != len(pairs):
        # keep the first occurrence, as a reader of the wire would
        fields = {}
        for t, v in pairs:
            fields.setdefault(t, v)
    return FixMessage(raw, begin, pairs, fields)


def _bad_field(parts: list[bytes]) -> str:
    for p in parts:
        t, sep, _ = p.partition(b"=")
        if not sep:
            return f"field {p[:40]!r} has no '='"
        if not t.isdigit():
            return f"field {p[:40]!r} has a non-numeric tag"
    return "malformed field"


class FrameDecoder:
    """Splits a byte stream into whole messages, dropping garbled ones.

    A message is trusted only when BodyLength lands exactly on ``10=nnn<SOH>`` and the
    checksum matches. After a bad one the decoder resynchronises on the next
    ``8=FIX``. A BodyLength larger than ``max_message_size`` is garbled at once rather
    than waited for, so a hostile length cannot make the session buffer forever.
    """

    __slots__ = ("_buf", "max_message_size")

    def __init__(self, max_message_size: int = 65536) -> None:
        self._buf = b""
        self.max_message_size = max_message_size

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes | Garbled]:
        buf = self._buf + data if self._buf else data
        out: list[bytes | Garbled] = []
        pos = 0
        n = len(buf)
        while pos < n:
            if not buf.startswith(b"8=", pos):
                nxt = buf.find(_START, pos)
                if nxt < 0:
                    keep = _partial_start(buf, pos)
                    if keep > pos:
                        out.append(Garbled("bytes before BeginString", buf[pos:keep]))
                    pos = keep
                    break
                out.append(Garbled("bytes before BeginString", buf[pos:nxt]))
                pos = nxt
                continue
            i = buf.find(b"\x01", pos)
            if i < 0:
                if n - pos > 64:
                    pos = self._resync(buf, pos, out, "BeginString not terminated")
                    continue
                break
            if not buf.startswith(b"9=", i + 1):
                if n - i - 1 < 2:
                    break
                pos = self._resync(buf, pos, out, "BodyLength(9) is not the second field")
                continue
            j = buf.find(b"\x01", i + 3)
            if j < 0:
                if n - i > 16:
                    pos = self._resync(buf, pos, out, "BodyLength not terminated")
                    continue
                break
            length_text = buf[i + 3 : j]
            if not length_text.isdigit():
                pos = self._resync(buf, pos, out, f"BodyLength {length_text[:16]!r} not a number")
                continue
            body_len = int(length_text)
            if body_len > self.max_message_size:
                pos = self._resync(buf, pos, out, f"BodyLength {body_len} over the maximum")
                continue
            end = j + 1 + body_len
            if end + 7 > n:
                # Incomplete, unless the stated length runs into the next message.
                if buf.find(b"\x018=FIX", j + 1) >= 0:
                    pos = self._resync(buf, pos, out, "BodyLength runs past the message end")
                    continue
                if n - j - 1 >= 3 and not buf.startswith(b"35=", j + 1):
                    pos = self._resync(buf, pos, out, "MsgType(35) is not the third field")
                    continue
                break
            if not buf.startswith(b"35=", j + 1):
                pos = self._resync(buf, pos, out, "MsgType(35) is not the third field")
                continue
            if buf[end - 1] != SOH or not buf.startswith(b"10=", end) or buf[end + 6] != SOH:
                pos = self._resync(buf, pos, out, "BodyLength does not match the message")
                continue
            cks_text = buf[end + 3 : end + 6]
            frame_end = end + 7
            if not cks_text.isdigit() or int(cks_text) != sum(buf[pos:end]) & 0xFF:
                out.append(
                    Garbled(f"CheckSum {cks_text!r} does not match", bytes(buf[pos:frame_end]))
                )
                pos = frame_end
                continue
            out.append(buf[pos:frame_end] if pos or frame_end != n else buf)
            pos = frame_end
        self._buf = buf[pos:] if pos < n else b""
        return out

    @staticmethod
    def _resync(buf: bytes, pos: int, out: list[bytes | Garbled], reason: str) -> int:
        nxt = buf.find(_START, pos + 1)
        if nxt < 0:
            nxt = _partial_start(buf, pos + 1)
        out.append(Garbled(reason, bytes(buf[pos:nxt])))
        return nxt


def _partial_start(buf: bytes, pos: int) -> int:
    """Where a possibly cut ``8=FIX`` begins at the end of ``buf`` (else ``len(buf)``)."""
    n = len(buf)
    for k in range(max(pos, n - 4), n):
        if _START.startswith(buf[k:]):
            return k
    return n


# ---------------------------------------------------------------------------- encoding
class HeaderEncoder:
    """Encodes messages of one session: BeginString and CompIDs laid out once.

    Header order is 35, 34, [43], 49, 52, 56, [122], then the body (the order QuickFIX
    writes), so a message reads the same whichever engine sent it.
    """

    __slots__ = ("_begin", "_sender", "_target")

    def __init__(self, begin_string: str, sender_comp_id: str, target_comp_id: str) -> None:
        self._begin = b"8=" + begin_string.encode("ascii") + b"\x019="
        self._sender = sender_comp_id.encode("ascii")
        self._target = target_comp_id.encode("ascii")

    def encode(
        self,
        msg_type: bytes,
        seq_num: int,
        sending_time: bytes,
        body: bytes,
        *,
        orig_sending_time: bytes | None = None,
        header: bytes = b"",
    ) -> bytes:
        """``body`` is ``tag=value<SOH>`` pairs; ``orig_sending_time`` marks a PossDup
        resend; ``header`` holds further standard header fields (routing, PossResend,
        ApplVerID), written after TargetCompID."""
        if orig_sending_time is None:
            m = b"35=%b\x0134=%d\x0149=%b\x0152=%b\x0156=%b\x01%b%b" % (
                msg_type,
                seq_num,
                self._sender,
                sending_time,
                self._target,
                header,
                body,
            )
        else:
            m = b"35=%b\x0134=%d\x0143=Y\x0149=%b\x0152=%b\x0156=%b\x01122=%b\x01%b%b" % (
                msg_type,
                seq_num,
                self._sender,
                sending_time,
                self._target,
                orig_sending_time,
                header,
                body,
            )
        m = b"%b%d\x01%b" % (self._begin, len(m), m)
        return b"%b10=%03d\x01" % (m, sum(m) & 0xFF)


FieldValue = bytes | str | int


def encode_fields(fields: Iterable[tuple[int, FieldValue]]) -> bytes:
    """Body bytes from (tag, value) pairs; the general, slower path for non-hot messages."""
    out = []
    for tag, value in fields:
        if isinstance(value, bytes):
            v = value
        elif isinstance(value, str):
            v = value.encode("latin-1")
        else:
            v = b"%d" % value
        if b"\x01" in v:
            raise ValueError(f"tag {tag}: value contains the SOH delimiter")
        out.append(b"%d=%b\x01" % (tag, v))
    return b"".join(out)


def body_of(msg: FixMessage, header_tags: frozenset[int] | None = None) -> bytes:
    """The body fields of ``msg`` (no standard header/trailer), re-encoded in wire order."""
    skip = HEADER_TAGS if header_tags is None else header_tags
    return b"".join(b"%d=%b\x01" % (t, v) for t, v in msg.pairs if t not in skip)


# What the session writes itself on every message; any other header field of a stored
# message is the application's (routing, PossResend, ApplVerID) and is kept on resend.
SESSION_HEADER_TAGS = frozenset({8, 9, 35, 34, 43, 49, 52, 56, 122})


def split_header(msg: FixMessage, header_tags: frozenset[int]) -> tuple[bytes, bytes]:
    """``(application header fields, body)`` of ``msg``, each re-encoded in wire order."""
    head = []
    body = []
    for t, v in msg.pairs:
        if t in header_tags:
            if t not in SESSION_HEADER_TAGS:
                head.append(b"%d=%b\x01" % (t, v))
        else:
            body.append(b"%d=%b\x01" % (t, v))
    return b"".join(head), b"".join(body)


HEADER_TAGS = frozenset(
    {
        8,
        9,
        35,
        49,
        56,
        115,
        128,
        90,
        91,
        34,
        50,
        142,
        57,
        143,
        116,
        144,
        129,
        145,
        43,
        97,
        52,
        122,
        212,
        213,
        347,
        369,
        627,
        628,
        629,
        630,
    }
)
TRAILER_TAGS = frozenset({93, 89, 10})
