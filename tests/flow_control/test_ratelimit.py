import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patterns.errors import UsageError
from patterns.flow_control import (
    Clock,
    ManualClock,
    RateLimiter,
    SlidingWindow,
    SlidingWindowPolicy,
    TokenBucket,
    TokenBucketPolicy,
)

# Gaps between consecutive requests, in seconds; zeros make simultaneous requests.
_gaps = st.lists(
    st.one_of(st.just(0.0), st.floats(min_value=0.0, max_value=5.0, allow_nan=False)),
    min_size=1,
    max_size=120,
)


async def _settle(rounds: int = 10) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


def test_both_limiters_satisfy_the_protocol() -> None:
    clock = ManualClock()
    assert isinstance(clock, Clock)
    limiters: list[RateLimiter] = [
        TokenBucket(TokenBucketPolicy(rate=1, capacity=1), clock=clock),
        SlidingWindow(SlidingWindowPolicy(max_calls=1, window=1), clock=clock),
    ]
    assert all(isinstance(limiter, RateLimiter) for limiter in limiters)


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    clock = ManualClock()
    bucket = TokenBucket(TokenBucketPolicy(rate=2, capacity=3), clock=clock)
    assert [bucket.try_acquire() for _ in range(4)] == [True, True, True, False]
    clock.advance(0.5)
    assert bucket.try_acquire() and not bucket.try_acquire()
    clock.advance(100)
    assert bucket.tokens == 3  # refill stops at capacity


def test_token_bucket_cost_spends_several_tokens() -> None:
    clock = ManualClock()
    bucket = TokenBucket(TokenBucketPolicy(rate=10, capacity=100), clock=clock)
    assert bucket.try_acquire(cost=60)
    assert not bucket.try_acquire(cost=60)
    clock.advance(2)
    assert bucket.try_acquire(cost=60)
    with pytest.raises(UsageError, match=r"raise TokenBucketPolicy\.capacity"):
        bucket.try_acquire(cost=101)


async def test_token_bucket_acquire_waits_for_the_refill() -> None:
    clock = ManualClock()
    bucket = TokenBucket(TokenBucketPolicy(rate=1, capacity=1), clock=clock)
    await bucket.acquire()
    waiter = asyncio.create_task(bucket.acquire())
    await _settle()
    assert not waiter.done() and clock.sleepers == 1
    clock.advance(0.5)
    await _settle()
    assert not waiter.done()
    clock.advance(0.5)
    await _settle()
    assert waiter.done()


async def test_try_acquire_never_jumps_ahead_of_a_waiter() -> None:
    clock = ManualClock()
    bucket = TokenBucket(TokenBucketPolicy(rate=1, capacity=1), clock=clock)
    assert bucket.try_acquire()
    waiter = asyncio.create_task(bucket.acquire())
    await _settle()
    clock.advance(1)
    assert not bucket.try_acquire()  # the token is the waiter's
    await _settle()
    assert waiter.done()


async def test_waiters_are_served_in_arrival_order() -> None:
    clock = ManualClock(auto_advance=True)
    window = SlidingWindow(SlidingWindowPolicy(max_calls=1, window=1), clock=clock)
    order: list[int] = []

    async def call(i: int) -> None:
        await window.acquire()
        order.append(i)

    await asyncio.gather(*(call(i) for i in range(5)))
    assert order == [0, 1, 2, 3, 4]
    assert clock.now() == pytest.approx(4.0)


def test_sliding_window_counts_a_half_open_window() -> None:
    clock = ManualClock()
    window = SlidingWindow(SlidingWindowPolicy(max_calls=2, window=10), clock=clock)
    assert window.try_acquire()
    clock.advance(1)
    assert window.try_acquire()
    clock.advance(4)
    assert not window.try_acquire()
    clock.advance(5)  # t=10: the call at t=0 no longer counts
    assert window.try_acquire()
    assert not window.try_acquire()
    clock.advance(1)  # t=11: nor the call at t=1
    assert window.try_acquire()
    assert window.in_window == 2


async def test_sliding_window_acquire_waits_for_the_oldest_to_expire() -> None:
    clock = ManualClock()
    window = SlidingWindow(SlidingWindowPolicy(max_calls=2, window=60), clock=clock)
    await window.acquire()
    clock.advance(30)
    await window.acquire()
    waiter = asyncio.create_task(window.acquire())
    await _settle()
    clock.advance(29.9)
    await _settle()
    assert not waiter.done()
    clock.advance(0.1)
    await _settle()
    assert waiter.done()


