"""The coordinator: plan the orders, reuse what the cache holds, run the rest, summarise.

1. Policies and settings: learned policies are verified here (their digest goes to the
   workers); baselines take their parameters (VWAP profile, Almgren-Chriss) from an
   artifact's manifest, estimated on that artifact's training hours.
2. Orders: drawn per group from seeds (:mod:`.orders`), identical for every policy.
3. Keys: one per (policy, order) under this run's fingerprint (:mod:`.fingerprint`),
   including the impact model the simulator builds for each group, found by starting
   one episode in the parent.
4. What the cache lacks becomes jobs (one policy, a batch of one group's orders), run
   in this process, local worker processes or on Ray; each finished job is committed
   to the cache at once, so an interrupted run resumes where it stopped.
5. The summary (:mod:`.summary`) and, per learned policy, the promotion gate.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from policies.backtest.cache import MemoryCache, ResultCache
from policies.backtest.episodes import Job
from policies.backtest.errors import BacktestError, JobFailed
from policies.backtest.fingerprint import code_fingerprint, describe, key_of
from policies.backtest.gate import GateVerdict, promotion_gate
from policies.backtest.lineup import PASSIVE, REFERENCE, PolicySpec
from policies.backtest.metrics import OrderOutcome
from policies.backtest.orders import (
    DataGroup,
    GroupSpec,
    ParentSpec,
    draw_orders,
    resolve_folder,
)
from policies.backtest.scaleout import Executor, JobFailure, make_executor
from policies.backtest.summary import GroupData, summarise
from policies.backtest.trace import TraceFactory
from policies.data import Source, load_source, parse_windows
from policies.env import EnvConfig, ExecutionEnv
from policies.evaluate import BaselineParams
from policies.features import FeatureSpec

SHIPPED_ARTIFACT = Path(__file__).resolve().parents[1] / "artifacts" / "ppo_amzn"


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    policies: Sequence[PolicySpec]
    data: Sequence[GroupSpec]
    orders: int = 200  # per group
    seed: int = 20240601
    env: EnvConfig = field(default_factory=EnvConfig)
    baselines_from: str | None = None  # artifact whose manifest holds VWAP / AC parameters
    workers: int = 1
    ray: str | None = None
    cache: str | None = None  # SQLite file; None: keep results in memory only
    draws: int = 2000
    level: float = 0.95
    chunk: int = 10  # orders per job
    command: str = ""
    progress: bool = False
    min_gate_orders: int = 30


@dataclass(slots=True)
class BacktestResult:
    summary: dict[str, Any]
    groups: list[GroupData]
    gates: list[GateVerdict]
    computed: int  # outcomes simulated in this run
    reused: int  # outcomes found in the cache
    action_names: dict[str, list[str]]


@dataclass(slots=True)
class _Plan:
    group: DataGroup
    source: Source
    orders: list[ParentSpec]
    impact: dict[str, Any]
    keys: dict[str, list[str]]  # policy -> key per order


def _learned_settings(
    policies: Sequence[PolicySpec],
) -> tuple[FeatureSpec, dict[str, list[str]], str | None]:
    from policies.learned import load_policy

    features: FeatureSpec | None = None
    names: dict[str, list[str]] = {}
    first: str | None = None
    for p in policies:
        if not p.learned:
            continue
        pol = load_policy(p.artifact, p.digest)
        fs = pol.artifact.feature_spec
        if features is not None and (
            fs.decision_interval_s != features.decision_interval_s
            or fs.lookback != features.lookback
        ):
            raise BacktestError(
                f"{p.name} decides every {fs.decision_interval_s}s with a {fs.lookback}-interval "
                f"look back, another learned policy every {features.decision_interval_s}s / "
                f"{features.lookback}: baselines could not meet both on the same clock"
            )
        features = features or fs
        first = first or p.artifact
        names[p.name] = [c.name for c in pol.spec.choices]
    return features or FeatureSpec(), names, first


def baseline_params(artifact: str | Path) -> BaselineParams:
    import json

    manifest_path = Path(artifact) / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        return BaselineParams.from_json(manifest["baselines"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BacktestError(
            f"cannot read baseline parameters (VWAP profile, Almgren-Chriss) from "
            f"{manifest_path}: {exc!r}"
        ) from exc


def passive_params(artifact: str | Path, features: FeatureSpec, env: EnvConfig) -> dict[str, Any]:
    """The passive tactic's tolerance and urgency tuned on the artifact's training split:
    from its manifest (no urgency there: the straight line it was tuned on), or (an
    artifact from before the tactic existed) tuned now on the recorded training windows
    the manifest names, the same way training tunes them."""
    import json

    from policies.baselines.passive import STRAIGHT, TUNE_EPISODES, tune_passive

    manifest = json.loads((Path(artifact) / "manifest.json").read_text(encoding="utf-8"))
    found = manifest.get("baselines", {}).get(PASSIVE)
    if found is not None:
        return {
            "tolerance": float(found["tolerance"]),
            "urgency": float(found.get("urgency", STRAIGHT)),
        }
    try:
        train = [
            load_source(resolve_folder(t["name"]), parse_windows(",".join(t["windows"])))
            for t in manifest["data"]["train"]
            if "file" in t  # recorded data (synthetic regimes have no file)
        ]
    except (KeyError, TypeError, FileNotFoundError) as exc:
        raise BacktestError(
            f"{artifact}: no tuned passive tolerance and no training data to tune it on: {exc!r}"
        ) from exc
    tuned = tune_passive(train, features, env, episodes=TUNE_EPISODES, seed=7)
    return {"tolerance": float(tuned["tolerance"]), "urgency": float(tuned["urgency"])}


def _impact_of(env: ExecutionEnv, factory: TraceFactory, order: ParentSpec) -> dict[str, Any]:
    """The impact model the simulator builds for this group, with its parameters."""
    env.reset(seed=order.seed, options={"episode": order.episode()})
    link = factory.last
    sim = link.sim if link is not None else None
    model = getattr(sim, "impact", None)
    return describe(model) if model is not None else {"type": type(sim).__name__, "params": {}}


def plan(cfg: BacktestConfig, features: FeatureSpec, baselines: BaselineParams) -> list[_Plan]:
    code = code_fingerprint()
    plans = []
    for spec in cfg.data:
        source = load_source(spec.folder, [spec.window])
        group = DataGroup.of(spec, source)
        factory = TraceFactory()
        env = ExecutionEnv([source], feature_spec=features, config=cfg.env, link=factory)
        try:
            orders = draw_orders(group, source, env, cfg.orders, cfg.seed)
            impact = _impact_of(env, factory, orders[0])
        finally:
            env.close()
        run = {
            "env": cfg.env.to_json(),
            "features": features.to_json(),
            "impact": impact,
            "code": code,
            "group": group.fingerprint(),
        }
        keys = {
            p.name: [
                key_of({"run": run, "policy": p.fingerprint(baselines), "order": o.fingerprint()})
                for o in orders
            ]
            for p in cfg.policies
        }
        plans.append(_Plan(group, source, orders, impact, keys))
    return plans


def _jobs(
    cfg: BacktestConfig,
    plans: Sequence[_Plan],
    features: FeatureSpec,
    baselines: BaselineParams,
    have: dict[str, dict[str, Any]],
) -> tuple[list[Job], list[tuple[_Plan, PolicySpec]]]:
    jobs: list[Job] = []
    owners: list[tuple[_Plan, PolicySpec]] = []
    bl = baselines.to_json()
    for pl in plans:
        for p in cfg.policies:
            todo = [o for o, k in zip(pl.orders, pl.keys[p.name], strict=True) if k not in have]
            for i in range(0, len(todo), cfg.chunk):
                batch = tuple(todo[i : i + cfg.chunk])
                jobs.append(Job(pl.group.spec, p, bl, cfg.env, features, batch))
                owners.append((pl, p))
    return jobs, owners


def execute(
    jobs: Sequence[Job],
    *,
    owners: Sequence[tuple[_Plan, PolicySpec]],
    executor: Executor,
    cache: ResultCache,
    have: dict[str, dict[str, Any]],
    on_progress: Callable[[int], None],
) -> int:
    """Run ``jobs``, committing each finished one to ``cache`` and ``have``."""
    done = 0
    for k, result in executor.run(jobs):
        pl, p = owners[k]
        if isinstance(result, JobFailure):
            idx = [o.index for o in jobs[k].orders]
            raise JobFailed(
                f"{p.name} on {pl.group.key}, orders {idx[0]}-{idx[-1]}: {result.error} "
                "(finished jobs are cached; the worker's traceback follows)",
                result.traceback,
            )
        by_index = {o.index: key for o, key in zip(pl.orders, pl.keys[p.name], strict=True)}
        rows = [(by_index[i], p.name, pl.group.key, i, outcome) for i, outcome in result]
        cache.put_many(rows)
        for key, _, _, _, outcome in rows:
            have[key] = outcome
        done += len(rows)
        on_progress(len(rows))
    return done


def _short(model: dict[str, Any]) -> str:
    """``Type(a=1.23, b=Other(c=4))``, numbers to four significant digits."""

    def value(v: Any) -> str:
        if isinstance(v, dict) and "type" in v:
            return _short(v)
        try:
            return f"{float(v):.4g}"
        except (TypeError, ValueError):
            return str(v)

    params = ", ".join(f"{k}={value(v)}" for k, v in model.get("params", {}).items())
    return f"{str(model['type']).rsplit('.', 1)[-1]}({params})"


def _impact_text(plans: Sequence[_Plan], env: EnvConfig) -> str:
    per = [f"{pl.group.ticker}: {_short(pl.impact)}" for pl in plans]
    return f"'{env.impact}' (" + "; ".join(dict.fromkeys(per)) + ")"


def run_backtest(cfg: BacktestConfig, executor: Executor | None = None) -> BacktestResult:
    """Run (or resume) a backtest and summarise it; see the module docstring."""
    t0 = time.monotonic()
    if not cfg.policies:
        raise BacktestError("no policies to compare")
    if cfg.orders < 2:
        raise BacktestError(f"need at least 2 orders per group, got {cfg.orders}")
    features, action_names, first = _learned_settings(cfg.policies)
    source_of_params = cfg.baselines_from or first or str(SHIPPED_ARTIFACT)
    baselines = baseline_params(source_of_params)
    if any(p.kind == PASSIVE and not p.params for p in cfg.policies):
        text = json.dumps(passive_params(source_of_params, features, cfg.env), sort_keys=True)
        cfg = replace(
            cfg,
            policies=[
                replace(p, params=text) if p.kind == PASSIVE and not p.params else p
                for p in cfg.policies
            ],
        )
    plans = plan(cfg, features, baselines)
    cache: ResultCache = ResultCache(cfg.cache) if cfg.cache else MemoryCache()
    try:
        all_keys = [k for pl in plans for ks in pl.keys.values() for k in ks]
        have = cache.get_many(all_keys)
        reused = len(have)
        jobs, owners = _jobs(cfg, plans, features, baselines, have)
        computed = 0
        executor_name = "nothing to run: every result was in the cache"
        if jobs:
            total = sum(len(j.orders) for j in jobs)
            bar = _bar(total, cfg.progress)
            own = executor is None
            ex = executor or make_executor(min(cfg.workers, len(jobs)), cfg.ray)
            executor_name = ex.name
            try:
                computed = execute(
                    jobs,
                    owners=owners,
                    executor=ex,
                    cache=cache,
                    have=have,
                    on_progress=bar.update,
                )
            finally:
                bar.close()
                if own:
                    ex.close()
    finally:
        cache.close()
    groups = []
    for pl in plans:
        gd = GroupData(
            pl.group.key,
            {
                "folder": pl.group.spec.folder,
                "file": Path(pl.source.day.day.message_path).name,
                "sha256": pl.group.sha256,
                "window": pl.group.spec.window_text,
                "impact": pl.impact,
            },
            pl.orders,
        )
        for p in cfg.policies:
            gd.outcomes[p.name] = [OrderOutcome.from_json(have[k]) for k in pl.keys[p.name]]
        groups.append(gd)
    names = [p.name for p in cfg.policies]
    learned = sorted(p.name for p in cfg.policies if p.learned)
    reference = REFERENCE if REFERENCE in names else names[0]
    summary = summarise(
        groups,
        {p.name: p.kind for p in cfg.policies},
        reference=reference,
        seed=cfg.seed,
        draws=cfg.draws,
        level=cfg.level,
    )
    for entry, p in zip(summary["policies"], cfg.policies, strict=True):
        entry["fingerprint"] = p.fingerprint(baselines)
    summary.update(
        {
            "command": cfg.command,
            "seed": cfg.seed,
            "orders_per_group": cfg.orders,
            "baselines_from": str(source_of_params),
            "env": cfg.env.to_json(),
            "features": features.to_json(),
            "impact_text": _impact_text(plans, cfg.env),
            "code": code_fingerprint(),
            "counterfactual": "the same replay without our orders (the LOBSTER file's own book)",
        }
    )
    gates = [promotion_gate(summary, p, min_orders=cfg.min_gate_orders) for p in learned]
    summary["executor"] = executor_name
    summary["computed"] = computed
    summary["reused"] = reused
    summary["elapsed_s"] = time.monotonic() - t0
    return BacktestResult(summary, groups, gates, computed, reused, action_names)


class _NoBar:
    def update(self, n: int) -> None:
        return None

    def close(self) -> None:
        return None


def _bar(total: int, show: bool) -> Any:
    if not show:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="order", desc="backtest", smoothing=0.05)
