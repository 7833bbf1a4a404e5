"""The execution environment: one parent order worked on the matching engine, in process.

Each episode picks (from its seed) a ticker-day window, a start time, a horizon, a
side and a size in units of the market's volume, seeds the engine's book from the
LOBSTER orderbook file shortly before the start, and replays the message file
around the agent's orders. Every decision runs the same code as the live daemon:
:class:`~execution.driver.ParentDriver` builds the observation with the feature
builder, maps the action to desired child orders and hands them to an
:class:`~execution.executor.ExecutionEngine` holding the real
:class:`~risk.overlay.RiskOverlay` (limits set wide, the hard caps still apply) and
the in-process :class:`~execution.sim_router.SimRouter`.

Reward: the step's implementation-shortfall increment in basis points of the arrival
notional, with the unexecuted remainder marked at the mid, negated so that less cost
is more reward. The increments telescope: an episode's rewards sum to minus its final
implementation shortfall. Training may add two terms (both zero by default, so
evaluation and the backtest always see the plain shortfall):

* a timing-risk penalty per step, ``risk_aversion * x**2 * sigma``, with ``x`` the share
  of the parent still held and ``sigma`` the mid's volatility over one decision
  interval in bps (Almgren-Chriss's risk term, with the volatility rather than the
  variance so that the penalty is in bps like the shortfall): holding inventory through
  a volatile market costs, so lower variance is learned rather than hoped for;
* a deadline penalty, ``deadline_penalty_bps`` per unit share of the parent still open
  at the end time beyond ``deadline_free``: a policy must not plan on the sweep.

At the end time the resting children are cancelled and the remainder is completed the
way it would be at a deadline: one market order for what the displayed book holds,
its real fills counted (the impact model then moves the market), and whatever the
displayed book cannot take is charged as walking the *latent* book beyond it, which is
what the square-root impact model describes: the average price of eating that volume
on top of the hole our earlier trades left (:func:`latent_walk_ticks`). With
``sweep_max_s`` > 0 the older, patient sweep is used instead (a market order for the
displayed depth each ``sweep_interval_s`` while the book refills, for up to that
long after the end time; what is still left is charged the same way).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from core.book import L2Book
from core.clock import SimClock
from core.events import BookDelta, TradePrint
from core.ids import ClOrdIdGenerator, MemorySequenceStore
from core.instruments import Instrument
from core.parent import ParentOrder
from core.types import Side
from exchange.flow.model import calibrated_regime
from exchange.flow.simulator import SyntheticSimulator
from exchange.replay.api import MarketSimulator
from exchange.replay.impact import (
    LinearPermanentImpact,
    TransientPropagatorImpact,
    default_impact,
)
from exchange.replay.latency import ConstantLatency
from exchange.replay.simulator import ReplaySimulator
from exchange.replay.sqrt_impact import SquareRootImpact
from execution.driver import MarketSignal, ParentDriver
from execution.executor import ExecutionEngine
from execution.sim_router import SimRouter, VenueLink
from policies.actions import Action, ActionMapper, ActionSpec
from policies.context import NS_PER_S, Observation
from policies.data import AnySource, Source, SyntheticSource
from policies.features import FeatureBuilder, FeatureSpec, Normaliser
from risk.command_auth import CommandVerifier
from risk.kill_switch import KillSwitch, KillSwitchStatus
from risk.limits import (
    HARD_MAX_DAILY_LOSS,
    HARD_MAX_OPEN_ORDERS,
    HARD_MAX_ORDER_NOTIONAL,
    HARD_MAX_ORDER_QTY,
    HARD_MAX_POSITION,
    RiskLimits,
    RiskLimitsConfig,
    build_limits,
)
from risk.overlay import RiskOverlay

if TYPE_CHECKING:
    from signals.dataset import TouchTape
    from signals.provider import SignalFeed

ENV_ID = "rlexec/Execution-v0"
_FRESH_KILL_SWITCH = KillSwitchStatus(False, None, "", 0)  # a new switch on a new file


@dataclass(frozen=True, slots=True)
class EnvConfig:
    horizon_s: tuple[float, float] = (180.0, 900.0)
    participation: tuple[float, float] = (0.02, 0.2)  # of the market's expected volume
    latency_us: int = 100  # each way, order entry and reports
    sweep_interval_s: float = 1.0
    # 0: complete at the end time (one market order, the rest charged as walking the
    # latent book); > 0: the patient sweep for up to that many seconds (before issue 15)
    sweep_max_s: float = 0.0
    risk_participation_window_s: int = 600
    impact: str = "sqrt"  # exchange.replay.impact model: none, permanent, transient, sqrt
    # Training only (never in to_json): subtract, step by step, the reward a TWAP shadow
    # earns on the same replay window (a control variate: the market's drift cancels, the
    # optimum does not move because the shadow ignores the agent). None = the absolute
    # IS increment.
    reward_baseline: str | None = None
    # Training only: the reward's timing-risk and deadline terms (module docstring).
    risk_aversion: float = 0.0
    deadline_free: float = 0.03
    deadline_penalty_bps: float = 0.0
    # Training only: each episode's impact strength is the calibrated one times a factor
    # drawn log-uniformly from this range (1, 1: as calibrated, nothing drawn).
    impact_scale: tuple[float, float] = (1.0, 1.0)
    # Share of episodes on synthetic regimes when recorded and synthetic sources mix.
    synthetic_share: float = 0.25

    TRAINING_ONLY: ClassVar[tuple[str, ...]] = (
        "reward_baseline",
        "risk_aversion",
        "deadline_free",
        "deadline_penalty_bps",
        "impact_scale",
        "synthetic_share",
    )

    def __post_init__(self) -> None:
        if self.risk_aversion < 0 or self.deadline_penalty_bps < 0:
            raise ValueError("risk_aversion and deadline_penalty_bps must be >= 0")
        if not 0.0 <= self.deadline_free <= 1.0 or not 0.0 < self.synthetic_share < 1.0:
            raise ValueError("deadline_free must be in [0, 1], synthetic_share in (0, 1)")
        lo, hi = self.impact_scale
        if not 0 < lo <= hi:
            raise ValueError(f"impact_scale must be 0 < lo <= hi, got {self.impact_scale}")

    def training_json(self) -> dict[str, Any]:
        """The training-only settings (what the manifest's training section records)."""
        out = {k: getattr(self, k) for k in self.TRAINING_ONLY}
        out["impact_scale"] = list(self.impact_scale)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "horizon_s": list(self.horizon_s),
            "participation": list(self.participation),
            "latency_us": self.latency_us,
            "sweep_interval_s": self.sweep_interval_s,
            "sweep_max_s": self.sweep_max_s,
            "risk_participation_window_s": self.risk_participation_window_s,
            "impact": self.impact,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EnvConfig:
        """Evaluation settings from a manifest (the training-only reward baseline is dropped)."""
        d = {k: v for k, v in data.items() if k not in cls.TRAINING_ONLY}
        # A manifest without the key was trained and evaluated when linear permanent
        # impact was the default: it keeps being evaluated under that model.
        d.setdefault("impact", "permanent")
        # A manifest from before issue 15 swept patiently (300 s after the end time).
        d.setdefault("sweep_max_s", 300.0)
        for k in ("horizon_s", "participation"):
            if k in d:
                d[k] = (float(d[k][0]), float(d[k][1]))
        return cls(**d)


@dataclass(frozen=True, slots=True)
class EpisodeSpec:
    source: int
    start_ns: int
    horizon_ns: int
    side: Side
    qty: int
    impact_scale: float = 1.0  # times the calibrated impact strength (training draws it)


@dataclass(slots=True)
class EpisodeResult:
    spec: EpisodeSpec
    is_bps: float
    filled: int
    swept: int  # units executed by the end-of-horizon market orders
    unfilled_at_end: int  # units no market order took: charged as walking the latent book
    denied: int
    child_orders: int
    actions: list[int] = field(default_factory=list)
    deadline_left: int = 0  # units still open at the end time (swept, charged, or late fills)

    @property
    def sweep_share(self) -> float:
        """Share of the parent left to the end time's completion."""
        return self.deadline_left / self.spec.qty


class _Tape:
    """Feeds the engine's trade tape to the driver, each print once."""

    __slots__ = ("pos",)

    def __init__(self) -> None:
        self.pos = 0


class ExecutionEnv(gym.Env[np.ndarray, np.int64]):
    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (gymnasium's attribute)

    def __init__(
        self,
        sources: Sequence[AnySource],
        *,
        feature_spec: FeatureSpec | None = None,
        normaliser: Normaliser | None = None,
        action_spec: ActionSpec | None = None,
        config: EnvConfig | None = None,
        link: Callable[[SimClock], VenueLink[MarketSimulator]] = SimRouter,
    ) -> None:
        """``link`` builds the router between the execution engine and the simulated
        venue: :class:`SimRouter` (in process) by default; the parity test passes one
        that goes through the daemon's FIX router over loopback instead."""
        if not sources:
            raise ValueError("the environment needs at least one data source")
        self.sources = list(sources)
        self._source_names = [s.name for s in self.sources]  # a name is built on each access
        self.fspec = feature_spec or FeatureSpec()
        self.normaliser = normaliser or Normaliser.identity(len(self.fspec.names))
        self.aspec = action_spec or ActionSpec()
        self.config = config or EnvConfig()
        self._link = link
        self.interval_ns = self.fspec.interval_ns
        self.observation_space = spaces.Box(
            -self.fspec.clip, self.fspec.clip, (len(self.fspec.names),), np.float32
        )
        self.action_space = spaces.Discrete(self.aspec.n)
        self._tmp = tempfile.TemporaryDirectory(prefix="rlexec-env-")
        self._verifier = CommandVerifier(b"\0" * 32, max_age_ns=60 * NS_PER_S)
        self._kill_path = Path(self._tmp.name) / "kill_switch.json"
        self._kill: KillSwitch | None = None
        self._limits: dict[str, RiskLimits] = {}
        self._weights = _source_weights(self.sources, self.config.synthetic_share)
        self._impact_base: dict[int, tuple[str, float]] = {}
        self._sims: dict[int, MarketSimulator] = {}
        self._driver: ParentDriver[Observation, Action] | None = None
        self._obs: Observation | None = None
        self.result: EpisodeResult | None = None
        # the short-horizon signal, when the feature set reads it: fed by each episode's
        # venue through the market data it publishes (what the exchange sends the daemon)
        self._signal = _signal_feed(self.fspec.signal) if self.fspec.signal else None
        self._tapes: dict[int, TouchTape] = {}  # each recorded source's, to warm the signal
        self.builder = FeatureBuilder(self.fspec, self.normaliser, signal=self._signal)
        self._shadow: ExecutionEnv | None = None
        self._shadow_policy: Any = None
        self._shadow_done = True
        if self.config.reward_baseline is not None:
            if self.config.reward_baseline != "twap":
                raise ValueError(
                    f"unknown reward baseline {self.config.reward_baseline!r}; use 'twap'"
                )
            from policies.baselines import ScheduleTactic, TwapSchedule

            self._shadow = ExecutionEnv(
                sources,
                feature_spec=self.fspec,
                action_spec=self.aspec,
                config=replace(self.config, reward_baseline=None),
            )
            self._shadow_policy = ScheduleTactic(TwapSchedule())

    # ------------------------------------------------------------ episodes
    def sample_episode(self, rng: np.random.Generator) -> EpisodeSpec:
        cfg = self.config
        iv = self.interval_ns
        k = int(rng.choice(len(self.sources), p=self._weights))
        src = self.sources[k]
        lo_steps = max(1, math.ceil(cfg.horizon_s[0] * NS_PER_S / iv))
        hi_steps = max(lo_steps, math.floor(cfg.horizon_s[1] * NS_PER_S / iv))
        horizon = int(rng.integers(lo_steps, hi_steps + 1)) * iv
        warm = self.fspec.lookback * iv
        usable = [(lo, hi) for lo, hi in src.windows if (hi - lo) * NS_PER_S > horizon + warm]
        if not usable:
            raise ValueError(
                f"{src.name}: no window longer than a {horizon / NS_PER_S:.0f}s episode"
            )
        lens = np.asarray([(hi - lo) * NS_PER_S - horizon - warm for lo, hi in usable], float)
        w = int(rng.choice(len(usable), p=lens / lens.sum()))
        lo = usable[w][0]
        offset = int(rng.uniform(0, lens[w]))
        start = src.day_start_ns + lo * NS_PER_S + warm + offset
        start -= start % 1_000_000  # whole milliseconds
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        p = math.exp(rng.uniform(math.log(cfg.participation[0]), math.log(cfg.participation[1])))
        lot = src.instrument.lot_size
        qty = max(lot, round(p * src.volume_rate * horizon / NS_PER_S / lot) * lot)
        lo_s, hi_s = cfg.impact_scale
        scale = 1.0
        if hi_s > lo_s or lo_s != 1.0:  # drawn last: other episodes' draws stay as they were
            scale = math.exp(rng.uniform(math.log(lo_s), math.log(hi_s)))
        return EpisodeSpec(k, start, horizon, side, int(qty), scale)

    def _risk_limits(self, inst: Instrument) -> RiskLimits:
        lim = self._limits.get(inst.symbol)
        if lim is None:
            cfg = RiskLimitsConfig(
                allowed_symbols=(inst.symbol,),
                max_order_qty=HARD_MAX_ORDER_QTY,
                max_order_notional=HARD_MAX_ORDER_NOTIONAL,
                max_position=HARD_MAX_POSITION,
                max_open_orders=HARD_MAX_OPEN_ORDERS,
                max_open_orders_per_symbol=500,
                collar_bps=1000,
                participation_bps=5000,
                participation_window_s=self.config.risk_participation_window_s,
                orders_per_second=200,
                orders_per_minute=6000,
                cancels_per_second=400,
                cancels_per_minute=12000,
                max_daily_loss=HARD_MAX_DAILY_LOSS,
                stale_after_ms=10_000,
                rejects_before_kill=50,
            )
            lim = build_limits(cfg, [inst], log=False)
            self._limits[inst.symbol] = lim
        return lim

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        spec = (options or {}).get("episode")
        if not isinstance(spec, EpisodeSpec):
            spec = self.sample_episode(self.np_random)
        self._start(spec)
        if self._shadow is not None:
            self._shadow.reset(seed=0, options={"episode": spec})
            self._shadow_policy.reset(self._shadow.observation.ctx)
            self._shadow_done = False
        assert self._obs is not None
        return self._obs.features, self._info()

    def _shadow_reward(self, drain: bool) -> float:
        """The TWAP shadow's reward for this step (to the end of its episode if ``drain``)."""
        shadow = self._shadow
        total = 0.0
        while shadow is not None and not self._shadow_done:
            _, r, term, trunc, _ = shadow.step_action(self._shadow_policy.act(shadow.observation))
            total += float(r)
            self._shadow_done = term or trunc
            if not drain:
                break
        return total

    def _simulator(self, k: int) -> MarketSimulator:
        sim = self._sims.get(k)
        if sim is None:
            src = self.sources[k]
            lat = self.config.latency_us * 1000
            if isinstance(src, SyntheticSource):
                sim = SyntheticSimulator(
                    src.params,
                    regime=calibrated_regime(src.regime_name, src.params),
                    instrument=src.instrument,
                    latency=ConstantLatency(lat, lat),
                )
            else:
                model = default_impact(self.config.impact, src.instrument.symbol, day=src.day)
                sim = ReplaySimulator(
                    src.day,
                    instrument=src.instrument,
                    latency=ConstantLatency(lat, lat),
                    impact=model,
                )
                attr = next((a for a in _IMPACT_STRENGTH if hasattr(model, a)), None)
                if attr is not None:
                    self._impact_base[k] = (attr, float(getattr(model, attr)))
            if self._signal is not None:
                sim.engine.set_market_data_sink(_feed_from(sim, self._signal))
            self._sims[k] = sim
        return sim

    def _touch_tape(self, k: int) -> TouchTape:
        tape = self._tapes.get(k)
        if tape is None:
            src = self.sources[k]
            assert isinstance(src, Source)
            from signals.dataset import TouchTape

            tape = self._tapes[k] = TouchTape(src.day)
        return tape

    def _set_impact_scale(self, k: int, scale: float) -> None:
        """This episode's impact strength: the calibrated one times ``scale``."""
        base = self._impact_base.get(k)
        if base is not None:
            attr, value = base
            setattr(self._sims[k].impact, attr, value * scale)  # type: ignore[attr-defined]
        elif scale != 1.0 and not isinstance(self.sources[k], SyntheticSource):
            raise ValueError(f"impact model {self.config.impact!r} has no strength to scale")

    def _kill_switch(self, now_ns: int) -> KillSwitch:
        """Each episode is a fresh trading node, with a disengaged kill switch.

        A switch that stayed disengaged and untouched through the last episode is in
        exactly the state a new one starts in (same verifier, same file on disk), so it
        is reused: no state file is written and fsynced per episode. One that engaged
        (or changed in any way) is replaced by a new switch on a new file.
        """
        ks = self._kill
        if ks is None or ks.engaged or ks.status != _FRESH_KILL_SWITCH:
            if self._kill_path.exists():
                self._kill_path.unlink()
            ks = self._kill = KillSwitch(self._kill_path, self._verifier, now_ns)
        return ks

    def _start(self, spec: EpisodeSpec) -> None:
        src = self.sources[spec.source]
        inst = src.instrument
        warm_start = spec.start_ns - self.fspec.lookback * self.interval_ns
        sim = self._simulator(spec.source)
        end = spec.start_ns + spec.horizon_ns + round((self.config.sweep_max_s + 60) * NS_PER_S)
        sim_start = warm_start
        if self._signal is not None:
            # the signal's tracker needs its longest window of market before the features'
            # warm-up (the daemon's has watched the market all session): a recorded day's
            # own prints and touch, fed as the signal's training pipeline fed them, so the
            # venue starts where it does without the signal (the same market, order for
            # order); synthetic flow has no record, so its venue runs that much earlier
            signal_from = warm_start - SIGNAL_WARM_UP_S * NS_PER_S
            if isinstance(src, SyntheticSource):
                self._signal.reset()
                sim_start = signal_from
            else:
                self._signal.warm_from(self._touch_tape(spec.source), signal_from, warm_start)
        if isinstance(src, SyntheticSource):
            sim.reset(sim_start, end, seed=(spec.start_ns // 1_000_000 + spec.source) % 2**31)
        else:
            self._set_impact_scale(spec.source, spec.impact_scale)
            sim.reset(sim_start, min(end, src.day.end_ns), seed=spec.source)
        if sim_start < warm_start:
            sim.advance_to(warm_start)
        clock = SimClock(max(warm_start, sim.now_ns))
        router = self._link(clock)
        risk = RiskOverlay(
            self._risk_limits(inst), self._kill_switch(warm_start), now_ns=warm_start
        )
        risk.set_market_open(True, warm_start)
        executor = ExecutionEngine(
            clock=clock,
            router=router,
            risk=risk,
            ids=ClOrdIdGenerator("S", MemorySequenceStore()),
            instruments={inst.symbol: inst},
        )
        router.reset(sim, executor)
        parent = ParentOrder(
            "P1", inst.symbol, spec.side, spec.qty, spec.start_ns, spec.start_ns + spec.horizon_ns
        )
        executor.add_parent(parent)
        self.builder.reset()
        day_start = src.day_start_ns
        driver = ParentDriver(
            executor,
            "P1",
            _NoPolicy(),
            self.builder,
            mapper=ActionMapper(spec.side),
            time_of_day=lambda ns: (ns - day_start) / NS_PER_S,
        )
        # the risk overlay's participation window: the market volume before the warm-up
        window = self.config.risk_participation_window_s * NS_PER_S
        before = _volume_between(src, warm_start - window, warm_start)
        if before:
            executor.on_market_trade(inst.symbol, before, warm_start)
        self._clock, self._router, self._sim = clock, router, sim
        self._executor, self._driver, self._parent, self._spec = executor, driver, parent, spec
        self._tape = _Tape()
        self._tape.pos = len(sim.tape)
        self._swept = 0
        for k in range(1, self.fspec.lookback + 1):
            self._advance(warm_start + k * self.interval_ns)
            self.builder.market.sample(sim.book)
        book = sim.book
        t = spec.start_ns
        while book.mid is None and t < parent.end_ns:  # a one-sided book has no arrival price
            t += self.interval_ns
            self._advance(t)
        if book.mid is None:
            raise RuntimeError(f"{src.name}: the book stayed one-sided from {spec.start_ns}")
        parent.start(book.mid)
        self._prev_is = 0.0
        self._steps = 0
        self.result = EpisodeResult(spec, 0.0, 0, 0, 0, 0, 0)
        self._obs = driver.observe(book, self._clock.now_ns())

    def _advance(self, ts_ns: int) -> None:
        self._router.advance_to(ts_ns)
        tape = self._sim.tape
        n = len(tape.ts_ns)
        pos = self._tape.pos
        if pos < n:
            driver = self._driver
            assert driver is not None
            on_trade = driver.on_trade
            for i in range(pos, n):
                on_trade(
                    tape.price[i],
                    tape.qty[i],
                    Side.BUY if tape.aggressor[i] > 0 else Side.SELL,
                    tape.ts_ns[i],
                )
            self._tape.pos = n

    # ------------------------------------------------------------ stepping
    def step(
        self, action: np.int64 | int
    ) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        obs = self._obs
        if obs is None:
            raise RuntimeError("step() before reset()")
        index = int(action)
        if not 0 <= index < self.aspec.n:
            raise ValueError(f"action {index} outside Discrete({self.aspec.n})")
        return self.step_action(self.aspec.decode(index, obs.ctx), index)

    def step_action(
        self, act: Action, index: int = -1
    ) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """One decision with an explicit action (baselines; ``step`` decodes an index)."""
        driver, obs = self._driver, self._obs
        if driver is None or obs is None or self.result is None:
            raise RuntimeError("step() before reset()")
        book = self._sim.book
        decision = driver.act(book, obs, act)
        res = self.result
        if index >= 0:
            res.actions.append(index)
        res.denied += len(decision.denied)
        res.child_orders += sum(1 for r in decision.sent if type(r).__name__ == "NewOrderRequest")
        parent = self._parent
        now = self._clock.now_ns() + self.interval_ns
        self._advance(now)
        tracker = self._executor.tracker
        if len(tracker.orders) > 48:
            # finished children answered long ago (decisions are seconds apart, latency
            # microseconds); forgetting them keeps the per-decision scans short
            tracker.prune(keep_terminal=16)
        self._steps += 1
        terminated = parent.remaining_qty == 0 or now >= parent.end_ns
        cfg = self.config
        shaping = 0.0
        if terminated:
            res.deadline_left = parent.remaining_qty
            if cfg.deadline_penalty_bps:
                late = parent.remaining_qty / parent.qty - cfg.deadline_free
                shaping += cfg.deadline_penalty_bps * max(0.0, late)
        elif cfg.risk_aversion:
            shaping += cfg.risk_aversion * self._risk_term(parent)
        if terminated and parent.remaining_qty:
            self._finish()
        mid = book.mid
        if parent.remaining_qty and mid is None:
            mid = parent.arrival_mid
        is_now = parent.shortfall_bps(mark=mid) if parent.remaining_qty else parent.shortfall_bps()
        if terminated and parent.remaining_qty:
            is_now = self._charge_leftover()
        reward = -(is_now - self._prev_is) - shaping
        self._prev_is = is_now
        if self._shadow is not None:
            reward -= self._shadow_reward(drain=terminated)
        if terminated:
            res.is_bps = is_now
            res.filled = parent.filled_qty
            res.unfilled_at_end = parent.remaining_qty
            res.swept = self._swept
        else:
            obs = self._obs = driver.observe(book, now)
        return obs.features, float(reward), terminated, False, self._info()

    def _risk_term(self, parent: ParentOrder) -> float:
        """x**2 * sigma: the share still held times the mid's volatility over one decision
        interval in bps (the lookback's realised volatility, at least half a tick)."""
        x = parent.remaining_qty / parent.qty
        vol_ticks = max(0.5, self.builder.market.realized_vol_ticks(self._sim.book))
        return x * x * vol_ticks / parent.arrival_mid * 1e4

    def _finish(self) -> None:
        """Cancel what rests, then one market order for what the displayed book holds;
        with ``sweep_max_s`` > 0, repeat each ``sweep_interval_s`` while the book refills."""
        driver = self._driver
        assert driver is not None
        parent = self._parent
        book = self._sim.book
        settle = max(1_000_000, 4 * self.config.latency_us * 1000)
        deadline = self._clock.now_ns() + round(self.config.sweep_max_s * NS_PER_S)
        once = self.config.sweep_max_s <= 0
        driver.cancel_resting()
        self._advance(self._clock.now_ns() + settle)
        while parent.remaining_qty and (once or self._clock.now_ns() < deadline):
            before = parent.filled_qty
            driver.sweep(book)
            self._advance(self._clock.now_ns() + settle)
            self._swept += parent.filled_qty - before
            if once:
                break
            if parent.remaining_qty:
                self._advance(self._clock.now_ns() + round(self.config.sweep_interval_s * NS_PER_S))

    def _charge_leftover(self) -> float:
        """IS with a leftover no market order took: walking the displayed book, and beyond
        it the latent book of the impact model (:func:`latent_walk_ticks`)."""
        parent = self._parent
        book = self._sim.book
        side = parent.side
        left = parent.remaining_qty
        filled, shown = book.cost_to_fill(side, left)
        notional = float(shown)
        if filled < left:
            far = book.depth(side.opposite, 50)
            last = far[-1][0] if far else (book.best(side) or round(parent.arrival_mid))
            beyond = left - filled
            model = getattr(self._sim, "impact", None)
            extra = latent_walk_ticks(model, side.sign, beyond, self._clock.now_ns())
            notional += beyond * (last + side.sign * extra)
        cost = side.sign * (parent.notional + notional - parent.qty * parent.arrival_mid)
        return cost / (parent.qty * parent.arrival_mid) * 1e4

    def _info(self) -> dict[str, Any]:
        p = self._parent
        return {
            "filled": p.filled_qty,
            "qty": p.qty,
            "arrival_mid": p.arrival_mid,
            "source": self._source_names[self._spec.source],
        }

    # ------------------------------------------------------------ helpers
    @property
    def book(self) -> L2Book:
        """The engine's book (read-only view) of the current episode."""
        return self._sim.book

    @property
    def simulator(self) -> MarketSimulator:
        """The current episode's venue (benchmarks read impact and run it past the end)."""
        return self._sim

    @property
    def parent(self) -> ParentOrder:
        return self._parent

    @property
    def observation(self) -> Observation:
        if self._obs is None:
            raise RuntimeError("no observation before reset()")
        return self._obs

    def set_normaliser(self, normaliser: Normaliser) -> None:
        self.normaliser = normaliser
        self.builder.normaliser = normaliser

    def raw_features(self) -> np.ndarray:
        """The current decision's unnormalised features (for fitting the normaliser)."""
        return self.builder.last_raw.copy()

    def close(self) -> None:
        if self._shadow is not None:
            self._shadow.close()
        self._tmp.cleanup()
        super().close()


class _NoPolicy:
    """The environment takes actions from its caller; the driver's policy slot is unused."""

    name = "external"

    def reset(self, ctx: Any, seed: int | None = None) -> None:
        return None

    def act(self, obs: Observation) -> Any:
        raise RuntimeError("the environment's actions come from step()")


_IMPACT_STRENGTH = ("coef", "gamma", "kappa")  # square-root, linear permanent, transient


def latent_walk_ticks(model: object, sign: int, qty: int, now_ns: int) -> float:
    """Average price move, in ticks against us, of taking ``qty`` more units than the
    displayed book holds, from the impact model's latent book.

    Square-root model: the latent book's density grows linearly away from the price,
    so eating ``v`` units on top of the signed hole ``E`` our earlier trades left moves
    the price by ``c (f(E + v) - f(E))``, ``f(x) = sign(x) sqrt(|x|)``; with
    ``F(x) = (2/3) |x|**1.5`` its antiderivative, the average over the ``qty`` units is
    ``c ((F(E + q) - F(E)) / q - f(E))`` (the displayed prices already include the move
    ``c f(E)``). Linear permanent impact: half of ``gamma q``. Transient ``kappa
    q**beta``: its average ``kappa q**beta / (1 + beta)``. No model (or a synthetic book,
    whose depth is all displayed): 0.
    """
    if qty <= 0 or model is None:
        return 0.0
    if isinstance(model, SquareRootImpact):
        e = sign * model.hole(now_ns)
        q = float(qty)
        avg = (2.0 / 3.0) * (abs(e + q) ** 1.5 - abs(e) ** 1.5) / q - math.copysign(
            math.sqrt(abs(e)), e
        )
        return float(model.coef * avg)
    if isinstance(model, LinearPermanentImpact):
        return model.gamma * qty / 2.0
    if isinstance(model, TransientPropagatorImpact):
        return float(model.kappa * float(qty) ** model.beta / (1.0 + model.beta))
    return 0.0


def _source_weights(sources: Sequence[AnySource], synthetic_share: float) -> np.ndarray:
    """Episode weights: recorded sources by the length of their windows; synthetic ones
    share ``synthetic_share`` of the episodes equally when both kinds are present."""
    lens = np.asarray([sum(max(0, hi - lo) for lo, hi in s.windows) for s in sources], dtype=float)
    synthetic = np.asarray([isinstance(s, SyntheticSource) for s in sources])
    if synthetic.all() or not synthetic.any():
        out: np.ndarray = lens / lens.sum()
        return out
    w = np.where(synthetic, synthetic_share / synthetic.sum(), 0.0)
    recorded = np.where(synthetic, 0.0, lens)
    mixed: np.ndarray = w + (1.0 - synthetic_share) * recorded / recorded.sum()
    return mixed


def _volume_between(src: AnySource, t0: int, t1: int) -> int:
    """Market volume printed in [t0, t1): from the file, or expected for a synthetic regime."""
    if isinstance(src, SyntheticSource):
        return round(src.volume_rate * (t1 - t0) / NS_PER_S)
    cum = _cum_volume(src)
    ts = src.day.ts
    i0 = int(np.searchsorted(ts, t0, side="left"))
    i1 = int(np.searchsorted(ts, t1, side="left"))
    return int(cum[i1] - cum[i0])


_CUM: dict[int, np.ndarray] = {}


def _cum_volume(src: Source) -> np.ndarray:
    key = id(src.day)
    cum = _CUM.get(key)
    if cum is None:
        m = src.day.day.messages
        ex = (m.event == 4) | (m.event == 5)
        cum = np.concatenate([[0], np.cumsum(np.where(ex, m.size, 0))])
        _CUM[key] = cum
    return cum


SIGNAL_WARM_UP_S = (
    900  # three time constants of the signal's longest window (5-minute trade rate): 95 % warm
)


def _signal_feed(digest: str) -> SignalFeed:
    from signals.provider import SignalFeed

    return SignalFeed.load(digest=digest)


def _feed_from(
    sim: MarketSimulator, feed: MarketSignal
) -> Callable[[BookDelta | TradePrint], None]:
    """The venue's market-data sink: every book frame and print to ``feed``, in the
    order the exchange publishes them (a trade after the book changes it made)."""

    def sink(event: BookDelta | TradePrint) -> None:
        if type(event) is TradePrint:
            feed.on_trade(event.ts_ns, event.price, event.qty, event.aggressor)
        else:
            feed.on_book(sim.book, event.ts_ns)

    return sink


def episode_seeds(base: int, n: int) -> list[int]:
    """Seeds for ``n`` evaluation episodes, the same for every policy compared."""
    return [base * 1_000_003 + i for i in range(n)]


def with_config(cfg: EnvConfig, **kw: Any) -> EnvConfig:
    return replace(cfg, **kw)


def register() -> None:
    if ENV_ID not in gym.registry:
        gym.register(ENV_ID, entry_point="policies.env:make_default_env")


def make_default_env(**kw: Any) -> ExecutionEnv:
    """The registered constructor: the shipped AMZN training hours unless sources are given."""
    from policies.data import default_split

    sources = kw.pop("sources", None) or default_split(unseen_folders=[]).train
    return ExecutionEnv(sources, **kw)


register()
