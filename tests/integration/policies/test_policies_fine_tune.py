"""`rlexec train --init-from ARTIFACT` at toy size: PPO continues from a verified
artifact (its weights and normaliser really come through, iteration 0 is the artifact
itself), reproduces bit for bit under a seed, and refuses in one line, writing nothing,
an artifact of another layout; `python -m policies.train` refuses bad input exactly as
`rlexec train` does."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.pinned_dir import sha256_file
from policies.artifact import WEIGHTS, add_references, artifact_digest, load_artifact
from policies.data import default_split
from policies.env import EnvConfig
from policies.evaluate import run_group
from policies.learned import load_policy
from policies.train import main as train_main
from signals.monitoring import FeatureStats
from tests.integration.policies.test_gate_cli import COMMITTED
from tests.integration.policies.toy_training import train_toy

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A toy artifact of the layout this code trains (features v2, today's table)."""
    return train_toy(tmp_path_factory.mktemp("base") / "toy_base", "--seed", "1")


def fine_tune(parent: Path, out: Path, *options: str) -> Path:
    return train_toy(out, "--init-from", str(parent), *options)


def test_fine_tuning_from_an_artifact_reproduces_bit_for_bit_under_the_same_seed(
    base: Path, tmp_path: Path
) -> None:
    a = fine_tune(base, tmp_path / "a", "--seed", "5")
    b = fine_tune(base, tmp_path / "b", "--seed", "5")
    assert sha256_file(a / WEIGHTS) == sha256_file(b / WEIGHTS)
    # the learner itself (actor and fitted critic), not only the checkpoint kept
    run_a, run_b = tmp_path / "run_a", tmp_path / "run_b"
    for it in ("0000", "0002"):
        ckpt = f"checkpoint_{it}.safetensors"
        assert sha256_file(run_a / ckpt) == sha256_file(run_b / ckpt)
    moved = sha256_file(run_a / "checkpoint_0002.safetensors")
    assert moved != sha256_file(run_a / "checkpoint_0000.safetensors")  # PPO did update
    parent, child = load_artifact(base), load_artifact(a)
    init = child.manifest["training"]["init_from"]
    assert init["digest"] == parent.digest and init["path"] == str(base)
    assert child.manifest["training"]["imitation"] == {}  # nothing cloned
    assert init["critic"]["episodes"] == 2 and init["critic"]["decisions"] > 0
    # the inputs mean what they meant: the normaliser is the parent's, never refitted
    assert child.normaliser.to_json() == parent.normaliser.to_json()
    assert child.feature_spec == parent.feature_spec and child.action_spec == parent.action_spec


def test_iteration_zero_is_the_artifact_itself_validated_on_the_same_episodes(
    base: Path, tmp_path: Path
) -> None:
    """The artifact's weights and normaliser really came through: the run's checkpoint 0
    scores exactly what the loaded artifact scores on the same validation episodes."""
    out = fine_tune(base, tmp_path / "ft", "--seed", "5", "--val-episodes", "4")
    row0 = load_artifact(out).manifest["training"]["init_from"]["validation"]
    parent = load_policy(base)
    own = run_group(
        default_split().val,
        [parent],
        episodes=4,
        seed=5 + 5,  # validate()'s episodes: the run's seed + 5
        fspec=parent.artifact.feature_spec,
        normaliser=parent.artifact.normaliser,
        config=EnvConfig(participation=(0.01, 0.30)),  # the run's default participation
    )[parent.name]
    assert row0["val_is_bps"] == float(own.mean())
    assert row0["val_risk_bps"] == float(own.std(ddof=1))


