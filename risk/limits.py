"""Risk limits: absolute caps written in code, a config section that may only tighten them.

The caps below are the last word. A config file, an environment override or a Redis
command can choose a *tighter* value, never a looser one: the pydantic fields carry the
caps as bounds (so ``rlexec config check`` names the bad key at load time), and
:func:`build_limits` checks every value again against the same constants before it
freezes them, so a section built around validation (``model_construct``) still cannot
loosen anything. The frozen :class:`RiskLimits` is built once at start, its config hash
logged, and the overlay keeps no setter: nothing at run time can change it.

Quantities are integer units and prices integer ticks; the currency caps (notional,
daily loss) are converted per instrument into tick-units once, here, so the hot path
compares integers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from types import MappingProxyType
from typing import Any

from pydantic import Field, model_validator

from core.config import Section, config_hash
from core.instruments import Instrument
from core.log import get_logger

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000

# ------------------------------------------------------------------ hard caps
# Raising one of these is a code change, reviewed like any other: that is the point.
HARD_MAX_ORDER_QTY = 1_000_000  # units per order
HARD_MAX_ORDER_NOTIONAL = Decimal("10000000")  # currency per order
HARD_MAX_POSITION = 10_000_000  # units per symbol, long or short, open orders included
HARD_MAX_OPEN_ORDERS = 1_000  # live orders per node
HARD_MAX_OPEN_ORDERS_PER_SYMBOL = 500
HARD_MAX_COLLAR_BPS = 1_000  # a limit price at most 10% from the reference mid
HARD_MAX_PARTICIPATION_BPS = 5_000  # never more than half of the market's volume
HARD_MAX_ORDERS_PER_SECOND = 200  # new orders and replaces
HARD_MAX_ORDERS_PER_MINUTE = 6_000
HARD_MAX_CANCELS_PER_SECOND = 400
HARD_MAX_CANCELS_PER_MINUTE = 12_000
HARD_MAX_DAILY_LOSS = Decimal("1000000")  # currency, realized + marked-to-market
HARD_MAX_STALE_MS = 10_000  # book older than this: no new orders
HARD_MAX_REJECTS_BEFORE_KILL = 50  # venue rejects within the window that engage the kill switch
HARD_MIN_REJECT_WINDOW_S = 10  # a shorter window would need more rejects to trip: looser
HARD_MAX_RESET_AGE_S = 300  # oldest signed reset command accepted
HARD_MAX_CL_ORD_ID_LEN = 64

# Bounds that are not safety caps (either direction is fine), only sanity.
MAX_PARTICIPATION_WINDOW_S = 3_600
MAX_MARKET_DEPTH_LEVELS = 50


class LimitsError(ValueError):
    """Limits that would be looser than the hard caps, or that cannot be applied."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("risk limits refused:\n  " + "\n  ".join(problems))


class SymbolRiskOverride(Section):
    """Per-symbol values that replace the node-wide ones (each still capped)."""

    max_order_qty: int | None = Field(default=None, gt=0, le=HARD_MAX_ORDER_QTY)
    """This symbol's largest order, in units (none: the node-wide value)."""
    max_order_notional: Decimal | None = Field(default=None, gt=0, le=HARD_MAX_ORDER_NOTIONAL)
    """This symbol's largest order value, in its currency (none: the node-wide value)."""
    max_position: int | None = Field(default=None, gt=0, le=HARD_MAX_POSITION)
    """This symbol's largest position, long or short, with all open orders filled."""
    max_open_orders: int | None = Field(default=None, gt=0, le=HARD_MAX_OPEN_ORDERS_PER_SYMBOL)
    """This symbol's most live orders at once (none: max_open_orders_per_symbol)."""
    collar_bps: int | None = Field(default=None, gt=0, le=HARD_MAX_COLLAR_BPS)
    """This symbol's price collar around the mid, in bps (none: the node-wide value)."""
    participation_bps: int | None = Field(default=None, gt=0, le=HARD_MAX_PARTICIPATION_BPS)
    """This symbol's participation cap, in bps of market volume (none: node-wide)."""


