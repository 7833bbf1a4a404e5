"""The node's risk posture: which clock decides what, and what a stalled feed, a frozen
market clock or a broken model can and cannot do to the overlay's limits.

Real parts throughout: the committed model artifacts, a real RiskOverlay built from the
daemon's default configuration, a MarketTracker fed a seeded synthetic touch. The market
clock and the monotonic clock of the backstop are simulated (plain integers the test
moves), so every case is exact.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import numpy as np
import pytest

from daemon.config import DaemonConfig
from daemon.metrics import Metrics
from daemon.posture import WALL_BACKSTOP_TTLS, MarketSignals, Models
from risk.overlay import RiskOverlay
from tests.captured_logs import captured_logs

S = 1_000_000_000
T0 = 1_340_271_300 * S
SYMBOL = "AMZN"


@pytest.fixture(scope="module")
def models() -> Models:
    return Models.load(None)


class Clocks:
    def __init__(self) -> None:
        self.market_ns = T0
        self.mono = 1000.0
        self.synced = True


def build(tmp_path: Path, models: Models) -> tuple[MarketSignals, RiskOverlay, Clocks]:
    cfg = DaemonConfig()
    risk = RiskOverlay.from_config(
        cfg.risk,
        [i.instrument() for i in cfg.instruments],
        state_path=str(tmp_path / "kill.json"),
        reset_key=b"k" * 32,
        now_ns=T0,
    )
    clocks = Clocks()
    signals = MarketSignals(
        cfg.signals,
        [i.symbol for i in cfg.instruments],
        risk=risk,
        metrics=Metrics(),
        now_ns=lambda: clocks.market_ns,
        synced=lambda s: clocks.synced,
        models=models,
        monotonic=lambda: clocks.mono,
    )
    return signals, risk, clocks


def quiet_market(signals: MarketSignals, clocks: Clocks, seconds: int, seed: int = 3) -> None:
    """A seeded touch around 220.00, one quote every 0.5 s (the market clock moves)."""
    rng = random.Random(seed)
    tracker = signals.symbols[SYMBOL].tracker
    bid = 22_000
    for _ in range(seconds * 2):
        clocks.market_ns += S // 2
        bid += rng.choice((-1, 0, 0, 1))
        tracker.on_quote(clocks.market_ns, bid, rng.randrange(100, 400), bid + rng.choice((1, 2, 3)),
                         rng.randrange(100, 400))  # fmt: skip


def tightened_by_a_spread_jump(tmp_path: Path, models: Models) -> tuple[MarketSignals, RiskOverlay, Clocks]:  # fmt: skip
    """Six quiet minutes (past the detectors' warm-up), then the spread opens 40 ticks."""
    signals, risk, clocks = build(tmp_path, models)
    quiet_market(signals, clocks, 360)
    tracker = signals.symbols[SYMBOL].tracker
    clocks.market_ns += S // 2
    tracker.on_quote(clocks.market_ns, tracker.bid - 20, 300, tracker.ask + 20, 300)
    signals.assess_all()
    assert "spread_jump" in signals.dynamic.asks(SYMBOL)
    return signals, risk, clocks


def sample(signals: MarketSignals, name: str, **labels: str) -> float | None:
    return signals.metrics.registry.get_sample_value(name, labels)


def test_a_stalled_feed_never_loosens_the_posture_however_long_the_market_clock_runs(
    tmp_path: Path, models: Models
) -> None:
    signals, risk, clocks = tightened_by_a_spread_jump(tmp_path, models)
    clocks.synced = False  # the feed stalls; the (wall) market clock runs on
    for _ in range(600):  # 10 minutes: far past the 30 s release and the 60 s TTL
        clocks.market_ns += S
        clocks.mono += 0.1  # (but not past the wall backstop)
        assert signals.assess(SYMBOL) is None
        signals.assess_all()
    assert "spread_jump" in signals.dynamic.asks(SYMBOL)
    assert (
        risk.limits.symbols[SYMBOL].max_order_qty
        == signals.dynamic.configured.symbols[SYMBOL].max_order_qty
    )  # the configuration itself never moves
    assert signals.dynamic.posture(SYMBOL).limits.max_order_qty < 10_000


def test_a_frozen_market_clock_cannot_hold_a_tightening_past_the_wall_backstop(
    tmp_path: Path, models: Models
) -> None:
    signals, _, clocks = tightened_by_a_spread_jump(tmp_path, models)
    backstop_s = WALL_BACKSTOP_TTLS * signals.rules.ttl_s
    clocks.mono += backstop_s - 1  # the market clock stands still (a lock-step that ended)
    signals.assess_all()
    assert "spread_jump" in signals.dynamic.asks(SYMBOL), "not yet: renewed < backstop ago"
    clocks.mono += 2
    with captured_logs() as logs:
        signals.assess_all()
    assert not signals.dynamic.posture(SYMBOL).tightened
    lapsed = [e for e in logs if e["event"] == "risk_posture_changed"]
    assert lapsed and all(e["action"] == "expire" for e in lapsed)
    assert "wall-clock backstop" in lapsed[-1]["why"]
    assert sample(signals, "rlexec_risk_posture_changes_total", symbol=SYMBOL,
                  source="spread_jump", action="expire") == 1  # fmt: skip
    assert sample(signals, "rlexec_risk_posture_scale", symbol=SYMBOL, cap="order_qty") == 1.0


def test_the_market_clock_standing_still_is_not_assessed_twice(
    tmp_path: Path, models: Models
) -> None:
    signals, _, clocks = build(tmp_path, models)
    quiet_market(signals, clocks, 10)
    assert signals.assess(SYMBOL) is not None
    assert signals.assess(SYMBOL) is None  # nothing new in market time: nothing to decide
    clocks.market_ns += 1
    assert signals.assess(SYMBOL) is not None


def test_a_regime_model_gone_non_finite_tightens_as_a_model_fault(
    tmp_path: Path, models: Models
) -> None:
    broken = dataclasses.replace(
        models, regime=dataclasses.replace(models.regime, means=models.regime.means * np.nan)
    )
    signals, _, clocks = build(tmp_path, broken)
    quiet_market(signals, clocks, 10)
    with captured_logs() as logs:
        signals.assess_all()
    assert signals.dynamic.posture(SYMBOL).sources == ("model_fault",)
    assert sample(signals, "rlexec_signal_model_faults_total", symbol=SYMBOL, model="regime") == 1
    assert any(e["event"] == "signal_model_fault" and e["model"] == "regime" for e in logs)
    with captured_logs() as logs:
        for _ in range(30):  # failing at every assessment: counted each time, said once a minute
            clocks.market_ns += S
            clocks.mono += 1.0
            signals.assess_all()
    assert sample(signals, "rlexec_signal_model_faults_total", symbol=SYMBOL, model="regime") == 31
    assert not [e for e in logs if e["event"] == "signal_model_fault"]
    clocks.mono += 31.0
    clocks.market_ns += S
    with captured_logs() as logs:
        signals.assess_all()
    said = [e for e in logs if e["event"] == "signal_model_fault"]
    assert len(said) == 1 and said[0]["faults_so_far"] == 32


def test_a_model_that_raises_tightens_instead_of_stopping_the_assessments(
    tmp_path: Path, models: Models
) -> None:
    signals, _, clocks = build(tmp_path, models)
    quiet_market(signals, clocks, 10)
    controller = signals.symbols[SYMBOL].controller
    controller.volatility = None
    # a regime model whose arrays do not fit its features: serving it raises
    controller.regime = dataclasses.replace(models.regime, center=np.zeros(2))
    signals.assess_all()
    assert signals.dynamic.posture(SYMBOL).sources == ("model_fault",)
    assert sample(signals, "rlexec_signal_model_faults_total", symbol=SYMBOL, model="posture") == 1
    clocks.market_ns += S
    signals.assess_all()  # the cadence goes on: the fault is renewed, nothing raised
    assert signals.dynamic.posture(SYMBOL).sources == ("model_fault",)
