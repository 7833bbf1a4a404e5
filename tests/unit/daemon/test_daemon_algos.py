"""Which tolerance the catchup algo runs at, and what a parent's journalled choice may be."""

from __future__ import annotations

from typing import Any

import pytest

from daemon.algos import AlgoChoice, algo_record, resolve_catchup_tolerance
from daemon.control.commands import ALGOS

ART = "var/candidate"


def manifest(passive: Any = None) -> dict[str, Any]:
    baselines: dict[str, Any] = {"vwap_profile": {}, "almgren_chriss": {}}
    if passive is not None:
        baselines["passive_catchup"] = passive
    return {"baselines": baselines}


def test_the_configured_tolerance_wins_over_the_artifact_s_tuned_one() -> None:
    got = resolve_catchup_tolerance(0.1, manifest({"tolerance": 0.3}), ART)
    assert (got.value, got.source) == (0.1, "config [execution] catchup_tolerance")
    assert got.require() == 0.1


def test_without_a_configured_tolerance_the_artifact_s_tuned_one_is_used_and_named() -> None:
    got = resolve_catchup_tolerance(None, manifest({"tolerance": 0.2, "chosen_by": "grid"}), ART)
    assert got.value == 0.2
    assert got.source == f"artifact {ART} baselines.passive_catchup.tolerance (grid)"
    assert got.to_json() == {"available": True, "tolerance": 0.2, "source": got.source}


@pytest.mark.parametrize("found", [None, {}, {"chosen_by": "default"}])
def test_with_neither_catchup_is_unavailable_and_the_refusal_says_how_to_enable_it(
    found: Any,
) -> None:
    got = resolve_catchup_tolerance(None, manifest(found), ART)
    assert got.value is None
    with pytest.raises(ValueError) as refused:
        got.require()
    message = str(refused.value)
    assert message.startswith("algo catchup is unavailable on this node: [execution] catchup")
    assert f"artifact {ART} has no baselines.passive_catchup.tolerance" in message
    assert "set [execution] catchup_tolerance" in message and "and restart" in message


def test_a_manifest_without_baselines_at_all_leaves_catchup_unavailable() -> None:
    assert resolve_catchup_tolerance(None, {}, ART).value is None


@pytest.mark.parametrize("bad", [1.0, -0.05, float("nan"), float("inf"), "0.2", True])
def test_an_artifact_s_unusable_tuned_tolerance_is_never_run_and_the_reason_names_it(
    bad: Any,
) -> None:
    got = resolve_catchup_tolerance(None, manifest({"tolerance": bad}), ART)
    assert got.value is None
    assert f"artifact {ART} baselines.passive_catchup.tolerance: catch-up tolerance" in got.source


def test_a_bad_configured_tolerance_is_refused_too() -> None:
    with pytest.raises(ValueError, match=r"\[execution\] catchup_tolerance: .* 0 <= t < 1"):
        resolve_catchup_tolerance(1.0, manifest(), ART)


def test_a_choice_round_trips_through_its_journal_record() -> None:
    for choice in [AlgoChoice(a) for a in ALGOS if a != "catchup"] + [AlgoChoice("catchup", 0.2)]:
        record = algo_record("P1", choice)
        assert record["parent_id"] == "P1"
        assert AlgoChoice.from_json(record) == choice


@pytest.mark.parametrize(
    ("record", "words"),
    [
        ({"parent_id": "P1"}, "without an algo"),
        ({"algo": "rocket"}, "unknown algo 'rocket'"),
        ({"algo": "catchup"}, "algo catchup with tolerance None"),
        ({"algo": "twap", "tolerance": 0.1}, "algo twap with tolerance 0.1"),
        ({"algo": "catchup", "tolerance": 1.5}, "0 <= t < 1"),
    ],
)
def test_a_record_that_is_no_choice_is_refused_naming_the_problem(
    record: dict[str, Any], words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        AlgoChoice.from_json(record)
