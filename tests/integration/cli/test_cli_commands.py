"""The command line as a user meets it: real commands as subprocesses.

Every user error is one line on stderr that names the problem, with the documented exit
status (daemon/cli.py: 2 unusable input, 3 Redis unreachable), and never a traceback;
every option's help shows its default; evaluate shows progress; the demo keeps its work
folder when it fails.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon import cli, demo
from exchange.main import build_parser as exchange_parser
from exchange.replay.check import build_parser as check_parser
from policies.evaluate import build_parser as evaluate_parser
from policies.train import build_parser as train_parser
from tests.unit.marketdata.lobster_folders import renamed_day

REPO = Path(__file__).resolve().parents[3]


def rlexec(
    *args: str, cwd: Path = REPO, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "daemon.cli", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def one_line_error(proc: subprocess.CompletedProcess[str], rc: int) -> str:
    assert proc.returncode == rc, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    return lines[-1]


# --------------------------------------------------------------------- help
def _options(parser: argparse.ArgumentParser, where: str) -> Iterator[tuple[str, str]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options(sub, f"{where} {name}")
        elif not isinstance(action, argparse._HelpAction):
            text = parser.formatter_class(parser.prog)._get_help_string(action)  # type: ignore[attr-defined]
            yield f"{where} {'/'.join(action.option_strings) or action.dest}", text or ""


def test_every_option_of_every_command_has_help_showing_its_default() -> None:
    parsers = {
        "rlexec": cli.build_parser(),
        "rlexec demo": demo._parser(),
        "rlexec train": train_parser(),
        "rlexec evaluate": evaluate_parser(),
        "exchange.main": exchange_parser(),
        "exchange.replay.check": check_parser(),
    }
    missing = [
        name
        for where, parser in parsers.items()
        for name, text in _options(parser, where)
        if name.split()[-1] not in ("cmd", "file", "COMMAND")  # required positionals
        and "default" not in text.lower()
    ]
    assert missing == []
    out = rlexec("train", "--help").stdout
    assert re.search(r"--iterations ITERATIONS\s+training iterations \(default: 200\)", out)
    assert re.search(r"--eval-every EVAL_EVERY\s+iterations between validation checkpoints", out)
    out = rlexec("run", "--help").stdout
    assert "TOML config (default: embedded defaults)" in out


# ---------------------------------------------------------------------- ctl
def test_ctl_with_redis_down_names_the_url_in_one_line_and_exits_3() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"redis://ops:secret@127.0.0.1:{port}/0"
    proc = rlexec("ctl", "status", "--redis-url", url, "--timeout", "3")
    line = one_line_error(proc, 3)
    assert proc.stderr.strip() == line  # the only line
    assert line.startswith(f"rlexec ctl: cannot reach Redis at redis://***@127.0.0.1:{port}/0: ")
    assert "secret" not in proc.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["launch_rockets"], "unknown command 'launch_rockets'; known: cancel_parent, kill,"),
        (["submit_parent", "symbol=AMZN", "side=sell", "qty=-5", "duration_s=60"], "args.qty"),
        (
            ["submit_parent", "symbol=AMZN", "side=sell", "qty=5", "duration_s=60", "algo=rocket"],
            "args.algo: Input should be 'policy', 'twap', 'vwap', 'pov', 'ac' or 'catchup'",
        ),
        (["reset_kill"], "reset_kill loosens safety and must be signed: give --key-file"),
        (["kill", "because"], "argument 'because' is not key=value"),
        (["reset_kill", "--key-file", "/nonexistent/key"], "cannot read the key file"),
    ],
)
def test_ctl_refuses_a_bad_command_before_connecting(args: list[str], words: str) -> None:
    with socket.socket() as server:  # would see any connection attempt
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.setblocking(False)
        url = f"redis://127.0.0.1:{server.getsockname()[1]}/0"
        proc = rlexec("ctl", *args, "--redis-url", url, "--timeout", "3")
        with pytest.raises(BlockingIOError):
            server.accept()
    assert one_line_error(proc, 2) == proc.stderr.strip()
    assert words in proc.stderr


# ------------------------------------------------------------------ evaluate
def test_evaluate_on_a_bad_folder_is_one_line_and_exit_2(tmp_path: Path) -> None:
    proc = rlexec("evaluate", "--episodes", "1", "--unseen-data", str(tmp_path / "nowhere"))
    assert one_line_error(proc, 2) == (
        f"rlexec evaluate: {tmp_path / 'nowhere'}: no such file or folder"
    )
    proc = rlexec("evaluate", "--artifact", str(tmp_path))
    assert one_line_error(proc, 2).startswith(f"rlexec evaluate: policy artifact {tmp_path}")
    proc = rlexec("evaluate", "--test-hours", "14:15-13:00")
    assert "window '14:15-13:00' is empty" in one_line_error(proc, 2)


def test_evaluate_shows_progress_and_test_hours_cover_unseen_data(tmp_path: Path) -> None:
    unseen = renamed_day(tmp_path, "MSFT")
    proc = rlexec(
        "evaluate", "--episodes", "2", "--only", "twap", "--unseen-data", str(unseen),
        "--test-hours", "14:15-15:30",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "== AMZN_2012-06-21_5 14:15-15:30" in proc.stdout
    assert "== MSFT_2012-06-21_1 14:15-15:30" in proc.stdout  # not the whole day
    assert "evaluating 2 groups x 2 policies: 100%" in proc.stderr
    assert "8/8" in proc.stderr


def test_train_on_a_bad_folder_is_one_line_and_exit_2(tmp_path: Path) -> None:
    proc = rlexec(
        "train", "--iterations", "1", "--train-data", str(tmp_path / "nowhere"),
        "--out", str(tmp_path / "artifact"), "--run-dir", str(tmp_path / "run"),
    )  # fmt: skip
    assert (
        one_line_error(proc, 2) == f"rlexec train: {tmp_path / 'nowhere'}: no such file or folder"
    )


# -------------------------------------------------------------- replay check
def test_replay_check_takes_a_folder_and_names_a_missing_file(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "exchange.replay.check", str(renamed_day(tmp_path, "MSFT"))],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "MSFT_2012-06-21_1: 57515 rows, ok\n"
    missing = tmp_path / "ZZZ_2012-06-21_34200000_57600000_message_1.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "exchange.replay.check", str(missing)],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert one_line_error(proc, 2) == proc.stderr.strip() == f"{missing}: no such file or folder"


# ----------------------------------------------------------------- config
def test_config_check_validates_the_exchange_s_config() -> None:
    proc = rlexec("config", "check", "deploy/examples/exchange.toml")
    assert proc.returncode == 0, proc.stderr
    assert "OK as the exchange's config" in proc.stdout
    proc = rlexec(
        "config", "check", "deploy/examples/rlexec.toml", env={"RLEXEC__PACING__SPEED": "5"}
    )
    assert "pacing: unknown key" in one_line_error(proc, 2)
    assert "[from env RLEXEC__PACING__SPEED]" in proc.stderr


@pytest.mark.parametrize(
    ("value", "words"),
    [("1.0", "Input should be less than 1"), ("-0.1", "Input should be greater than or equal to 0"),
     ("nan", "Input should be a finite number"), ("0.2x", "Input should be a valid number")],
)  # fmt: skip
def test_a_catchup_tolerance_outside_0_to_1_is_refused_at_start_naming_the_key(
    value: str, words: str, tmp_path: Path
) -> None:
    cfg = tmp_path / "rlexec.toml"
    cfg.write_text(f'[node]\ndata_dir = "{tmp_path / "var"}"\n')
    env = {"RLEXEC__EXECUTION__CATCHUP_TOLERANCE": value}
    for args in (["config", "check", str(cfg)], ["run", "--config", str(cfg)]):
        proc = rlexec(*args, env=env)
        line = one_line_error(proc, 2)
        assert line.startswith(f"  execution.catchup_tolerance: {words}"), proc.stderr
        assert line.endswith("[from env RLEXEC__EXECUTION__CATCHUP_TOLERANCE]")
    assert not (tmp_path / "var").exists()  # nothing started


def test_a_catchup_urgency_without_a_tolerance_is_refused_at_start_in_one_line(
    tmp_path: Path,
) -> None:
    cfg = tmp_path / "rlexec.toml"
    cfg.write_text(
        f'[node]\ndata_dir = "{tmp_path / "var"}"\n[execution]\ncatchup_urgency = 1e-4\n'
    )
    for args in (["config", "check", str(cfg)], ["run", "--config", str(cfg)]):
        proc = rlexec(*args)
        line = one_line_error(proc, 2)
        assert line == (
            "  execution: Value error, catchup_urgency is set without catchup_tolerance: the "
            "two are tuned as a pair, so set both (or neither, to run the artifact's tuned pair)"
        ), proc.stderr
    assert not (tmp_path / "var").exists()  # nothing started


# ------------------------------------------------------------------- demo
def test_a_failed_demo_keeps_its_work_folder_and_says_where(tmp_path: Path) -> None:
    """A setting no process knows makes the exchange refuse to start: the demo fails
    fast, stops what it started and keeps the folder with the exchange's log."""
    proc = rlexec(
        "demo", "--no-backtest", env={"RLEXEC__NO_SUCH__KEY": "1", "TMPDIR": str(tmp_path)}
    )
    line = one_line_error(proc, 1)
    prefix = "rlexec demo: failed; logs, configs and the journal are kept in "
    assert line.startswith(prefix)
    kept = Path(line[len(prefix) :])
    assert kept.parent == tmp_path and kept.is_dir()
    assert "exchange exited with 2 before reporting ready" in proc.stderr
    assert "no_such: unknown key" in (kept / "exchange.log").read_text()


