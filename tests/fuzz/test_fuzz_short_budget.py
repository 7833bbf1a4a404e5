"""The fuzz targets on a short budget: every seed replayed in process, then a few
thousand coverage-guided inputs per target through bench/fuzz.py (atheris, one
process per target, fixed seed and input count). The long run is
``python bench/fuzz.py --seconds N``; what it found became the regression tests next
to the code it broke (see docs/security.md)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import pytest

from tests.fuzz.harness import quiet

REPO = Path(__file__).resolve().parents[2]
# inputs per target: a few seconds each on this machine
RUNS = {
    "fix_session": 3000,
    "md_client": 3000,
    "control_commands": 5000,
    "lobster_files": 800,
    "binance_lines": 1000,
    "policy_artifact": 1000,
    "config_toml": 1500,
}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_every_seed_input_keeps_its_promises(name: str) -> None:
    quiet()
    target = importlib.import_module(f"tests.fuzz.targets.{name}").make()
    try:
        for data in target.seeds():
            target.one_input(data)
    finally:
        close = getattr(target, "close", None)
        if close is not None:
            close()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RUNS))
def test_coverage_guided_short_run_finds_no_crash_or_hang(name: str, tmp_path: Path) -> None:
    assert importlib.util.find_spec("atheris"), "atheris is missing: pip install -e '.[test]'"
    sys.path.insert(0, str(REPO / "bench"))
    try:
        fuzz = importlib.import_module("fuzz")
    finally:
        sys.path.remove(str(REPO / "bench"))
    result = fuzz.fuzz_target(name, 120, tmp_path, timeout_s=10, seed=1, runs=RUNS[name])
    assert result.inputs >= RUNS[name], result
    assert (result.crashes, result.hangs, result.ooms) == (0, 0, 0), result.findings
