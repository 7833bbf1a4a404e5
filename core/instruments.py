"""Instruments: the tick and lot grid every price and quantity on the order path lives on.

Prices travel as integer ticks and quantities as integer units from the moment they
enter the process until a gateway writes them to the wire; converting once, here,
keeps float rounding out of matching, risk and the journal.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from core.errors import PrecisionError


def _decimal(value: Decimal | str | int, what: str) -> Decimal:
    if isinstance(value, float):
        # Floats cannot carry prices exactly; demand a string or Decimal at the boundary.
        raise PrecisionError(f"{what} {value!r} is a float; pass a str or Decimal")
    try:
        d = Decimal(value)
    except (InvalidOperation, ValueError) as exc:
        raise PrecisionError(f"{what} {value!r} is not a number") from exc
    if not d.is_finite():
        raise PrecisionError(f"{what} {value!r} is not finite")
    return d


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable symbol and its grid.

    ``tick_size`` is the price increment in currency; ``qty_unit`` the quantity one
    integer unit stands for (1 share for equities, e.g. 0.00001 BTC for crypto);
    ``lot_size``, ``min_qty`` and ``max_qty`` are in those integer units.
    """

    symbol: str
    tick_size: Decimal = Decimal("0.01")
    lot_size: int = 1
    qty_unit: Decimal = Decimal(1)
    min_qty: int = 1
    max_qty: int = 10_000_000
    currency: str = "USD"

    def __post_init__(self) -> None:
        if not self.symbol or not self.symbol.strip():
            raise ValueError("instrument symbol must be a non-empty string")
        if self.tick_size <= 0:
            raise ValueError(f"{self.symbol}: tick_size must be > 0, got {self.tick_size}")
        if self.qty_unit <= 0:
            raise ValueError(f"{self.symbol}: qty_unit must be > 0, got {self.qty_unit}")
        if self.lot_size <= 0:
            raise ValueError(f"{self.symbol}: lot_size must be > 0, got {self.lot_size}")
        if not 0 < self.min_qty <= self.max_qty:
            raise ValueError(
                f"{self.symbol}: need 0 < min_qty <= max_qty, got {self.min_qty}, {self.max_qty}"
            )

    # ------------------------------------------------------------------ prices
    def to_ticks(self, price: Decimal | str | int) -> int:
        """Exact conversion of a currency price to ticks; off-grid prices are refused."""
        d = _decimal(price, f"{self.symbol} price")
        ticks = d / self.tick_size
        if ticks != ticks.to_integral_value():
            raise PrecisionError(
                f"{self.symbol} price {price} is not a multiple of tick size {self.tick_size}"
            )
        return int(ticks)

    def to_ticks_rounded(self, price: Decimal | str | int, *, down: bool) -> int:
        """Snap a price from a foreign grid onto ours (for reference data, never orders)."""
        d = _decimal(price, f"{self.symbol} price") / self.tick_size
        rounding = "ROUND_FLOOR" if down else "ROUND_CEILING"
        return int(d.to_integral_value(rounding=rounding))

    def price(self, ticks: int) -> Decimal:
        """The currency price of ``ticks``, exact."""
        return self.tick_size * ticks

    # --------------------------------------------------------------- quantities
    def to_units(self, qty: Decimal | str | int) -> int:
        d = _decimal(qty, f"{self.symbol} quantity")
        units = d / self.qty_unit
        if units != units.to_integral_value():
            raise PrecisionError(
                f"{self.symbol} quantity {qty} is not a multiple of the unit {self.qty_unit}"
            )
        return int(units)

    def quantity(self, units: int) -> Decimal:
        return self.qty_unit * units

    def qty_problem(self, qty: int) -> str | None:
        """Why ``qty`` is not orderable, or None when it is."""
        if qty < self.min_qty:
            return f"quantity {qty} below minimum {self.min_qty}"
        if qty > self.max_qty:
            return f"quantity {qty} above maximum {self.max_qty}"
        if qty % self.lot_size:
            return f"quantity {qty} not a multiple of lot size {self.lot_size}"
        return None

    def round_lot_down(self, qty: int) -> int:
        return qty - qty % self.lot_size
