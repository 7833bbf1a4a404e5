"""Why the venue refused something: one reason per refusal, with its FIX code.

The engine puts ``"<reason>: <detail>"`` in ``ExecReport.text`` / ``CancelReject.reason``;
the FIX acceptor copies the text to Text(58) and the code to OrdRejReason(103) or
CxlRejReason(102) (:meth:`RejectReason.from_text` recovers the reason from a text), so
a trader reading a reject on either side sees the same words.
"""

from __future__ import annotations

from enum import StrEnum


class RejectReason(StrEnum):
    UNKNOWN_SYMBOL = "unknown symbol"
    HALTED = "trading halted"
    BAD_QTY = "bad quantity"
    BAD_LOT = "bad lot"
    BAD_PRICE = "bad price"
    PRICE_BAND = "price outside band"
    DUPLICATE_ID = "duplicate ClOrdID"
    UNKNOWN_ORDER = "unknown order"
    TOO_LATE = "too late"
    MISMATCH = "request does not match order"
    UNSUPPORTED = "unsupported order"
    NO_LIQUIDITY = "no liquidity"
    NOT_FILLABLE = "FOK not fillable"
    SELF_TRADE = "self-trade prevented"

    @property
    def ord_rej_reason(self) -> int:
        """FIX OrdRejReason(103) for a rejected new order."""
        return _ORD_REJ.get(self, 99)

    @property
    def cxl_rej_reason(self) -> int:
        """FIX CxlRejReason(102) for a refused cancel or replace."""
        return _CXL_REJ.get(self, 99)

    def text(self, detail: str = "") -> str:
        return f"{self.value}: {detail}" if detail else self.value

    @classmethod
    def from_text(cls, text: str) -> RejectReason | None:
        """The reason a text produced by :meth:`text` starts with, or None."""
        head = text.split(":", 1)[0].strip()
        try:
            return cls(head)
        except ValueError:
            return None


_ORD_REJ = {
    RejectReason.UNKNOWN_SYMBOL: 1,
    RejectReason.HALTED: 2,  # exchange closed
    RejectReason.BAD_QTY: 13,  # incorrect quantity
    RejectReason.BAD_LOT: 13,
    RejectReason.BAD_PRICE: 18,  # invalid price increment
    RejectReason.PRICE_BAND: 16,  # price exceeds current price band
    RejectReason.DUPLICATE_ID: 6,
    RejectReason.UNKNOWN_ORDER: 5,
    RejectReason.TOO_LATE: 4,
    RejectReason.UNSUPPORTED: 11,  # unsupported order characteristic
}

_CXL_REJ = {
    RejectReason.TOO_LATE: 0,  # too late to cancel
    RejectReason.UNKNOWN_ORDER: 1,
    RejectReason.HALTED: 2,  # broker/exchange option
    RejectReason.DUPLICATE_ID: 6,  # duplicate ClOrdID received
}