def test_policies_reject_impossible_limits() -> None:
    with pytest.raises(UsageError, match="rate must be > 0"):
        TokenBucketPolicy(rate=0, capacity=1)
    with pytest.raises(UsageError, match="capacity must be >= 1"):
        TokenBucketPolicy(rate=1, capacity=0.5)
    with pytest.raises(UsageError, match="max_calls"):
        SlidingWindowPolicy(max_calls=0, window=1)
    with pytest.raises(UsageError, match="window"):
        SlidingWindowPolicy(max_calls=1, window=0)


def _admitted_times(limiter: RateLimiter, clock: ManualClock, gaps: list[float]) -> list[float]:
    admitted = []
    for gap in gaps:
        clock.advance(gap)
        if limiter.try_acquire():
            admitted.append(clock.now())
    return admitted


@settings(max_examples=200, deadline=None)
@given(
    gaps=_gaps,
    max_calls=st.integers(min_value=1, max_value=6),
    window=st.floats(min_value=0.01, max_value=20.0),
)
def test_sliding_window_never_admits_more_than_n_in_any_window(
    gaps: list[float], max_calls: int, window: float
) -> None:
    clock = ManualClock(start=1000.0)
    limiter = SlidingWindow(SlidingWindowPolicy(max_calls=max_calls, window=window), clock=clock)
    admitted = _admitted_times(limiter, clock, gaps)
    # Every window [a, a + W) that holds admissions can start at one of them.
    for start in admitted:
        assert sum(1 for t in admitted if start <= t < start + window) <= max_calls
    # And it is not merely refusing everything: the first request always gets in.
    assert admitted and admitted[0] == 1000.0 + gaps[0]


def _assert_within_bucket_bound(admitted: list[float], rate: float, capacity: float) -> None:
    for i, first in enumerate(admitted):
        for j in range(i, len(admitted)):
            assert j - i + 1 <= capacity + rate * (admitted[j] - first) + 1e-6


@settings(max_examples=200, deadline=None)
@given(
    gaps=_gaps,
    rate=st.floats(min_value=0.1, max_value=50.0),
    capacity=st.integers(min_value=1, max_value=10),
)
def test_token_bucket_never_exceeds_capacity_plus_rate_times_elapsed(
    gaps: list[float], rate: float, capacity: int
) -> None:
    clock = ManualClock(start=1000.0)
    limiter = TokenBucket(TokenBucketPolicy(rate=rate, capacity=capacity), clock=clock)
    admitted = _admitted_times(limiter, clock, gaps)
    _assert_within_bucket_bound(admitted, rate, capacity)
    # A full bucket admits the first `capacity` simultaneous requests.
    simultaneous = TokenBucket(TokenBucketPolicy(rate=rate, capacity=capacity), clock=ManualClock())
    assert sum(simultaneous.try_acquire() for _ in range(capacity + 1)) == capacity


@settings(max_examples=100, deadline=None)
@given(
    gaps=_gaps,
    rate=st.floats(min_value=0.1, max_value=1000.0),
    capacity=st.integers(min_value=1, max_value=5),
    max_calls=st.integers(min_value=1, max_value=5),
    window=st.floats(min_value=0.001, max_value=10.0),
)
def test_acquire_keeps_both_bounds_and_waits_no_longer_than_needed(
    gaps: list[float], rate: float, capacity: int, max_calls: int, window: float
) -> None:
    async def run() -> tuple[list[float], list[float], list[float]]:
        clock = ManualClock(start=12345.678, auto_advance=True)
        bucket = TokenBucket(TokenBucketPolicy(rate=rate, capacity=capacity), clock=clock)
        sliding = SlidingWindow(SlidingWindowPolicy(max_calls=max_calls, window=window), clock=clock)
        bucket_times, asked, window_times = [], [], []
        for gap in gaps:
            clock.advance(gap)
            await bucket.acquire()
            bucket_times.append(clock.now())
            asked.append(clock.now())
            await sliding.acquire()
            window_times.append(clock.now())
        return bucket_times, asked, window_times

    bucket_times, asked, window_times = asyncio.run(run())
    assert len(bucket_times) == len(gaps)  # every acquire returned: no spinning
    _assert_within_bucket_bound(bucket_times, rate, capacity)
    for start in window_times:
        assert sum(1 for t in window_times if start <= t < start + window) <= max_calls
    # No longer than needed: a call waits only for the admission max_calls before it to expire.
    for i, admitted in enumerate(window_times):
        earliest = asked[i] if i < max_calls else max(asked[i], window_times[i - max_calls] + window)
        assert admitted == pytest.approx(earliest, abs=1e-9)
