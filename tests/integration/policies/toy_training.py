"""`rlexec train` at toy size, shared by the training, fine-tuning and retraining tests:
every stage runs (data, normaliser, baselines, tactic tuning, cloning, PPO, validation
checkpoints, the artifact), each on a handful of episodes, in seconds."""

from __future__ import annotations

from pathlib import Path

from policies.train import main as train_main

TOY = [
    "--iterations", "2",
    "--envs", "2",
    "--workers", "1",
    "--eval-every", "2",
    "--val-episodes", "2",
    "--norm-episodes", "2",
    "--calibrate-episodes", "0",
    "--test-episodes", "2",
    "--tune-episodes", "2",  # 25 grid points: the default's 3,200 episodes take minutes
    "--no-progress",
]  # fmt: skip
# the set-up's stages at toy size too (tuning, cloning, the critic of a fine-tuning run)
TOY_SETUP = [
    "--tune-episodes", "2", "--imitate-episodes", "2", "--imitate-epochs", "2",
    "--critic-episodes", "2", "--critic-epochs", "2", "--test-episodes", "0",
]  # fmt: skip


def train_toy(out: Path, *options: str) -> Path:
    """A toy artifact at ``out`` (its run folder next to it); asserts the run succeeded."""
    run_dir = out.with_name(f"run_{out.name}")
    assert (
        train_main([*TOY, *TOY_SETUP, *options, "--out", str(out), "--run-dir", str(run_dir)]) == 0
    )
    return out