class RiskLimitsConfig(Section):
    """The ``[risk]`` section of the daemon config; defaults are deliberately modest."""

    allowed_symbols: tuple[str, ...] = ()
    """The only symbols anything may be sent in (empty: nothing trades)."""
    max_order_qty: int = Field(default=10_000, gt=0, le=HARD_MAX_ORDER_QTY)
    """Largest order, in units (also capped by the instrument's max_qty)."""
    max_order_notional: Decimal = Field(
        default=Decimal("1000000"), gt=0, le=HARD_MAX_ORDER_NOTIONAL
    )
    """Largest order value, quantity x price, in the instrument's currency."""
    max_position: int = Field(default=100_000, gt=0, le=HARD_MAX_POSITION)
    """Largest position per symbol, long or short, counting every open order as filled."""
    max_open_orders: int = Field(default=100, gt=0, le=HARD_MAX_OPEN_ORDERS)
    """Most live orders at once, node-wide."""
    max_open_orders_per_symbol: int = Field(default=50, gt=0, le=HARD_MAX_OPEN_ORDERS_PER_SYMBOL)
    """Most live orders at once in one symbol."""
    collar_bps: int = Field(default=100, gt=0, le=HARD_MAX_COLLAR_BPS)
    """A limit price must lie within this many bps of the mid (a fat-finger guard)."""
    participation_bps: int = Field(default=2_500, gt=0, le=HARD_MAX_PARTICIPATION_BPS)
    """Ours (traded in the window, all open, this order) at most this share of the
    market's volume in the window, in bps."""
    participation_window_s: int = Field(default=60, ge=1, le=MAX_PARTICIPATION_WINDOW_S)
    """The participation cap's trailing window, in seconds."""
    orders_per_second: int = Field(default=20, gt=0, le=HARD_MAX_ORDERS_PER_SECOND)
    """New orders and replaces per second, node-wide."""
    orders_per_minute: int = Field(default=600, gt=0, le=HARD_MAX_ORDERS_PER_MINUTE)
    """New orders and replaces per minute, node-wide."""
    cancels_per_second: int = Field(default=40, gt=0, le=HARD_MAX_CANCELS_PER_SECOND)
    """Cancels per second; new orders stop first so what rests can always be cancelled."""
    cancels_per_minute: int = Field(default=1_200, gt=0, le=HARD_MAX_CANCELS_PER_MINUTE)
    """Cancels per minute (as cancels_per_second)."""
    max_daily_loss: Decimal = Field(default=Decimal("50000"), gt=0, le=HARD_MAX_DAILY_LOSS)
    """A loss beyond this today (realised plus marked) engages the kill switch."""
    stale_after_ms: int = Field(default=2_000, gt=0, le=HARD_MAX_STALE_MS)
    """A book older than this cannot price an order: it is denied as stale."""
    rejects_before_kill: int = Field(default=10, gt=0, le=HARD_MAX_REJECTS_BEFORE_KILL)
    """This many venue rejects within reject_window_s engage the kill switch."""
    reject_window_s: int = Field(default=60, ge=HARD_MIN_REJECT_WINDOW_S, le=86_400)
    """The window rejects_before_kill counts in, in seconds."""
    reset_max_age_s: int = Field(default=60, gt=0, le=HARD_MAX_RESET_AGE_S)
    """How old a signed kill-switch reset may be and still be accepted."""
    market_depth_levels: int = Field(default=10, gt=0, le=MAX_MARKET_DEPTH_LEVELS)
    """Book levels a market order's size is checked against (inside the collar)."""
    overrides: dict[str, SymbolRiskOverride] = Field(default_factory=dict)
    """Per-symbol limits replacing the node-wide ones, keyed by an allowed symbol."""

    @model_validator(mode="after")
    def _overrides_name_allowed_symbols(self) -> RiskLimitsConfig:
        dupes = sorted({s for s in self.allowed_symbols if self.allowed_symbols.count(s) > 1})
        if dupes:
            raise ValueError(f"allowed_symbols lists {', '.join(dupes)} twice")
        unknown = sorted(set(self.overrides) - set(self.allowed_symbols))
        if unknown:
            raise ValueError(
                f"overrides for {', '.join(unknown)}, which is not in allowed_symbols (typo?)"
            )
        return self


