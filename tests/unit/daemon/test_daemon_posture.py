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
from signals.provider import committed_signal_digest
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


def quiet_market(
    signals: MarketSignals, clocks: Clocks, seconds: int, seed: int = 3, symbol: str = SYMBOL
) -> None:
    """A seeded touch around 220.00, one quote every 0.5 s (the market clock moves)."""
    rng = random.Random(seed)
    tracker = signals.symbols[symbol].tracker
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
    bound = models.regime.for_ticker(SYMBOL)
    controller.regime = dataclasses.replace(bound, ticker_stats={SYMBOL: (np.zeros(2), np.ones(2))})
    signals.assess_all()
    assert signals.dynamic.posture(SYMBOL).sources == ("model_fault",)
    assert sample(signals, "rlexec_signal_model_faults_total", symbol=SYMBOL, model="posture") == 1
    clocks.market_ns += S
    signals.assess_all()  # the cadence goes on: the fault is renewed, nothing raised
    assert signals.dynamic.posture(SYMBOL).sources == ("model_fault",)


def test_a_symbol_the_regime_model_has_no_statistics_for_is_labelled_once_its_own_states_are_in(
    tmp_path: Path, models: Models
) -> None:
    """Never another ticker's scale (it labelled 99 % of AAPL "calm"): AAPL runs its
    posture without the regime until 60 of its own states, 10 s apart, are in."""
    assert "AAPL" not in models.regime.tickers
    with captured_logs() as logs:
        signals, _, clocks = build(tmp_path, models)
    s = signals.symbols["AAPL"]
    assert s.controller.regime is None
    assert any(e["event"] == "regime_statistics_missing" and e["symbol"] == "AAPL" for e in logs)
    assert signals.symbols[SYMBOL].controller.regime is not None  # AMZN: its own statistics
    with captured_logs() as logs:
        for _ in range(150):  # 12.5 minutes of market time, assessed every 5 s
            quiet_market(signals, clocks, 5, seed=clocks.market_ns, symbol="AAPL")
            signals.assess("AAPL", clocks.market_ns)
            if s.controller.regime is not None:
                break
    regime = s.controller.regime
    assert regime is not None and regime.ticker == "AAPL"
    assert [e["states"] for e in logs if e["event"] == "regime_statistics_estimated"] == [60]
    clocks.market_ns += S
    assert signals.assess("AAPL", clocks.market_ns).regime is not None


def test_a_policy_reading_the_signal_is_fed_the_nodes_own_tracker_and_model(
    tmp_path: Path, models: Models
) -> None:
    signals, _, _ = build(tmp_path, models)
    feed = signals.feed(SYMBOL)
    assert feed is not None
    assert feed.tracker is signals.symbols[SYMBOL].tracker  # kept current by the market feed
    assert feed.digest == committed_signal_digest()  # what a v3 policy's spec pins
    assert signals.feed("NOT-TRADED") is None
