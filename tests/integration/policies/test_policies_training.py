"""`rlexec train` end to end at toy size: seeded runs reproduce, artifacts load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.pinned_dir import sha256_file
from policies.artifact import WEIGHTS
from policies.baselines.passive import TOLERANCE_GRID, URGENCY_GRID
from policies.learned import load_policy
from policies.train import main as train_main
from tests.integration.policies.toy_training import TOY


def run(tmp: Path, name: str, algo: str, seed: int) -> Path:
    out = tmp / name
    assert (
        train_main(
            [
                *TOY,
                "--algo",
                algo,
                "--seed",
                str(seed),
                "--out",
                str(out),
                "--run-dir",
                str(tmp / f"run_{name}"),
            ]
        )
        == 0
    )
    return out


@pytest.mark.slow
def test_ppo_run_is_reproducible_and_loads(tmp_path: Path) -> None:
    a = run(tmp_path, "a", "ppo", 3)
    b = run(tmp_path, "b", "ppo", 3)
    assert sha256_file(a / WEIGHTS) == sha256_file(b / WEIGHTS)
    pol = load_policy(a)
    m = pol.artifact.manifest
    assert m["algo"] == "ppo" and m["seed"] == 3
    assert (
        m["data"]["train"][0]["sha256"] and m["baselines"]["almgren_chriss"]["sigma_bps_sqrt_s"] > 0
    )
    rows = (tmp_path / "run_a" / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("iteration,env_steps") and len(rows) == 3
    assert (
        json.loads((tmp_path / "run_a" / "summary.json").read_text())["training"]["iterations_run"]
        == 2
    )
    assert (tmp_path / "run_a" / "checkpoint_0002.safetensors").is_file()
    groups = m["evaluation"]["groups"]
    assert len(groups) == 2 and all(
        g["policies"]["learned"]["episodes"] == 2 for g in groups.values()
    )


@pytest.mark.slow
def test_dqn_run_writes_a_loadable_artifact(tmp_path: Path) -> None:
    out = run(tmp_path, "d", "dqn", 1)
    assert load_policy(out).artifact.manifest["algo"] == "dqn"


@pytest.mark.slow
def test_a_fold_run_records_its_protocol_in_the_manifest(tmp_path: Path) -> None:
    """What the gate and a reviewer need: the fold, data hashes, the synthetic regimes'
    calibration windows, the impact model, the tuned passive tactic, the reward's terms,
    wall and CPU time."""
    out = tmp_path / "fold"
    args = [*TOY, "--fold", "loto-AAPL", "--tune-episodes", "2", "--test-episodes", "0"]
    args += ["--risk-aversion", "0.03", "--out", str(out), "--run-dir", str(tmp_path / "r")]
    assert train_main(args) == 0
    m = load_policy(out).artifact.manifest
    assert m["data"]["fold"]["name"] == "loto-AAPL"
    assert [t["name"] for t in m["data"]["test"]] == ["AAPL_2012-06-21_1"]
    recorded = [t for t in m["data"]["train"] if "file" in t]
    synthetic = [t for t in m["data"]["train"] if "file" not in t]
    assert {t["name"] for t in recorded} == {"AMZN_2012-06-21_5"} and recorded[0]["sha256"]
    assert {t["name"] for t in synthetic} == {
        f"synthetic_AMZN_{r}" for r in ("volatile", "trending", "thin", "wide")
    }
    assert all(t["calibrated_on"] == "AMZN_2012-06-21_5@09:30-12:00,13:30-16:00" for t in synthetic)
    assert m["features"]["version"] == 2
    assert m["env"]["participation"] == [0.01, 0.3] and "risk_aversion" not in m["env"]
    assert m["training"]["env"]["risk_aversion"] == 0.03
    assert m["training"]["env"]["impact_scale"] == [0.5, 2.0]
    assert m["impact"]["model"] == "sqrt" and "AMZN" in m["impact"]["per_ticker"]
    tuned = m["baselines"]["passive_catchup"]
    points = [(g["urgency"], g["tolerance"]) for g in tuned["grid"]]
    assert points == [(u, t) for u in URGENCY_GRID for t in TOLERANCE_GRID]
    assert (tuned["urgency"], tuned["tolerance"]) in points
    assert "no riskier than TWAP" in tuned["chosen_by"]
    assert m["training"]["cpu_minutes"] > 0 and m["training"]["minutes"] > 0
