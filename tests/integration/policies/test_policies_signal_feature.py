"""The short-horizon signal as a policy feature (feature set v3), on the one execution
path: the environment's venue feeds the signal's tracker through the market data it
publishes, as the exchange feeds the daemon's; a policy without the signal builds and
behaves as before; a builder never runs a signal policy without its own model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from policies.actions import ActionSpec
from policies.artifact import load_artifact, save_artifact
from policies.data import load_source, parse_windows, repo_data
from policies.env import SIGNAL_WARM_UP_S, EnvConfig, ExecutionEnv
from policies.features import FeatureBuilder, FeatureSpec, Normaliser
from policies.learned import load_policy
from policies.network import PolicyNet
from signals.market import MarketTracker
from signals.provider import SignalFeed, committed_signal_digest

ROOT = Path(__file__).resolve().parents[3]
COMMITTED = ROOT / "policies" / "artifacts" / "ppo_amzn"
_EXEC_VISIBLE, _EXEC_HIDDEN, _HALT = 4, 5, 7


def signal_spec() -> FeatureSpec:
    return FeatureSpec.of_version(3, signal=committed_signal_digest())


def test_the_simulated_venues_signal_is_the_one_the_model_was_trained_and_scored_on() -> None:
    # A parent that only waits leaves the replayed market as recorded, so the signal the
    # environment computes from its venue's published frames must equal the signal of a
    # tracker fed the LOBSTER file the way signals.dataset fed it for training.
    source = load_source(repo_data() / "AMZN_2012-06-21_5", parse_windows("10:00-11:00"))
    spec = signal_spec()
    env = ExecutionEnv([source], feature_spec=spec, config=EnvConfig(horizon_s=(120.0, 300.0)))
    reference = SignalFeed.load(digest=spec.signal)
    day = source.day.day
    m, b = day.messages, day.book
    try:
        for seed in (0, 1):
            env.reset(seed=seed)
            sign = env.parent.side.sign
            got, when = [], []
            done = False
            while not done:
                got.append(float(env.builder.last_raw[-1]) * sign)
                when.append(env.observation.ctx.now_ns)
                *_, term, trunc, _ = env.step(env.aspec.wait_index)
                done = term or trunc
            warm = (
                env.parent.start_ns - (spec.lookback * spec.interval_ns) - SIGNAL_WARM_UP_S * 10**9
            )
            tracker = MarketTracker()
            i = int(np.searchsorted(m.ts_ns, warm, side="right"))
            want = []
            for t in when:
                while i < len(m.ts_ns) and m.ts_ns[i] <= t:
                    ev = m.event[i]
                    if ev in (_EXEC_VISIBLE, _EXEC_HIDDEN):
                        tracker.on_trade(int(m.ts_ns[i]), int(m.price[i]), int(m.size[i]), bool(m.direction[i] < 0))  # fmt: skip
                    if ev != _HALT and 0 < b.bid_px[i, 0] < b.ask_px[i, 0]:
                        tracker.on_quote(int(m.ts_ns[i]), int(b.bid_px[i, 0]), int(b.bid_sz[i, 0]), int(b.ask_px[i, 0]), int(b.ask_sz[i, 0]))  # fmt: skip
                    i += 1
                want.append(reference.server.predict(tracker, t))
            assert len(got) > 20
            assert np.abs(np.asarray(got) - np.asarray(want)).max() < 1e-6  # float32 rounding
            assert np.std(want) > 0.01  # a signal that moves, not a constant
    finally:
        env.close()


def test_with_or_without_the_signal_every_order_meets_the_same_market() -> None:
    # The signal's warm-up is read from the recorded day, not run through the venue, so
    # a policy with the signal and one without trade against the same replay: a schedule
    # that reads no features gets the same fills either way, on level-1 data too (whose
    # deeper book an earlier start would have rebuilt differently).
    from policies.baselines import ScheduleTactic, TwapSchedule
    from policies.rollout import run_episode

    source = load_source(repo_data() / "AAPL_2012-06-21_1", parse_windows("13:30-15:00"))
    cfg = EnvConfig(horizon_s=(180.0, 600.0), participation=(0.05, 0.3))
    results = []
    for spec in (FeatureSpec(), signal_spec()):
        env = ExecutionEnv([source], feature_spec=spec, config=cfg)
        try:
            results.append([run_episode(env, ScheduleTactic(TwapSchedule()), seed=s).is_bps for s in range(8)])  # fmt: skip
        finally:
            env.close()
    assert results[0] == results[1]


def test_a_policy_without_the_signal_keeps_its_spec_and_builds_without_a_feed() -> None:
    art = load_artifact(COMMITTED)
    manifest = json.loads((COMMITTED / "manifest.json").read_text())
    assert art.feature_spec.signal is None
    assert art.feature_spec.to_json() == manifest["features"]  # no new key written
    feed = SignalFeed.load()
    builder = load_policy(COMMITTED).feature_builder(signal=feed)
    assert builder.signal is None  # a set without the signal never reads one


def test_a_signal_policy_refuses_to_build_without_its_own_models_feed(tmp_path: Path) -> None:
    spec = signal_spec()
    aspec = ActionSpec()
    net = PolicyNet(len(spec.names), aspec.n)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
    save_artifact(
        tmp_path / "v3",
        net,
        feature_spec=spec,
        normaliser=Normaliser.identity(len(spec.names)),
        action_spec=aspec,
        extra={"name": "v3"},
    )
    policy = load_policy(tmp_path / "v3")
    assert policy.signal_digest == spec.signal
    with pytest.raises(ValueError, match="no signal feed was given"):
        policy.feature_builder()
    builder = policy.feature_builder(signal=SignalFeed.load())
    assert builder.signal is not None
    other = SignalFeed.load()
    other._digest = "0" * 64  # a feed of another model
    with pytest.raises(ValueError, match="trained with"):
        FeatureBuilder(spec, signal=other)
    # and a v2 policy with another feature layout cannot take over a v3 parent's builder
    committed = load_policy(COMMITTED)
    change = committed.layout_change(policy)
    assert change is not None and "signal" in change and "version 3 -> 1" in change


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        (
            {"version": 3, "names": (*FeatureSpec.of_version(2).names, "signal")},
            "digest is missing",
        ),
        ({"signal": "a" * 64}, "has no signal feature"),
        ({"version": 3, "signal": "xyz"}, "not a sha256"),
    ],
)
def test_a_spec_and_its_signal_digest_go_together(kw: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FeatureSpec(**kw)  # type: ignore[arg-type]