def test_monitoring_references_of_the_parent_are_not_inherited(base: Path, tmp_path: Path) -> None:
    """The parent's expected-IS and feature references describe the parent, not the
    fine-tuned policy: the daemon must not monitor the new one against them."""
    monitored = tmp_path / "monitored"
    shutil.copytree(base, monitored)
    names = load_artifact(base).feature_spec.names
    rows = np.random.default_rng(0).normal(size=(200, len(names)))
    add_references(
        monitored, feature_stats=FeatureStats.fit(rows, names), provenance={"made_by": "test"}
    )
    assert load_artifact(monitored).feature_stats is not None
    out = fine_tune(monitored, tmp_path / "ft", "--seed", "2", "--iterations", "1")
    child = load_artifact(out)
    assert "monitoring" not in child.manifest and child.feature_stats is None
    assert child.manifest["training"]["init_from"]["digest"] == artifact_digest(monitored)


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def command(entry: str, *args: str) -> subprocess.CompletedProcess[str]:
    head = ["-m", "daemon.cli", "train"] if entry == "rlexec train" else ["-m", "policies.train"]
    return subprocess.run(
        [sys.executable, *head, *args],
        cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_an_artifact_of_another_layout_is_refused_in_one_line_and_writes_nothing(
    tmp_path: Path,
) -> None:
    """The committed policy reads feature set v1 and chooses from table v2; this code
    trains v2 on table v4."""
    out, run_dir = tmp_path / "out", tmp_path / "run"
    proc = command(
        "python -m policies.train", "--init-from", str(COMMITTED), "--out", str(out),
        "--run-dir", str(run_dir), "--no-progress",
    )  # fmt: skip
    line = one_line(proc)
    assert line.startswith(f"rlexec train: --init-from {COMMITTED}: feature set v1, this run ")
    assert "builds v2" in line and "action table v2 (11 actions), this run chooses from v4" in line
    assert not out.exists() and not run_dir.exists()


def test_a_layout_mismatch_an_unusable_artifact_and_dqn_are_refused_before_anything_is_written(
    base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, run_dir = tmp_path / "out", tmp_path / "run"
    not_an_artifact = tmp_path / "empty"
    not_an_artifact.mkdir()
    cases = {
        ("--signal",): "feature set v2, this run builds v3 (it reads no signal: drop --signal)",
        ("--decision-interval", "10"): "decision interval 5.0, this run 10.0",
        ("--algo", "dqn"): "--init-from is PPO only",
    }
    for extra, expected in cases.items():
        args = ["--init-from", str(base), *extra, "--out", str(out), "--run-dir", str(run_dir)]
        assert train_main([*args, "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert expected in err and err.count("\n") == 1, err
    args = ["--init-from", str(not_an_artifact), "--out", str(out), "--run-dir", str(run_dir)]
    assert train_main(args) == 2
    assert "SHA256SUMS is missing" in capsys.readouterr().err
    assert not out.exists() and not run_dir.exists()


BAD_INPUT = {
    "missing folder": (["--train-data", "{tmp}/nowhere"], "rlexec train: {tmp}/nowhere: no such file or folder"),
    "participation above the window's volume": (["--participation", "0.1-2"], "a parent larger than the window's whole volume"),
    "no iterations": (["--iterations", "0"], "rlexec train: --iterations >= 1 (got 0)"),
    "no environments": (["--envs", "0"], "rlexec train: --envs >= 1 (got 0)"),
    "not an artifact": (["--init-from", "{tmp}"], "rlexec train: policy artifact {tmp} refused: SHA256SUMS is missing"),
    "unknown fold": (["--fold", "nope"], "rlexec train: error: argument --fold: invalid choice: 'nope'"),
    "reversed participation": (["--participation", "0.5-0.1"], "need 0 < LO <= HI, got '0.5-0.1'"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_the_module_entry_point_refuses_bad_input_in_one_line_as_rlexec_train_does(
    case: str, tmp_path: Path
) -> None:
    """Both entry points are one path: the refusal lives in policies.train.main, not in
    the rlexec wrapper (which `python -m policies.train` never went through)."""
    options, expected = BAD_INPUT[case]
    args = [o.format(tmp=tmp_path) for o in options]
    args += ["--out", str(tmp_path / "out"), "--run-dir", str(tmp_path / "run"), "--no-progress"]
    module, cli = command("python -m policies.train", *args), command("rlexec train", *args)
    assert module.returncode == cli.returncode == 2, (module.stderr[-2000:], cli.stderr[-2000:])
    assert "Traceback" not in module.stderr + cli.stderr
    assert module.stderr == cli.stderr
    assert expected.format(tmp=tmp_path) in module.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "out").exists() and not (tmp_path / "run").exists()
