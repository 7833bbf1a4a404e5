"""Token buckets in integer nanoseconds: bursts, continuous refill, debt for cancels."""

from __future__ import annotations

import pytest

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
