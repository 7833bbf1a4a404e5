"""FIX data dictionaries: what a valid message of each version looks like.

Read from QuickFIX's XML format, the one counterparties already publish for their
custom fields, messages and groups, so adding one is an edit to an XML file rather
than to code. QuickFIX's own dictionaries for every version ship in ``spec/`` (see
its README for the licence); a session uses the one of its BeginString unless its
settings name another file.

A dictionary answers what the validator and the session ask: which fields exist and
of what type (format and enumerated values), which messages exist and which are
admin, what may appear at the top level of the header, each message body and the
trailer, what is required there, and the repeating groups (their NumInGroup tag, the
delimiter every entry starts with, and the order of the members). Components are
expanded where they are used; a field inside a component is required only when the
component is required too (as QuickFIX reads it).

FIXT.1.1 splits the dictionary in two: the transport (header, trailer, admin
messages) and an application version (FIX.5.0, SP1, SP2) for everything else;
:func:`session_dictionary` joins them into one.
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path

from gateways.fix.timefmt import parse_utc

FIX40 = "FIX.4.0"
FIX41 = "FIX.4.1"
FIX42 = "FIX.4.2"
FIX43 = "FIX.4.3"
FIX44 = "FIX.4.4"
FIXT11 = "FIXT.1.1"
FIX50 = "FIX.5.0"
FIX50SP1 = "FIX.5.0SP1"
FIX50SP2 = "FIX.5.0SP2"

BEGIN_STRINGS = (FIX40, FIX41, FIX42, FIX43, FIX44, FIXT11)
# Application versions carried over FIXT.1.1, by name and by their ApplVerID(1128) code.
FIXT_APP_VERSIONS = (FIX50, FIX50SP1, FIX50SP2)
APPL_VER_ID = {FIX40: "2", FIX41: "3", FIX42: "4", FIX43: "5", FIX44: "6"} | {
    FIX50: "7",
    FIX50SP1: "8",
    FIX50SP2: "9",
}
APPL_VER_NAME = {code: name for name, code in APPL_VER_ID.items()}

_SHIPPED = {
    FIX40: "FIX40.xml",
    FIX41: "FIX41.xml",
    FIX42: "FIX42.xml",
    FIX43: "FIX43.xml",
    FIX44: "FIX44.xml",
    FIXT11: "FIXT11.xml",
    FIX50: "FIX50.xml",
    FIX50SP1: "FIX50SP1.xml",
    FIX50SP2: "FIX50SP2.xml",
}

# Framing fields: checked by the frame decoder, never by the dictionary.
FRAMING = frozenset({8, 9, 10})
_SESSION_CHECKED = frozenset({35, 34, 49, 56, 52})
USER_DEFINED_MIN = 5000


class DictionaryError(ValueError):
    """A data dictionary that cannot be used; the message names the file and the element."""


# ------------------------------------------------------------------------ value formats
def _is_int(v: bytes) -> bool:
    return v.isdigit() or (v[:1] == b"-" and v[1:].isdigit())


def _is_float(v: bytes) -> bool:
    # Digits with at most one '.', an optional leading '-', and no '+' or exponent
    # (test case 14f: "+200.00" is an incorrect data format).
    s = v[1:] if v[:1] == b"-" else v
    return s.replace(b".", b"", 1).isdigit()


def _is_char(v: bytes) -> bool:
    return len(v) == 1


def _is_bool(v: bytes) -> bool:
    return v in {b"Y", b"N"}


def _is_timestamp(v: bytes) -> bool:
    return parse_utc(v) is not None


_TIME_ONLY = re.compile(rb"([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d{1,9})?\Z")
_MONTH_YEAR = re.compile(rb"\d{4}(0[1-9]|1[0-2])(\d{2}|w[1-5])?\Z")


def _is_time_only(v: bytes) -> bool:
    return _TIME_ONLY.match(v) is not None


def _is_date(v: bytes) -> bool:
    if len(v) != 8 or not v.isdigit():
        return False
    try:
        date(int(v[:4]), int(v[4:6]), int(v[6:]))
    except ValueError:
        return False
    return True


def _is_month_year(v: bytes) -> bool:
    return _MONTH_YEAR.match(v) is not None


def _is_day_of_month(v: bytes) -> bool:
    return v.isdigit() and 1 <= int(v) <= 31


Check = Callable[[bytes], bool]
_INT_TYPES = ("INT", "LENGTH", "NUMINGROUP", "SEQNUM", "TAGNUM")
_FLOAT_TYPES = ("FLOAT", "PRICE", "QTY", "AMT", "PRICEOFFSET", "PERCENTAGE")
_DATE_TYPES = ("UTCDATE", "UTCDATEONLY", "LOCALMKTDATE", "DATE")
_STRING_TYPES = (
    "STRING",
    "DATA",
    "CURRENCY",
    "EXCHANGE",
    "COUNTRY",
    "LANGUAGE",
    "XMLDATA",
    "XID",
    "XIDREF",
    "LOCALMKTTIME",
    "TZTIMEONLY",
    "TZTIMESTAMP",
    "MULTIPLEVALUESTRING",
    "MULTIPLESTRINGVALUE",
    "MULTIPLECHARVALUE",
    "RESERVED100PLUS",
    "RESERVED1000PLUS",
    "RESERVED4000PLUS",
)
FORMAT_CHECKS: dict[str, Check | None] = {
    **dict.fromkeys(_INT_TYPES, _is_int),
    **dict.fromkeys(_FLOAT_TYPES, _is_float),
    **dict.fromkeys(_DATE_TYPES, _is_date),
    **dict.fromkeys(_STRING_TYPES, None),
    "CHAR": _is_char,
    "BOOLEAN": _is_bool,
    # FIX.4.0/4.1 call a UTCTimestamp "TIME"
    "UTCTIMESTAMP": _is_timestamp,
    "TIME": _is_timestamp,
    "UTCTIMEONLY": _is_time_only,
    "MONTHYEAR": _is_month_year,
    "DAYOFMONTH": _is_day_of_month,
}
_MULTI_VALUE = frozenset({"MULTIPLEVALUESTRING", "MULTIPLESTRINGVALUE", "MULTIPLECHARVALUE"})


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One field: its tag, name, type, and enumerated values if the dictionary lists any."""

    tag: int
    name: str
    type: str
    values: frozenset[bytes] | None = None

    @property
    def multi(self) -> bool:
        """Space-separated values, each of which must be one of ``values``."""
        return self.type in _MULTI_VALUE

    def format_ok(self, value: bytes) -> bool:
        check = FORMAT_CHECKS.get(self.type)
        return check is None or check(value)

    def value_ok(self, value: bytes) -> bool:
        if self.values is None:
            return True
        if self.multi:
            return all(v in self.values for v in value.split(b" "))
        return value in self.values

    def fast_check(self) -> Check | None:
        """One predicate that accepts exactly the values that pass both checks (the
        validator's fast path; the careful path tells format and value apart)."""
        fmt = FORMAT_CHECKS.get(self.type)
        values = self.values
        if values is not None and not self.multi:
            if fmt is None or all(fmt(v) for v in values):
                return values.__contains__  # every listed value is well formed
            return lambda v: v in values and fmt(v)
        if values is not None:
            return self.value_ok if fmt is None else lambda v: fmt(v) and self.value_ok(v)
        return fmt