def test_the_demo_bar_never_shows_the_whole_quantity_while_the_parent_works() -> None:
    assert demo.shown_filled(2000, 2000, "working") == 1999
    assert demo.shown_filled(1500, 2000, "working") == 1500
    assert demo.shown_filled(2000, 2000, "completed") == 2000
    assert demo.shown_filled(1800, 2000, "expired") == 1800


def test_the_exchange_names_a_missing_data_file_before_it_reports_ready(tmp_path: Path) -> None:
    cfg = tmp_path / "paper.toml"
    missing = tmp_path / "capture.gz"
    cfg.write_text(
        '[[instruments]]\nsymbol = "BTCUSDT"\n[source]\nkind = "paper"\n'
        f'[source.paper]\nupstream = "recording"\nfiles = ["{missing}"]\n'
    )
    proc = rlexec("exchange", "--config", str(cfg))
    assert proc.stdout == ""  # never announced itself ready
    assert one_line_error(proc, 2) == f"  source.paper.files.0: no file {missing}"


def test_a_day_declared_with_the_wrong_levels_is_a_config_error_naming_both(
    tmp_path: Path,
) -> None:
    folder = renamed_day(tmp_path / "data", "MSFT")
    cfg = tmp_path / "x.toml"
    cfg.write_text(f'[[source.lobster]]\nfolder = "{folder}"\nlevels = 5\n')
    proc = rlexec("exchange", "--config", str(cfg))
    assert proc.stdout == ""
    assert one_line_error(proc, 2) == (
        "  source.lobster.0: Value error, levels = 5 but "
        "MSFT_2012-06-21_34200000_57600000_message_1.csv.gz is levels 1"
    )
