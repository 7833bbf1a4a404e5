"""A live parent decides on the environment's grid ``start + k x interval``: a late
wake-up delays one decision, never the ones after it (before, every decision slept a
whole interval from whenever the last one ran, so lateness accumulated)."""

from __future__ import annotations

from daemon.runner import next_decision_ns

S = 1_000_000_000


def test_a_decision_on_time_sleeps_one_interval() -> None:
    assert next_decision_ns(100 * S, 400 * S, 5.0, 105 * S) == 110 * S


def test_a_late_decision_is_followed_by_the_next_point_of_the_grid_not_a_whole_interval() -> None:
    late = 105 * S + 700_000_000
    assert next_decision_ns(100 * S, 400 * S, 5.0, late) == 110 * S


def test_a_wake_up_that_missed_grid_points_goes_to_the_next_one_ahead() -> None:
    assert next_decision_ns(100 * S, 400 * S, 5.0, 117 * S) == 120 * S


def test_the_last_decision_falls_on_the_end_time_even_off_the_grid() -> None:
    assert next_decision_ns(100 * S, 112 * S, 5.0, 110 * S) == 112 * S


def test_after_the_end_time_the_runner_does_not_sleep() -> None:
    assert next_decision_ns(100 * S, 112 * S, 5.0, 113 * S) == 113 * S


def test_before_the_start_the_next_point_is_the_start() -> None:
    assert next_decision_ns(100 * S, 400 * S, 5.0, 99 * S) == 100 * S
