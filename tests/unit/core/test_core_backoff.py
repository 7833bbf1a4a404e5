"""One way to back off (core/backoff.py), for every connection that reconnects."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.backoff import Backoff, backoff_s
from core.config import ReconnectSection
from daemon.config import DaemonConfig
from gateways.fix.settings import InitiatorSettings


@given(
    attempt=st.integers(0, 200),
    min_s=st.floats(0.01, 5),
    spread=st.floats(1, 100),
    jitter=st.floats(0, 0.99),
    seed=st.integers(),
)
def test_each_wait_is_at_most_the_cap_and_at_least_one_minus_jitter_of_it(
    attempt: int, min_s: float, spread: float, jitter: float, seed: int
) -> None:
    max_s = min_s * spread
    cap = min(max_s, min_s * 2.0 ** min(attempt, 30))
    d = backoff_s(attempt, min_s, max_s, jitter, random.Random(seed))
    assert cap * (1 - jitter) - 1e-12 <= d <= cap + 1e-12


def test_the_wait_doubles_until_the_cap_and_starts_over_after_a_reset() -> None:
    b = Backoff(0.1, 0.8, jitter=0.0)
    assert [b.next_delay() for _ in range(6)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 0.8, 0.8])
    b.reset()
    assert b.next_delay() == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"initial_s": 0}, "initial_s"), ({"max_s": 0.01}, "max_s"), ({"jitter": 1.0}, "jitter")],
)
def test_a_nonsense_backoff_is_refused(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Backoff(**{"initial_s": 0.1, "max_s": 1.0, **kwargs})


def test_every_reconnecting_connection_is_configured_by_the_same_three_keys() -> None:
    cfg = DaemonConfig()
    for section in (cfg.fix, cfg.marketdata, cfg.redis):
        assert isinstance(section, ReconnectSection)
    assert issubclass(InitiatorSettings, ReconnectSection)
    with pytest.raises(ValueError, match="reconnect_max_s must be >= reconnect_min_s"):
        DaemonConfig.model_validate({"redis": {"reconnect_min_s": 2, "reconnect_max_s": 1}})