@dataclass(frozen=True, slots=True)
class FieldSet:
    """What may appear at the top level of a header, trailer, message body or group entry."""

    order: tuple[int, ...]  # fields and NumInGroup tags, in dictionary order
    required: frozenset[int]
    groups: Mapping[int, Group]
    tags: frozenset[int] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", frozenset(self.order))


@dataclass(frozen=True, slots=True)
class Group:
    """A repeating group: its NumInGroup tag, the tag each entry starts with, the entry."""

    count_tag: int
    delimiter: int
    entry: FieldSet
    position: Mapping[int, int] = field(init=False)  # member tag -> place in an entry

    def __post_init__(self) -> None:
        object.__setattr__(self, "position", {t: i for i, t in enumerate(self.entry.order)})


@dataclass(frozen=True, slots=True)
class MessageSpec:
    """One message type, with what the validator's fast path needs precomputed.

    ``fast_allowed`` is what may appear at the top level of the header and body except
    NumInGroup tags: a message carrying a group takes the careful path.
    """

    msg_type: bytes
    name: str
    admin: bool
    body: FieldSet
    required: frozenset[int]  # header, body and trailer, framing fields excepted
    fast_allowed: frozenset[int]
    checked: frozenset[int]  # fields of fast_allowed whose values are checked

    def has_field(self, tag: int) -> bool:
        return tag in self.body.tags


