"""The systemd units' exposure, as ``systemd-analyze security`` scores it, stays below
the bound docs/security.md states (the deploy check enforces the same bound on an
installed tree; this reads the units as committed and says by how much)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
BOUND = 2.0  # docs/security.md; systemd calls <= 2.0 "OK"


@pytest.mark.parametrize("unit", ["rlexec.service", "rlexec-exchange.service"])
def test_each_unit_scores_below_the_stated_exposure_bound(unit: str) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: apt-get install systemd"
    out = subprocess.run(
        [analyze, "security", "--offline=true", "--no-pager", str(UNITS / unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout
    m = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", out)
    assert m, out[-2000:]
    assert float(m[1]) < BOUND, f"{unit}: exposure {m[1]} (bound {BOUND})\n{out}"
