"""``rlexec backtest`` as a user runs it (a real subprocess): bad input gets one line and
exit status 2, never a traceback; a small run writes the report folder and the docs
block; ``--gate`` turns the promotion gate into the exit status."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from policies.backtest.report import DOCS_BEGIN, DOCS_END

ROOT = Path(__file__).resolve().parents[3]


def rlexec(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "daemon.cli", "backtest", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "NOPE_2012-06-21_1"], "no data folder 'NOPE_2012-06-21_1'"),
        (["--policies", "twap,twop"], "unknown policy 'twop'"),
        (["--policies", "rl:/nonexistent/artifact"], "not a directory"),
        (["--data", "AAPL_2012-06-21_1@25:00-26:00"], "outside the trading day"),
        (["--orders", "1"], "--orders >= 2"),
        (["--gate", "ppo", "--policies", "twap"], "--gate ppo: not one of the policies"),
        (["--write-docs", "/nonexistent/results.md"], "no such file"),
    ],
)
def test_bad_input_is_one_line_and_exit_status_2(args: list[str], message: str) -> None:
    proc = rlexec(*args, "--no-cache", "--no-plots", timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("rlexec backtest: ") and message in lines[0]
    assert "Traceback" not in proc.stderr


def test_an_unusable_cache_file_is_named_and_left_alone(tmp_path: Path) -> None:
    junk = tmp_path / "cache.sqlite"
    junk.write_bytes(b"not a database" * 64)
    proc = rlexec("--cache", str(junk), "--no-plots", "--policies", "twap", "--orders", "2")
    assert proc.returncode == 2
    assert str(junk) in proc.stderr and "--no-cache" in proc.stderr
    assert junk.read_bytes() == b"not a database" * 64


@pytest.mark.slow
def test_a_small_run_writes_the_report_and_the_docs_block(tmp_path: Path) -> None:
    doc = tmp_path / "results.md"
    doc.write_text(f"# Results\n{DOCS_BEGIN}\nstale\n{DOCS_END}\n")
    out = tmp_path / "report"
    args = [
        "--policies", "rl:policies/artifacts/ppo_amzn,twap",
        "--data", "AAPL_2012-06-21_1@12:00-13:00",
        "--orders", "4", "--horizon-s", "60-120", "--bootstrap", "200",
        "--workers", "1", "--cache", str(tmp_path / "c.sqlite"),
        "--out", str(out), "--write-docs", str(doc), "--gate", "ppo_amzn",
    ]  # fmt: skip
    proc = rlexec(*args)
    # four orders cannot vouch for anything: the gate fails, so the exit status is 1
    assert proc.returncode == 1, proc.stderr
    assert "promotion gate for ppo_amzn: FAILED" in proc.stdout
    assert "4 orders, fewer than 30" in proc.stdout
    for name in ("report.html", "summary.json", "orders.csv", "results.md", "inventory.png"):
        assert (out / name).stat().st_size > 0, name
    text = doc.read_text()
    assert "stale" not in text and "AAPL 2012-06-21 L1 12:00-13:00" in text
    assert "rlexec backtest --policies rl:policies/artifacts/ppo_amzn,twap" in text
    again = rlexec(*args)
    assert again.returncode == 1
    assert "0 orders simulated, 8 from the cache" in again.stdout


def _children(pid: int) -> set[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return set()
    return {int(c) for c in text.split()}


def _rows(cache: Path) -> int:
    import sqlite3

    try:
        db = sqlite3.connect(cache)
        n = int(db.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0])
        db.close()
    except sqlite3.Error:
        return 0
    return n


@pytest.mark.slow
def test_sigterm_stops_the_workers_keeps_what_finished_and_the_rerun_resumes(
    tmp_path: Path,
) -> None:
    import signal
    import time

    cache = tmp_path / "c.sqlite"
    args = [
        "--policies", "twap,pov", "--data", "AAPL_2012-06-21_1@12:00-14:00",
        "--orders", "60", "--chunk", "2", "--workers", "2", "--no-plots",
        "--cache", str(cache), "--out", str(tmp_path / "out"),
    ]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "daemon.cli", "backtest", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180
        while _rows(cache) < 8 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        workers = _children(proc.pid)
        assert len(workers) >= 2, "the worker pool should be running"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "rerun the same command to resume" in err and "Traceback" not in err
    for _ in range(50):  # the pool is terminated, not left behind
        if not any(Path(f"/proc/{w}").exists() for w in workers):
            break
        time.sleep(0.1)
    assert not any(Path(f"/proc/{w}").exists() for w in workers)
    kept = _rows(cache)
    assert 8 <= kept < 120
    again = rlexec(*args, timeout=600)
    assert again.returncode == 0, again.stderr
    assert f"{120 - kept} orders simulated, {kept} from the cache" in again.stdout