class DataDictionary:
    """A loaded dictionary (see module doc). Build with :func:`load` or :func:`shipped`."""

    def __init__(
        self,
        version: str,
        fields: Mapping[int, FieldDef],
        header: FieldSet,
        trailer: FieldSet,
        bodies: Iterable[tuple[bytes, str, bool, FieldSet]],
        *,
        source: str = "",
    ) -> None:
        self.version = version
        self.source = source
        bodies = list(bodies)
        self.fields: dict[int, FieldDef] = dict(fields)
        mt_field = self.fields.get(35)
        if mt_field is not None and mt_field.values is not None:
            # Every message the dictionary defines is a valid MsgType value (a message
            # added by the user's file, or the application half of FIXT.1.1).
            known = mt_field.values | {b[0] for b in bodies}
            self.fields[35] = FieldDef(35, mt_field.name, mt_field.type, frozenset(known))
        self.by_name = {f.name: f.tag for f in self.fields.values()}
        self.header = header
        self.trailer = trailer
        self.envelope = (header.tags | trailer.tags) - FRAMING
        self.fast_checks: dict[int, Check] = {}
        for f in self.fields.values():
            check = f.fast_check()
            if check is not None:
                self.fast_checks[f.tag] = check
        self.messages: dict[bytes, MessageSpec] = {}
        envelope_groups = header.groups.keys() | trailer.groups.keys()
        envelope_required = (header.required | trailer.required) - FRAMING
        for msg_type, name, admin, body in bodies:
            # Trailer fields (Signature) are rare: they take the careful path, which
            # checks that nothing follows them.
            fast = ((header.tags - FRAMING) | body.tags) - envelope_groups - body.groups.keys()
            self.messages[msg_type] = MessageSpec(
                msg_type=msg_type,
                name=name,
                admin=admin,
                body=body,
                required=envelope_required | body.required,
                fast_allowed=frozenset(fast),
                # The session checks MsgType, MsgSeqNum, the CompIDs and SendingTime
                # before it validates.
                checked=frozenset(t for t in fast if t in self.fast_checks) - _SESSION_CHECKED,
            )
        self.msg_types = frozenset(self.messages)

    def __repr__(self) -> str:
        return f"DataDictionary({self.version!r}, {len(self.messages)} messages, {self.source})"

    # ------------------------------------------------------------------ queries
    def tag(self, name: str) -> int:
        try:
            return self.by_name[name]
        except KeyError:
            raise KeyError(f"{self.version}: no field named {name!r}") from None

    def is_admin(self, msg_type: bytes) -> bool:
        spec = self.messages.get(msg_type)
        return spec is not None and spec.admin

    def message_has(self, msg_type: bytes, tag: int) -> bool:
        spec = self.messages.get(msg_type)
        return spec is not None and tag in spec.body.tags

    def defines_value(self, tag: int, value: bytes) -> bool:
        """Whether ``tag`` exists and ``value`` is one of its values (any value if it
        lists none): the session sends a SessionRejectReason only where defined."""
        f = self.fields.get(tag)
        return f is not None and f.value_ok(value)

    def header_has(self, tag: int) -> bool:
        return tag in self.header.tags

    def with_app(self, app: DataDictionary) -> DataDictionary:
        """FIXT.1.1: this (transport) dictionary's header, trailer and admin messages
        joined with ``app``'s application messages and fields."""
        fields = {**app.fields, **self.fields}
        bodies = [
            (s.msg_type, s.name, s.admin, s.body) for s in self.messages.values() if s.admin
        ] + [(s.msg_type, s.name, s.admin, s.body) for s in app.messages.values() if not s.admin]
        return DataDictionary(
            f"{self.version}/{app.version}",
            fields,
            self.header,
            self.trailer,
            bodies,
            source=f"{self.source} + {app.source}",
        )


