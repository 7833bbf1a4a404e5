"""The README's first command, as a user runs it: `rlexec demo`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def processes_mentioning(text: str) -> list[str]:
    out = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmd:
                out.append(cmd)
    return out


def test_the_demo_executes_a_parent_compares_it_and_leaves_no_process_behind(
    tmp_path: Path,
) -> None:
    workdir = tmp_path / "demo"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "daemon.cli",
            "demo",
            "--minutes",
            "4",
            "--qty",
            "800",
            "--speed",
            "60",
            "--workdir",
            str(workdir),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "state completed" in out, out
    assert "filled          800 / 800" in out
    assert "bps vs arrival" in out and "TWAP" in out and "policy" in out
    assert "backtest of the same parent: from the live start" in out  # says what it compares
    assert "submitting: sell 800 AMZN" in proc.stderr  # through the control plane
    assert processes_mentioning(str(workdir)) == []
    assert (workdir / "daemon" / "journal.db").exists()
