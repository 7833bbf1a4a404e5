"""The line a ``catchup`` parent works in the node (daemon.parents.Parents.policy_for):
straight at urgency 0, else the front-loaded line at that kappa T; and the node's
setting it gives new parents."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any, cast

import pytest

from daemon.algos import AlgoChoice
from daemon.config import ExecutionSection
from daemon.node import DEFAULT_POLICY_DIR
from daemon.parents import Parents
from policies.baselines import PassiveCatchUp, TwapSchedule
from policies.baselines.schedules import FrontLoadedSchedule

ART = "var/candidate"


def committed_baselines() -> dict[str, Any]:
    manifest = json.loads((DEFAULT_POLICY_DIR / "manifest.json").read_text())
    return dict(manifest["baselines"])


def parents_on(passive: dict[str, Any] | None = None, **execution: Any) -> Parents:
    """A node's Parents on an artifact with the committed schedule baselines (and
    ``passive`` as its tuned catch-up pair); nothing else of the node is touched."""
    baselines = committed_baselines()
    if passive is not None:
        baselines["passive_catchup"] = passive
    artifact = SimpleNamespace(manifest={"baselines": baselines}, path=ART)
    none = cast(Any, None)
    return Parents(
        clock=none,
        engine=none,
        journal=none,
        md=none,
        metrics=none,
        halts=none,
        tick_to_order=none,
        frame_rx={},
        policy=cast(Any, SimpleNamespace(artifact=artifact)),
        history={},
        execution=ExecutionSection(**execution),
        utc_offset_s=0,
        publish=lambda _: None,
    )


def test_a_catchup_choice_with_an_urgency_works_the_front_loaded_line_of_that_urgency() -> None:
    parents = parents_on(catchup_tolerance=0.2, catchup_urgency=3.0)
    tactic = parents.policy_for(AlgoChoice("catchup", 0.2, 3.0))
    assert isinstance(tactic, PassiveCatchUp)
    assert (tactic.tolerance, tactic.urgency) == (0.2, 3.0)
    assert isinstance(tactic.schedule, FrontLoadedSchedule)
    assert tactic.schedule.urgency == 3.0


def test_a_catchup_choice_at_urgency_0_works_the_straight_line() -> None:
    tactic = parents_on().policy_for(AlgoChoice("catchup", 0.2, 0.0))
    assert isinstance(tactic, PassiveCatchUp)
    assert isinstance(tactic.schedule, TwapSchedule)
    assert (tactic.tolerance, tactic.urgency) == (0.2, 0.0)


@pytest.mark.parametrize(
    ("passive", "execution", "expected"),
    [
        ({"tolerance": 0.3, "urgency": 2.0}, {}, (0.3, 2.0)),
        ({"tolerance": 0.3}, {}, (0.3, 0.0)),
        ({"tolerance": 0.3, "urgency": 2.0}, {"catchup_tolerance": 0.1}, (0.1, 0.0)),
        (None, {"catchup_tolerance": 0.1, "catchup_urgency": 5.0}, (0.1, 5.0)),
    ],
)
def test_a_new_catchup_parent_gets_the_node_s_tolerance_and_urgency(
    passive: dict[str, Any] | None, execution: dict[str, Any], expected: tuple[float, float]
) -> None:
    parents = parents_on(passive, **execution)
    choice = parents.choose("catchup")
    assert (choice.tolerance, choice.urgency) == expected
    tactic = parents.policy_for(choice)
    assert isinstance(tactic, PassiveCatchUp)
    assert isinstance(tactic.schedule, FrontLoadedSchedule if expected[1] else TwapSchedule)


def test_other_algos_carry_no_urgency() -> None:
    assert parents_on({"tolerance": 0.3, "urgency": 2.0}).choose("twap") == AlgoChoice("twap")
