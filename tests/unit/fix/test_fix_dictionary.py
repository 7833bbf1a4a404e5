"""Data dictionaries are QuickFIX XML files: every shipped version loads, a user's copy
adds a field, a message or a group without code, and a broken file is a clear error.
Validation of formats and enumerations follows the dictionary's field types."""

from __future__ import annotations

from pathlib import Path

import pytest
from session_harness import Harness

from gateways.fix import DictionaryError, SessionSettings, load_dictionary
from gateways.fix.codec import HeaderEncoder, parse
from gateways.fix.dictionary import (
    FIXT_APP_VERSIONS,
    FieldDef,
    session_dictionary,
    shipped,
    shipped_path,
)
from gateways.fix.events import AppMessage
from gateways.fix.tags import SessionRejectReason as R
from gateways.fix.validation import validate

STAMP = b"20260105-14:30:00.000"
ALL = ["FIX.4.0", "FIX.4.1", "FIX.4.2", "FIX.4.3", "FIX.4.4", "FIXT.1.1", *FIXT_APP_VERSIONS]


@pytest.mark.parametrize("version", ALL)
def test_every_shipped_dictionary_loads(version: str) -> None:
    d = shipped(version)
    assert d.version == version
    assert (b"D" in d.messages and b"8" in d.messages) or version == "FIXT.1.1"
    if not version.startswith("FIX.5"):  # FIX.5.0 dictionaries carry no session layer
        assert {b"0", b"1", b"2", b"3", b"4", b"5", b"A"} <= d.msg_types
        assert {8, 9, 35, 49, 56, 34, 52} <= d.header.required
        assert all(d.is_admin(t) for t in (b"0", b"A"))


@pytest.mark.parametrize("app", FIXT_APP_VERSIONS)
def test_fixt_joins_transport_header_and_admin_with_application_messages(app: str) -> None:
    d = session_dictionary("FIXT.1.1", app_version=app)
    assert d.header is shipped("FIXT.1.1").header
    assert d.message_has(b"A", 1137) and 1137 in d.messages[b"A"].required
    assert d.messages[b"D"] is not None and not d.is_admin(b"D")
    assert d.header_has(1128)  # ApplVerID


def test_components_expand_and_required_only_inside_required_components() -> None:
    d = shipped("FIX.4.4")
    nos = d.messages[b"D"]
    # Instrument is a required component but Symbol is optional inside it (QuickFIX's
    # reading), OrderQtyData required with all-optional fields: neither is required.
    assert 55 in nos.body.tags and 55 not in nos.required and 38 not in nos.required
    assert {11, 54, 60, 40} <= nos.required
    group = nos.body.groups[386]
    assert (group.delimiter, group.entry.order[:2]) == (336, (336, 625))


def _custom(tmp_path: Path) -> Path:
    """A counterparty's FIX.4.4 dictionary: a custom field on orders, a custom message
    with a repeating group."""
    text = shipped_path("FIX.4.4").read_text()
    text = text.replace(
        "<message name='NewOrderSingle' msgtype='D' msgcat='app'>",
        "<message name='NewOrderSingle' msgtype='D' msgcat='app'>\n"
        "   <field name='DeskCode' required='Y' />",
    )
    text = text.replace(
        " </messages>",
        "  <message name='DeskStatus' msgtype='U1' msgcat='app'>\n"
        "   <field name='DeskCode' required='Y' />\n"
        "   <group name='NoDeskLimits' required='N'>\n"
        "    <field name='Symbol' required='Y' />\n"
        "    <field name='DeskLimit' required='Y' />\n"
        "   </group>\n"
        "  </message>\n </messages>",
    )
    text = text.replace(
        " </fields>",
        "  <field number='9001' name='DeskCode' type='STRING'>\n"
        "   <value enum='EQ' description='EQUITIES' />\n"
        "   <value enum='FX' description='FX' />\n"
        "  </field>\n"
        "  <field number='9002' name='NoDeskLimits' type='NUMINGROUP' />\n"
        "  <field number='9003' name='DeskLimit' type='QTY' />\n </fields>",
    )
    path = tmp_path / "COUNTERPARTY44.xml"
    path.write_text(text)
    return path


NOS = b"11=C1\x0121=1\x0138=100\x0140=2\x0144=10.5\x0154=1\x0155=AMZN\x0160=20260105-14:30:00\x01"


