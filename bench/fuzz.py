"""Coverage-guided fuzzing of every input surface, one atheris process per target.

Targets live in tests/fuzz/targets (one module each; see tests/fuzz/harness.py for
what a target promises). Each runs in its own process, so a crash, a hang or a leak
in one cannot hide another: libFuzzer (through atheris) mutates inputs toward new
coverage of our packages (core, gateways, exchange, risk, policies, daemon, the only
code instrumented), stops a run at the first crash, and we start it again on the
corpus it had built until the time is spent. Findings (crash-*, timeout-*, oom-*
inputs) are kept under the work directory; each one found so far became a regression
test next to the code it broke.

Reported per target: inputs executed, the rate, coverage (libFuzzer's ``cov``, edges
of our code reached, and ``ft``, features), corpus size, crashes, hangs (no answer
within --timeout s), out-of-memory stops, and how long 1,000,000 inputs take at the
measured rate. Goal (issue 21): >= 1,000,000 inputs per target, 0 crashes, 0 hangs.

Run:  python bench/fuzz.py --seconds 600                  (every target, one after another)
      python bench/fuzz.py --seconds 60 --targets fix_session,md_client --jobs 2
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

TARGETS = (
    "fix_session",
    "md_client",
    "control_commands",
    "lobster_files",
    "binance_lines",
    "policy_artifact",
    "config_toml",
)
OUR_PACKAGES = ["core", "gateways", "exchange", "risk", "policies", "daemon"]
GOAL_INPUTS = 1_000_000


@dataclass
class Result:
    target: str
    surface: str = ""
    seconds: float = 0.0
    inputs: int = 0
    inputs_per_s: float = 0.0
    coverage: int = 0
    features: int = 0
    corpus: int = 0
    crashes: int = 0
    hangs: int = 0
    ooms: int = 0
    restarts: int = 0
    peak_rss_mb: int = 0
    findings: list[str] = field(default_factory=list)

    def row(self) -> dict[str, object]:
        rate = self.inputs_per_s
        return {
            "target": self.target,
            "seconds": round(self.seconds),
            "inputs": self.inputs,
            "inputs_per_s": round(rate),
            "cov": self.coverage,
            "ft": self.features,
            "corpus": self.corpus,
            "crashes": self.crashes,
            "hangs": self.hangs,
            "ooms": self.ooms,
            "1M_inputs_min": round(GOAL_INPUTS / rate / 60, 1) if rate else "-",
            "goal_met": self.inputs >= GOAL_INPUTS
            and not (self.crashes or self.hangs or self.ooms),
        }


# ------------------------------------------------------------------ child
def child(name: str, seconds: float, workdir: Path, timeout_s: int, seed: int, runs: int) -> None:
    """Inside the fuzzing process: instrument our packages, load the target, fuzz."""
    import atheris

    with atheris.instrument_imports(include=OUR_PACKAGES):
        module = importlib.import_module(f"tests.fuzz.targets.{name}")
    from tests.fuzz.harness import quiet

    quiet()
    target = module.make()
    corpus = workdir / "corpus"
    if not corpus.exists():
        corpus.mkdir(parents=True)
        for i, seed_input in enumerate(target.seeds()):
            (corpus / f"seed-{i:04d}").write_bytes(seed_input)
    argv = [
        sys.argv[0],
        f"-max_total_time={max(1, int(seconds))}",
        f"-timeout={timeout_s}",
        "-rss_limit_mb=3072",
        "-max_len=4096",
        f"-artifact_prefix={workdir}/",
        "-print_final_stats=1",
        f"-seed={seed}",
        str(corpus),
    ]
    if runs:
        argv.insert(1, f"-runs={runs}")
    atheris.Setup(argv, target.one_input)
    atheris.Fuzz()


# ------------------------------------------------------------------ parent
_COV = re.compile(rb"cov: (\d+) ft: (\d+) corp: (\d+)")
_EXECUTED = re.compile(rb"stat::number_of_executed_units: (\d+)")
_RSS = re.compile(rb"stat::peak_rss_mb: (\d+)")
_DONE = re.compile(rb"Done (\d+) runs")
_PULSE = re.compile(rb"^#(\d+)\s", re.M)


def fuzz_target(
    name: str, seconds: float, workdir: Path, *, timeout_s: int = 10, seed: int = 1, runs: int = 0
) -> Result:
    """Fuzz one target for ``seconds`` (restarting after each finding); never raises."""
    module = importlib.import_module(f"tests.fuzz.targets.{name}")
    res = Result(name, surface=getattr(module, "SURFACE", "") or _surface(module))
    workdir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    attempt = 0
    while True:
        left = seconds - (time.monotonic() - start)
        if left < 1 and attempt:
            break
        attempt += 1
        before = {p.name for p in workdir.iterdir()}
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            name,
            "--seconds",
            str(max(1.0, left)),
            "--workdir",
            str(workdir),
            "--timeout",
            str(timeout_s),
            "--seed",
            str(seed + attempt),
            "--runs",
            str(runs),
        ]
        env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": "0"}
        try:
            proc = subprocess.run(
                cmd,
                check=False,
                cwd=REPO,
                env=env,
                capture_output=True,
                timeout=max(1.0, left) + 120,
            )
            err, code = proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as exc:  # the whole process stopped answering
            err, code = exc.stderr or b"", -9
            res.hangs += 1
            res.findings.append(f"{name}: process hung beyond its budget")
        res.inputs += _executed(err)
        for m in _COV.finditer(err):
            res.coverage = max(res.coverage, int(m[1]))
            res.features = max(res.features, int(m[2]))
        for m in _RSS.finditer(err):
            res.peak_rss_mb = max(res.peak_rss_mb, int(m[1]))
        (workdir / f"log-{attempt}.txt").write_bytes(err[-200_000:])
        new = sorted({p.name for p in workdir.iterdir()} - before)
        for f in new:
            kind = f.split("-", 1)[0]
            if kind in ("crash", "timeout", "oom", "leak"):
                res.findings.append(f"{kind}: {workdir / f}: {_first_error(err)}")
                if kind == "crash" or kind == "leak":
                    res.crashes += 1
                elif kind == "timeout":
                    res.hangs += 1
                else:
                    res.ooms += 1
        if code == 0 or runs:
            break
        if not any(k.startswith(("crash", "timeout", "oom", "leak")) for k in new):
            res.crashes += 1  # died without leaving an input: still a crash, keep the log
            res.findings.append(
                f"exit {code} without a saved input; see {workdir}/log-{attempt}.txt"
            )
            if attempt > 20:
                break
        res.restarts += 1
    res.seconds = time.monotonic() - start
    res.inputs_per_s = res.inputs / res.seconds if res.seconds else 0.0
    corpus = workdir / "corpus"
    res.corpus = len(list(corpus.iterdir())) if corpus.exists() else 0
    return res


def _fields(saved: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in saved.items() if k in Result.__dataclass_fields__}


def _commit() -> str:
    from core.pinned_dir import code_version

    return code_version(REPO)


def _surface(module: object) -> str:
    for value in vars(module).values():
        surface = getattr(value, "surface", None)
        if isinstance(surface, str) and isinstance(value, type):
            return surface
    return ""


def _executed(err: bytes) -> int:
    for pattern in (_EXECUTED, _DONE):
        found = pattern.findall(err)
        if found:
            return int(found[-1])
    pulses = _PULSE.findall(err)  # stopped by a finding: the last status line it printed
    return int(pulses[-1]) if pulses else 0


def _first_error(err: bytes) -> str:
    text = err.decode("utf-8", "replace")
    lines = text.splitlines()
    for i, line in enumerate(lines[:-1]):
        if "Uncaught Python exception" in line:
            return lines[i + 1].strip()[:300]
    for marker in ("AssertionError", "Error:", "Exception", "ALARM", "out-of-memory"):
        for line in text.splitlines():
            if marker in line:
                return line.strip()[:300]
    return "(no error line)"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seconds", type=float, default=60.0, help="budget per target (default 60)")
    ap.add_argument("--targets", default=",".join(TARGETS), help="comma-separated (default: all)")
    ap.add_argument("--jobs", type=int, default=1, help="targets fuzzed at once (default 1)")
    ap.add_argument(
        "--timeout", type=int, default=10, help="seconds one input may take (default 10)"
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--runs", type=int, default=0, help="stop after this many inputs (0: time only)"
    )
    ap.add_argument(
        "--workdir", type=Path, default=None, help="corpora and findings (default: temp)"
    )
    ap.add_argument(
        "--json", type=Path, default=None, help="write results here instead of bench/results"
    )
    ap.add_argument(
        "--budget",
        default="",
        help="per-target seconds overriding --seconds, e.g. lobster_files=3000,fix_session=600",
    )
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child, a.seconds, a.workdir, a.timeout, a.seed, a.runs)
        return
    names = [t for t in a.targets.split(",") if t]
    budget = dict.fromkeys(names, a.seconds)
    for item in filter(None, a.budget.split(",")):
        name, _, secs = item.partition("=")
        budget[name] = float(secs)
    unknown = sorted((set(names) | set(budget)) - set(TARGETS))
    if unknown:
        ap.error(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(TARGETS)}")
    with contextlib.ExitStack() as stack:
        root = a.workdir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="rlexec-fuzz-"))
        )
        if a.workdir is None and a.seconds >= 60:
            # long runs keep their corpora and findings (outside the repository)
            root = Path(tempfile.gettempdir()) / "rlexec-fuzz-work"
        with ThreadPoolExecutor(max_workers=max(1, a.jobs)) as pool:
            results = list(
                pool.map(
                    lambda n: fuzz_target(
                        n, budget[n], root / n, timeout_s=a.timeout, seed=a.seed, runs=a.runs
                    ),
                    names,
                )
            )
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    code = _commit()
    done = {r.target: {**asdict(r), "when": when, "code": code, "jobs": a.jobs} for r in results}
    rows = [r.row() for r in results]
    extra = {"targets": list(done.values()), "load_average_at_end": os.getloadavg()}
    if a.json is not None:
        a.json.write_text(json.dumps({"rows": rows, **extra}, indent=2) + "\n")
        for r in results:
            print(json.dumps(r.row()))
    else:
        from _common import RESULTS, report

        # fuzz.json keeps each target's latest run: targets run at different times (and
        # for different budgets) still add up to one table
        kept: dict[str, dict[str, object]] = {}
        old = RESULTS / "fuzz.json"
        if old.exists():
            kept = {t["target"]: t for t in json.loads(old.read_text()).get("targets", [])}
        kept.update(done)
        merged = [kept[t] for t in TARGETS if t in kept]
        rows = [{**Result(**_fields(t)).row(), "when": t.get("when", "")} for t in merged]
        report("fuzz", rows, {**extra, "targets": merged})
    if any(r.crashes or r.hangs or r.ooms for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
