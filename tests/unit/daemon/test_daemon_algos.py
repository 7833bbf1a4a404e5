"""Which tolerance and urgency the catchup algo runs at, and what a parent's journalled
choice may be."""

from __future__ import annotations

from typing import Any

import pytest

from core.config import ConfigError, load
from daemon.algos import AlgoChoice, algo_record, resolve_catchup_setting
from daemon.config import DaemonConfig
from daemon.control.commands import ALGOS

ART = "var/candidate"


def manifest(passive: Any = None) -> dict[str, Any]:
    baselines: dict[str, Any] = {"vwap_profile": {}, "almgren_chriss": {}}
    if passive is not None:
        baselines["passive_catchup"] = passive
    return {"baselines": baselines}


def test_the_configured_tolerance_wins_over_the_artifact_s_tuned_one() -> None:
    got = resolve_catchup_setting(0.1, None, manifest({"tolerance": 0.3}), ART)
    assert (got.tolerance, got.source) == (0.1, "config [execution] catchup_tolerance")
    assert got.require() == AlgoChoice("catchup", 0.1, 0.0)


def test_without_a_configured_tolerance_the_artifact_s_tuned_one_is_used_and_named() -> None:
    got = resolve_catchup_setting(
        None, None, manifest({"tolerance": 0.2, "chosen_by": "grid"}), ART
    )
    assert got.tolerance == 0.2
    assert got.source == f"artifact {ART} baselines.passive_catchup.tolerance (grid)"
    assert got.to_json() == {
        "available": True,
        "tolerance": 0.2,
        "urgency": 0.0,
        "source": got.source,
    }


@pytest.mark.parametrize("found", [None, {}, {"chosen_by": "default"}])
def test_with_neither_catchup_is_unavailable_and_the_refusal_says_how_to_enable_it(
    found: Any,
) -> None:
    got = resolve_catchup_setting(None, None, manifest(found), ART)
    assert (got.tolerance, got.urgency, got.available) == (None, None, False)
    with pytest.raises(ValueError) as refused:
        got.require()
    message = str(refused.value)
    assert message.startswith("algo catchup is unavailable on this node: [execution] catchup")
    assert f"artifact {ART} has no baselines.passive_catchup.tolerance" in message
    assert "set [execution] catchup_tolerance" in message and "and restart" in message


def test_a_manifest_without_baselines_at_all_leaves_catchup_unavailable() -> None:
    assert not resolve_catchup_setting(None, None, {}, ART).available


@pytest.mark.parametrize("bad", [1.0, -0.05, float("nan"), float("inf"), "0.2", True])
def test_an_artifact_s_unusable_tuned_tolerance_is_never_run_and_the_reason_names_it(
    bad: Any,
) -> None:
    got = resolve_catchup_setting(None, None, manifest({"tolerance": bad}), ART)
    assert not got.available
    assert f"artifact {ART} baselines.passive_catchup.tolerance: catch-up tolerance" in got.source


def test_a_bad_configured_tolerance_is_refused_too() -> None:
    with pytest.raises(ValueError, match=r"\[execution\] catchup_tolerance: .* 0 <= t < 1"):
        resolve_catchup_setting(1.0, None, manifest(), ART)


def test_a_choice_round_trips_through_its_journal_record() -> None:
    catchups = [AlgoChoice("catchup", 0.2, 0.0), AlgoChoice("catchup", 0.2, 2.0)]
    for choice in [AlgoChoice(a) for a in ALGOS if a != "catchup"] + catchups:
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


# ------------------------------------------------------------------ the urgency
def test_a_configured_tolerance_without_an_urgency_runs_the_straight_line() -> None:
    got = resolve_catchup_setting(0.1, None, manifest({"tolerance": 0.3, "urgency": 2.0}), ART)
    assert (got.tolerance, got.urgency) == (0.1, 0.0)


def test_a_configured_urgency_goes_with_the_configured_tolerance_and_is_named() -> None:
    got = resolve_catchup_setting(0.1, 3.0, manifest({"tolerance": 0.3, "urgency": 2.0}), ART)
    assert (got.tolerance, got.urgency) == (0.1, 3.0)
    assert got.source == "config [execution] catchup_tolerance and catchup_urgency"
    assert got.require() == AlgoChoice("catchup", 0.1, 3.0)
    assert got.to_json()["urgency"] == 3.0


def test_a_configured_urgency_without_a_tolerance_is_refused() -> None:
    with pytest.raises(ValueError, match=r"catchup_urgency is set without .*catchup_tolerance"):
        resolve_catchup_setting(None, 2.0, manifest({"tolerance": 0.3}), ART)


def test_without_configured_settings_the_artifact_s_tuned_urgency_goes_with_its_tolerance() -> None:
    tuned = {"tolerance": 0.3, "urgency": 2.0, "chosen_by": "grid"}
    got = resolve_catchup_setting(None, None, manifest(tuned), ART)
    assert (got.tolerance, got.urgency) == (0.3, 2.0)
    assert got.source == f"artifact {ART} baselines.passive_catchup.tolerance and .urgency (grid)"


def test_a_manifest_from_before_the_urgency_runs_the_straight_line() -> None:
    got = resolve_catchup_setting(None, None, manifest({"tolerance": 0.3}), ART)
    assert (got.tolerance, got.urgency) == (0.3, 0.0)
    assert got.source == f"artifact {ART} baselines.passive_catchup.tolerance"