# --------------------------------------------------------- the frozen limits


@dataclass(frozen=True, slots=True)
class SymbolLimits:
    """Everything the check chain needs for one symbol, precomputed as integers."""

    symbol: str
    instrument: Instrument
    max_order_qty: int  # min(risk limit, instrument max)
    min_qty: int
    lot_size: int
    max_order_notional: Decimal  # currency, for messages
    max_order_notional_tu: int  # the same in tick-units (qty units x price ticks)
    max_position: int
    max_open_orders: int
    collar_bps: int
    participation_bps: int
    unit_value: Decimal  # currency value of one tick-unit: tick_size x qty_unit


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Node-wide limits plus one :class:`SymbolLimits` per allowed symbol."""

    symbols: Mapping[str, SymbolLimits]
    max_open_orders: int
    orders_per_second: int
    orders_per_minute: int
    cancels_per_second: int
    cancels_per_minute: int
    max_daily_loss: Decimal
    stale_after_ns: int
    participation_window_ns: int
    rejects_before_kill: int
    reject_window_ns: int
    reset_max_age_ns: int
    market_depth_levels: int
    config_hash: str


# (config key, hard cap, "max" when the cap is an upper bound, "min" when a lower one)
_NODE_CAPS: tuple[tuple[str, int | Decimal, str], ...] = (
    ("max_order_qty", HARD_MAX_ORDER_QTY, "max"),
    ("max_order_notional", HARD_MAX_ORDER_NOTIONAL, "max"),
    ("max_position", HARD_MAX_POSITION, "max"),
    ("max_open_orders", HARD_MAX_OPEN_ORDERS, "max"),
    ("max_open_orders_per_symbol", HARD_MAX_OPEN_ORDERS_PER_SYMBOL, "max"),
    ("collar_bps", HARD_MAX_COLLAR_BPS, "max"),
    ("participation_bps", HARD_MAX_PARTICIPATION_BPS, "max"),
    ("orders_per_second", HARD_MAX_ORDERS_PER_SECOND, "max"),
    ("orders_per_minute", HARD_MAX_ORDERS_PER_MINUTE, "max"),
    ("cancels_per_second", HARD_MAX_CANCELS_PER_SECOND, "max"),
    ("cancels_per_minute", HARD_MAX_CANCELS_PER_MINUTE, "max"),
    ("max_daily_loss", HARD_MAX_DAILY_LOSS, "max"),
    ("stale_after_ms", HARD_MAX_STALE_MS, "max"),
    ("rejects_before_kill", HARD_MAX_REJECTS_BEFORE_KILL, "max"),
    ("reject_window_s", HARD_MIN_REJECT_WINDOW_S, "min"),
    ("reset_max_age_s", HARD_MAX_RESET_AGE_S, "max"),
)
_OVERRIDE_CAPS: dict[str, int | Decimal] = {
    "max_order_qty": HARD_MAX_ORDER_QTY,
    "max_order_notional": HARD_MAX_ORDER_NOTIONAL,
    "max_position": HARD_MAX_POSITION,
    "max_open_orders": HARD_MAX_OPEN_ORDERS_PER_SYMBOL,
    "collar_bps": HARD_MAX_COLLAR_BPS,
    "participation_bps": HARD_MAX_PARTICIPATION_BPS,
}


def _cap_problem(key: str, value: Any, cap: int | Decimal, kind: str) -> str | None:
    """Why ``value`` may not be used for ``key``, or None. Non-numbers are refused too.

    The value must have the cap's own type (int for counts, Decimal for currency) so the
    hot path never mixes number types.
    """
    if type(value) is not type(cap) or (isinstance(value, Decimal) and not value.is_finite()):
        return f"{key} = {value!r} is not a finite {type(cap).__name__}"
    if value <= 0:
        return f"{key} = {value} must be > 0"
    if kind == "max" and value > cap:
        return f"{key} = {value} is looser than the hard cap {cap} (config may only tighten)"
    if kind == "min" and value < cap:
        return f"{key} = {value} is looser than the hard floor {cap} (config may only tighten)"
    return None


def build_limits(
    cfg: RiskLimitsConfig, instruments: Iterable[Instrument], *, log: bool = True
) -> RiskLimits:
    """Freeze ``cfg`` into :class:`RiskLimits`, refusing anything looser than a hard cap.

    Every problem is collected so the operator fixes the file once, not key by key.
    """
    problems: list[str] = []
    for key, cap, kind in _NODE_CAPS:
        problem = _cap_problem(f"risk.{key}", getattr(cfg, key), cap, kind)
        if problem:
            problems.append(problem)
    for symbol, raw in cfg.overrides.items():
        override: object = raw  # typed, but a section built around validation may hold anything
        if not isinstance(override, SymbolRiskOverride):
            problems.append(f"risk.overrides.{symbol}: not a table of per-symbol limits")
            continue
        for key, cap in _OVERRIDE_CAPS.items():
            value = getattr(override, key)
            if value is not None:
                problem = _cap_problem(f"risk.overrides.{symbol}.{key}", value, cap, "max")
                if problem:
                    problems.append(problem)
        if symbol not in cfg.allowed_symbols:
            problems.append(f"risk.overrides.{symbol}: symbol is not in risk.allowed_symbols")
    by_symbol = {i.symbol: i for i in instruments}
    for symbol in cfg.allowed_symbols:
        if symbol not in by_symbol:
            problems.append(
                f"risk.allowed_symbols: {symbol!r} has no instrument definition (tick, lot)"
            )
    if problems:
        raise LimitsError(problems)

    symbols: dict[str, SymbolLimits] = {}
    for symbol in cfg.allowed_symbols:
        inst = by_symbol[symbol]
        o = cfg.overrides.get(symbol) or SymbolRiskOverride()
        notional = o.max_order_notional or cfg.max_order_notional
        unit_value = inst.tick_size * inst.qty_unit
        symbols[symbol] = SymbolLimits(
            symbol=symbol,
            instrument=inst,
            max_order_qty=min(o.max_order_qty or cfg.max_order_qty, inst.max_qty),
            min_qty=inst.min_qty,
            lot_size=inst.lot_size,
            max_order_notional=notional,
            max_order_notional_tu=int((notional / unit_value).to_integral_value(ROUND_FLOOR)),
            max_position=o.max_position or cfg.max_position,
            max_open_orders=min(
                o.max_open_orders or cfg.max_open_orders_per_symbol, cfg.max_open_orders
            ),
            collar_bps=o.collar_bps or cfg.collar_bps,
            participation_bps=o.participation_bps or cfg.participation_bps,
            unit_value=unit_value,
        )
    digest = config_hash(cfg)
    limits = RiskLimits(
        symbols=MappingProxyType(symbols),  # read-only: the table cannot change
        max_open_orders=cfg.max_open_orders,
        orders_per_second=cfg.orders_per_second,
        orders_per_minute=cfg.orders_per_minute,
        cancels_per_second=cfg.cancels_per_second,
        cancels_per_minute=cfg.cancels_per_minute,
        max_daily_loss=cfg.max_daily_loss,
        stale_after_ns=cfg.stale_after_ms * NS_PER_MS,
        participation_window_ns=cfg.participation_window_s * NS_PER_S,
        rejects_before_kill=cfg.rejects_before_kill,
        reject_window_ns=cfg.reject_window_s * NS_PER_S,
        reset_max_age_ns=cfg.reset_max_age_s * NS_PER_S,
        market_depth_levels=cfg.market_depth_levels,
        config_hash=digest,
    )
    if log:
        get_logger("risk").info(
            "risk_limits_frozen",
            config_hash=digest,
            symbols=list(cfg.allowed_symbols),
            max_daily_loss=str(cfg.max_daily_loss),
        )
    if not symbols:
        get_logger("risk").warning(
            "risk_allow_list_empty", detail="risk.allowed_symbols is empty: every order is denied"
        )
    return limits
