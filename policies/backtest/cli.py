"""``rlexec backtest``: the execution-quality report on held-out data.

Every policy works the same seeded parent orders through the one execution path on the
simulated clock; the report folder gets report.html (self-contained: tables and
figures), the PNGs, summary.json, orders.csv and results.md. Results are cached per
(policy, order): rerunning the same command resumes, and adding a policy runs only that
policy. Exit status: 0 done, 1 the ``--gate`` candidate failed the promotion gate,
2 bad input (one line on stderr says what), 3 a run that could not finish, 130
interrupted (rerun to resume).
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
from pathlib import Path

DEFAULT_POLICIES = "rl:policies/artifacts/ppo_amzn,twap,vwap,pov,ac,random,catchup"
# The shipped data the committed policy never trained on (its training hours are AMZN
# level 5, 09:30-13:00; docs/policies.md): the rest of that day at both book depths,
# and the whole day of a ticker it never saw.
HELD_OUT = (
    "AMZN_2012-06-21_5@13:00-14:15,14:15-16:00",
    "AMZN_2012-06-21_1@13:00-14:15,14:15-16:00",
    "AAPL_2012-06-21_1@09:30-16:00",
)


def range_arg(text: str) -> tuple[float, float]:
    """``LO-HI`` with 0 < LO <= HI (an argparse type: horizons, participation, scales)."""
    try:
        lo, hi = (float(x) for x in text.split("-"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected LO-HI, got {text!r}") from exc
    if not 0 < lo <= hi:
        raise argparse.ArgumentTypeError(f"need 0 < LO <= HI, got {text!r}")
    return lo, hi


def failure_status(prog: str, exc: BaseException) -> int:
    """Say why a run stopped, in one line (a failed job adds its worker's traceback), and
    give the exit status: 130 interrupted, 3 a job failed, 2 bad input."""
    from policies.backtest.errors import JobFailed

    if isinstance(exc, KeyboardInterrupt):
        print(
            f"{prog}: interrupted; finished results are cached, rerun the same command to resume",
            file=sys.stderr,
        )
        return 130
    if isinstance(exc, JobFailed):
        print(f"{prog}: {exc}\n{exc.detail}", file=sys.stderr)
        return 3
    print(f"{prog}: {exc}", file=sys.stderr)
    return 2


def add_run_options(ap: argparse.ArgumentParser, cache: str) -> None:
    """The options every backtesting command shares: seed, cache, workers, bootstrap,
    plots and the progress bar."""
    ap.add_argument("--seed", type=int, default=20240601, help="orders and bootstrap seed")
    ap.add_argument("--cache", default=cache, help="result cache file")
    ap.add_argument("--workers", type=int, default=default_workers(), help="local worker processes")
    ap.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples")
    ap.add_argument("--no-plots", action="store_true", help="tables only (no matplotlib)")
    ap.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=sys.stderr.isatty(),
        help="progress bar on stderr",
    )


def _stop(signum: int, frame: object) -> None:
    """SIGTERM takes the Ctrl-C path: workers stopped, finished results kept, exit 130."""
    raise KeyboardInterrupt


def default_workers() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="rlexec backtest",
        description="The execution-quality report: every policy on the same parent orders "
        "through the one execution path; IS split into spread / impact / timing, intervals, "
        "breakdowns, figures (docs/policies.md, 'Backtest').",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument(
        "--policies",
        default=DEFAULT_POLICIES,
        help="comma-separated: rl:ARTIFACT_DIR, twap, vwap, pov, ac, random, catchup (passive "
        "at the touch with catch-up crossing, tolerance and line tuned on the training "
        "split), "
        "twap_aggressive",
    )
    ap.add_argument(
        "--data",
        nargs="+",
        default=list(HELD_OUT),
        metavar="FOLDER[@HH:MM-HH:MM,...]",
        help="LOBSTER ticker/day folders (path, or a name under data/lobster); each window "
        "after @ is its own group; the default is the shipped data's held-out parts",
    )
    ap.add_argument("--hours", default="09:30-16:00", help="windows for folders given without @")
    ap.add_argument("--orders", type=int, default=200, help="parent orders per group")
    ap.add_argument("--out", default="var/backtest/report", help="report folder")
    ap.add_argument("--no-cache", action="store_true", help="keep results in memory only")
    ap.add_argument(
        "--ray",
        default=None,
        metavar="auto|local|HOST:PORT",
        help="run on Ray: auto = the cluster this machine is in, local = a private "
        "instance here, HOST:PORT = that cluster's head (needs rlexec[ray])",
    )
    ap.add_argument(
        "--impact",
        default=None,
        help="impact model of the simulator (none, permanent, transient, ...); "
        "None = the environment's default",
    )
    ap.add_argument(
        "--horizon-s",
        type=range_arg,
        default=None,
        metavar="LO-HI",
        help="order horizons, seconds (default: the environment's, 180-900)",
    )
    ap.add_argument(
        "--participation",
        type=range_arg,
        default=None,
        metavar="LO-HI",
        help="order sizes as a share of the window's volume over the horizon "
        "(default: the environment's, 0.02-0.2)",
    )
    ap.add_argument(
        "--baselines",
        default=None,
        metavar="ARTIFACT_DIR",
        help="artifact whose manifest gives VWAP / Almgren-Chriss parameters (default: the "
        "first rl policy, else the shipped one)",
    )
    ap.add_argument("--chunk", type=int, default=10, help="orders per job")
    ap.add_argument(
        "--gate",
        default=None,
        metavar="POLICY",
        help="exit 1 unless POLICY passes the promotion gate (docs/policies.md)",
    )
    ap.add_argument(
        "--write-docs",
        default=None,
        metavar="FILE",
        help="replace the marked results block in FILE (docs/results.md) with the tables",
    )
    add_run_options(ap, "var/backtest/cache.sqlite")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from dataclasses import replace

    from core.log import configure
    from policies.artifact import ArtifactError
    from policies.backtest.errors import BacktestError, JobFailed
    from policies.backtest.lineup import parse_policies
    from policies.backtest.orders import parse_data
    from policies.backtest.report import write_docs, write_report
    from policies.backtest.runner import BacktestConfig, run_backtest
    from policies.env import EnvConfig

    configure(level="ERROR")
    signal.signal(signal.SIGTERM, _stop)  # a service manager's stop: the Ctrl-C path
    command = "rlexec backtest " + shlex.join(sys.argv[1:] if argv is None else argv)
    try:
        if args.orders < 2 or args.workers < 1 or args.bootstrap < 100 or args.chunk < 1:
            raise ValueError("--orders >= 2, --workers >= 1, --bootstrap >= 100, --chunk >= 1")
        if not args.no_plots:
            from policies.backtest.plots import pyplot

            pyplot()  # fail now, not after an hour of simulation
        if args.ray:
            from policies.backtest.scaleout import RayCluster

            RayCluster.check_installed()
        env = EnvConfig()
        if args.impact is not None:
            env = replace(env, impact=args.impact)
        if args.horizon_s is not None:
            env = replace(env, horizon_s=args.horizon_s)
        if args.participation is not None:
            env = replace(env, participation=args.participation)
        cfg = BacktestConfig(
            policies=parse_policies(args.policies),
            data=parse_data(args.data, args.hours),
            orders=args.orders,
            seed=args.seed,
            env=env,
            baselines_from=args.baselines,
            workers=args.workers,
            ray=args.ray,
            cache=None if args.no_cache else args.cache,
            draws=args.bootstrap,
            chunk=args.chunk,
            command=command,
            progress=args.progress,
        )
        if args.gate is not None and args.gate not in {p.name for p in cfg.policies}:
            raise ValueError(f"--gate {args.gate}: not one of the policies ({args.policies})")
        if args.write_docs is not None and not Path(args.write_docs).is_file():
            raise ValueError(f"--write-docs {args.write_docs}: no such file")
        result = run_backtest(cfg)
    except (KeyboardInterrupt, JobFailed, ValueError, OSError, ArtifactError, BacktestError) as exc:
        return failure_status("rlexec backtest", exc)
    out = Path(args.out)
    files = write_report(
        out,
        result.summary,
        result.groups,
        result.gates,
        action_names=result.action_names,
        plots=not args.no_plots,
    )
    if args.write_docs:
        write_docs(Path(args.write_docs), files["markdown"].read_text(encoding="utf-8"))
    print(files["markdown"].read_text(encoding="utf-8"))
    for v in result.gates:
        print(v.explain() if not v.passed else f"promotion gate for {v.candidate}: PASSED")
    print(
        f"{result.computed} orders simulated, {result.reused} from the cache; "
        f"report: {files['html']}"
    )
    if args.gate is not None:
        verdict = next((v for v in result.gates if v.candidate == args.gate), None)
        if verdict is None:
            from policies.backtest.gate import promotion_gate

            verdict = promotion_gate(result.summary, args.gate)
        return 0 if verdict.passed else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
