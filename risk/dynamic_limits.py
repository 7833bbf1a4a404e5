"""Tighten-only limits: the only door through which a model's view reaches the overlay.

The volatility, regime and anomaly models (``signals/``, nothing learned lives here)
may ask for a symbol's order-size and participation caps to be scaled down, or for the
symbol to go reduce-only, for a while. This module turns those asks into the symbol's
*effective* limits, and can only ever produce limits at or inside the configured ones:

* an ask is a scale in (0, 1] per cap (1 = as configured); anything else (above 1,
  zero, negative, NaN, infinite) is refused, so no ask can mean "loosen";
* asks come from named sources (one per symbol and source: a source's new ask replaces
  its old one); the effective limit is the *tightest* of all active asks, so one source
  cannot undo another's;
* every ask has an expiry (at most :data:`MAX_TTL_S`); when it is released or lapses the
  limit goes back to exactly the configured value, never past it;
* the overlay applies the result through :meth:`risk.overlay.RiskOverlay.apply_posture`,
  which checks once more, field by field, that nothing is looser than configured.

Every change is returned as a :class:`PostureChanged` for the caller to log and count.
Time is the caller's clock (``now_ns``), as everywhere in the overlay.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from risk.limits import RiskLimits, SymbolLimits

MAX_TTL_S = 900.0  # an ask lapses within 15 minutes unless renewed
MAX_SOURCE_LEN = 64
NS_PER_S = 1_000_000_000
_SCALED = ("max_order_qty", "max_order_notional", "max_order_notional_tu", "participation_bps")
# every integer or Decimal field of SymbolLimits that is an upper bound on what may trade
_CAPS = ("max_order_qty", "max_order_notional", "max_order_notional_tu", "max_position",
         "max_open_orders", "collar_bps", "participation_bps")  # fmt: skip
_FIXED = ("symbol", "instrument", "min_qty", "lot_size", "unit_value")


class PostureRefused(ValueError):
    """An ask that is not a tightening, or names no allowed symbol."""


@dataclass(frozen=True, slots=True)
class Ask:
    """One source's standing request for one symbol."""

    size_scale: float
    participation_scale: float
    reduce_only: bool
    expires_ns: int
    reason: str


@dataclass(frozen=True, slots=True)
class Posture:
    """A symbol's effective limits and whether it is reduce-only, with who asked."""

    limits: SymbolLimits
    reduce_only: bool
    sources: tuple[str, ...]

    @property
    def tightened(self) -> bool:
        return bool(self.sources)


@dataclass(frozen=True, slots=True)
class PostureChanged:
    """What changed, for the log line and the counter (``action``: tighten, release,
    expire)."""

    symbol: str
    source: str
    action: str
    reason: str
    old: Posture
    new: Posture
    ts_ns: int


def looser_than(configured: SymbolLimits, effective: SymbolLimits) -> str | None:
    """Why ``effective`` is not a tightening of ``configured`` (a field above its
    configured value, or a changed identity field), or None."""
    for name in _FIXED:
        if getattr(effective, name) != getattr(configured, name):
            return f"{name} may not change ({getattr(configured, name)!r})"
    for name in _CAPS:
        got, cap = getattr(effective, name), getattr(configured, name)
        if not got <= cap:
            return f"{name} {got} is looser than the configured {cap}"
    return None


def _scale(value: object, name: str) -> float:
    if type(value) not in (float, int) or not (0.0 < value <= 1.0):  # type: ignore[operator]
        raise PostureRefused(f"{name} must be a number in (0, 1] (1 = as configured), got {value!r}")  # fmt: skip
    return float(value)  # type: ignore[arg-type]


