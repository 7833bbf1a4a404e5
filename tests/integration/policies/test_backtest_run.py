"""Whole backtests on the shipped data: worker processes give this process's results bit
for bit, the cache resumes an interrupted run and reruns only what is new, and results
under another impact model are never reused."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from core.log import configure
from policies.backtest import BacktestConfig, parse_data, parse_policies, run_backtest
from policies.backtest.episodes import Job
from policies.backtest.errors import JobFailed
from policies.backtest.scaleout import InProcess, LocalProcesses, Result
from policies.env import EnvConfig

SHORT = EnvConfig(horizon_s=(60.0, 150.0))


def config(policies: str, cache: Path | None = None, **kw: Any) -> BacktestConfig:
    configure(level="ERROR")
    return BacktestConfig(
        policies=parse_policies(policies),
        data=parse_data(["AMZN_2012-06-21_5@14:15-16:00", "AAPL_2012-06-21_1@12:00-13:00"]),
        orders=kw.pop("orders", 6),
        seed=11,
        env=kw.pop("env", SHORT),
        cache=str(cache) if cache else None,
        draws=200,
        chunk=2,
        **kw,
    )


def outcomes(result: Any) -> dict[tuple[str, str], list[Any]]:
    return {(g.key, p): v for g in result.groups for p, v in g.outcomes.items()}


def test_worker_processes_give_this_processs_results_bit_for_bit() -> None:
    cfg = config("rl:policies/artifacts/ppo_amzn,twap,random")
    here = run_backtest(cfg, executor=InProcess())
    pool = LocalProcesses(2)
    try:
        there = run_backtest(cfg, executor=pool)
    finally:
        pool.close()
    assert outcomes(here) == outcomes(there)
    assert here.summary["groups"] == there.summary["groups"]
    assert here.computed == there.computed == 2 * 6 * 3


def test_the_cache_reruns_nothing_twice_and_a_new_policy_alone(tmp_path: Path) -> None:
    cache = tmp_path / "cache.sqlite"
    first = run_backtest(config("twap,pov", cache))
    assert (first.computed, first.reused) == (24, 0)
    again = run_backtest(config("twap,pov", cache))
    assert (again.computed, again.reused) == (0, 24)
    assert again.summary["groups"] == first.summary["groups"]
    more = run_backtest(config("twap,pov,random", cache))
    assert (more.computed, more.reused) == (12, 24)  # only random's orders ran
    other_model = run_backtest(config("twap,pov", cache, env=replace(SHORT, impact="none")))
    assert (other_model.computed, other_model.reused) == (24, 0)
    more_orders = run_backtest(config("twap,pov", cache, orders=8))
    assert (more_orders.computed, more_orders.reused) == (8, 24)  # the first 6 are the same


class _Interrupted(InProcess):
    """Runs ``before`` jobs, then the operator presses Ctrl-C."""

    def __init__(self, before: int) -> None:
        self.before = before

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[int, Result]]:
        for n, item in enumerate(super().run(jobs)):
            if n == self.before:
                raise KeyboardInterrupt
            yield item


def test_an_interrupted_run_resumes_where_it_stopped(tmp_path: Path) -> None:
    cache = tmp_path / "cache.sqlite"
    with pytest.raises(KeyboardInterrupt):
        run_backtest(config("twap,pov", cache), executor=_Interrupted(before=5))
    resumed = run_backtest(config("twap,pov", cache))
    assert (resumed.computed, resumed.reused) == (24 - 5 * 2, 5 * 2)
    whole = run_backtest(config("twap,pov"))
    assert outcomes(resumed) == outcomes(whole)


class _Failing(InProcess):
    """A worker whose second job raises (as a bug in the order path would)."""

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[int, Result]]:
        from policies.backtest.scaleout import JobFailure

        for k, result in super().run(jobs):
            yield k, (JobFailure("RuntimeError: boom", "Traceback ...") if k == 1 else result)


def test_a_failing_job_is_named_and_what_finished_is_kept(tmp_path: Path) -> None:
    cache = tmp_path / "cache.sqlite"
    with pytest.raises(
        JobFailed, match=r"twap on AMZN 2012-06-21 L5 14:15-16:00, orders 2-3: RuntimeError: boom"
    ) as info:
        run_backtest(config("twap,pov", cache), executor=_Failing())
    assert "Traceback" in info.value.detail
    assert run_backtest(config("twap,pov", cache)).reused == 2
