"""The FIX versions the engine supports, as the tests see them.

What each test expects of a version (whether Rejects carry SessionRejectReason, which
reason codes exist, which fields a NewOrderSingle needs) is written here from the
FIX specifications, not read from the engine's dictionaries, so the tests check the
dictionaries too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import simplefix

from gateways.fix import SessionSettings

FieldList = list[tuple[int, str | bytes | int]]


@dataclass(frozen=True)
class Ver:
    begin: str
    app: str | None = None  # FIXT.1.1 application version

    @property
    def id(self) -> str:
        return self.app or self.begin

    @property
    def fixt(self) -> bool:
        return self.begin == "FIXT.1.1"

    @property
    def rank(self) -> int:
        """40, 41, ... 44; 50 for FIXT.1.1."""
        return 50 if self.fixt else int(self.begin[4] + self.begin[6])

    @property
    def reject_fields(self) -> bool:
        """RefTagID, RefMsgType and SessionRejectReason exist from FIX.4.2 on."""
        return self.rank >= 42

    @property
    def business_reject(self) -> bool:
        return self.rank >= 42

    @property
    def millis(self) -> bool:
        return self.rank >= 42

    @property
    def infinity(self) -> str:
        """EndSeqNo meaning "everything after": 999999 before FIX.4.2, 0 since."""
        return "0" if self.rank >= 42 else "999999"

    @property
    def reset_flag(self) -> bool:
        """ResetSeqNumFlag(141) exists from FIX.4.1 on."""
        return self.rank >= 41

    @property
    def credentials(self) -> bool:
        """Username/Password (553/554) on Logon from FIX.4.3 on."""
        return self.rank >= 43

    @property
    def location_ids(self) -> bool:
        return self.rank >= 41

    @property
    def appl_ver_id(self) -> str:
        return {"FIX.5.0": "7", "FIX.5.0SP1": "8", "FIX.5.0SP2": "9"}[self.app or ""]

    def defines_reason(self, code: int) -> bool:
        """FIX.4.2 defines SessionRejectReason 0-11; later versions more."""
        if not self.reject_fields:
            return False
        return code <= 11 or self.rank >= 43

    def logon_extra(self) -> FieldList:
        return [(1137, self.appl_ver_id)] if self.fixt else []

    def settings(self, **kw: Any) -> SessionSettings:
        return SessionSettings(
            begin_string=self.begin,
            default_appl_ver_id=self.app,
            sender_comp_id=kw.pop("sender_comp_id", "EXCH"),
            target_comp_id=kw.pop("target_comp_id", "CLIENT"),
            **kw,
        )

    def nos(self, cl: str = "ID1", *, ts: str = "20260105-14:30:00") -> FieldList:
        """A valid limit NewOrderSingle of this version (TransactTime from FIX.4.2 on)."""
        fields: FieldList = [
            (11, cl),
            (21, "1"),
            (40, "2"),
            (44, "10.5"),
            (38, "100"),
            (54, "1"),
            (55, "AMZN"),
        ]
        if self.rank >= 42:
            fields.append((60, ts))
        return fields


ALL = [
    Ver("FIX.4.0"),
    Ver("FIX.4.1"),
    Ver("FIX.4.2"),
    Ver("FIX.4.3"),
    Ver("FIX.4.4"),
    Ver("FIXT.1.1", "FIX.5.0"),
    Ver("FIXT.1.1", "FIX.5.0SP1"),
    Ver("FIXT.1.1", "FIX.5.0SP2"),
]


def tag(msg: simplefix.FixMessage, t: int) -> str | None:
    v = msg.get(t)
    return None if v is None else v.decode()


def check_reject(
    rej: simplefix.FixMessage,
    ver: Ver,
    *,
    seq: int,
    reason: int | None,
    ref_tag: int | None = None,
    msg_type: str | None = None,
    text: str | None = None,
) -> None:
    """A session Reject as ``ver`` defines it: from FIX.4.2 on the tag, MsgType and the
    reason code (if the version has it) in their fields; before, the tag in Text."""
    assert rej.get(35) == b"3", rej
    assert tag(rej, 45) == str(seq), rej
    body_text = tag(rej, 58) or ""
    if text is not None:
        assert text in body_text, rej
    if ver.reject_fields:
        assert tag(rej, 371) == (None if ref_tag is None else str(ref_tag)), rej
        assert tag(rej, 372) == msg_type, rej
        want = str(reason) if reason is not None and ver.defines_reason(reason) else None
        assert tag(rej, 373) == want, rej
    else:
        assert rej.get(371) is None and rej.get(372) is None and rej.get(373) is None, rej
        if ref_tag is not None:
            assert body_text.endswith(f"({ref_tag})"), rej
