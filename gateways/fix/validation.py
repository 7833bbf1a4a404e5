"""Checks a received message against the data dictionary.

Returns the first problem as a :class:`Violation` (SessionRejectReason, RefTagID and a
text an operator can act on) instead of raising: a malformed message from the
counterparty is an everyday event that the session answers with a Reject and
carries on, not an error of ours.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateways.fix.codec import HEADER_TAGS, TRAILER_TAGS, FixMessage
from gateways.fix.dictionary import (
    BOOL,
    ENUMS,
    FORMATS,
    INT,
    PRICE,
    QTY,
    TIMESTAMP,
    DataDictionary,
    Group,
    MessageSpec,
)
from gateways.fix.tags import SessionRejectReason as R
from gateways.fix.timefmt import parse_utc


@dataclass(frozen=True, slots=True)
class Violation:
    reason: R
    ref_tag: int | None
    text: str


_TEXT = {
    R.INVALID_TAG_NUMBER: "Invalid tag number",
    R.REQUIRED_TAG_MISSING: "Required tag missing",
    R.TAG_NOT_DEFINED_FOR_MSG_TYPE: "Tag not defined for this message type",
    R.TAG_WITHOUT_VALUE: "Tag specified without a value",
    R.VALUE_INCORRECT: "Value is incorrect (out of range) for this tag",
    R.INCORRECT_DATA_FORMAT: "Incorrect data format for value",
    R.TAG_APPEARS_MORE_THAN_ONCE: "Tag appears more than once",
    R.TAG_OUT_OF_ORDER: "Tag specified out of required order",
    R.INCORRECT_NUM_IN_GROUP: "Incorrect NumInGroup count for repeating group",
    R.REPEATING_GROUP_OUT_OF_ORDER: "Repeating group fields out of order",
}


def _v(reason: R, tag: int | None) -> Violation:
    return Violation(reason, tag, _TEXT.get(reason, reason.name))


def format_ok(kind: str, value: bytes) -> bool:
    if value.isdigit():  # the common case for every numeric kind
        return kind not in (TIMESTAMP, BOOL)
    if kind == INT:
        return value[:1] == b"-" and value[1:].isdigit()
    if kind in (QTY, PRICE):
        v = value[1:] if value[:1] == b"-" else value
        whole, _, frac = v.partition(b".")
        return (whole.isdigit() or (whole == b"" and frac != b"")) and (
            frac == b"" or frac.isdigit()
        )
    if kind == TIMESTAMP:
        return parse_utc(value) is not None
    if kind == BOOL:
        return value in (b"Y", b"N")
    return True


def validate(msg: FixMessage, dd: DataDictionary) -> Violation | None:
    """The first dictionary violation in ``msg``; None when it is well formed.

    The MsgType must already be known to ``dd`` (the session answers unknown and
    unsupported types before calling this). Well-formed messages (nearly all of them)
    take a fast path of set operations; only a message that fails it is walked field
    by field to name the exact problem.
    """
    spec = dd.messages[msg.msg_type]
    if _looks_valid(msg, spec):
        return None
    return _first_violation(msg, dd, spec)


def _looks_valid(msg: FixMessage, spec: MessageSpec) -> bool:
    fields = msg.fields
    pairs = msg.pairs
    if len(fields) != len(pairs) or not spec.required <= fields.keys():
        return False
    if not fields.keys() <= spec.fast_allowed or b"" in fields.values():
        return False
    in_body = False
    for tag, _ in pairs:
        if tag in HEADER_TAGS:
            if in_body:
                return False
        else:
            in_body = True
    for tag, kind in spec.formats:
        v = fields.get(tag)
        if v is not None and not format_ok(kind, v):
            return False
    for tag, allowed in spec.enums:
        v = fields.get(tag)
        if v is not None and v not in allowed:
            return False
    return True


def _first_violation(msg: FixMessage, dd: DataDictionary, spec: MessageSpec) -> Violation | None:
    pairs = msg.pairs
    in_body = False
    in_trailer = False
    seen: set[int] = set()
    group_at: dict[int, Group] = {g.count_tag: g for g in spec.groups}
    i = 0
    n = len(pairs)
    while i < n:
        tag, value = pairs[i]
        if tag in HEADER_TAGS:
            if in_body or in_trailer:
                return _v(R.TAG_OUT_OF_ORDER, tag)
        elif tag in TRAILER_TAGS:
            in_trailer = True
        else:
            if in_trailer:
                return _v(R.TAG_OUT_OF_ORDER, tag)
            in_body = True
        problem = _field_problem(tag, value, spec, dd)
        if problem is not None:
            return problem
        if tag in seen:
            return _v(R.TAG_APPEARS_MORE_THAN_ONCE, tag)
        seen.add(tag)
        group = group_at.get(tag)
        if group is not None:
            i, problem = _walk_group(pairs, i, group, spec, dd)
            if problem is not None:
                return problem
            continue
        i += 1
    for tag in sorted(spec.required - seen):
        return _v(R.REQUIRED_TAG_MISSING, tag)
    return None


def _field_problem(
    tag: int, value: bytes, spec: MessageSpec, dd: DataDictionary
) -> Violation | None:
    if not dd.is_known_tag(tag):
        return _v(R.INVALID_TAG_NUMBER, tag)
    if value == b"":
        return _v(R.TAG_WITHOUT_VALUE, tag)
    if tag not in HEADER_TAGS and tag not in TRAILER_TAGS and tag not in spec.allowed:
        return _v(R.TAG_NOT_DEFINED_FOR_MSG_TYPE, tag)
    kind = FORMATS.get(tag)
    if kind is not None and not format_ok(kind, value):
        return _v(R.INCORRECT_DATA_FORMAT, tag)
    allowed = ENUMS.get(tag)
    if allowed is not None and value not in allowed:
        return _v(R.VALUE_INCORRECT, tag)
    return None


def _walk_group(
    pairs: list[tuple[int, bytes]], i: int, group: Group, spec: MessageSpec, dd: DataDictionary
) -> tuple[int, Violation | None]:
    """Consume a repeating group starting at its NumInGroup field ``pairs[i]``."""
    declared = int(pairs[i][1])
    i += 1
    entries = 0
    entry_tags: set[int] = set()
    n = len(pairs)
    while i < n and pairs[i][0] in group.members:
        tag, value = pairs[i]
        if tag == group.first_tag:
            entries += 1
            entry_tags = set()
        elif entries == 0:
            return i, _v(R.REPEATING_GROUP_OUT_OF_ORDER, tag)
        if tag in entry_tags:
            return i, _v(R.TAG_APPEARS_MORE_THAN_ONCE, tag)
        entry_tags.add(tag)
        problem = _field_problem(tag, value, spec, dd)
        if problem is not None:
            return i, problem
        i += 1
    if entries != declared:
        return i, _v(R.INCORRECT_NUM_IN_GROUP, group.count_tag)
    return i, None