def scaled_limits(cfg: SymbolLimits, size_scale: float, participation_scale: float) -> SymbolLimits:
    """The configured limits with the size caps and the participation cap scaled down
    (rounded down to whole lots and basis points; never below one lot / one bp, never
    above the configured value)."""
    lot = cfg.lot_size
    qty = math.floor(cfg.max_order_qty * size_scale / lot) * lot
    smallest = -(-cfg.min_qty // lot) * lot  # the smallest order on the lot grid
    qty = min(cfg.max_order_qty, max(qty, smallest, lot))
    tu = min(cfg.max_order_notional_tu, max(1, math.floor(cfg.max_order_notional_tu * size_scale)))  # fmt: skip
    notional = min(cfg.max_order_notional, (cfg.max_order_notional * Decimal(repr(size_scale))).quantize(Decimal("0.01")))  # fmt: skip
    bps = min(cfg.participation_bps, max(1, math.floor(cfg.participation_bps * participation_scale)))  # fmt: skip
    return dataclasses.replace(cfg, max_order_qty=qty, max_order_notional=notional,
                               max_order_notional_tu=tu, participation_bps=bps)  # fmt: skip


class DynamicLimits:
    """The standing asks per symbol and the effective limits they make.

    ``apply`` (e.g. ``overlay.apply_posture``) is called with the new :class:`Posture`
    whenever a symbol's posture changes, so the overlay never lags an event.
    """

    def __init__(
        self,
        configured: RiskLimits,
        *,
        apply: Callable[[Posture, int], None] | None = None,
        max_ttl_s: float = MAX_TTL_S,
    ) -> None:
        self.configured = configured
        self._apply = apply
        self._max_ttl_ns = int(max_ttl_s * NS_PER_S)
        self._asks: dict[str, dict[str, Ask]] = {s: {} for s in configured.symbols}
        self._posture: dict[str, Posture] = {
            s: Posture(lim, False, ()) for s, lim in configured.symbols.items()
        }

    def posture(self, symbol: str) -> Posture:
        try:
            return self._posture[symbol]
        except KeyError:
            raise PostureRefused(f"{symbol!r} is not an allowed symbol") from None

    def asks(self, symbol: str) -> dict[str, Ask]:
        """The standing asks for ``symbol`` by source (a copy)."""
        self.posture(symbol)
        return dict(self._asks[symbol])

    def tighten(
        self,
        symbol: str,
        source: str,
        *,
        now_ns: int,
        ttl_s: float,
        size_scale: float = 1.0,
        participation_scale: float = 1.0,
        reduce_only: bool = False,
        reason: str = "",
    ) -> PostureChanged | None:
        """Stand ``source``'s ask for ``symbol`` (replacing its previous one) until
        ``now_ns + ttl_s``; the event if the effective posture changed."""
        self.posture(symbol)
        if type(source) is not str or not 0 < len(source) <= MAX_SOURCE_LEN or not source.isprintable():  # fmt: skip
            raise PostureRefused(f"source must be 1-{MAX_SOURCE_LEN} printable characters, got {source!r}")  # fmt: skip
        if type(ttl_s) not in (float, int) or not 0 < ttl_s <= self._max_ttl_ns / NS_PER_S:
            raise PostureRefused(f"ttl_s must be in (0, {self._max_ttl_ns / NS_PER_S:g}] s, got {ttl_s!r}")  # fmt: skip
        if type(reduce_only) is not bool:
            raise PostureRefused(f"reduce_only must be a bool, got {reduce_only!r}")
        ask = Ask(
            _scale(size_scale, "size_scale"),
            _scale(participation_scale, "participation_scale"),
            reduce_only,
            now_ns + int(ttl_s * NS_PER_S),
            str(reason)[:200],
        )
        return self._update(symbol, {**self._asks[symbol], source: ask}, source=source, action="tighten", reason=ask.reason, now_ns=now_ns)  # fmt: skip

    def release(self, symbol: str, source: str, now_ns: int) -> PostureChanged | None:
        """Withdraw ``source``'s ask; the event if the effective posture changed."""
        self.posture(symbol)
        asks = self._asks[symbol]
        if source not in asks:
            return None
        rest = {s: a for s, a in asks.items() if s != source}
        return self._update(
            symbol, rest, source=source, action="release", reason="released", now_ns=now_ns
        )

    def expire(self, now_ns: int) -> list[PostureChanged]:
        """Let every ask whose time is up lapse; the events of the postures that changed."""
        events = []
        for symbol in self._asks:
            for source in [s for s, a in self._asks[symbol].items() if a.expires_ns <= now_ns]:
                rest = {s: a for s, a in self._asks[symbol].items() if s != source}
                ev = self._update(
                    symbol, rest, source=source, action="expire", reason="expired", now_ns=now_ns
                )
                if ev is not None:
                    events.append(ev)
        return events

    def _update(self, symbol: str, asks: dict[str, Ask], *, source: str, action: str, reason: str, now_ns: int) -> PostureChanged | None:  # fmt: skip
        """Make ``asks`` the standing ones if the overlay takes the posture they make
        (``apply`` raising leaves everything as it was)."""
        cfg = self.configured.symbols[symbol]
        if asks:
            size = min(a.size_scale for a in asks.values())
            part = min(a.participation_scale for a in asks.values())
            limits = scaled_limits(cfg, size, part)
            new = Posture(limits, any(a.reduce_only for a in asks.values()), tuple(sorted(asks)))
        else:
            new = Posture(cfg, False, ())
        old = self._posture[symbol]
        if new != old and self._apply is not None:
            self._apply(new, now_ns)
        self._asks[symbol] = asks
        if new == old:
            return None
        self._posture[symbol] = new
        return PostureChanged(symbol, source, action, reason, old, new, now_ns)
