"""Token buckets in integer nanoseconds: bursts, continuous refill, debt for cancels."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk.throttle import TokenBucket

S = 1_000_000_000


def drain(b: TokenBucket, now: int) -> int:
    n = 0
    while b.has_token(now):
        b.take()
        n += 1
    return n


def test_a_full_bucket_allows_a_burst_of_its_capacity():
    assert drain(TokenBucket(5, S, 0), 0) == 5


def test_refill_is_continuous_and_exact():
    b = TokenBucket(3, S, 0)
    drain(b, 0)
    assert not b.has_token(S // 3)  # 333,333,333 ns x 3 tokens/s is just short of one
    assert b.has_token(S // 3 + 1)


def test_refill_never_exceeds_the_capacity():
    b = TokenBucket(5, S, 0)
    assert drain(b, 100 * S) == 5


def test_a_day_of_steady_refills_lets_exactly_the_rate_through():
    b = TokenBucket(7, 60 * S, 0)
    drain(b, 0)
    passed = sum(drain(b, t * S // 10) for t in range(1, 24 * 3600 * 10 // 100))
    elapsed_s = (24 * 3600 * 10 // 100 - 1) / 10
    assert passed == int(elapsed_s * 7 / 60)


def test_a_clock_that_steps_back_refills_nothing():
    b = TokenBucket(1, S, 10 * S)
    b.take()
    assert not b.has_token(5 * S)
    assert b.has_token(11 * S)


def test_forced_spends_go_into_debt_bounded_by_one_bucket():
    b = TokenBucket(10, S, 0)
    for _ in range(1_000):
        b.take_always(0)
    assert b.tokens(0) == -10
    # from -10 tokens to +1 at 10 tokens/s takes 1.1 s
    assert not b.has_token(S + S // 10 - 1)
    assert b.has_token(S + S // 10)


@pytest.mark.parametrize(("cap", "win"), [(0, S), (1, 0), (-1, S)])
def test_a_bucket_needs_positive_capacity_and_window(cap: int, win: int):
    with pytest.raises(ValueError):
        TokenBucket(cap, win)


class _Reference:
    """The plain definition: refill (capped) on every call that names a time, then act."""

    def __init__(self, capacity: int, window_ns: int, now_ns: int) -> None:
        self.cap, self.win, self.max = capacity, window_ns, capacity * window_ns
        self.level, self.last = self.max, now_ns

    def refill(self, now_ns: int) -> None:
        if now_ns > self.last:
            self.level = min(self.max, self.level + (now_ns - self.last) * self.cap)
            self.last = now_ns

    def has_token(self, now_ns: int) -> bool:
        self.refill(now_ns)
        return self.level >= self.win

    def take(self) -> None:
        self.level -= self.win

    def take_always(self, now_ns: int) -> None:
        self.refill(now_ns)
        self.level = max(-self.max, self.level - self.win)

    def tokens(self, now_ns: int) -> int:
        self.refill(now_ns)
        return self.level // self.win


@settings(max_examples=300, deadline=None)
@given(
    capacity=st.integers(1, 50),
    window_ns=st.sampled_from([S, 60 * S, 7]),
    steps=st.lists(
        st.tuples(st.sampled_from(["look", "take", "force", "count"]), st.integers(-2 * S, 3 * S)),
        max_size=60,
    ),
)
def test_the_bucket_matches_the_plain_definition_even_when_the_clock_steps_back(
    capacity: int, window_ns: int, steps: list[tuple[str, int]]
):
    bucket, ref = TokenBucket(capacity, window_ns, 10 * S), _Reference(capacity, window_ns, 10 * S)
    now = 10 * S
    for op, dt in steps:
        now += dt  # mostly forward, sometimes back
        if op == "look":
            assert bucket.has_token(now) == ref.has_token(now)
        elif op == "take" and ref.has_token(now) and bucket.has_token(now):
            bucket.take()
            ref.take()
        elif op == "force":
            bucket.take_always(now)
            ref.take_always(now)
        elif op == "count":
            assert bucket.tokens(now) == ref.tokens(now)
    assert bucket.tokens(now) == ref.tokens(now)
