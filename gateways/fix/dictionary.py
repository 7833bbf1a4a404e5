"""What a valid message looks like, per FIX version: the part of the data dictionary
this engine needs to answer malformed input with the right session Reject.

Only the messages the order path exchanges are described field by field; any other
real FIX MsgType is "valid but unsupported" (BusinessMessageReject), anything else is
an invalid MsgType (session Reject 11). Tags outside the version's standard range are
invalid tag numbers (reason 0); standard tags not listed for a message are "not
defined for this message type" (reason 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateways.fix.codec import HEADER_TAGS, TRAILER_TAGS

FIX42 = "FIX.4.2"
FIX44 = "FIX.4.4"
VERSIONS = (FIX42, FIX44)

# Field formats checked on receipt (incorrect data format -> reject reason 6).
INT = "int"
QTY = "qty"
PRICE = "price"
TIMESTAMP = "timestamp"
BOOL = "bool"
CHAR = "char"
STRING = "string"


@dataclass(frozen=True, slots=True)
class Group:
    """A repeating group: its NumInGroup tag, the tag each entry starts with, the members."""

    count_tag: int
    first_tag: int
    members: frozenset[int]


@dataclass(frozen=True, slots=True)
class MessageSpec:
    required: frozenset[int]
    optional: frozenset[int]
    groups: tuple[Group, ...] = ()
    allowed: frozenset[int] = field(init=False)
    # For the validator's fast path: what may appear outside any repeating group, and
    # the format/enum checks that apply to this message's fields.
    fast_allowed: frozenset[int] = field(init=False)
    formats: tuple[tuple[int, str], ...] = field(init=False)
    enums: tuple[tuple[int, frozenset[bytes]], ...] = field(init=False)

    def __post_init__(self) -> None:
        group_tags: set[int] = set()
        for g in self.groups:
            group_tags |= g.members | {g.count_tag}
        allowed = self.required | self.optional | group_tags
        fast = (self.required | self.optional | HEADER_TAGS) - {8, 9, 10}
        everything = allowed | HEADER_TAGS
        object.__setattr__(self, "allowed", allowed)
        object.__setattr__(self, "fast_allowed", frozenset(fast))
        # SendingTime(52) is checked by the session before validation; skip it here.
        object.__setattr__(
            self,
            "formats",
            tuple((t, k) for t, k in FORMATS.items() if t in everything and t != 52),
        )
        object.__setattr__(
            self, "enums", tuple((t, e) for t, e in ENUMS.items() if t in everything)
        )


def _spec(required: set[int], optional: set[int], groups: tuple[Group, ...] = ()) -> MessageSpec:
    return MessageSpec(frozenset(required), frozenset(optional), groups)


FORMATS: dict[int, str] = {
    **dict.fromkeys((7, 16, 34, 36, 45, 108, 371, 373, 380, 453, 78, 384, 911, 102, 98), INT),
    **dict.fromkeys((14, 32, 38, 151, 80), QTY),
    **dict.fromkeys((6, 31, 44, 99), PRICE),
    **dict.fromkeys((52, 60, 122), TIMESTAMP),
    **dict.fromkeys((43, 97, 123, 141, 912), BOOL),
}

_Y_N = frozenset({b"Y", b"N"})
ENUMS: dict[int, frozenset[bytes]] = {
    43: _Y_N,
    97: _Y_N,
    123: _Y_N,
    141: _Y_N,
    912: _Y_N,
    98: frozenset(b"%d" % i for i in range(7)),
    21: frozenset({b"1", b"2", b"3"}),
    54: frozenset(bytes([c]) for c in b"123456789ABCDEFG"),
    40: frozenset(bytes([c]) for c in b"123456789ABCDEFGHIJKLMP"),
    59: frozenset(bytes([c]) for c in b"01234567"),
    39: frozenset(bytes([c]) for c in b"0123456789ABCDE"),
    150: frozenset(bytes([c]) for c in b"0123456789ABCDEFGHI"),
    20: frozenset({b"0", b"1", b"2", b"3"}),
    434: frozenset({b"1", b"2"}),
    585: frozenset(bytes([c]) for c in b"12345678"),
    851: frozenset({b"1", b"2", b"3"}),
}

_ADMIN: dict[bytes, MessageSpec] = {
    b"0": _spec(set(), {112}),
    b"1": _spec({112}, set()),
    b"2": _spec({7, 16}, set()),
    b"3": _spec({45}, {371, 372, 373, 58, 354, 355}),
    b"4": _spec({36}, {123}),
    b"5": _spec(set(), {58, 354, 355}),
}

_PARTIES = Group(453, 448, frozenset({448, 447, 452}))
_ALLOCS = Group(78, 79, frozenset({79, 80}))
_ORDER_OPT = {1, 15, 18, 58, 99, 100, 110, 111, 126, 22, 48, 167, 207, 526, 528, 432}


def _fix44() -> dict[bytes, MessageSpec]:
    return {
        **_ADMIN,
        b"A": _spec({98, 108}, {95, 96, 141, 383, 464, 553, 554, 789, 1137}),
        b"D": _spec({11, 55, 54, 60, 40}, {21, 38, 44, 59, *_ORDER_OPT}, (_PARTIES,)),
        b"F": _spec({41, 11, 55, 54, 60}, {37, 38, 1, 58, 48, 22, 526}),
        b"G": _spec({41, 11, 55, 54, 60, 40}, {21, 37, 38, 44, 59, *_ORDER_OPT}, (_PARTIES,)),
        b"H": _spec({11, 55, 54}, {37, 790, 1, 48, 22}),
        b"AF": _spec({584, 585}, {1, 55, 54, 48, 22}),
        b"8": _spec(
            {37, 17, 150, 39, 54, 151, 14, 6, 55},
            {
                11,
                41,
                1,
                38,
                40,
                44,
                59,
                31,
                32,
                58,
                60,
                103,
                851,
                198,
                912,
                584,
                911,
                527,
                790,
                48,
                22,
                15,
                18,
                99,
                21,
            },
            (_PARTIES,),
        ),
        b"9": _spec({37, 11, 41, 39, 434}, {102, 58, 1, 60, 526}),
        b"j": _spec({372, 380}, {45, 379, 58, 354, 355}),
    }


def _fix42() -> dict[bytes, MessageSpec]:
    return {
        **_ADMIN,
        b"A": _spec({98, 108}, {95, 96, 141, 383, 384, 372, 385, 553, 554}),
        b"D": _spec({11, 21, 55, 54, 60, 40}, {38, 44, 59, *_ORDER_OPT}, (_ALLOCS,)),
        b"F": _spec({41, 11, 55, 54, 60}, {37, 38, 1, 58, 48, 22}),
        b"G": _spec({41, 11, 21, 55, 54, 60, 40}, {37, 38, 44, 59, *_ORDER_OPT}, (_ALLOCS,)),
        b"H": _spec({11, 55, 54}, {37, 1, 48, 22}),
        b"8": _spec(
            {37, 17, 20, 150, 39, 54, 151, 14, 6, 55},
            {11, 41, 1, 38, 40, 44, 59, 31, 32, 58, 60, 103, 198, 527, 48, 22, 15, 18, 99, 21},
        ),
        b"9": _spec({37, 11, 41, 39, 434}, {102, 58, 1, 60}),
        b"j": _spec({372, 380}, {45, 379, 58, 354, 355}),
    }


def _all_msg_types(extra: str) -> frozenset[bytes]:
    singles = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    return frozenset(c.encode() for c in singles) | frozenset(t.encode() for t in extra.split())


_FIX44_TYPES = _all_msg_types(
    "AA AB AC AD AE AF AG AH AI AJ AK AL AM AN AO AP AQ AR AS AT AU AV AW AX AY AZ "
    "BA BB BC BD BE BF BG BH"
)


@dataclass(frozen=True, slots=True)
class DataDictionary:
    version: str
    messages: dict[bytes, MessageSpec]
    msg_types: frozenset[bytes]
    max_standard_tag: int

    def is_known_tag(self, tag: int) -> bool:
        return 0 < tag <= self.max_standard_tag or 5000 <= tag < 10000

    @property
    def header_tags(self) -> frozenset[int]:
        return HEADER_TAGS

    @property
    def trailer_tags(self) -> frozenset[int]:
        return TRAILER_TAGS


_DICTS = {
    FIX44: DataDictionary(FIX44, _fix44(), _FIX44_TYPES, 956),
    FIX42: DataDictionary(FIX42, _fix42(), _all_msg_types(""), 446),
}


def dictionary(version: str) -> DataDictionary:
    try:
        return _DICTS[version]
    except KeyError:
        raise ValueError(
            f"unsupported BeginString {version!r}; expected one of {VERSIONS}"
        ) from None
