"""A parity plan's catch-up settings reach both sides: the live node's environment and
the backtest's tactic (daemon.parity)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from core.types import Side
from daemon import parity
from daemon.parity import ParentPlan
from policies.baselines import PassiveCatchUp, TwapSchedule
from policies.baselines.schedules import FrontLoadedSchedule

NS = 1_000_000_000


def plan(**catchup: float) -> ParentPlan:
    return ParentPlan(Side.SELL, 1500, 15 * 3600 * NS, 240, algo="catchup", **catchup)


def live_env(p: ParentPlan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setattr(parity, "day_start_ns", lambda symbol: 0)  # no LOBSTER day to load
    config = SimpleNamespace(sweep_max_s=300.0, impact="sqrt")
    return parity._stack_settings(p, tmp_path, p.start_ns, config).daemon_env


def test_a_plan_s_urgency_is_the_live_node_s_and_the_backtest_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = plan(catchup_tolerance=0.2, catchup_urgency=2.0)
    assert live_env(p, tmp_path, monkeypatch) == {
        "RLEXEC__EXECUTION__CATCHUP_TOLERANCE": "0.2",
        "RLEXEC__EXECUTION__CATCHUP_URGENCY": "2.0",
    }
    tactic = parity._policy(p)
    assert isinstance(tactic, PassiveCatchUp)
    assert (tactic.tolerance, tactic.urgency) == (0.2, 2.0)
    assert isinstance(tactic.schedule, FrontLoadedSchedule)
    assert tactic.schedule.urgency == 2.0


def test_a_plan_without_an_urgency_runs_the_straight_line_on_both_sides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = plan(catchup_tolerance=0.2)
    assert live_env(p, tmp_path, monkeypatch) == {"RLEXEC__EXECUTION__CATCHUP_TOLERANCE": "0.2"}
    tactic = parity._policy(p)
    assert isinstance(tactic, PassiveCatchUp)
    assert (tactic.tolerance, tactic.urgency) == (0.2, 0.0)
    assert isinstance(tactic.schedule, TwapSchedule)


def test_a_plan_with_an_urgency_and_no_tolerance_is_refused_as_the_config_would() -> None:
    with pytest.raises(ValueError, match="catchup_urgency needs its catchup_tolerance"):
        plan(catchup_urgency=2.0)
