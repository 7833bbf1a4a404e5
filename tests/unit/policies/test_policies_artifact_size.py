"""A huge file in a policy artifact is refused by its size, before it is read (the
policy_artifact fuzz target's "huge files": a sparse multi-gigabyte SHA256SUMS was read
into memory whole, and huge weights were hashed for seconds before the refusal)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from policies.artifact import MANIFEST, SUMS, WEIGHTS, ArtifactError, load_artifact
from policies.learned import load_policy

POLICY = Path(__file__).resolve().parents[3] / "policies" / "artifacts" / "ppo_amzn"


@pytest.mark.parametrize("name", [SUMS, MANIFEST, WEIGHTS])
def test_a_huge_file_is_refused_by_its_size_at_once(tmp_path: Path, name: str) -> None:
    art = tmp_path / "p"
    shutil.copytree(POLICY, art)
    with open(art / name, "r+b") as f:
        f.truncate(3 * 1024**3)  # sparse: no disk, no memory
    t0 = time.monotonic()
    with pytest.raises(ArtifactError, match=f"{name} is 3,221,225,472 bytes, more than"):
        load_artifact(art)
    assert time.monotonic() - t0 < 1.0


def test_the_shipped_policy_is_well_under_the_caps() -> None:
    assert load_policy(POLICY) is not None