# ------------------------------------------------------------------------------ loading
def load(path: str | Path) -> DataDictionary:
    """Read a QuickFIX XML data dictionary; :class:`DictionaryError` names what is wrong."""
    p = Path(path)
    try:
        root = ET.parse(p).getroot()  # an operator's config file, not peer input
    except (OSError, ET.ParseError) as exc:
        raise DictionaryError(f"{p}: cannot read data dictionary: {exc}") from None
    return _Reader(root, str(p)).dictionary()


@functools.cache
def _cached(path: str) -> DataDictionary:
    return load(path)


def shipped_path(version: str) -> Path:
    """The file shipped for ``version`` (a BeginString, or FIX.5.0/SP1/SP2)."""
    try:
        name = _SHIPPED[version]
    except KeyError:
        raise ValueError(
            f"no data dictionary shipped for {version!r}; have {sorted(_SHIPPED)}"
        ) from None
    return Path(str(resources.files("gateways.fix") / "spec" / name))


def shipped(version: str) -> DataDictionary:
    return _cached(str(shipped_path(version)))


def dictionary(version: str) -> DataDictionary:
    """The shipped dictionary of a FIX.4.x version (the common case; loaded once)."""
    if version not in BEGIN_STRINGS or version == FIXT11:
        raise ValueError(
            f"unsupported BeginString {version!r}; expected one of {BEGIN_STRINGS}"
            " (FIXT.1.1 needs an application version: use session_dictionary)"
        )
    return shipped(version)


def session_dictionary(
    begin_string: str,
    *,
    data_dictionary: str | Path | None = None,
    app_version: str | None = None,
    app_data_dictionary: str | Path | None = None,
) -> DataDictionary:
    """The dictionary one session validates with.

    FIX.4.x: ``data_dictionary`` or the shipped file. FIXT.1.1: the transport
    (``data_dictionary`` or FIXT11.xml) joined with the application version
    (``app_data_dictionary`` or the shipped file of ``app_version``).
    """
    if begin_string not in BEGIN_STRINGS:
        raise ValueError(
            f"unsupported BeginString {begin_string!r}; expected one of {BEGIN_STRINGS}"
        )
    base = _cached(str(data_dictionary)) if data_dictionary else shipped(begin_string)
    if begin_string != FIXT11:
        return base
    if app_data_dictionary:
        app = _cached(str(app_data_dictionary))
    else:
        app = shipped(app_version or FIX50SP2)
    return _joined(base, app)


@functools.cache
def _joined(transport: DataDictionary, app: DataDictionary) -> DataDictionary:
    return transport.with_app(app)


