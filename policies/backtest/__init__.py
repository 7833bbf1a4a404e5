"""The execution-quality report: every policy on the same parent orders, costs split and
compared with intervals, by data group, time of day, size and market regime.

API for other code (the command is ``rlexec backtest``, :mod:`policies.backtest.cli`)::

    from policies.backtest import BacktestConfig, parse_data, parse_policies, run_backtest
    from policies.backtest import promotion_gate

    result = run_backtest(BacktestConfig(
        policies=parse_policies("rl:var/candidate,twap,vwap,pov,ac,random"),
        data=parse_data(["AMZN_2012-06-21_5@14:15-16:00", "AAPL_2012-06-21_1"]),
        orders=300, workers=2, cache="var/backtest/cache.sqlite"))
    verdict = promotion_gate(result.summary, "candidate")   # GateVerdict: .passed, .explain()

See docs/policies.md ("Backtest") and docs/results.md.
"""

from policies.backtest.gate import GateCheck, GateVerdict, promotion_gate
from policies.backtest.lineup import PolicySpec, parse_policies
from policies.backtest.orders import GroupSpec, parse_data
from policies.backtest.runner import BacktestConfig, BacktestResult, run_backtest

__all__ = [
    "BacktestConfig",
    "BacktestResult",
    "GateCheck",
    "GateVerdict",
    "GroupSpec",
    "PolicySpec",
    "parse_data",
    "parse_policies",
    "promotion_gate",
    "run_backtest",
]
