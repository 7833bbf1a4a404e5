"""``rlexec gate``: a worse artifact is refused and the committed folder stays as it was;
bad input is one line and exit 2; a passing candidate is copied over verified."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from policies.actions import ActionSpec
from policies.artifact import artifact_digest, load_artifact, save_artifact
from policies.backtest.gate_cli import held_out, main, promote
from policies.env import EnvConfig
from policies.features import FeatureSpec, Normaliser
from policies.network import PolicyNet

ROOT = Path(__file__).resolve().parents[3]
COMMITTED = ROOT / "policies" / "artifacts" / "ppo_amzn"
WINDOW = "14:15-15:00"


def waiting_artifact(path: Path) -> Path:
    """A policy that always waits and leaves the whole parent to the end time: the
    deadline dumping issue 15 is about, so it must never pass."""
    aspec = ActionSpec()
    net = PolicyNet(len(FeatureSpec().names), aspec.n)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.net[-1].bias[aspec.wait_index] = 10.0  # type: ignore[index]
    baselines = json.loads((COMMITTED / "manifest.json").read_text())["baselines"]
    save_artifact(
        path,
        net,
        feature_spec=FeatureSpec(),
        normaliser=Normaliser.identity(),
        action_spec=aspec,
        extra={
            "name": "always_wait",
            "env": EnvConfig(horizon_s=(120.0, 240.0)).to_json(),
            "baselines": {**baselines, "passive_catchup": {"tolerance": 0.05}},
            "data": {
                "train": [],
                "test": [
                    {"name": "AMZN_2012-06-21_5", "file": "message file", "windows": [WINDOW]}
                ],
            },
        },
    )
    return path


def gate(tmp: Path, candidate: Path, *extra: str) -> int:
    return main(
        [
            str(candidate),
            "--orders",
            "40",
            "--min-orders",
            "10",
            "--bootstrap",
            "200",
            "--workers",
            "1",
            "--no-plots",
            "--no-progress",
            "--cache",
            str(tmp / "cache.sqlite"),
            "--out",
            str(tmp / "report"),
            *extra,
        ]
    )


@pytest.mark.slow
def test_a_worse_artifact_is_refused_and_the_committed_policy_stays(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cand = waiting_artifact(tmp_path / "always_wait")
    dest = tmp_path / "committed"
    shutil.copytree(COMMITTED, dest)
    before = artifact_digest(dest)
    assert gate(tmp_path, cand, "--promote", str(dest)) == 1
    assert artifact_digest(dest) == before  # untouched
    doc = json.loads((tmp_path / "report" / "gate.json").read_text())
    assert doc["verdict"]["passed"] is False
    failed = {(c["cell"], c["check"]) for c in doc["verdict"]["checks"] if not c["passed"]}
    assert ("all", "below twap") in failed and ("all", "below best other baseline") in failed
    goal = next(r for r in doc["goal"] if r["cell"] == "all")
    assert goal["sweep_share"] == pytest.approx(1.0)  # everything left to the end time
    assert not goal["met"]["sweep"] and not goal["met"]["reduction"]
    out = capsys.readouterr()
    assert "promotion gate for always_wait: FAILED" in out.out
    assert "not promoted" in out.err
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert {p["name"] for p in summary["policies"]} == {
        "always_wait",
        "twap",
        "vwap",
        "pov",
        "almgren_chriss",
        "random",
        "passive_catchup",
    }


def test_promotion_copies_a_verified_artifact_over_the_destination(tmp_path: Path) -> None:
    cand = waiting_artifact(tmp_path / "cand")
    dest = tmp_path / "artifacts" / "ppo_amzn"
    shutil.copytree(COMMITTED, dest)
    digest = promote(cand, dest, artifact_digest(cand))
    assert digest == artifact_digest(cand) == artifact_digest(dest)
    assert load_artifact(dest).manifest["name"] == "always_wait"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["ppo_amzn"]  # nothing left over


def test_held_out_data_is_the_manifests_recorded_test_split() -> None:
    manifest = {
        "data": {
            "train": [{"name": "AMZN_2012-06-21_5", "file": "f", "windows": ["09:30-12:00"]}],
            "val": [{"name": "AMZN_2012-06-21_5", "file": "f", "windows": ["12:00-13:30"]}],
            "test": [
                {"name": "AAPL_2012-06-21_1", "file": "f", "windows": ["09:30-16:00"]},
                {"name": "synthetic_AMZN_thin", "windows": ["09:30-16:00"]},
            ],
        }
    }
    assert held_out(manifest, False) == ["AAPL_2012-06-21_1@09:30-16:00"]
    assert held_out(manifest, True)[-1] == "AMZN_2012-06-21_5@12:00-13:30"
    with pytest.raises(ValueError, match="no held-out data"):
        held_out({"data": {"train": manifest["data"]["train"]}}, False)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "nowhere", "not a directory"),
        (lambda tmp: COMMITTED, "--promote DEST is the candidate itself"),
    ],
)
def test_bad_input_is_one_line_and_exit_status_2(
    tmp_path: Path, make: object, message: str
) -> None:
    cand = make(tmp_path)  # type: ignore[operator]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "daemon.cli",
            "gate",
            str(cand),
            "--promote",
            str(cand),
            "--no-plots",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rlexec gate: ") and message in lines[0]
