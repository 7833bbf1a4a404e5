"""``rlexec retrain`` from decisions recorded on the one execution path (the training
environment's ParentDriver, written by a real DecisionRecorder into Parquet parts):
a candidate that verifies, the gate refusing a worse one, and recordings that must not
be trained on refused in one line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from policies.artifact import artifact_digest, load_artifact
from policies.data import load_source, parse_windows, repo_data
from policies.env import EnvConfig, ExecutionEnv
from policies.learned import LearnedPolicy, load_policy
from policies.recorded import record_episodes
from policies.retrain import RetrainRefused, load_experience, main
from signals.recording import DecisionRecorder, read_decisions
from tests.integration.policies.test_gate_cli import COMMITTED, waiting_artifact
from tests.integration.policies.toy_training import train_toy

ROOT = Path(__file__).resolve().parents[3]
TRAIN_WINDOW = "10:00-10:40"  # inside the training hours of both artifacts


def record(policy: LearnedPolicy, root: Path, episodes: int = 6, seed: int = 11) -> int:
    manifest_env = EnvConfig.from_json(policy.artifact.manifest.get("env", {}))
    source = load_source(repo_data() / "AMZN_2012-06-21_5", parse_windows(TRAIN_WINDOW))
    env = ExecutionEnv(
        [source],
        feature_spec=policy.artifact.feature_spec,
        normaliser=policy.artifact.normaliser,
        action_spec=policy.artifact.action_spec,
        config=replace(manifest_env, horizon_s=(60.0, 120.0)),
    )
    try:
        with DecisionRecorder(root, flush_rows=40) as rec:
            return record_episodes(env, policy, rec, episodes=episodes, seed=seed, symbol="AMZN")
    finally:
        env.close()


@pytest.fixture(scope="module")
def committed_recordings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("recorded") / "decisions"
    assert record(load_policy(COMMITTED), root) > 30
    return root


def retrain(*args: str) -> int:
    return main([*args, "--epochs", "3", "--no-progress", "--no-plots"])


def test_a_candidate_retrained_from_recordings_verifies_and_keeps_the_base_layout(
    committed_recordings: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "candidate"
    assert retrain("--from", str(committed_recordings), "--out", str(out), "--no-gate") == 0
    digest = artifact_digest(out)
    cand = load_policy(out, expected_sha256=digest)  # every sum, spec and tensor checked
    base = load_artifact(COMMITTED)
    assert cand.artifact.feature_spec == base.feature_spec
    assert cand.artifact.normaliser.to_json() == base.normaliser.to_json()
    m = cand.artifact.manifest
    rows = read_decisions(committed_recordings).num_rows
    assert m["retrain"]["base"]["digest"] == base.digest
    assert m["retrain"]["fit"]["rows"] == rows and m["retrain"]["fit"]["parents"] == 6
    assert m["data"] == base.manifest["data"]  # gated on the base's held-out data
    assert "evaluation" not in m  # the base's figures say nothing of the candidate
    assert "monitoring" in base.manifest and "monitoring" not in m  # nor its references
    assert cand.artifact.expected_is is None and cand.artifact.feature_stats is None
    assert f"digest {digest}: {rows} decisions of 6 parents" in capsys.readouterr().out


@pytest.mark.slow
def test_retraining_on_a_worse_policys_recordings_gives_a_candidate_the_gate_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base_dir = waiting_artifact(tmp_path / "always_wait")
    record(load_policy(base_dir), tmp_path / "rec", episodes=4)
    out = tmp_path / "candidate"
    status = retrain(
        "--from", str(tmp_path / "rec"), "--base", str(base_dir), "--out", str(out),
        "--orders", "40", "--min-orders", "10", "--bootstrap", "200", "--workers", "1",
        "--cache", str(tmp_path / "cache.sqlite"), "--report", str(tmp_path / "report"),
    )  # fmt: skip
    assert status == 1
    load_policy(out, expected_sha256=artifact_digest(out))  # written, verified, not promoted
    printed = capsys.readouterr().out
    assert "promotion gate for always_wait_retrained: FAILED" in printed
    assert "the gate refused always_wait_retrained" in printed


def test_recordings_of_another_policy_are_refused_naming_the_digests(
    committed_recordings: Path, tmp_path: Path
) -> None:
    other = load_policy(waiting_artifact(tmp_path / "always_wait"))
    with pytest.raises(RetrainRefused, match="made by other policies") as caught:
        load_experience(committed_recordings, other)
    assert load_artifact(COMMITTED).digest[:12] in str(caught.value)


def test_empty_and_corrupt_recordings_are_refused_naming_the_part(
    committed_recordings: Path, tmp_path: Path
) -> None:
    base = load_policy(COMMITTED)
    (tmp_path / "empty").mkdir()
    with pytest.raises(RetrainRefused, match="no decisions recorded"):
        load_experience(tmp_path / "empty", base)
    with pytest.raises(RetrainRefused, match="no recordings folder"):
        load_experience(tmp_path / "nowhere", base)
    bad = tmp_path / "bad"
    shutil.copytree(committed_recordings, bad)
    part = sorted(bad.glob("day=*/part-*.parquet"))[1]
    part.write_bytes(part.read_bytes()[:100])
    with pytest.raises(RetrainRefused, match=part.name):
        load_experience(bad, base)


def test_the_command_refuses_bad_recordings_in_one_line_with_exit_status_2(
    committed_recordings: Path, tmp_path: Path
) -> None:
    other = waiting_artifact(tmp_path / "always_wait")
    proc = subprocess.run(
        [
            sys.executable, "-m", "daemon.cli", "retrain", "--from", str(committed_recordings),
            "--base", str(other), "--out", str(tmp_path / "cand"),
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rlexec retrain: recordings ")
    assert "made by other policies" in lines[0]
    assert not (tmp_path / "cand").exists()


# ------------------------------------------------- fine-tuning in the simulator
TOY_TRAIN = (
    "--envs 2 --workers 1 --eval-every 2 --val-episodes 2 --calibrate-episodes 0 "
    "--tune-episodes 2 --critic-episodes 2 --critic-epochs 2"
)


@pytest.fixture(scope="module")
def toy_recordings(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A base of the layout this code trains (the committed one is older) and its own
    recorded decisions."""
    root = tmp_path_factory.mktemp("toy")
    base = train_toy(root / "toy_base", "--seed", "1")
    assert record(load_policy(base), root / "decisions", episodes=4) > 10
    return base, root / "decisions"


