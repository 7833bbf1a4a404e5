"""The posture controller turns market anomalies and model outputs into tighten requests,
and no sequence of model outputs, through the risk side, ever loosens a limit."""

from __future__ import annotations

import dataclasses
import math
import tempfile
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.instruments import Instrument
from risk import RiskOverlay
from risk.dynamic_limits import DynamicLimits, looser_than
from risk.limits import RiskLimitsConfig
from risk.trading_state import TradingState
from signals.market import MarketTracker
from signals.posture import PostureController, PostureRules
from signals.regime import Regime
from signals.volatility import HORIZON_S, VolatilityModel

NS = 1_000_000_000
T0 = 36_000 * NS


def calm_tracker(seconds: int = 400) -> MarketTracker:
    """A steady two-tick market for ``seconds``: quotes every 100 ms, sizes 500 / 500."""
    t = MarketTracker()
    for k in range(seconds * 10):
        size = 500 + (k % 7)
        t.on_quote(T0 + k * NS // 10, 10_000, size, 10_002, 1_000 - size)
    return t


def flat_vol(sigma_bps_per_s: float) -> VolatilityModel:
    """A HAR with only an intercept: the same forecast whatever happened."""
    var_min = sigma_bps_per_s**2 * HORIZON_S
    return VolatilityModel(np.array([math.log(var_min + 0.01), 0.0, 0.0, 0.0]), 0.0, {})


def now_of(t: MarketTracker) -> int:
    return t.ts_ns + NS // 10


def test_a_calm_market_asks_for_nothing() -> None:
    t = calm_tracker()
    a = PostureController("AMZN", flat_vol(1.0), None).assess(t, now_of(t))
    assert a.requests == () and a.releases == ()
    assert a.observed["spread_ratio"] == pytest.approx(1.0, abs=0.01)


def test_a_spread_jump_halves_the_size_cap_and_is_released_after_quiet() -> None:
    t = calm_tracker()
    ctl = PostureController("AMZN", None, None)
    t.on_quote(now_of(t), 9_995, 500, 10_005, 500)  # 10 ticks against a 2-tick mean
    (req,) = ctl.assess(t, now_of(t) + 1).requests
    assert (req.source, req.size_scale, req.participation_scale, req.reduce_only) == ("spread_jump", 0.5, 1.0, False)  # fmt: skip
    assert "spread 5.0x" in req.reason
    t.on_quote(now_of(t) + 2, 10_000, 500, 10_002, 500)
    later = ctl.assess(t, now_of(t) + 10 * NS)
    assert later.requests == () and later.releases == ()  # quiet for 10 s only
    done = ctl.assess(t, now_of(t) + 31 * NS)
    assert done.releases == ("spread_jump",) and ctl.active == ()


def test_a_book_that_stays_thin_asks_for_reduce_only_and_one_thin_quote_does_not() -> None:
    t = calm_tracker()
    ctl = PostureController("AMZN", None, None)
    t.on_quote(now_of(t), 10_000, 10, 10_002, 10)
    assert ctl.assess(t, now_of(t) + NS).requests == ()
    for k in range(150):  # 150 s of a touch 50x thinner than its norm
        t.on_quote(t.ts_ns + NS, 10_000, 10 + k % 2, 10_002, 10)
    (req,) = ctl.assess(t, now_of(t)).requests
    assert req.source == "vanishing_book" and req.reduce_only


def test_a_burst_of_cancels_lowers_participation() -> None:
    t = calm_tracker()
    ts = now_of(t)
    for k in range(50):  # the touch refilled and emptied without trading, 50 times in 5 s
        t.on_quote(ts + k * NS // 10, 10_000, 5_000, 10_002, 500)
        t.on_quote(ts + k * NS // 10 + NS // 20, 10_000, 500, 10_002, 500)
    reqs = PostureController("AMZN", None, None).assess(t, t.ts_ns + 1).requests
    assert [(r.source, r.participation_scale) for r in reqs] == [("cancel_burst", 0.5)]


def test_a_move_beyond_k_forecast_sigmas_asks_for_reduce_only_and_a_smaller_one_does_not() -> None:
    t = calm_tracker()
    ts = now_of(t)
    for k in range(30):  # +15 ticks over 3 s: ~15 bps at a 10,001 mid
        t.on_quote(ts + k * NS // 10, 10_000 + k // 2, 500, 10_002 + k // 2, 500)
    now = t.ts_ns + 2 * NS
    # the whole-second mids moved 14 bps; 10-s sigma 3.2 bps -> 4.4 sigma, below 6 (the
    # retreating asks also read as cancels, which this test does not look at)
    calm = PostureController("AMZN", flat_vol(1.0), None).assess(t, now).requests
    assert "move_beyond_sigma" not in {r.source for r in calm}
    reqs = PostureController("AMZN", flat_vol(0.5), None).assess(t, now).requests
    (req,) = [r for r in reqs if r.source == "move_beyond_sigma"]
    assert req.reduce_only and req.reason == "+14.0 bps in 10 s = 8.8 sigma"


def test_no_anomaly_fires_before_the_warm_up() -> None:
    t = calm_tracker(seconds=60)
    t.on_quote(now_of(t), 9_990, 1, 10_010, 500)
    assert PostureController("AMZN", flat_vol(0.01), None).assess(t, now_of(t)).requests == ()


class ScriptedRegime:
    """Test double for the regime model: returns the probabilities hypothesis picks
    (the property is about *any* model output, which a fitted model cannot be made to
    produce on demand)."""

    def __init__(self) -> None:
        self.probs: dict[Regime, float] = {}

    def regime_probs_of(self, tracker: MarketTracker) -> dict[Regime, float]:
        return self.probs


class ScriptedVolatility:
    """Test double for the volatility model, for the same reason."""

    def __init__(self) -> None:
        self.sigma = 1.0

    def sigma_bps(self, tracker: MarketTracker, seconds: float) -> float:
        return self.sigma


def test_a_non_finite_model_output_tightens_rather_than_being_ignored() -> None:
    t = calm_tracker()
    reg, vol = ScriptedRegime(), ScriptedVolatility()
    reg.probs = dict.fromkeys(Regime, math.nan)
    vol.sigma = math.inf
    (req,) = PostureController("AMZN", vol, reg).assess(t, now_of(t)).requests
    assert req.source == "model_fault" and req.size_scale == 0.5 == req.participation_scale


def test_rules_that_could_loosen_or_never_lapse_are_refused() -> None:
    with pytest.raises(ValueError, match="regime_scale"):
        PostureRules(regime_scale=1.5)
    with pytest.raises(ValueError, match="release_after_s"):
        PostureRules(ttl_s=10, release_after_s=20)


LIMITS = RiskLimitsConfig(allowed_symbols=("AMZN",), max_order_qty=1_000,
                          max_order_notional=Decimal("500000"), participation_bps=2_000)  # fmt: skip
probability = st.one_of(st.floats(0, 1), st.floats(allow_nan=True, allow_infinity=True))
model_output = st.fixed_dictionaries({
    "probs": st.dictionaries(st.sampled_from(list(Regime)), probability),
    "sigma": st.one_of(st.floats(0, 100), st.floats(allow_nan=True, allow_infinity=True)),
    "quote": st.tuples(st.integers(9_950, 10_000), st.integers(0, 3_000), st.integers(1, 60),
                       st.integers(0, 3_000)),
    "seconds": st.floats(0.01, 120),
})  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.lists(model_output, min_size=1, max_size=30))
def test_no_sequence_of_model_outputs_loosens_a_limit_beyond_the_configuration(outputs: list[dict[str, object]]) -> None:  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        ov = RiskOverlay.from_config(LIMITS, (Instrument("AMZN"),), state_path=str(Path(tmp) / "ks.json"),
                                     reset_key=b"k" * 32, now_ns=T0)  # fmt: skip
        cfg = ov.limits.symbols["AMZN"]
        dyn = DynamicLimits(ov.limits, apply=ov.apply_posture)
        reg, vol = ScriptedRegime(), ScriptedVolatility()
        ctl = PostureController("AMZN", vol, reg, PostureRules(warmup_s=0))
        t = MarketTracker()
        now = T0
        for out in outputs:
            reg.probs = out["probs"]  # type: ignore[assignment]
            vol.sigma = out["sigma"]  # type: ignore[assignment]
            bid, bsz, width, asz = out["quote"]  # type: ignore[misc]
            now += int(out["seconds"] * NS)  # type: ignore[operator]
            t.on_quote(now, bid, bsz, bid + width, asz)
            a = ctl.assess(t, now)
            # the daemon's glue, as docs/signals.md gives it
            for req in a.requests:
                dyn.tighten(**dataclasses.asdict(req), now_ns=now)
            for src in a.releases:
                dyn.release(a.symbol, src, now)
            dyn.expire(now)
            lim = ov._symbols["AMZN"].limits
            assert looser_than(cfg, lim) is None
            assert lim.max_order_qty <= 1_000 and lim.participation_bps <= 2_000
        now += 1_000 * NS
        dyn.expire(now)
        assert ov._symbols["AMZN"].limits == cfg
        assert ov.trading_state("AMZN") is TradingState.ACTIVE


def test_a_confident_volatile_or_thin_regime_tightens_mildly_and_an_unsure_one_does_not() -> None:
    t = calm_tracker()
    reg = ScriptedRegime()
    ctl = PostureController("AMZN", None, reg)
    reg.probs = {Regime.VOLATILE: 0.95, Regime.CALM: 0.05, Regime.THIN: 0.0, Regime.TRENDING: 0.0}
    a = ctl.assess(t, now_of(t))
    assert (a.regime, a.regime_prob) == (Regime.VOLATILE, 0.95)
    assert [(r.source, r.size_scale, r.participation_scale) for r in a.requests] == [("regime_volatile", 0.75, 0.75)]  # fmt: skip
    reg.probs = {Regime.VOLATILE: 0.5, Regime.THIN: 0.5, Regime.CALM: 0.0, Regime.TRENDING: 0.0}
    assert ctl.assess(t, now_of(t) + NS).requests == ()
