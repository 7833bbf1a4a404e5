"""The bodies of the rejects a session sends, as the session's FIX version defines them.

FIX.4.0 and 4.1 have no SessionRejectReason, RefTagID or RefMsgType: the reason and
the tag go into Text ("Value is incorrect (out of range) for this tag (21)"). FIX.4.2
defines reasons 0-11 only; a later reason (13, tag appears more than once) is sent
without a code, its meaning in Text. What a version defines is read from the session's
data dictionary, so a counterparty's dictionary that adds codes is honoured too.

Rejects and other answers to a message go back the way it came: its OnBehalfOf*
fields become DeliverTo* and the other way round (reverse routing, test cases 18-19).
"""

from __future__ import annotations

from gateways.fix import tags
from gateways.fix.codec import FixMessage
from gateways.fix.dictionary import DataDictionary

# (field of the incoming message, field of our answer that carries its value)
_ROUTES = (
    (tags.ON_BEHALF_OF_COMP_ID, tags.DELIVER_TO_COMP_ID),
    (tags.ON_BEHALF_OF_SUB_ID, tags.DELIVER_TO_SUB_ID),
    (tags.ON_BEHALF_OF_LOCATION_ID, tags.DELIVER_TO_LOCATION_ID),
    (tags.DELIVER_TO_COMP_ID, tags.ON_BEHALF_OF_COMP_ID),
    (tags.DELIVER_TO_SUB_ID, tags.ON_BEHALF_OF_SUB_ID),
    (tags.DELIVER_TO_LOCATION_ID, tags.ON_BEHALF_OF_LOCATION_ID),
)


def reverse_route(msg: FixMessage, dd: DataDictionary) -> bytes:
    """Header fields that send an answer to ``msg`` back to whoever it came from.

    Empty routing fields are skipped (the message itself gets a Reject for them), and
    so are fields the version's header does not define (FIX.4.0 has no LocationIDs).
    """
    f = msg.fields
    out = []
    for src, dst in _ROUTES:
        v = f.get(src)
        if v and dd.header_has(dst):
            out.append((dst, v))
    out.sort(key=lambda tv: _HEADER_RANK.get(tv[0], 0))
    return b"".join(b"%d=%b\x01" % tv for tv in out)


# Where QuickFIX writes them: CompIDs first, then SubIDs, then LocationIDs.
_HEADER_RANK = {115: 0, 128: 1, 116: 2, 129: 3, 144: 4, 145: 5}


def clean_text(text: str) -> bytes:
    return text.replace("\x01", " ").encode("latin-1", "replace")


def reject_body(
    ref: FixMessage,
    reason: tags.SessionRejectReason | None,
    ref_tag: int | None,
    text: str,
    dd: DataDictionary,
) -> bytes:
    """A session Reject (35=3) of ``ref`` with what ``dd``'s Reject message defines."""
    defines = dd.messages[tags.MsgType.REJECT].body.tags
    body = b"45=%d\x01" % ref.seq_num
    mt = ref.msg_type
    if mt and b"\x01" not in mt and tags.REF_MSG_TYPE in defines:
        body += b"372=%b\x01" % mt
    if ref_tag is not None:
        if tags.REF_TAG_ID in defines:
            body += b"371=%d\x01" % ref_tag
        else:
            text = f"{text} ({ref_tag})"
    if (
        reason is not None
        and tags.SESSION_REJECT_REASON in defines
        and dd.defines_value(tags.SESSION_REJECT_REASON, b"%d" % int(reason))
    ):
        body += b"373=%d\x01" % int(reason)
    return body + b"58=%b\x01" % clean_text(text)


def business_reject_body(
    ref: FixMessage, reason: tags.BusinessRejectReason, text: str, ref_id: str = ""
) -> bytes:
    """A BusinessMessageReject (35=j, FIX.4.2 and later) of ``ref``."""
    body = b"45=%d\x01372=%b\x01380=%d\x0158=%b\x01" % (
        ref.seq_num,
        ref.msg_type,
        int(reason),
        clean_text(text),
    )
    if ref_id:
        body += b"379=%b\x01" % clean_text(ref_id)
    return body