def test_a_front_loaded_line_needs_no_ac_parameters_in_the_artifact() -> None:
    got = resolve_catchup_setting(
        None, None, {"baselines": {"passive_catchup": {"tolerance": 0.3, "urgency": 2.0}}}, ART
    )
    assert (got.tolerance, got.urgency) == (0.3, 2.0)


@pytest.mark.parametrize("bad", [-1.0, 1e9, float("nan"), float("inf"), "2", True, None])
def test_an_artifact_s_unusable_tuned_urgency_is_never_run_and_the_reason_names_it(
    bad: Any,
) -> None:
    got = resolve_catchup_setting(None, None, manifest({"tolerance": 0.3, "urgency": bad}), ART)
    assert not got.available
    assert got.source.startswith(
        f"artifact {ART} baselines.passive_catchup.urgency: catch-up urgency must be"
    )
    assert "set [execution] catchup_tolerance" in got.source and "\n" not in got.source
    with pytest.raises(ValueError, match="algo catchup is unavailable on this node"):
        got.require()


@pytest.mark.parametrize("bad", [-1.0, 1e9, float("nan")])
def test_a_bad_configured_urgency_is_refused_naming_the_key(bad: float) -> None:
    with pytest.raises(ValueError, match=r"\[execution\] catchup_urgency: catch-up urgency"):
        resolve_catchup_setting(0.2, bad, manifest(), ART)


def test_a_catchup_record_from_before_the_urgency_resumes_on_the_straight_line() -> None:
    old = {"parent_id": "P1", "algo": "catchup", "tolerance": 0.2}
    assert AlgoChoice.from_json(old) == AlgoChoice("catchup", 0.2, 0.0)
    assert AlgoChoice.from_json({"parent_id": "P2", "algo": "twap", "tolerance": None}) == (
        AlgoChoice("twap")
    )


def test_a_choice_s_record_carries_its_urgency() -> None:
    record = algo_record("P1", AlgoChoice("catchup", 0.2, 2.0))
    assert record == {"parent_id": "P1", "algo": "catchup", "tolerance": 0.2, "urgency": 2.0}
    assert algo_record("P2", AlgoChoice("twap"))["urgency"] is None


@pytest.mark.parametrize(
    ("record", "words"),
    [
        ({"algo": "catchup", "tolerance": 0.2, "urgency": -1.0}, "catch-up urgency must be"),
        ({"algo": "catchup", "tolerance": 0.2, "urgency": 1e9}, "catch-up urgency must be"),
        ({"algo": "catchup", "tolerance": 0.2, "urgency": float("nan")}, "urgency must be"),
        ({"algo": "catchup", "tolerance": 0.2, "urgency": "2"}, "must be a number"),
        ({"algo": "catchup", "tolerance": 0.2, "urgency": True}, "must be a number"),
        ({"algo": "catchup", "tolerance": 0.2, "urgency": None}, "algo catchup with urgency None"),
        ({"algo": "twap", "urgency": 2.0}, "algo twap with urgency 2.0"),
    ],
)
def test_a_record_whose_urgency_is_no_urgency_is_refused_naming_the_problem(
    record: dict[str, Any], words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        AlgoChoice.from_json(record)


# ------------------------------------------------------------------ the config
def test_the_config_takes_an_urgency_with_a_tolerance() -> None:
    env = {
        "RLEXEC__EXECUTION__CATCHUP_TOLERANCE": "0.2",
        "RLEXEC__EXECUTION__CATCHUP_URGENCY": "2",
    }
    execution = load(DaemonConfig, None, env=env).execution
    assert (execution.catchup_tolerance, execution.catchup_urgency) == (0.2, 2.0)
    assert load(DaemonConfig, None, env={}).execution.catchup_urgency is None


def test_a_config_with_an_urgency_and_no_tolerance_is_refused_in_one_line() -> None:
    with pytest.raises(ConfigError) as refused:
        load(DaemonConfig, None, env={"RLEXEC__EXECUTION__CATCHUP_URGENCY": "2"})
    (problem,) = refused.value.problems
    assert problem == (
        "execution: Value error, catchup_urgency is set without catchup_tolerance: the two "
        "are tuned as a pair, so set both (or neither, to run the artifact's tuned pair) "
        "[from env RLEXEC__EXECUTION__CATCHUP_URGENCY]"
    )


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("-1", "greater than or equal to 0"),
        ("51", "less than or equal to 50"),
        ("inf", "finite number"),
        ("x", "valid number"),
    ],
)
def test_a_configured_urgency_that_is_no_line_is_refused_naming_the_key(
    value: str, words: str
) -> None:
    env = {
        "RLEXEC__EXECUTION__CATCHUP_TOLERANCE": "0.2",
        "RLEXEC__EXECUTION__CATCHUP_URGENCY": value,
    }
    with pytest.raises(ConfigError) as refused:
        load(DaemonConfig, None, env=env)
    (problem,) = refused.value.problems
    assert problem.startswith("execution.catchup_urgency: ") and words in problem


def test_every_urgency_the_config_takes_is_one_the_tactic_takes() -> None:
    from policies.estimation import MAX_LINE, checked_urgency

    for value in (0.0, MAX_LINE):
        env = {
            "RLEXEC__EXECUTION__CATCHUP_TOLERANCE": "0.2",
            "RLEXEC__EXECUTION__CATCHUP_URGENCY": str(value),
        }
        urgency = load(DaemonConfig, None, env=env).execution.catchup_urgency
        assert checked_urgency(urgency, "config") == value
