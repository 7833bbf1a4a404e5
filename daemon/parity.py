"""The same parent order live and in process, record by record.

*Live* is the real deployment (:mod:`daemon.stack`): redis-server, the exchange process
replaying the shipped LOBSTER day, the daemon with the committed policy; the parent is
submitted through Redis, market data reaches the daemon over the websocket and its
orders go out over FIX. *In process* is the backtest's path: the training environment
(:class:`policies.env.ExecutionEnv`) on the simulated clock with the in-process router
to the same matching engine and replay.

Both give a :class:`Trace`: every request the execution engine sent and every report it
applied, as journalled, with the parent's arrival mid, fills and shortfall. ClOrdIDs
and ExecIDs are compared without their prefixes (the node's id, the exchange's run);
report times at the millisecond, the precision of FIX.4.4's timestamps.

Three ways to run live:

- :func:`lockstep`: the exchange and the daemon on a lock-stepped clock
  (:mod:`exchange.service.lockstep`, :mod:`daemon.lockstep`); the parent starts at an
  exact market time. By default the replay starts where the environment seeds its
  book (``lookback`` decision intervals before the parent) with the environment's
  modelled order latency and impact model: the trace must then equal
  :func:`backtest`'s, which ``tests/e2e/test_e2e_parity.py`` checks.
- :func:`paced`: the exchange replays at N x real time and the daemon follows the feed
  on its scaled clock, as in ``rlexec demo``; the parent is submitted once the market
  reaches its start time, so it starts a little later (``Trace.start_ns``).
- :func:`backtest`: in process, for comparison.

``bench/parity_bench.py`` chains them to measure how far live drifts and why.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from core.types import Side
from daemon.journal import Journal
from daemon.stack import Stack, StackError, StackSettings

NS = 1_000_000_000
DAY_END_S = 16 * 3600  # the shipped LOBSTER days end at 16:00
SIM_PREFIX = "S"  # the environment's ClOrdID prefix
PARENT_ID = "PARITY-1"
DONE = ("completed", "canceled", "expired")


class Request(NamedTuple):
    kind: str  # new, cancel, replace
    cl_ord_id: str  # without the sender's prefix
    orig_cl_ord_id: str
    side: Side
    qty: int
    price: int | None
    ord_type: str
    ts_ns: int  # the decision's time on the sender's clock


class Report(NamedTuple):
    cl_ord_id: str
    exec_id: str  # the venue's sequence number
    exec_type: str
    ord_status: str
    last_qty: int
    last_px: int
    cum_qty: int
    leaves_qty: int
    ts_ms: int  # venue time, at the wire's millisecond


@dataclass(frozen=True, slots=True)
class ParentPlan:
    """A parent order on a shipped LOBSTER day: what the trader asks, and when."""

    side: Side
    qty: int
    start_ns: int
    horizon_s: int
    symbol: str = "AMZN"
    algo: str = "policy"  # as `rlexec ctl submit_parent` takes it
    # algo catchup: its tolerance and urgency, the node's [execution] catchup_tolerance
    # and catchup_urgency live and the passive tactic's settings in the backtest (the
    # committed artifact tunes none). An urgency needs a tolerance, as in the config;
    # None with a tolerance: the straight line
    catchup_tolerance: float | None = None
    catchup_urgency: float | None = None

    def __post_init__(self) -> None:
        if self.catchup_urgency is not None and self.catchup_tolerance is None:
            raise ValueError("a plan's catchup_urgency needs its catchup_tolerance")

    @property
    def end_ns(self) -> int:
        return self.start_ns + self.horizon_s * NS


@dataclass(slots=True)
class Trace:
    requests: list[Request]
    reports: list[Report]
    start_ns: int
    arrival_mid: float
    filled: int
    qty: int
    is_bps: float
    state: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def fills(self) -> list[Report]:
        return [r for r in self.reports if r.exec_type == "TRADE"]


# ------------------------------------------------------------------ the shipped data
def day_start_ns(symbol: str) -> int:
    return int(_source(symbol).day_start_ns)


def at(symbol: str, hhmmss: str) -> int:
    """Market time of a time of day on the shipped day of ``symbol``."""
    from exchange.config import time_of_day_ns

    return day_start_ns(symbol) + time_of_day_ns(hhmmss)


def time_of_day(symbol: str, ns: int) -> str:
    """``HH:MM:SS.fffffffff`` of a market time (exchange config syntax)."""
    d = ns - day_start_ns(symbol)
    s, frac = divmod(d, NS)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}.{frac:09d}"


@cache
def _source(symbol: str) -> Any:
    """The whole shipped day as an environment source (loaded once per process)."""
    from exchange.config import DEFAULT_LOBSTER_DATE, SHIPPED_LOBSTER
    from exchange.data import lobster_dir
    from policies.data import load_source

    levels = SHIPPED_LOBSTER[symbol]
    folder = lobster_dir() / f"{symbol}_{DEFAULT_LOBSTER_DATE}_{levels}"
    return load_source(folder, [(9 * 3600 + 30 * 60, DAY_END_S)])


# ------------------------------------------------------------------ in process
def committed_config(*, impact: str | None = None, latency_us: int | None = None) -> Any:
    """The committed policy's evaluation settings (its manifest), optionally with
    another impact model or order latency."""
    from daemon.node import DEFAULT_POLICY_DIR
    from policies.env import EnvConfig
    from policies.learned import load_policy

    manifest = load_policy(DEFAULT_POLICY_DIR).artifact.manifest
    cfg = EnvConfig.from_json(manifest.get("env", {}))
    if impact is not None:
        cfg = replace(cfg, impact=impact)
    if latency_us is not None:
        cfg = replace(cfg, latency_us=latency_us)
    return cfg


def _policy(plan: ParentPlan) -> Any:
    """What the backtest runs for ``plan``: the committed policy, or the baseline the
    backtest builds for the algo's name, with the plan's catch-up tolerance and urgency."""
    import json

    from daemon.node import DEFAULT_POLICY_DIR
    from policies.backtest.lineup import BASELINES, PolicySpec, build_policy
    from policies.evaluate import BaselineParams
    from policies.learned import load_policy

    committed = load_policy(DEFAULT_POLICY_DIR)
    if plan.algo == "policy":
        return committed
    params = BaselineParams.from_json(committed.artifact.manifest.get("baselines", {}))
    kind = BASELINES[plan.algo]
    settings = ""
    if plan.catchup_tolerance is not None:
        urgency = 0.0 if plan.catchup_urgency is None else plan.catchup_urgency
        settings = json.dumps({"tolerance": plan.catchup_tolerance, "urgency": urgency})
    return build_policy(PolicySpec(kind, kind, params=settings), params)


def backtest(plan: ParentPlan, config: Any) -> Trace:
    """The parent through the environment (the backtest's path), journalled in memory."""
    from daemon.node import DEFAULT_POLICY_DIR
    from execution.executor import MemoryJournal
    from policies.env import EpisodeSpec, ExecutionEnv
    from policies.learned import load_policy
    from policies.rollout import run_episode

    art = load_policy(DEFAULT_POLICY_DIR).artifact
    env = ExecutionEnv(
        [_source(plan.symbol)],
        feature_spec=art.feature_spec,
        normaliser=art.normaliser,
        action_spec=art.action_spec,
        config=config,
    )
    try:
        spec = EpisodeSpec(0, plan.start_ns, plan.horizon_s * NS, plan.side, plan.qty)
        result = run_episode(env, _policy(plan), seed=0, spec=spec)
        # the executor's own journal, as the daemon's is read: the same records, the same
        # code writing them (the environment exposes no accessor; policies/ is not ours)
        executor = env._executor
        assert executor is not None
        journal = executor.journal
        assert isinstance(journal, MemoryJournal)
        parent = env.parent
        trace = Trace(
            [_request(kind, p, SIM_PREFIX) for kind, p in journal.records if _is_request(kind)],
            [_report(p, SIM_PREFIX) for kind, p in journal.records if kind == "report"],
            parent.start_ns,
            parent.arrival_mid,
            parent.filled_qty,
            parent.qty,
            result.is_bps,
            parent.state.value,
        )
        trace.extra["denied"] = result.denied
        trace.extra["swept"] = result.swept
        return trace
    finally:
        env.close()


def _is_request(kind: str) -> bool:
    return kind in ("new", "cancel", "replace")


def _strip(cl_ord_id: str, prefix: str) -> str:
    return cl_ord_id.removeprefix(prefix) if cl_ord_id else ""


_TRAILING_NUMBER = re.compile(r"(\d+)$")


def _request(kind: str, p: Any, prefix: str) -> Request:
    return Request(
        kind,
        _strip(p.cl_ord_id, prefix),
        _strip(getattr(p, "orig_cl_ord_id", ""), prefix),
        p.side,
        p.qty,
        getattr(p, "price", None),
        getattr(getattr(p, "ord_type", None), "name", ""),
        p.ts_ns,
    )


def _report(p: Any, prefix: str) -> Report:
    m = _TRAILING_NUMBER.search(p.exec_id)
    return Report(
        _strip(p.cl_ord_id, prefix),
        m.group(1) if m else p.exec_id,
        p.exec_type.name,
        p.ord_status.name,
        p.last_qty,
        p.last_px,
        p.cum_qty,
        p.leaves_qty,
        p.ts_ns // 1_000_000,
    )


# ------------------------------------------------------------------ live
def journal_trace(journal_path: Path, view: dict[str, Any], prefix: str) -> Trace:
    """A live run's trace from the daemon's journal and its final view of the parent."""
    requests: list[Request] = []
    reports: list[Report] = []
    j = Journal(journal_path)
    try:
        for rec in j.records():
            if _is_request(rec.kind):
                requests.append(_request(rec.kind, rec.payload, prefix))
            elif rec.kind == "report":
                reports.append(_report(rec.payload, prefix))
    finally:
        j.close()
    return Trace(
        requests,
        reports,
        int(view["start_ns"]),
        float(view["arrival_mid"]),
        int(view["filled"]),
        int(view["qty"]),
        float(view["shortfall_bps"]),
        str(view["state"]),
    )


def _stack_settings(
    plan: ParentPlan, workdir: Path, replay_start_ns: int, config: Any, **kw: Any
) -> StackSettings:
    from exchange.config import SHIPPED_LOBSTER

    end_s = (plan.end_ns - day_start_ns(plan.symbol)) // NS + int(config.sweep_max_s) + 60
    if plan.catchup_tolerance is not None:
        kw["daemon_env"] = {
            **kw.get("daemon_env", {}),
            "RLEXEC__EXECUTION__CATCHUP_TOLERANCE": str(plan.catchup_tolerance),
        }
    if plan.catchup_urgency is not None:
        kw["daemon_env"] = {
            **kw["daemon_env"],
            "RLEXEC__EXECUTION__CATCHUP_URGENCY": str(plan.catchup_urgency),
        }
    return StackSettings(
        workdir,
        symbol=plan.symbol,
        levels=SHIPPED_LOBSTER[plan.symbol],
        replay_start=time_of_day(plan.symbol, replay_start_ns),
        replay_end=time_of_day(plan.symbol, day_start_ns(plan.symbol) + min(end_s, DAY_END_S) * NS),
        impact=config.impact,
        **kw,
    )


def warm_start_ns(plan: ParentPlan) -> int:
    """Where the environment seeds its book for ``plan``: lookback intervals before it."""
    from daemon.node import DEFAULT_POLICY_DIR
    from policies.learned import load_policy

    spec = load_policy(DEFAULT_POLICY_DIR).artifact.feature_spec
    return plan.start_ns - spec.lookback * spec.interval_ns


def lockstep(
    plan: ParentPlan,
    workdir: Path,
    config: Any,
    *,
    replay_start_ns: int | None = None,
    timeout_s: float = 900.0,
) -> Trace:
    """The parent live, on the lock-stepped clock (module doc)."""
    start = warm_start_ns(plan) if replay_start_ns is None else replay_start_ns
    settings = _stack_settings(
        plan, workdir, start, config, clock="lockstep", order_latency_us=config.latency_us
    )
    with Stack(settings) as stack:
        release_ns = at(plan.symbol, settings.replay_end)
        deadline = time.monotonic() + timeout_s
        stack.market_clock(plan.start_ns)
        while True:
            state = stack.market_clock()
            if state["now_ns"] >= plan.start_ns and state["waiting_for"] == "run":
                break
            if time.monotonic() > deadline:
                raise StackError(f"the lock-stepped market did not reach the start: {state}")
            time.sleep(0.02)
        view = asyncio.run(
            _submit_and_wait(stack, plan, deadline, lambda: stack.market_clock(release_ns))
        )
        trace = journal_trace(stack.daemon_data / "journal.db", view, "demo-")
    trace.extra["workdir"] = str(workdir)
    return trace


def paced(
    plan: ParentPlan,
    workdir: Path,
    config: Any,
    *,
    speed: float,
    replay_start_ns: int,
    timeout_s: float | None = None,
) -> Trace:
    """The parent live at ``speed`` x real time; submitted once the market (as the
    daemon's clock reads it) reaches ``plan.start_ns``."""
    settings = _stack_settings(plan, workdir, replay_start_ns, config, speed=speed)
    budget = timeout_s or (plan.end_ns - replay_start_ns) / NS / speed + config.sweep_max_s + 120
    with Stack(settings) as stack:
        deadline = time.monotonic() + budget

        async def market_reaches_start() -> None:
            while True:
                status = await stack.ctl("status")
                if int(status["result"]["market_time_ns"]) >= plan.start_ns:
                    return
                if time.monotonic() > deadline:
                    raise StackError("the replay did not reach the parent's start in time")
                await asyncio.sleep(0.01)

        async def run() -> dict[str, Any]:
            await market_reaches_start()
            return await _submit_and_wait(stack, plan, deadline, None)

        view = asyncio.run(run())
        trace = journal_trace(stack.daemon_data / "journal.db", view, "demo-")
        trace.extra["audit"] = stack.audit()
    trace.extra["workdir"] = str(workdir)
    return trace


async def _submit_and_wait(
    stack: Stack, plan: ParentPlan, deadline: float, release: Any
) -> dict[str, Any]:
    reply = await stack.ctl(
        "submit_parent",
        {
            "symbol": plan.symbol,
            "side": "buy" if plan.side is Side.BUY else "sell",
            "qty": plan.qty,
            "duration_s": plan.horizon_s,
            "parent_id": PARENT_ID,
            "algo": plan.algo,
        },
    )
    if not reply.get("ok"):
        raise StackError(f"the daemon refused the parent: {reply}")
    if release is not None:
        release()
    view: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = await stack.ctl("status")
        views = [p for p in status["result"]["parents"] if p["parent_id"] == PARENT_ID]
        if views:
            view = views[0]
            if view["state"] in DONE:
                return view
        await asyncio.sleep(0.05)
    raise StackError(f"the parent did not finish in time: {view}")


# ------------------------------------------------------------------ comparing
def differences(a: Trace, b: Trace, limit: int = 5) -> list[str]:
    """Where two traces part, in words (empty when they agree record by record)."""
    out: list[str] = []
    for name, xs, ys in (("request", a.requests, b.requests), ("report", a.reports, b.reports)):
        for i, (x, y) in enumerate(zip(xs, ys, strict=False)):
            if x != y:
                out.append(f"{name} {i}: {x} != {y}")
                break
        if len(xs) != len(ys):
            out.append(f"{len(xs)} {name}s against {len(ys)}")
    for key in ("start_ns", "arrival_mid", "filled", "state"):
        if getattr(a, key) != getattr(b, key):
            out.append(f"{key}: {getattr(a, key)} != {getattr(b, key)}")
    if abs(a.is_bps - b.is_bps) > 1e-9:
        out.append(f"shortfall: {a.is_bps:+.6f} != {b.is_bps:+.6f} bps")
    return out[:limit]
