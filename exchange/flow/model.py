"""The zero-intelligence order-flow model of Cont, Stoikov & Talreja (2010), "A
stochastic model for order book dynamics", and its regimes.

Prices are counted in ticks of *distance from the opposite best quote*: a bid at
distance ``d`` sits at ``best ask - d`` (``d = 1`` improves the bid as far as it can
without crossing), an ask at ``best bid + d``. Independent Poisson clocks drive the
book:

- a limit order arrives at distance ``d`` on each side at rate ``limit_rate[d - 1]``
  (orders per second), with a size drawn from ``limit_sizes``;
- a market order arrives on each side at rate ``market_rate``, size from
  ``market_sizes``;
- each resting order at distance ``d`` is cancelled at rate ``cancel_rate[d - 1]``, so
  a level's cancellation rate is proportional to how many orders queue there.

CST fit ``limit_rate`` with a power law ``k / d**alpha``; ours are the empirical
rates for the distances the data shows, extended by that power law beyond
(:mod:`exchange.flow.calibration`). Sizes are empirical quantiles (64 of them, drawn
uniformly), so the flow trades in the lots the real market used.

A :class:`Regime` scales the calibrated rates: calm (as calibrated), volatile (more
market orders and cancels), trending (market orders lean one way), thin (fewer limit
orders, more cancels: a shallow book), wide (limit orders arrive a gap further from
the opposite quote, so the spread stays wide: :func:`calibrated_regime` sets the gap
to the calibration data's own median spread).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

PARAMS_FILE = Path(__file__).with_name("cst_params.json")


@dataclass(frozen=True, slots=True)
class FlowParams:
    symbol: str
    limit_rate: tuple[float, ...]  # per second, per side, distance 1..K
    cancel_rate: tuple[float, ...]  # per resting order per second, distance 1..K
    market_rate: float  # market orders per second, per side
    limit_sizes: tuple[int, ...]  # empirical quantiles
    market_sizes: tuple[int, ...]
    depth_profile: tuple[int, ...]  # mean shares queued at distance 1..K (initial book)
    start_price: int  # ticks: a typical mid of the calibration day
    source: str = ""
    spread_ticks: float = 0.0  # median quoted spread of the calibration data (0: unknown)

    def __post_init__(self) -> None:
        k = len(self.limit_rate)
        if k == 0 or len(self.cancel_rate) != k or len(self.depth_profile) != k:
            raise ValueError("limit_rate, cancel_rate and depth_profile need the same length >= 1")
        if min(self.limit_rate) < 0 or min(self.cancel_rate) < 0 or self.market_rate < 0:
            raise ValueError("rates must be >= 0")
        if (
            not self.limit_sizes
            or not self.market_sizes
            or min(self.limit_sizes + self.market_sizes) <= 0
        ):
            raise ValueError("size distributions must be non-empty and positive")
        if self.start_price <= len(self.limit_rate) + 1:
            raise ValueError(f"start price {self.start_price} ticks is too low for the depth")

    @property
    def depth(self) -> int:
        return len(self.limit_rate)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FlowParams:
        return cls(
            symbol=str(data["symbol"]),
            limit_rate=tuple(float(x) for x in data["limit_rate"]),
            cancel_rate=tuple(float(x) for x in data["cancel_rate"]),
            market_rate=float(data["market_rate"]),
            limit_sizes=tuple(int(x) for x in data["limit_sizes"]),
            market_sizes=tuple(int(x) for x in data["market_sizes"]),
            depth_profile=tuple(int(x) for x in data["depth_profile"]),
            start_price=int(data["start_price"]),
            source=str(data.get("source", "")),
            spread_ticks=float(data.get("spread_ticks", 0.0)),
        )


@dataclass(frozen=True, slots=True)
class Regime:
    """Multipliers over calibrated rates. ``trend`` > 0 tilts market orders to buys
    (a rising market) by ``1 + trend`` vs ``1 - trend``; < 0 to sells."""

    name: str
    limit: float = 1.0
    market: float = 1.0
    cancel: float = 1.0
    trend: float = 0.0
    depth: float = 1.0  # initial book depth
    gap: int = 0  # ticks added to every limit order's distance from the opposite quote
    extra: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if min(self.limit, self.market, self.cancel, self.depth) < 0:
            raise ValueError(f"regime {self.name}: multipliers must be >= 0")
        if not -1.0 < self.trend < 1.0:
            raise ValueError(f"regime {self.name}: trend must be in (-1, 1)")
        if self.gap < 0:
            raise ValueError(f"regime {self.name}: gap must be >= 0 ticks")


REGIMES: dict[str, Regime] = {
    "calm": Regime("calm"),
    "volatile": Regime("volatile", limit=1.3, market=2.5, cancel=1.6),
    "trending": Regime("trending", market=1.5, trend=0.5),
    "thin": Regime("thin", limit=0.4, cancel=1.4, depth=0.3),
    "wide": Regime("wide", gap=10),
}


def regime(name: str, *, trend_sign: int = 1) -> Regime:
    """A preset by name; ``trend_sign`` -1 turns the trending regime downwards."""
    try:
        r = REGIMES[name]
    except KeyError:
        raise ValueError(f"unknown regime {name!r}; expected one of {sorted(REGIMES)}") from None
    if r.trend and trend_sign < 0:
        return replace(r, trend=-r.trend)
    return r


def calibrated_regime(name: str, params: FlowParams, *, trend_sign: int = 1) -> Regime:
    """The preset, fitted to the ticker's own calibration where it has a free scale:
    the wide regime's gap is the calibration data's median spread (so the synthetic
    spread is about twice what that ticker usually shows), whatever its tick count."""
    r = regime(name, trend_sign=trend_sign)
    if r.gap and params.spread_ticks > 0:
        return replace(r, gap=max(1, round(params.spread_ticks)))
    return r


def load_params(symbol: str | None = None, path: Path = PARAMS_FILE) -> FlowParams:
    """Shipped calibrated parameters for ``symbol`` (else the first shipped)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    tickers: dict[str, Any] = data["tickers"]
    if symbol is None:
        symbol = sorted(tickers)[0]
    if symbol not in tickers:
        raise KeyError(f"no calibrated flow for {symbol!r}; have {sorted(tickers)}")
    return FlowParams.from_json(tickers[symbol])
