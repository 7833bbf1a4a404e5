"""``rlexec gate``: may this candidate replace the committed policy?

Runs ``rlexec backtest`` for the candidate against every baseline (TWAP, VWAP, POV,
Almgren-Chriss, random and the passive-with-catch-up tactic, whose parameters come
from the candidate's own training split) on the data its manifest holds out: the
test split of its fold (``--include-validation`` adds the validation split, on which
its checkpoint was chosen, so not pristine). Orders are drawn the way the candidate
was trained to size them (its manifest's horizon and participation ranges); the
market is always the environment's current one (impact model, end-time completion).

Then the promotion gate (:func:`~policies.backtest.gate.promotion_gate`) decides, and
the figures against issue 15's goal are printed next to it. With ``--promote DEST``
a candidate that passes is copied over DEST (the committed policy's folder) and its
digest checked there; one that fails leaves DEST untouched. The report, summary.json
and gate.json (verdict and goal figures) go to ``--out``.

Exit status: 0 passed (and promoted with ``--promote``), 1 refused by the gate, 2 bad
input (one line says what), 3 a run that could not finish, 130 interrupted (rerun to
resume from the cache).
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from policies.backtest.cli import _stop, add_run_options, failure_status

BASELINES = "twap,vwap,pov,ac,random,catchup"


def held_out(manifest: dict[str, Any], include_validation: bool) -> list[str]:
    """``FOLDER@WINDOWS`` for every recorded held-out part of the manifest's split."""
    data = manifest.get("data", {})
    parts = ["test", "val"] if include_validation else ["test"]
    out = []
    for part in parts:
        for entry in data.get(part, []):
            if "file" not in entry:
                continue  # synthetic sources are training data only
            out.append(f"{entry['name']}@{','.join(entry['windows'])}")
    if not out:
        raise ValueError("the candidate's manifest names no held-out data (data.test)")
    return out


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="rlexec gate",
        description="Backtest a candidate policy on its held-out data against every "
        "baseline and apply the promotion gate (docs/policies.md, 'Promotion gate').",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("candidate", metavar="ARTIFACT_DIR", help="the candidate's artifact folder")
    ap.add_argument("--orders", type=int, default=300, help="parent orders per held-out group")
    ap.add_argument("--include-validation", action="store_true", help="gate on val too")
    ap.add_argument("--out", default=None, help="report folder (default var/gate/<name>)")
    ap.add_argument("--min-orders", type=int, default=30, help="fewest orders a cell may hold")
    ap.add_argument(
        "--promote",
        default=None,
        metavar="DEST",
        help="copy the candidate over DEST (e.g. policies/artifacts/ppo_amzn) if it passes",
    )
    add_run_options(ap, "var/backtest/gate.sqlite")
    return ap


def promote(candidate: Path, dest: Path, digest: str) -> str:
    """Copy the candidate's files over ``dest`` atomically; the copy must verify with the
    same digest, or ``dest`` is left as it was."""
    from policies.artifact import ArtifactError, load_artifact

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        for f in candidate.iterdir():
            if f.is_file():
                shutil.copy2(f, tmp / f.name)
        tmp.chmod(0o755)
        copied = load_artifact(tmp, digest)  # raises if a byte differs
    except (OSError, ArtifactError):
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = dest.with_name(f".{dest.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if dest.exists():
        dest.rename(old)
    tmp.rename(dest)
    shutil.rmtree(old, ignore_errors=True)
    return copied.digest


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from dataclasses import replace

    from core.log import configure
    from policies.artifact import ArtifactError
    from policies.backtest.errors import BacktestError, JobFailed
    from policies.backtest.gate import format_goal, goal_rows, promotion_gate
    from policies.backtest.lineup import parse_policies
    from policies.backtest.orders import parse_data
    from policies.backtest.report import write_report
    from policies.backtest.runner import BacktestConfig, run_backtest
    from policies.env import EnvConfig
    from policies.learned import load_policy

    configure(level="ERROR")
    signal.signal(signal.SIGTERM, _stop)
    command = "rlexec gate " + shlex.join(sys.argv[1:] if argv is None else argv)
    try:
        if args.orders < 2 or args.workers < 1 or args.bootstrap < 100 or args.min_orders < 2:
            raise ValueError("--orders >= 2, --workers >= 1, --bootstrap >= 100, --min-orders >= 2")
        cand = Path(args.candidate)
        pol = load_policy(cand)  # verified: every sum, specs, tensors
        manifest = pol.artifact.manifest
        trained = EnvConfig.from_json(manifest.get("env", {}))
        env = replace(EnvConfig(), horizon_s=trained.horizon_s, participation=trained.participation)
        policies = parse_policies(f"rl:{cand},{BASELINES}")
        name = policies[0].name
        cfg = BacktestConfig(
            policies=policies,
            data=parse_data(held_out(manifest, args.include_validation)),
            orders=args.orders,
            seed=args.seed,
            env=env,
            baselines_from=str(cand),
            workers=args.workers,
            cache=args.cache,
            draws=args.bootstrap,
            command=command,
            progress=args.progress,
            min_gate_orders=args.min_orders,
        )
        if args.promote is not None and Path(args.promote).resolve() == cand.resolve():
            raise ValueError("--promote DEST is the candidate itself")
        result = run_backtest(cfg)
    except (KeyboardInterrupt, JobFailed, ValueError, OSError, ArtifactError, BacktestError) as exc:
        return failure_status("rlexec gate", exc)
    out = Path(args.out or Path("var/gate") / cand.name)
    files = write_report(
        out,
        result.summary,
        result.groups,
        result.gates,
        action_names=result.action_names,
        plots=not args.no_plots,
    )
    verdict = promotion_gate(result.summary, name, min_orders=args.min_orders)
    goal = goal_rows(result.summary, name)
    doc = {
        "command": command,
        "candidate": {"path": str(cand), "name": name, "digest": pol.artifact.digest},
        "verdict": verdict.to_json(),
        "goal": goal,
    }
    (out / "gate.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(files["markdown"].read_text(encoding="utf-8"))
    print("Against issue 15's goal:\n" + format_goal(goal) + "\n")
    print(verdict.explain())
    print(f"report: {files['html']}; verdict and goal figures: {out / 'gate.json'}")
    if not verdict.passed:
        if args.promote is not None:
            print(f"not promoted: {args.promote} is unchanged", file=sys.stderr)
        return 1
    if args.promote is not None:
        try:
            digest = promote(cand, Path(args.promote), pol.artifact.digest)
        except (OSError, ArtifactError) as exc:
            print(f"rlexec gate: passed, but promoting failed: {exc}", file=sys.stderr)
            return 2
        print(f"promoted: {args.promote} now holds {name}, digest {digest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