@pytest.mark.slow
def test_fine_tune_iterations_continue_the_awr_step_in_the_simulator_and_the_gate_runs_it(
    toy_recordings: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base_dir, recordings = toy_recordings
    out, run_dir, report = tmp_path / "candidate", tmp_path / "run", tmp_path / "report"
    status = retrain(
        "--from", str(recordings), "--base", str(base_dir), "--out", str(out),
        "--run-dir", str(run_dir), "--fine-tune-iterations", "2", "--train-options", TOY_TRAIN,
        "--orders", "6", "--min-orders", "2", "--bootstrap", "100", "--workers", "1",
        "--cache", str(tmp_path / "cache.sqlite"), "--report", str(report),
    )  # fmt: skip
    assert status in (0, 1)  # the gate ran to a verdict (a toy policy may pass or not)
    base = load_artifact(base_dir)
    awr = load_artifact(run_dir / "awr", artifact_digest(run_dir / "awr"))
    cand = load_policy(out, expected_sha256=artifact_digest(out)).artifact
    m = cand.manifest
    assert m["algo"] == "awr+ppo" and m["name"] == "toy_base_retrained"
    assert (
        m["retrain"]["base"]["digest"] == awr.manifest["retrain"]["base"]["digest"] == base.digest
    )
    assert m["retrain"]["awr_step"] == {"path": str(run_dir / "awr"), "digest": awr.digest}
    assert m["training"]["init_from"]["digest"] == awr.digest  # PPO started from the AWR step
    assert m["retrain"]["fit"] == awr.manifest["retrain"]["fit"]
    assert m["retrain"]["fine_tune"]["iterations"] == m["training"]["iterations_run"] == 2
    assert m["data"] == base.manifest["data"]  # judged on the base's held-out data
    assert cand.normaliser.to_json() == base.normaliser.to_json()
    assert cand.feature_spec == base.feature_spec and cand.action_spec == base.action_spec
    assert m["training"]["env"] == base.manifest["training"]["env"]  # the base's reward
    assert "monitoring" not in m and "evaluation" not in m
    gate = json.loads((report / "gate.json").read_text())
    assert gate["candidate"]["digest"] == cand.digest
    printed = capsys.readouterr().out
    assert f"then 2 PPO iterations from {run_dir / 'awr'}" in printed
    assert "promotion gate for toy_base_retrained:" in printed


def test_fine_tuning_a_base_this_code_does_not_train_is_refused_before_anything_is_written(
    committed_recordings: Path, toy_recordings: tuple[Path, Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    out, run_dir = tmp_path / "cand", tmp_path / "run"
    where = ["--out", str(out), "--run-dir", str(run_dir), "--fine-tune-iterations", "1"]
    assert retrain("--from", str(committed_recordings), *where) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rlexec retrain: --fine-tune-iterations: the base ")
    assert "feature set v1, this run builds v2" in err[0]
    base_dir, recordings = toy_recordings
    own = ["--from", str(recordings), "--base", str(base_dir), *where]
    assert retrain(*own, "--train-options", "--seed 3 --envs 2") == 2
    assert (
        "--train-options may not set --seed (retrain sets it: --train-seed)"
        in capsys.readouterr().err
    )
    assert retrain(*own, "--train-options=--unseen-data") == 2  # another held-out split
    assert "is not the base's" in capsys.readouterr().err
    assert not out.exists() and not run_dir.exists()  # refused before the AWR step