class _Reader:
    """Turns the XML tree into a :class:`DataDictionary`, expanding components."""

    def __init__(self, root: ET.Element, source: str) -> None:
        self.source = source
        if root.tag != "fix":
            raise DictionaryError(f"{source}: root element is <{root.tag}>, expected <fix>")
        kind = root.get("type", "FIX")
        major, minor = root.get("major", "?"), root.get("minor", "?")
        sp = root.get("servicepack", "0")
        self.version = f"{kind}.{major}.{minor}" + (f"SP{sp}" if sp not in ("", "0") else "")
        self.root = root
        self.fields: dict[int, FieldDef] = {}
        self.by_name: dict[str, int] = {}
        self._read_fields()
        self._expanded: dict[tuple[str, bool], FieldSet] = {}
        self.components = {
            c.get("name", ""): c for c in self._section("components", required=False)
        }

    def _section(self, name: str, *, required: bool = True) -> list[ET.Element]:
        el = self.root.find(name)
        if el is None:
            if required:
                raise DictionaryError(f"{self.source}: no <{name}> section")
            return []
        return list(el)

    def _read_fields(self) -> None:
        for el in self._section("fields"):
            number, name, kind = el.get("number"), el.get("name"), el.get("type")
            if not number or not number.isdigit() or not name or not kind:
                raise DictionaryError(
                    f"{self.source}: <field> needs number, name and type: {ET.tostring(el)[:120]!r}"
                )
            kind = kind.upper()
            if kind not in FORMAT_CHECKS:
                raise DictionaryError(
                    f"{self.source}: field {name} ({number}) has unknown type {kind!r};"
                    f" known: {', '.join(sorted(FORMAT_CHECKS))}"
                )
            if kind == "CHAR" and self.version in (FIX40, FIX41):
                kind = "STRING"  # FIX.4.0/4.1 "char" is free text; one character from 4.2
            values = [v.get("enum") for v in el.findall("value")]
            tag = int(number)
            self.fields[tag] = FieldDef(
                tag,
                name,
                kind,
                frozenset(v.encode("latin-1") for v in values if v is not None) if values else None,
            )
            self.by_name[name] = tag

    def _tag(self, name: str | None, where: str) -> int:
        if name is None or name not in self.by_name:
            raise DictionaryError(f"{self.source}: {where} refers to undefined field {name!r}")
        return self.by_name[name]

    def expand(self, el: ET.Element, required_here: bool, where: str, depth: int = 0) -> FieldSet:
        if depth > 32:
            raise DictionaryError(f"{self.source}: components nest too deeply at {where}")
        order: dict[int, None] = {}  # an ordered set
        required: set[int] = set()
        groups: dict[int, Group] = {}
        for child in el:
            name = child.get("name")
            req = required_here and child.get("required", "N").upper() in ("Y", "YES")
            if child.tag == "field":
                tag = self._tag(name, where)
                order.setdefault(tag)
                if req:
                    required.add(tag)
            elif child.tag == "group":
                tag = self._tag(name, where)
                entry = self.expand(child, True, f"{where}/{name}", depth + 1)
                if not entry.order:
                    raise DictionaryError(f"{self.source}: group {name} in {where} is empty")
                groups[tag] = Group(tag, entry.order[0], entry)
                order.setdefault(tag)
                if req:
                    required.add(tag)
            elif child.tag == "component":
                sub = self._component(name or "", req, where, depth)
                order.update(dict.fromkeys(sub.order))
                required |= sub.required
                groups.update(sub.groups)
            else:
                raise DictionaryError(f"{self.source}: unexpected <{child.tag}> in {where}")
        return FieldSet(tuple(order), frozenset(required), groups)

    def _component(self, name: str, required: bool, where: str, depth: int) -> FieldSet:
        # FIX.5.0SP2 uses the same components hundreds of times: expand each once.
        key = (name, required)
        done = self._expanded.get(key)
        if done is None:
            comp = self.components.get(name)
            if comp is None:
                raise DictionaryError(f"{self.source}: {where} uses undefined component {name!r}")
            done = self._expanded[key] = self.expand(comp, required, f"{where}/{name}", depth + 1)
        return done

    def dictionary(self) -> DataDictionary:
        header_el = self.root.find("header")
        trailer_el = self.root.find("trailer")
        header = self.expand(header_el, True, "header") if header_el is not None else _EMPTY
        trailer = self.expand(trailer_el, True, "trailer") if trailer_el is not None else _EMPTY
        bodies = []
        for el in self._section("messages"):
            msg_type, name = el.get("msgtype"), el.get("name", "?")
            if not msg_type:
                raise DictionaryError(f"{self.source}: message {name} has no msgtype")
            admin = el.get("msgcat", "app") == "admin"
            body = self.expand(el, True, f"message {name}")
            bodies.append((msg_type.encode("latin-1"), name, admin, body))
        return DataDictionary(
            self.version, self.fields, header, trailer, bodies, source=self.source
        )


_EMPTY = FieldSet((), frozenset(), {})
