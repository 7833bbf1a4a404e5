"""Run parent orders through the one execution path and measure each: the worker's side.

A :class:`Job` is one policy on a batch of one group's orders. It is small and
picklable, so it runs the same in this process, a local worker process or a Ray task:
the worker loads the data and the policy itself (each at most once per process) and
drives every order through :class:`~policies.env.ExecutionEnv` exactly as evaluation
and training do (``ParentDriver`` -> ``ExecutionEngine`` with the real risk overlay ->
``SimRouter`` -> the matching engine, on the simulated clock), with the router's
:class:`~policies.backtest.trace.TracingRouter` taking notes.

An order's outcome depends only on the order (its seed included), the policy, the
settings and the code, never on which orders the same process ran before it (tested),
which is what lets any number of processes or machines share the work and still give
the same results bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from policies.actions import ActionSpec
from policies.backtest.lineup import PolicySpec, build_policy
from policies.backtest.market_path import FileMidPath
from policies.backtest.metrics import (
    BookSample,
    OrderOutcome,
    inventory_path,
    participation,
    split_shortfall,
    sweep_share,
)
from policies.backtest.orders import GroupSpec, ParentSpec
from policies.backtest.trace import ActionRecorder, TraceFactory
from policies.data import Source, load_source
from policies.env import EnvConfig, ExecutionEnv
from policies.evaluate import BaselineParams
from policies.features import FeatureSpec, Normaliser
from policies.protocol import Policy
from policies.rollout import run_episode


@dataclass(frozen=True, slots=True)
class Job:
    group: GroupSpec
    policy: PolicySpec
    baselines: dict[str, Any]  # BaselineParams.to_json()
    config: EnvConfig
    features: FeatureSpec
    orders: tuple[ParentSpec, ...]


@dataclass(slots=True)
class _Market:
    source: Source
    path: FileMidPath


def _features(policy: Policy, default: FeatureSpec) -> tuple[FeatureSpec, Normaliser | None]:
    """A learned policy's own feature set and statistics (two learned policies in one run
    may use different feature versions); a baseline reads only the context."""
    inner = policy.policy if isinstance(policy, ActionRecorder) else policy
    artifact = getattr(inner, "artifact", None)
    if artifact is None:
        return default, None
    return artifact.feature_spec, artifact.normaliser


class Worker:
    """What one process keeps between jobs: loaded days, environments, policies."""

    def __init__(self) -> None:
        self.markets: dict[GroupSpec, _Market] = {}
        self.envs: dict[tuple[Any, ...], tuple[ExecutionEnv, TraceFactory]] = {}
        self.policies: dict[tuple[PolicySpec, str], Policy] = {}

    def market(self, group: GroupSpec) -> _Market:
        m = self.markets.get(group)
        if m is None:
            source = load_source(group.folder, [group.window])
            m = self.markets[group] = _Market(source, FileMidPath(source.day))
        return m

    def policy(self, job: Job) -> Policy:
        key = (job.policy, repr(sorted(job.baselines.items())))
        pol = self.policies.get(key)
        if pol is None:
            pol = build_policy(job.policy, BaselineParams.from_json(job.baselines))
            if job.policy.learned:
                pol = ActionRecorder(pol)
            self.policies[key] = pol
        return pol

    def env(self, job: Job, policy: Policy) -> tuple[ExecutionEnv, TraceFactory]:
        features, normaliser = _features(policy, job.features)
        key = (job.group, job.config, features, job.policy.digest)
        found = self.envs.get(key)
        if found is None:
            factory = TraceFactory()
            env = ExecutionEnv(
                [self.market(job.group).source],
                feature_spec=features,
                normaliser=normaliser,
                config=job.config,
                link=factory,
            )
            found = self.envs[key] = (env, factory)
        return found

    def run(self, job: Job) -> list[tuple[int, dict[str, Any]]]:
        """Each order's outcome (JSON-ready), in the job's order."""
        policy = self.policy(job)
        env, factory = self.env(job, policy)
        path = self.market(job.group).path
        return [
            (order.index, run_order(env, factory, policy, order, path).to_json())
            for order in job.orders
        ]


_STATE: dict[str, Worker] = {}  # this process's worker, made on its first job


def run_job(job: Job) -> list[tuple[int, dict[str, Any]]]:
    """:meth:`Worker.run` on this process's worker."""
    w = _STATE.get("worker")
    if w is None:
        from core.log import configure

        configure(level="ERROR")
        w = _STATE["worker"] = Worker()
    return w.run(job)


def run_order(
    env: ExecutionEnv, factory: TraceFactory, policy: Policy, order: ParentSpec, path: FileMidPath
) -> OrderOutcome:
    result = run_episode(env, policy, seed=order.seed, spec=order.episode())
    trace = factory.last
    if trace is None:
        raise RuntimeError("the environment did not build its venue link through the tracer")
    parent = env.parent
    # the book the environment priced any remainder on
    trace.samples.append(BookSample(trace.clock.now_ns(), env.book.mid))
    fills = trace.fills
    if sum(f.qty for f in fills) != parent.filled_qty:
        raise RuntimeError(
            f"order {order.group} #{order.index}: traced fills {sum(f.qty for f in fills)} "
            f"differ from the parent's {parent.filled_qty}"
        )
    split = split_shortfall(
        parent.side,
        parent.qty,
        parent.arrival_mid,
        fills,
        samples=trace.samples,
        counterfactual_mid=path.mid_at,
        is_bps=result.is_bps,
    )
    actions = None
    if isinstance(policy, ActionRecorder):
        n = getattr(policy.policy, "spec", ActionSpec()).n
        actions = policy.counts(n)
    return OrderOutcome(
        is_bps=split.is_bps,
        spread_bps=split.spread_bps,
        impact_bps=split.impact_bps,
        timing_bps=split.timing_bps,
        arrival_mid=parent.arrival_mid,
        fill_rate=parent.filled_qty / parent.qty,
        sweep_share=sweep_share(parent.qty, fills, parent.remaining_qty),
        participation=participation(fills, trace.tape_since(parent.start_ns), parent.start_ns),
        child_orders=trace.new_orders,
        cancels=trace.cancels,
        replaces=trace.replaces,
        denied=result.denied,
        inventory=inventory_path(parent.qty, fills, parent.start_ns, parent.end_ns),
        actions=actions,
    )
