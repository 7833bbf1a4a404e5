"""A policy artifact's monitoring references: pinned like the rest, optional so that
older artifacts still load, refused when present but unusable."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from core.pinned_dir import SUMS, sha256_file
from daemon.metrics import Metrics
from daemon.policy_monitor import PolicyMonitor
from policies.artifact import (
    EXPECTED_IS,
    FEATURE_STATS,
    ArtifactError,
    add_references,
    artifact_digest,
    load_artifact,
)
from signals.monitoring import FeatureStats
from tests.captured_logs import captured_logs

COMMITTED = Path(__file__).resolve().parents[3] / "policies" / "artifacts" / "ppo_amzn"


def copy(tmp_path: Path) -> Path:
    dest = tmp_path / "ppo"
    shutil.copytree(COMMITTED, dest)
    return dest


def without_references(tmp_path: Path) -> Path:
    """The committed artifact as it was before references existed (re-summed)."""
    p = copy(tmp_path)
    for name in (EXPECTED_IS, FEATURE_STATS):
        (p / name).unlink()
    lines = [ln for ln in (p / SUMS).read_text().splitlines() if ln.split()[1] not in (EXPECTED_IS, FEATURE_STATS)]  # fmt: skip
    (p / SUMS).write_text("\n".join(lines) + "\n")
    return p


def test_the_committed_policy_carries_both_references() -> None:
    art = load_artifact(COMMITTED)
    assert art.expected_is is not None and art.expected_is.cells[(-1, "*")].n == 3000
    assert art.feature_stats is not None and art.feature_stats.names == art.feature_spec.names


def test_an_artifact_without_references_loads_and_is_served_unmonitored(tmp_path: Path) -> None:
    art = load_artifact(without_references(tmp_path))
    assert art.expected_is is None and art.feature_stats is None
    metrics = Metrics()
    monitor = PolicyMonitor(metrics)
    with captured_logs() as logs:
        monitor.use(art)
        monitor.use(art)  # the same artifact again: said once
    said = [e for e in logs if e["event"] == "policy_monitoring_no_reference"]
    assert sorted(e["kind"] for e in said) == ["expected_is", "feature_stats"]
    for kind in ("expected_is", "feature_stats"):
        value = metrics.registry.get_sample_value("rlexec_policy_monitoring_reference", {"kind": kind})  # fmt: skip
        assert value == 0


def test_a_reference_edited_after_signing_is_caught_by_its_sum(tmp_path: Path) -> None:
    p = copy(tmp_path)
    body = json.loads((p / EXPECTED_IS).read_text())
    body["cells"][0]["mean_bps"] = -100.0
    (p / EXPECTED_IS).write_text(json.dumps(body))
    with pytest.raises(ArtifactError, match=f"{EXPECTED_IS} sha256"):
        load_artifact(p)


def test_a_reference_that_does_not_parse_refuses_the_artifact_even_re_summed(
    tmp_path: Path,
) -> None:
    p = copy(tmp_path)
    (p / FEATURE_STATS).write_text('{"version": 1, "names": ["x"]}')
    sums = [
        f"{sha256_file(p / ln.split()[1])}  {ln.split()[1]}"
        for ln in (p / SUMS).read_text().splitlines()
    ]
    (p / SUMS).write_text("\n".join(sums) + "\n")
    with pytest.raises(ArtifactError, match="feature statistics unreadable"):
        load_artifact(p)


def test_statistics_of_other_features_refuse_the_artifact(tmp_path: Path) -> None:
    p = copy(tmp_path)
    n = len(load_artifact(p).feature_spec.names)
    rng = np.random.default_rng(0)
    other = FeatureStats.fit(rng.normal(size=(200, n)), [f"f{k}" for k in range(n)])
    before = artifact_digest(p)
    with pytest.raises(ArtifactError, match="describe features"):
        add_references(p, feature_stats=other)
    assert artifact_digest(p) == before  # refused before anything was written
    load_artifact(p, before)


def test_adding_references_keeps_the_weights_and_changes_the_digest(tmp_path: Path) -> None:
    p = without_references(tmp_path)
    before = artifact_digest(p)
    weights = (p / "weights.safetensors").read_bytes()
    committed = load_artifact(COMMITTED)
    digest = add_references(
        p, expected_is=committed.expected_is, feature_stats=committed.feature_stats
    )
    assert digest != before and digest == artifact_digest(p)
    assert (p / "weights.safetensors").read_bytes() == weights
    art = load_artifact(p, digest)
    assert art.expected_is is not None and art.feature_stats is not None