def test_a_field_message_and_group_added_in_xml_are_validated_without_code(
    tmp_path: Path,
) -> None:
    settings = SessionSettings(
        sender_comp_id="EXCH",
        target_comp_id="CLIENT",
        data_dictionary=_custom(tmp_path),
        app_msg_types=("D", "U1"),
    )
    h = Harness(settings)
    assert h.send(b"D", NOS + b"9001=EQ\x01") == []  # the custom field: accepted
    ((mt, rej),) = h.send(b"D", NOS)  # ... and now required on orders
    assert (mt, rej[373], rej[371]) == (b"3", b"1", b"9001")
    ((mt, rej),) = h.send(b"D", NOS + b"9001=XX\x01")  # its enumeration is checked
    assert (mt, rej[373], rej[371]) == (b"3", b"5", b"9001")
    assert h.send(b"U1", b"9001=FX\x019002=2\x0155=AMZN\x019003=100\x0155=MSFT\x019003=5\x01") == []
    ((mt, rej),) = h.send(b"U1", b"9001=FX\x019002=2\x0155=AMZN\x019003=100\x01")
    assert (mt, rej[373], rej[371]) == (b"3", b"16", b"9002")
    apps = [e.message for e in h.events if isinstance(e, AppMessage)]
    assert [m.msg_type for m in apps] == [b"D", b"U1"]
    # With the shipped dictionary the same tag is not FIX at all.
    plain = Harness(SessionSettings(sender_comp_id="EXCH", target_comp_id="CLIENT"))
    ((mt, rej),) = plain.send(b"D", NOS + b"9001=EQ\x01")
    assert (mt, rej[373], rej[371]) == (b"3", b"0", b"9001")


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda t: "not xml at all", "cannot read data dictionary"),
        (lambda t: t.replace("<fix ", "<fox ").replace("</fix>", "</fox>"), "expected <fix>"),
        (lambda t: t.replace("type='QTY'", "type='QUANTITY'", 1), "unknown type 'QUANTITY'"),
        (
            lambda t: t.replace(
                "<field name='ClOrdID' required='Y' />", "<field name='Nope' />", 1
            ),
            "undefined field 'Nope'",
        ),
        (
            lambda t: t.replace(
                "<component name='Instrument' required='Y' />", "<component name='Gone' />", 1
            ),
            "undefined component 'Gone'",
        ),
    ],
)
def test_a_broken_dictionary_is_a_clear_error_naming_the_file(
    tmp_path: Path, mutate: object, error: str
) -> None:
    path = tmp_path / "BROKEN.xml"
    path.write_text(mutate(shipped_path("FIX.4.4").read_text()))  # type: ignore[operator]
    with pytest.raises(DictionaryError, match=error) as info:
        load_dictionary(path)
    assert str(path) in str(info.value)


def test_a_broken_dictionary_in_settings_is_a_configuration_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text("<fix major='4' minor='4'><fields/></fix>")
    with pytest.raises(ValueError, match="no <messages> section"):
        SessionSettings(sender_comp_id="A", target_comp_id="B", data_dictionary=bad)


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        ("INT", [b"0", b"-12", b"007"], [b"+1", b"1.0", b"", b"1e3", b"--1"]),
        ("QTY", [b"1", b"1.5", b"-2.25", b".5", b"3."], [b"+200.00", b"1.2.3", b"1e5", b"."]),
        ("CHAR", [b"Y", b"1"], [b"YY"]),
        ("BOOLEAN", [b"Y", b"N"], [b"y", b"1"]),
        ("UTCTIMESTAMP", [b"20260105-14:30:00", b"20260105-14:30:00.123456"], [b"20040415"]),
        ("UTCTIMEONLY", [b"14:30:00", b"23:59:60.5"], [b"24:00:00", b"1430"]),
        ("LOCALMKTDATE", [b"20260105", b"20240229"], [b"20230229", b"2026-01-05"]),
        ("MONTHYEAR", [b"202601", b"20260115", b"202601w2"], [b"202613", b"2026"]),
        ("STRING", [b"anything at all"], []),
    ],
)
def test_field_formats_follow_the_field_type(
    kind: str, good: list[bytes], bad: list[bytes]
) -> None:
    f = FieldDef(1, "X", kind)
    assert all(f.format_ok(v) for v in good), kind
    assert not any(f.format_ok(v) for v in bad), kind


def test_multiple_value_fields_check_each_value() -> None:
    f = FieldDef(18, "ExecInst", "MULTIPLEVALUESTRING", frozenset({b"1", b"2", b"G"}))
    assert f.value_ok(b"1 G") and not f.value_ok(b"1 Z")
    check = f.fast_check()
    assert check is not None and check(b"2") and not check(b"2 9")


def test_fix40_char_fields_are_free_text() -> None:
    """FIX.4.0/4.1 "char" means a string; one character only from FIX.4.2 on."""
    assert shipped("FIX.4.0").fields[49].format_ok(b"CLIENT")
    assert not shipped("FIX.4.2").fields[54].format_ok(b"12")


def _msg(version: str, body: bytes, msg_type: bytes = b"D") -> object:
    return parse(HeaderEncoder(version, "A", "B").encode(msg_type, 2, STAMP, body))


def test_validation_names_the_first_problem() -> None:
    d = shipped("FIX.4.4")
    cases = [
        (NOS + b"126=20040415\x01", R.INCORRECT_DATA_FORMAT, 126),
        (NOS + b"167=BOO\x01", R.VALUE_INCORRECT, 167),
        (NOS + b"386=1\x01625=X\x01336=1\x01", R.REPEATING_GROUP_OUT_OF_ORDER, 625),
        (NOS + b"386=0\x01", None, None),  # count zero: no entries (test case 21)
        (NOS + b"97=Y\x01", R.TAG_OUT_OF_ORDER, 97),
    ]
    for body, reason, tag in cases:
        v = validate(_msg("FIX.4.4", body), d)  # type: ignore[arg-type]
        assert (v and v.reason, v and v.ref_tag) == (reason, tag), body
