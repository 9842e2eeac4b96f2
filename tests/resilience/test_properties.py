"""Invariants of the resilience primitives, checked on generated inputs."""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from patterns.errors import RateLimited, ServerError
from patterns.resilience import (
    Backoff,
    BreakerEvent,
    BreakerPolicy,
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    RetryBudget,
    Saga,
    SagaStep,
)

from ._fakes import FakeClock

policies = st.builds(
    Backoff,
    max_attempts=st.integers(1, 10),
    base_delay=st.floats(0.0, 5.0),
    max_delay=st.floats(5.0, 120.0),
    multiplier=st.floats(1.0, 4.0),
    jitter=st.floats(0.0, 1.0),
)


@given(policy=policies, seed=st.integers(0, 2**32 - 1))
def test_backoff_is_non_decreasing_and_bounded(policy: Backoff, seed: int) -> None:
    rng = random.Random(seed)
    pre_jitter = [policy.backoff(n) for n in range(1, 40)]
    assert pre_jitter == sorted(pre_jitter)
    assert all(d <= policy.max_delay for d in pre_jitter)
    for n, base in enumerate(pre_jitter, start=1):
        delay = policy.delay(n, rng=rng)
        assert base <= delay <= policy.max_delay * (1 + policy.jitter)


@given(policy=policies, retry_after=st.floats(0.0, 200.0), n=st.integers(1, 20))
def test_a_retried_429_waits_at_least_retry_after_and_never_past_the_cap(
    policy: Backoff, retry_after: float, n: int
) -> None:
    error = RateLimited("429", retry_after=retry_after)
    if policy.should_retry(error):
        delay = policy.delay(n, error=error, rng=random.Random(n))
        assert retry_after <= delay <= policy.max_delay * (1 + policy.jitter)


@settings(max_examples=300)
@given(
    quota=st.integers(0, 15),
    # Half-second steps make grants land right at, and just inside, window edges.
    gaps=st.lists(st.integers(0, 130).map(lambda k: k / 2), min_size=1, max_size=120),
)
def test_budget_never_grants_more_than_its_quota_in_any_window(quota: int, gaps: list[float]) -> None:
    clock = FakeClock(0.0)
    budget = RetryBudget(quota, window=60.0, clock=clock)
    granted: list[float] = []
    for gap in gaps:
        clock.advance(gap)
        if budget.try_acquire():
            granted.append(clock.now)
    # The densest window of length 60 ends at a grant; check each one.
    for end in granted:
        assert sum(end - 60.0 < t <= end for t in granted) <= quota


# One step of a breaker scenario: advance the clock, then call with this outcome.
steps = st.lists(st.tuples(st.floats(0.0, 40.0), st.booleans()), min_size=1, max_size=60)


@settings(max_examples=150)
@given(
    scenario=steps,
    threshold=st.integers(1, 5),
    timeout=st.floats(1.0, 100.0),
    rate=st.floats(0.1, 1.0),
)
def test_breaker_never_calls_while_open_before_the_timeout(
    scenario: list[tuple[float, bool]], threshold: int, timeout: float, rate: float
) -> None:
    clock = FakeClock(0.0)
    policy = BreakerPolicy(
        failure_threshold=threshold,
        open_timeout=timeout,
        failure_rate_threshold=rate,
        window_size=6,
        min_calls=3,
    )
    breaker = CircuitBreaker("agent", policy, clock=clock)
    # When the circuit last opened; kept through half-open so the check does not
    # trust the breaker's own (possibly premature) half-open transition.
    opened_at: list[float | None] = [None]

    def track(event: BreakerEvent) -> None:
        if event.new is CircuitState.OPEN:
            opened_at[0] = event.at
        elif event.new is CircuitState.CLOSED:
            opened_at[0] = None

    breaker.add_listener(track)

    async def run() -> None:
        for advance, succeeds in scenario:
            clock.advance(advance)

            async def fn(succeeds: bool = succeeds) -> None:
                since = opened_at[0]
                assert since is None or clock.now - since >= timeout, "called while open"
                if not succeeds:
                    raise ServerError("503")

            with contextlib.suppress(ServerError, CircuitOpenError):
                await breaker.call(fn)

    asyncio.run(run())


@given(
    compensable=st.lists(st.booleans(), min_size=0, max_size=12),
    data=st.data(),
)
def test_saga_compensates_exactly_the_completed_compensable_steps_in_reverse(
    compensable: list[bool], data: st.DataObject
) -> None:
    n = len(compensable)
    fail_at = data.draw(st.one_of(st.none(), st.integers(0, n - 1)) if n else st.none())
    undone: list[int] = []

    def step(i: int) -> SagaStep:
        async def action(ctx: dict[str, Any]) -> int:
            if i == fail_at:
                raise ServerError(f"step {i} failed")
            return i

        async def compensation(ctx: dict[str, Any]) -> None:
            undone.append(i)

        if compensable[i]:
            return SagaStep(f"s{i}", action, compensation)
        return SagaStep(f"s{i}", action, compensable=False)

    async def run() -> None:
        saga = Saga([step(i) for i in range(n)])
        result = await saga.run({})
        if fail_at is None:
            assert undone == []
            await saga.compensate()
        await saga.compensate()  # a second call must not run anything again
        completed = range(n) if fail_at is None else range(fail_at)
        assert undone == [i for i in reversed(completed) if compensable[i]]
        assert result.completed == tuple(f"s{i}" for i in (range(n) if fail_at is None else range(fail_at)))

    asyncio.run(run())
