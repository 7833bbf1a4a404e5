"""SeenIds: the day's ClOrdIDs and ExecIDs, exact, in a fraction of a set's memory."""

from __future__ import annotations

import gc
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import seen_ids
from core.seen_ids import SeenIds


@settings(max_examples=200, deadline=None)
@given(
    added=st.lists(st.text(max_size=12), max_size=80),
    asked=st.lists(st.text(max_size=12), max_size=40),
    recent_max=st.integers(1, 9),
)
def test_answers_exactly_as_a_set_would_across_folds(
    added: list[str], asked: list[str], recent_max: int
) -> None:
    seen = SeenIds(recent_max=recent_max)
    reference: set[str] = set()
    for key in added:
        seen.add(key)
        reference.add(key)
        assert key in seen
    assert len(seen) == len(reference)
    for key in asked + added:
        assert (key in seen) == (key in reference)


def test_ids_folded_long_ago_are_still_seen() -> None:
    seen = SeenIds((f"E{i}" for i in range(50_000)), recent_max=1_000)
    assert all(f"E{i}" in seen for i in range(0, 50_000, 7))
    assert not any(f"E{i}" in seen for i in range(50_000, 50_500))


def test_equal_search_keys_are_told_apart_by_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seen_ids, "_key", lambda key: 42)  # every id collides
    seen = SeenIds(["C1", "C2", "C3"], recent_max=2)
    seen.add("C4")
    assert all(k in seen for k in ("C1", "C2", "C3", "C4"))
    assert "C5" not in seen and "C" not in seen


def test_ids_that_are_not_strings_are_never_seen() -> None:
    seen = SeenIds(["1"], recent_max=1)
    assert 1 not in seen
    assert None not in seen
    assert b"1" not in seen


def test_lone_surrogates_from_a_garbled_frame_are_stored_not_refused() -> None:
    seen = SeenIds(["\udcff", "a\ud800b"], recent_max=1)
    assert "\udcff" in seen and "a\ud800b" in seen


def test_recent_max_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="recent_max"):
        SeenIds(recent_max=0)


def test_a_day_of_ids_costs_a_fraction_of_a_set() -> None:
    """The reason it exists: a set[str] keeps ~90 bytes an id all day (string + slot)."""
    n = 200_000
    gc.collect()
    tracemalloc.start()
    try:
        seen = SeenIds(recent_max=4_096)
        for i in range(n):
            seen.add(f"N1-{i:010d}")
        gc.collect()
        per_id = tracemalloc.get_traced_memory()[0] / n
    finally:
        tracemalloc.stop()
    assert len(seen) == n
    assert per_id < 40, f"{per_id:.0f} bytes an id"
