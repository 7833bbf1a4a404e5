"""Decimal strings from a venue's JSON onto our integer tick and unit grid, fast.

Venues send prices and sizes as decimal strings ("61837.63000000"). Going through
:class:`decimal.Decimal` for each one is exact but costs a few microseconds, and a
futures diff message carries dozens of levels. This parser does the same exact
conversion with string slicing and one ``int()``: the value is scaled to the grid's
decimal places, then divided by the grid step, and anything not exactly on the grid
is refused (a venue level off our grid means our instrument definition is wrong, which
must not be papered over by rounding). Unusual spellings (exponents, signs) fall back
to the exact Decimal path.
"""

from __future__ import annotations

from decimal import Decimal, DecimalException, Inexact, InvalidOperation, localcontext

from core.errors import PrecisionError

_MAX_DIGITS = 30  # digits before the decimal point of any value we accept


class GridParser:
    """Exact decimal-string -> integer conversion for one grid step (tick or qty unit)."""

    __slots__ = ("_places", "_scale", "_step", "_step_scaled", "what")

    def __init__(self, step: Decimal, what: str = "value") -> None:
        if step <= 0:
            raise ValueError(f"{what} grid step must be > 0, got {step}")
        exponent = step.normalize().as_tuple().exponent
        assert isinstance(exponent, int)
        self._places = max(0, -exponent)
        self._scale = 10**self._places
        scaled = step * self._scale
        if scaled != scaled.to_integral_value():  # pragma: no cover - by construction
            raise ValueError(f"{what} grid step {step} has no finite decimal scale")
        self._step = step
        self._step_scaled = int(scaled)
        self.what = what

    def __call__(self, text: str) -> int:
        """Grid units in ``text``; raises :class:`PrecisionError` off the grid."""
        if type(text) is not str or len(text) > 40:
            return self._slow(text)
        whole, dot, frac = text.partition(".")
        places = self._places
        if (
            whole.isdigit()
            and whole.isascii()
            and (not dot or (frac.isdigit() and frac.isascii()))
            and (len(frac) <= places or not frac[places:].strip("0"))
        ):
            head = frac[:places]
            scaled = int(whole) * self._scale + (
                int(head) * 10 ** (places - len(head)) if head else 0
            )
            units, rem = divmod(scaled, self._step_scaled)
            if rem:
                raise PrecisionError(f"{self.what} {text} is not a multiple of {self._step}")
            return int(units)
        return self._slow(text)

    def _slow(self, text: object) -> int:
        if isinstance(text, bool) or not isinstance(text, str | int):
            raise PrecisionError(f"{self.what} {text!r} is not a decimal string")
        try:
            d = Decimal(text)
        except (InvalidOperation, ValueError) as exc:
            raise PrecisionError(f"{self.what} {text!r} is not a number") from exc
        if not d.is_finite():
            raise PrecisionError(f"{self.what} {text!r} is not finite")
        if d.adjusted() > _MAX_DIGITS:
            # "3.e0815000" once took 80 s to turn into an 815,000-digit int (found by
            # fuzzing): no price or size of any venue has 30 digits before the point
            raise PrecisionError(f"{self.what} {str(text)[:40]!r} is out of range")
        try:
            with localcontext() as ctx:
                ctx.prec = 100  # exact division for anything a venue can send
                ctx.traps[Inexact] = True
                units = d / self._step
                integral = units == units.to_integral_value()
        except DecimalException as exc:  # e.g. 1E1000000 overflows the context
            raise PrecisionError(f"{self.what} {text!r} is out of range") from exc
        if not integral:
            raise PrecisionError(f"{self.what} {text} is not a multiple of {self._step}")
        return int(units)
