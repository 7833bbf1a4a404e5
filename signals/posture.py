"""Risk posture: the models' and the anomaly detectors' view, as tighten requests.

At each assessment (the daemon calls :meth:`PostureController.assess` per symbol at a
decision, or on a timer) the controller reads the market tracker, the volatility
forecast and the regime, and says which *sources* want the symbol's limits tightened
now, and how:

=====================  ======================================  =========================
source                 fires when                              asks for
=====================  ======================================  =========================
``regime_volatile``    P(volatile) >= ``regime_prob``           size and participation x ``regime_scale``
``regime_thin``        P(thin) >= ``regime_prob``               size and participation x ``regime_scale``
``spread_jump``        spread now >= ``spread_jump`` x 1-min mean  size x ``anomaly_scale``
``vanishing_book``     1-min mean touch depth <= ``vanishing_depth`` x its 30-min mean  reduce-only
``cancel_burst``       5-s cancel rate >= ``cancel_burst`` x 5-min rate  participation x ``anomaly_scale``
``move_beyond_sigma``  |move over ``move_window_s``| >= ``move_sigmas`` x forecast sigma  reduce-only
``model_fault``        a model gave a non-finite output         size and participation x ``anomaly_scale``
=====================  ======================================  =========================

A source that stops firing is released after ``release_after_s`` of quiet (no flapping
on one quote); every ask carries ``ttl_s``, renewed while it fires, so if assessments
stop the asks lapse and the configured limits come back. The anomaly detectors wait for
``warmup_s`` of market history. The requests are plain values; ``risk.dynamic_limits``
(which this package does not import) applies them and can only tighten.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from signals.regime import Regime, RegimeModel

if TYPE_CHECKING:
    from signals.market import MarketTracker


class RegimeReader(Protocol):
    """What the controller needs of a regime model (``RegimeModel`` is one)."""

    def regime_probs_of(self, tracker: MarketTracker) -> dict[Regime, float]: ...


class VolatilityReader(Protocol):
    """What the controller needs of a volatility model (``VolatilityModel`` is one)."""

    def sigma_bps(self, tracker: MarketTracker, seconds: float) -> float: ...


NS_PER_S = 1_000_000_000
SOURCES = ("regime_volatile", "regime_thin", "spread_jump", "vanishing_book", "cancel_burst",
           "move_beyond_sigma", "model_fault")  # fmt: skip


@dataclass(frozen=True, slots=True)
class PostureRules:
    """Thresholds and responses. The anomaly thresholds sit beyond each detector's
    99.9th percentile (once a second) on the training hours, so each fires well under
    0.1 % of the time in an ordinary session; the firing rates on the test hours are in
    docs/signals.md. The regimes are common by construction (each holds a share of the
    day), so they tighten mildly."""

    regime_prob: float = 0.9
    regime_scale: float = 0.75
    spread_jump: float = 4.0
    vanishing_depth: float = 0.25
    cancel_burst: float = 20.0
    move_sigmas: float = 6.0
    move_window_s: int = 10
    anomaly_scale: float = 0.5
    ttl_s: float = 60.0
    release_after_s: float = 30.0
    warmup_s: float = 300.0

    def __post_init__(self) -> None:
        for name in ("regime_scale", "anomaly_scale"):
            v = getattr(self, name)
            if not 0 < v <= 1:
                raise ValueError(f"{name} must be in (0, 1], got {v!r}")
        for name in ("regime_prob", "spread_jump", "vanishing_depth", "cancel_burst",
                     "move_sigmas", "ttl_s", "release_after_s"):  # fmt: skip
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive number, got {v!r}")
        if self.release_after_s >= self.ttl_s:
            raise ValueError("release_after_s must be shorter than ttl_s, or asks lapse while firing")  # fmt: skip


@dataclass(frozen=True, slots=True)
class TightenRequest:
    """Keyword-compatible with ``risk.dynamic_limits.DynamicLimits.tighten``."""

    symbol: str
    source: str
    size_scale: float
    participation_scale: float
    reduce_only: bool
    ttl_s: float
    reason: str


@dataclass(frozen=True, slots=True)
class Assessment:
    """One look at one symbol: what the models said and what to do about it."""

    symbol: str
    ts_ns: int
    regime: Regime | None
    regime_prob: float
    sigma_bps: float  # forecast sigma of the move over ``move_window_s``
    requests: tuple[TightenRequest, ...]
    releases: tuple[str, ...]  # sources to release now
    observed: dict[str, float] = field(default_factory=dict)  # what each detector read


class PostureController:
    """Per symbol; holds only when each source last fired (for the release delay)."""

    def __init__(
        self,
        symbol: str,
        volatility: VolatilityReader | None,
        regime: RegimeReader | None,
        rules: PostureRules | None = None,
    ) -> None:
        self.symbol = symbol
        self.volatility = volatility
        if isinstance(regime, RegimeModel) and regime.ticker is None:
            # each ticker's states on its own scale: RegimeRefused if it has none
            regime = regime.for_ticker(symbol)
        self.regime = regime
        self.rules = rules or PostureRules()
        self._last_fired: dict[str, int] = {}

    @property
    def active(self) -> tuple[str, ...]:
        """Sources this controller has asked for and not yet released."""
        return tuple(sorted(self._last_fired))

    def assess(self, tracker: MarketTracker, now_ns: int) -> Assessment:
        r = self.rules
        tracker.advance(now_ns)
        fired: dict[str, tuple[float, float, bool, str]] = {}
        obs: dict[str, float] = {}
        label: Regime | None = None
        prob = sigma = math.nan
        if tracker.ready and self.regime is not None:
            raw = self.regime.regime_probs_of(tracker)
            probs = {reg: float(raw.get(reg, math.nan)) for reg in Regime}
            if all(math.isfinite(p) for p in probs.values()):
                label = max(probs, key=lambda k: probs[k])
                prob = probs[label]
                for reg, src in (
                    (Regime.VOLATILE, "regime_volatile"),
                    (Regime.THIN, "regime_thin"),
                ):
                    obs[src] = probs[reg]
                    if probs[reg] >= r.regime_prob:
                        fired[src] = (r.regime_scale, r.regime_scale, False, f"P({reg.value})={probs[reg]:.2f}")  # fmt: skip
            else:
                fired["model_fault"] = (r.anomaly_scale, r.anomaly_scale, False, "regime posterior not finite")  # fmt: skip
        if tracker.ready and tracker.warmed_up_s >= r.warmup_s:
            self._anomalies(tracker, fired, obs)
            if self.volatility is not None:
                sigma = self.volatility.sigma_bps(tracker, r.move_window_s)
                move = tracker.move_bps(r.move_window_s)
                obs["move_sigmas"] = abs(move) / sigma if sigma > 0 else math.nan
                if not math.isfinite(sigma):
                    fired["model_fault"] = (r.anomaly_scale, r.anomaly_scale, False, "volatility forecast not finite")  # fmt: skip
                elif sigma > 0 and abs(move) >= r.move_sigmas * sigma:
                    fired["move_beyond_sigma"] = (1.0, 1.0, True, f"{move:+.1f} bps in {r.move_window_s} s = {abs(move) / sigma:.1f} sigma")  # fmt: skip
        requests = tuple(
            TightenRequest(self.symbol, src, size, part, ro, r.ttl_s, why)
            for src, (size, part, ro, why) in sorted(fired.items())
        )
        for src in fired:
            self._last_fired[src] = now_ns
        quiet_ns = int(r.release_after_s * NS_PER_S)
        releases = tuple(sorted(s for s, t in self._last_fired.items() if now_ns - t >= quiet_ns))
        for s in releases:
            del self._last_fired[s]
        return Assessment(self.symbol, now_ns, label, prob, sigma, requests, releases, obs)

    def _anomalies(self, tracker: MarketTracker, fired: dict[str, tuple[float, float, bool, str]], obs: dict[str, float]) -> None:  # fmt: skip
        r = self.rules
        spread = tracker.spread_ratio()
        depth = tracker.depth_ratio()
        cancels = tracker.cancel_ratio()
        obs.update(spread_ratio=spread, depth_ratio=depth, cancel_ratio=cancels)
        if spread >= r.spread_jump:
            fired["spread_jump"] = (r.anomaly_scale, 1.0, False, f"spread {spread:.1f}x its 1-min mean")  # fmt: skip
        if depth <= r.vanishing_depth:
            fired["vanishing_book"] = (1.0, 1.0, True, f"touch depth {depth:.2f}x its 30-min mean")
        if cancels >= r.cancel_burst:
            fired["cancel_burst"] = (1.0, r.anomaly_scale, False, f"cancels {cancels:.0f}x their 5-min rate")  # fmt: skip
