"""The risk posture in the live node: the market models may tighten a symbol's limits.

Per symbol the node keeps one :class:`signals.market.MarketTracker` (fed every book
frame and public print the feed sees), and one :class:`signals.posture.PostureController`
reading it with the volatility and regime models; one
:class:`risk.dynamic_limits.DynamicLimits` turns their asks into the overlay's effective
limits through ``RiskOverlay.apply_posture``, which can only tighten (docs/signals.md,
"Risk posture"; docs/risk.md, "Dynamic limits").

Clocks, and why:

* the *cadence* of assessments is the event loop's monotonic clock (``assess_every_s``
  real seconds), so assessments keep coming whatever the market clock does (a
  lock-stepped clock stands still between the exchange's steps);
* what an assessment reads and every ask's TTL and release delay are *market time*
  (the node's clock): the detectors' thresholds and the TTLs were set on market time;
* a symbol is assessed only while its feed is synced and its market time has moved
  since its last assessment. A stalled feed therefore never *loosens* anything: no
  release, no lapse is decided on statistics nothing has updated (and its ``md`` halt
  stops new orders anyway); when it is synced again the symbol is assessed at once,
  before its halt clears;
* a tightening can never be stuck: an ask not renewed for ``WALL_BACKSTOP_TTLS`` x its
  TTL of *monotonic* time lapses whatever the market clock says (a frozen lock-step
  clock, a replay that ended), logged with that reason.

A model fault (a non-finite output, or a model raising) is a safety event: the symbol
tightens under the ``model_fault`` source, and it is logged and counted.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core import pinned_dir
from core.book import L2Book
from core.events import TradePrint
from core.log import get_logger
from core.types import Side
from daemon.config import SignalsSection
from daemon.metrics import Metrics
from daemon.periodic import Periodic
from risk.dynamic_limits import DynamicLimits, Posture, PostureChanged, PostureRefused
from risk.overlay import RiskOverlay
from signals.artifact import ArtifactRefused
from signals.dataset import STATE_STEP_S
from signals.market import MarketTracker
from signals.posture import Assessment, PostureController, PostureRules, TightenRequest
from signals.provider import SignalFeed
from signals.regime import MIN_STATES, RegimeModel, RegimeRefused, regime_features
from signals.short_horizon import SignalModel, SignalServer
from signals.train import ARTIFACTS, REGIME_DIR, SIGNAL_DIR, VOLATILITY_DIR
from signals.volatility import VolatilityModel

log = get_logger("rlexec.posture")

NS_PER_S = 1_000_000_000
# An ask not renewed for this many TTLs of real (monotonic) time lapses, whatever the
# market clock says: 5 x the default 60 s TTL = 5 minutes.
WALL_BACKSTOP_TTLS = 5.0
MODEL_FAULT = "model_fault"
FAULT_LOG_EVERY_S = 60.0


class SignalsStartError(RuntimeError):
    """A model artifact that is missing or refused: the node does not start on it."""


@dataclasses.dataclass(frozen=True, slots=True)
class Models:
    signal: SignalModel
    volatility: VolatilityModel
    regime: RegimeModel
    signal_digest: str  # what a policy reading the signal pins (feature set v3)

    @classmethod
    def load(cls, folder: Path | None) -> Models:
        root = folder or ARTIFACTS
        try:
            return cls(
                SignalModel.load(root / SIGNAL_DIR),
                VolatilityModel.load(root / VOLATILITY_DIR),
                RegimeModel.load(root / REGIME_DIR),
                pinned_dir.digest(root / SIGNAL_DIR),
            )
        except ArtifactRefused as exc:
            raise SignalsStartError(
                f"{exc} (fix or replace it, or run without the models: [signals] enabled = false)"
            ) from None


@dataclasses.dataclass(slots=True)
class _Symbol:
    tracker: MarketTracker
    controller: PostureController
    server: SignalServer
    assessed_ns: int = -1  # market time of the last assessment
    regime: str | None = None  # the last assessment's label
    # a symbol the regime model has no statistics for: its own states, gathered until
    # there are enough to estimate them (None once the model is bound to the symbol)
    own_states: list[np.ndarray] | None = None
    state_ns: int = -1  # market time of the last state gathered


class MarketSignals:
    """Trackers, models and posture per symbol; the one :class:`DynamicLimits`."""

    def __init__(
        self,
        settings: SignalsSection,
        symbols: list[str],
        *,
        risk: RiskOverlay,
        metrics: Metrics,
        now_ns: Callable[[], int],
        synced: Callable[[str], bool],
        models: Models | None = None,
        rules: PostureRules | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self._now_ns = now_ns
        self._synced = synced
        self._monotonic = monotonic  # the backstop's clock (tests pass a simulated one)
        self.models = models or Models.load(settings.artifact_dir)
        self.rules = rules or PostureRules()
        self.dynamic = DynamicLimits(risk.limits, apply=risk.apply_posture)
        allowed = set(risk.limits.symbols)
        self.symbols: dict[str, _Symbol] = {
            s: self._symbol(s)
            for s in symbols
            if s in allowed  # a symbol risk does not allow never trades: nothing to tighten
        }
        self._renewed: dict[tuple[str, str], float] = {}  # (symbol, source) -> monotonic
        self._fault_logged: dict[tuple[str, str], float] = {}  # (symbol, model) -> monotonic
        self._faults_seen: dict[tuple[str, str], int] = {}
        self._cadence = Periodic("risk-posture", settings.assess_every_s, self._assess_step)
        for s in self.symbols:
            self._export(self.dynamic.posture(s))

    # ------------------------------------------------------------------ market data
    def on_book(self, symbol: str, book: L2Book, now_ns: int) -> None:
        s = self.symbols.get(symbol)
        if s is not None:
            s.tracker.on_book(book, now_ns)

    def on_trade(self, tp: TradePrint, now_ns: int) -> None:
        s = self.symbols.get(tp.symbol)
        if s is not None:
            s.tracker.on_trade(now_ns, tp.price, tp.qty, tp.aggressor is Side.BUY)

    # ------------------------------------------------------------------ decisions
    def at_decision(self, symbol: str, now_ns: int) -> tuple[float | None, str | None]:
        """The short-horizon signal (mean spreads) and the last regime label for a
        decision, the serving cost timed; a non-finite signal is a model fault."""
        s = self.symbols.get(symbol)
        if s is None:
            return None, None
        t0 = time.perf_counter()
        try:
            value = s.server.predict(s.tracker, now_ns)
        except Exception as exc:  # a model bug must tighten, not stop a decision
            self.model_fault(symbol, "signal", f"signal model raised {exc!r}", now_ns)
            return None, s.regime
        finally:
            self.metrics.signal_seconds.observe(time.perf_counter() - t0)
        if not math.isfinite(value):
            self.model_fault(symbol, "signal", f"signal not finite ({value})", now_ns)
            return None, s.regime
        return value, s.regime

    def regime(self, symbol: str) -> str | None:
        s = self.symbols.get(symbol)
        return None if s is None else s.regime

    def _symbol(self, symbol: str) -> _Symbol:
        """A symbol the regime model has no statistics for runs its posture without the
        regime (the anomaly detectors still run) until its own states are in: another
        ticker's scale labelled 99 % of AAPL "calm" (docs/signals.md)."""
        m = self.models
        try:
            controller = PostureController(symbol, m.volatility, m.regime, self.rules)
            own: list[np.ndarray] | None = None
        except RegimeRefused as exc:
            log.warning(
                "regime_statistics_missing",
                symbol=symbol,
                detail=str(exc),
                action=(
                    f"posture runs without the regime model until {MIN_STATES} of "
                    f"{symbol}'s own market states ({STATE_STEP_S:g} s apart) are in"
                ),
            )
            controller = PostureController(symbol, m.volatility, None, self.rules)
            own = []
        return _Symbol(MarketTracker(), controller, SignalServer(m.signal), own_states=own)

    def feed(self, symbol: str) -> SignalFeed | None:
        """The symbol's signal for a policy that reads it (feature set v3): the node's own
        tracker, which the market feed keeps current, and the served model's digest."""
        s = self.symbols.get(symbol)
        if s is None:
            return None
        return SignalFeed(s.server, self.models.signal_digest, s.tracker)

    def _gather_state(self, symbol: str, s: _Symbol, now: int) -> None:
        """One more of the symbol's own states; with enough, bind the regime model to it."""
        own = s.own_states
        if own is None or not s.tracker.ready or now - s.state_ns < STATE_STEP_S * NS_PER_S:
            return
        s.state_ns = now
        state = regime_features(s.tracker)
        if not np.all(np.isfinite(state)):
            return
        own.append(state)
        if len(own) < MIN_STATES:
            return
        try:
            s.controller.regime = self.models.regime.with_ticker(symbol, np.vstack(own))
        except (RegimeRefused, ValueError) as exc:  # e.g. a state that never varied
            log.warning("regime_statistics_refused", symbol=symbol, detail=str(exc))
            s.own_states = []
            return
        s.own_states = None
        log.info("regime_statistics_estimated", symbol=symbol, states=len(own))

    # ------------------------------------------------------------------ cadence
    def start(self) -> None:
        self._cadence.start()

    async def stop(self) -> None:
        await self._cadence.stop()

    async def _assess_step(self) -> None:
        self.assess_all()

    def assess_all(self) -> None:
        now = self._now_ns()
        for symbol in self.symbols:
            self.assess(symbol, now)
        self._backstop()

    def assess(self, symbol: str, now_ns: int | None = None) -> Assessment | None:
        """One look at ``symbol``: asks, releases and lapses applied; None when its data
        is not fresh (feed not synced, or market time has not moved since the last look)."""
        s = self.symbols.get(symbol)
        if s is None:
            return None
        now = self._now_ns() if now_ns is None else now_ns
        if not self._synced(symbol) or now <= s.assessed_ns:
            return None
        s.assessed_ns = now
        try:
            self._gather_state(symbol, s, now)
            a = s.controller.assess(s.tracker, now)
        except Exception as exc:  # a model bug: tighten, as for a non-finite output
            self.model_fault(symbol, "posture", f"assessment raised {exc!r}", now)
            return None
        s.regime = a.regime.value if a.regime is not None else None
        for reg, p in ((k, a.observed.get(f"regime_{k}")) for k in ("volatile", "thin")):
            if p is not None:
                self.metrics.regime_probability.labels(symbol, reg).set(p)
        for req in a.requests:
            if req.source == MODEL_FAULT:
                model = "regime" if "regime" in req.reason else "volatility"
                self._count_fault(symbol, model, req.reason)
            self._tighten(req, now)
        for source in a.releases:
            self._record(self.dynamic.release(symbol, source, now))
            self._renewed.pop((symbol, source), None)
        for source, ask in self.dynamic.asks(symbol).items():
            if ask.expires_ns <= now:
                self._lapse(symbol, source, now, "expired")
        return a

    def model_fault(self, symbol: str, model: str, why: str, now_ns: int) -> None:
        """A model said something unusable: tighten the symbol (``model_fault``)."""
        self._count_fault(symbol, model, why)
        r = self.rules
        scale = r.anomaly_scale
        self._tighten(
            TightenRequest(symbol, MODEL_FAULT, scale, scale, False, r.ttl_s, why), now_ns
        )

    def _count_fault(self, symbol: str, model: str, why: str) -> None:
        """Every fault counted; logged at most once a minute per symbol and model (a
        model failing at every assessment would otherwise write a line a second)."""
        self.metrics.model_faults.labels(symbol, model).inc()
        key = (symbol, model)
        self._faults_seen[key] = self._faults_seen.get(key, 0) + 1
        mono = self._monotonic()
        if mono - self._fault_logged.get(key, -math.inf) >= FAULT_LOG_EVERY_S:
            self._fault_logged[key] = mono
            log.error("signal_model_fault", symbol=symbol, model=model, why=why,
                      faults_so_far=self._faults_seen[key])  # fmt: skip

    def _tighten(self, req: TightenRequest, now_ns: int) -> None:
        try:
            ev = self.dynamic.tighten(**dataclasses.asdict(req), now_ns=now_ns)
        except PostureRefused as exc:  # a malformed ask: refused, logged, nothing changes
            log.error("posture_ask_refused", ask=repr(req), error=str(exc))
            return
        self._renewed[(req.symbol, req.source)] = self._monotonic()
        self._record(ev)

    def _lapse(self, symbol: str, source: str, now_ns: int, why: str) -> None:
        ev = self.dynamic.release(symbol, source, now_ns)
        self._renewed.pop((symbol, source), None)
        if ev is not None:
            self._record(dataclasses.replace(ev, action="expire", reason=why))

    def _backstop(self) -> None:
        """Asks not renewed for WALL_BACKSTOP_TTLS x their TTL of real time lapse."""
        mono = self._monotonic()
        now = self._now_ns()
        for (symbol, source), renewed in list(self._renewed.items()):
            ask = self.dynamic.asks(symbol).get(source)
            if ask is None:
                self._renewed.pop((symbol, source), None)
                continue
            if mono - renewed >= WALL_BACKSTOP_TTLS * self.rules.ttl_s:
                self._lapse(
                    symbol, source, now,
                    f"not renewed for {mono - renewed:.0f} s of real time (market clock or "
                    "feed stalled): lapsed by the wall-clock backstop",
                )  # fmt: skip

    # ------------------------------------------------------------------ reporting
    def _record(self, ev: PostureChanged | None) -> None:
        if ev is None:
            return
        self.metrics.posture_changes.labels(ev.symbol, ev.source, ev.action).inc()
        old, new = ev.old, ev.new
        log.warning(
            "risk_posture_changed",
            symbol=ev.symbol,
            source=ev.source,
            action=ev.action,
            why=ev.reason,
            old_max_order_qty=old.limits.max_order_qty,
            new_max_order_qty=new.limits.max_order_qty,
            old_participation_bps=old.limits.participation_bps,
            new_participation_bps=new.limits.participation_bps,
            old_reduce_only=old.reduce_only,
            new_reduce_only=new.reduce_only,
            sources=list(new.sources),
            ts_ns=ev.ts_ns,
        )
        self._export(new)

    def _export(self, posture: Posture) -> None:
        lim = posture.limits
        cfg = self.dynamic.configured.symbols[lim.symbol]
        scales = {
            "order_qty": lim.max_order_qty / cfg.max_order_qty if cfg.max_order_qty else 1.0,
            "order_notional": (
                float(lim.max_order_notional / cfg.max_order_notional)
                if cfg.max_order_notional
                else 1.0
            ),
            "participation": (
                lim.participation_bps / cfg.participation_bps if cfg.participation_bps else 1.0
            ),
        }
        for cap, v in scales.items():
            self.metrics.posture_scale.labels(lim.symbol, cap).set(v)
        self.metrics.posture_reduce_only.labels(lim.symbol).set(1 if posture.reduce_only else 0)
