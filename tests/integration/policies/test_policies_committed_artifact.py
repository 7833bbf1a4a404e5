"""The committed policy: verifies, carries its evaluation, and trades through the env."""

from __future__ import annotations

from pathlib import Path

from core.log import configure
from policies.artifact import artifact_digest
from policies.data import default_split
from policies.env import EnvConfig, ExecutionEnv
from policies.learned import load_policy
from policies.rollout import run_episode

ARTIFACT = Path(__file__).resolve().parents[3] / "policies" / "artifacts" / "ppo_amzn"


def test_committed_policy_verifies_and_documents_itself() -> None:
    digest = artifact_digest(ARTIFACT)
    pol = load_policy(ARTIFACT, expected_sha256=digest)
    m = pol.artifact.manifest
    assert m["algo"] == "ppo" and isinstance(m["seed"], int)
    assert m["command"].startswith("python -m policies.train")
    assert m["training"]["minutes"] <= 30 and not m["training"]["cut_short_by_time"]
    groups = m["evaluation"]["groups"]
    assert any(g.startswith("AMZN") for g in groups) and any(g.startswith("AAPL") for g in groups)
    for summary in groups.values():
        assert {"learned", "twap", "vwap", "pov", "almgren_chriss", "random"} <= set(
            summary["policies"]
        )
    assert sum(f.stat().st_size for f in ARTIFACT.iterdir()) < 5_000_000


def test_committed_policy_runs_an_unseen_ticker_episode() -> None:
    configure(level="ERROR")
    pol = load_policy(ARTIFACT)
    split = default_split()
    aapl = [s for s in split.test if s.name.startswith("AAPL")]
    env = ExecutionEnv(
        aapl,
        feature_spec=pol.artifact.feature_spec,
        normaliser=pol.artifact.normaliser,
        config=EnvConfig(horizon_s=(120.0, 180.0)),
    )
    res = run_episode(env, pol, seed=1)
    assert res.filled + res.unfilled_at_end == res.spec.qty
    assert pol.guard_trips == 0
