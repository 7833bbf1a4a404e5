"""Market-impact models: how far the replayed market moves because of the agent.

A replay alone has no impact: the recorded crowd does what it did whatever the agent
does, so a policy trained on it would think size is free. These models move the
replayed market by an integer number of ticks, the *offset*: every background order
(and every later replayed message) is shifted by it, while the agent's own resting
orders stay where the agent put them (:meth:`exchange.engine.book.OrderBook.shift_background`).
The offset is the model's impact in ticks rounded half away from zero; the agent's
own trades are the only input (the crowd's impact is already in the data).

- :class:`NoImpact`: the offset stays 0.
- :class:`LinearPermanentImpact`: Almgren & Chriss (2000), "Optimal execution of
  portfolio transactions", permanent impact linear in traded volume:
  ``I(t) = gamma * sum(signed agent volume before t)``.
- :class:`~exchange.replay.sqrt_impact.SquareRootImpact` (``"sqrt"``, the default):
  square-root impact of the metaorder through a latent order book that refills with
  a power-law kernel; its own module explains why it is the default.
- :class:`TransientPropagatorImpact`: the propagator model of Bouchaud, Gefen,
  Potters & Wyart (2004), "Fluctuations and response in financial markets", with the
  exponential decay kernel of Obizhaeva & Wang (2013) / Gatheral (2010):
  ``I(t) = sum_k kappa * sign_k * |q_k|**beta * exp(-(t - t_k) / tau)``. The kernel is
  Markovian, so the state is one number and the time at which the rounded offset next
  changes has a closed form (:meth:`next_change_ns`): the replay stops exactly there.

Default parameters come from :mod:`exchange.replay.impact_estimation` (see
``impact_params.json`` next to this module and :func:`default_impact`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from core.log import get_logger

if TYPE_CHECKING:
    from exchange.replay.prepared import PreparedDay

NS_PER_S = 1_000_000_000
PARAMS_FILE = Path(__file__).with_name("impact_params.json")
_log = get_logger("exchange.replay.impact")


def to_offset(value: float) -> int:
    """Impact in ticks to a whole-tick offset: round half away from zero."""
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


class ImpactModel(Protocol):
    def reset(self) -> None: ...

    def on_trade(self, ts_ns: int, signed_qty: int) -> None:
        """The agent traded ``signed_qty`` (+ bought, - sold) at ``ts_ns``."""
        ...

    def value(self, ts_ns: int) -> float:
        """Impact in ticks at ``ts_ns`` (no trade after ``ts_ns`` counted)."""
        ...

    def next_change_ns(self, ts_ns: int, offset: int) -> int | None:
        """Earliest time >= ``ts_ns`` at which ``to_offset(value)`` leaves ``offset``
        if the agent does not trade again; None if never."""
        ...


@dataclass(slots=True)
class NoImpact:
    def reset(self) -> None:
        return None

    def on_trade(self, ts_ns: int, signed_qty: int) -> None:
        return None

    def value(self, ts_ns: int) -> float:
        return 0.0

    def next_change_ns(self, ts_ns: int, offset: int) -> int | None:
        return None


@dataclass(slots=True)
class LinearPermanentImpact:
    gamma: float  # ticks per share
    _net: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        if not math.isfinite(self.gamma) or self.gamma < 0:
            raise ValueError(f"permanent impact gamma must be finite and >= 0, got {self.gamma}")

    def reset(self) -> None:
        self._net = 0

    def on_trade(self, ts_ns: int, signed_qty: int) -> None:
        self._net += signed_qty

    def value(self, ts_ns: int) -> float:
        return self.gamma * self._net

    def next_change_ns(self, ts_ns: int, offset: int) -> int | None:
        return ts_ns if to_offset(self.value(ts_ns)) != offset else None


@dataclass(slots=True)
class TransientPropagatorImpact:
    kappa: float  # ticks per share**beta, right after a trade
    decay_s: float  # e-folding time of the kernel
    beta: float = 1.0
    _level: float = field(default=0.0, repr=False)
    _at_ns: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        if not math.isfinite(self.kappa) or self.kappa < 0:
            raise ValueError(f"propagator kappa must be finite and >= 0, got {self.kappa}")
        if not self.decay_s > 0:
            raise ValueError(f"propagator decay must be > 0 s, got {self.decay_s}")
        if not 0 < self.beta <= 1.5:
            raise ValueError(f"propagator beta must be in (0, 1.5], got {self.beta}")

    def reset(self) -> None:
        self._level = 0.0
        self._at_ns = 0

    def value(self, ts_ns: int) -> float:
        if self._level == 0.0:
            return 0.0
        dt = max(0, ts_ns - self._at_ns) / NS_PER_S
        return self._level * math.exp(-dt / self.decay_s)

    def on_trade(self, ts_ns: int, signed_qty: int) -> None:
        kick = math.copysign(self.kappa * abs(signed_qty) ** self.beta, signed_qty)
        self._level = self.value(ts_ns) + kick
        self._at_ns = max(ts_ns, self._at_ns)

    def next_change_ns(self, ts_ns: int, offset: int) -> int | None:
        v = self.value(ts_ns)
        if to_offset(v) != offset:
            return ts_ns
        if offset == 0:
            return None  # |v| < 0.5 and shrinking: the offset stays 0
        edge = abs(offset) - 0.5
        # |v| decays to the rounding edge after tau * ln(|v| / edge).
        dt = self.decay_s * math.log(abs(v) / edge)
        return ts_ns + max(1, math.ceil(dt * NS_PER_S))


def load_params(path: Path = PARAMS_FILE) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


KINDS = ("none", "permanent", "transient", "sqrt")
DEFAULT_KIND = "sqrt"


def default_impact(
    kind: str,
    ticker: str | None = None,
    path: Path = PARAMS_FILE,
    *,
    day: PreparedDay | None = None,
) -> ImpactModel:
    """An impact model (``"none"``, ``"permanent"``, ``"transient"`` or ``"sqrt"``)
    with the shipped estimated parameters for ``ticker``.

    A ticker the file does not hold is estimated from its own data, ``day``, at load
    (logged), never given another ticker's parameters; without ``day`` that is an
    error naming the ticker.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown impact model {kind!r}; expected one of {', '.join(KINDS)}")
    if kind == "none":
        return NoImpact()
    per = load_params(path).get("tickers", {}).get(ticker or "")
    if per is None:
        per = _own_params(ticker, day)
    if kind == "permanent":
        return LinearPermanentImpact(gamma=float(per["permanent"]["gamma"]))
    if kind == "transient":
        t = per["transient"]
        return TransientPropagatorImpact(
            kappa=float(t["kappa"]), decay_s=float(t["decay_s"]), beta=float(t["beta"])
        )
    from exchange.replay.sqrt_impact import SquareRootImpact  # it builds on this module

    return SquareRootImpact.from_params(per["sqrt"])


def _own_params(ticker: str | None, day: PreparedDay | None) -> dict[str, Any]:
    if day is None:
        raise ValueError(
            f"no impact parameters for ticker {ticker!r} in {PARAMS_FILE.name}; "
            "pass its LOBSTER day so they are estimated from its own data"
        )
    if ticker is not None and day.symbol != ticker:
        raise ValueError(f"impact parameters for {ticker!r} cannot come from {day.symbol}'s data")
    from exchange.replay.impact_estimation import estimate_cached

    _log.info("impact.estimated_at_load", ticker=day.symbol, file=day.day.message_path)
    return estimate_cached(day)
