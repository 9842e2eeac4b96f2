from __future__ import annotations

import asyncio
import random

import pytest
from langgraph.types import RetryPolicy as LangGraphRetryPolicy

from patterns.errors import (
    MalformedOutput,
    ModelTimeout,
    PermanentModelError,
    RateLimited,
    ServerError,
    UsageError,
)
from patterns.resilience import Attempt, Backoff, RetryBudget, RetryBudgetExhausted, retry_call

from ._fakes import FakeClock, FakeSleep


class Flaky:
    """Raises the given errors in turn, then answers "ok"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


async def test_transient_errors_are_retried_until_success(sleep: FakeSleep) -> None:
    fn = Flaky(ServerError("503"), ModelTimeout("slow"))
    policy = Backoff(max_attempts=3, base_delay=1.0, jitter=0.0)
    assert await retry_call(fn, policy, sleep=sleep) == "ok"
    assert fn.calls == 3
    assert sleep.delays == [1.0, 2.0]


@pytest.mark.parametrize("error", [PermanentModelError("401 unauthorized"), ValueError("bad input")])
async def test_permanent_errors_fail_fast_with_zero_retries(sleep: FakeSleep, error: Exception) -> None:
    fn = Flaky(error)
    attempts: list[Attempt] = []
    with pytest.raises(type(error)):
        await retry_call(fn, Backoff(max_attempts=5), sleep=sleep, on_attempt=attempts.append)
    assert fn.calls == 1
    assert sleep.delays == []
    assert [a.number for a in attempts] == [1]
    assert attempts[0].error is error and attempts[0].delay is None


async def test_rate_limited_waits_at_least_retry_after(sleep: FakeSleep) -> None:
    fn = Flaky(RateLimited("429", retry_after=7.5))
    policy = Backoff(max_attempts=2, base_delay=0.1, max_delay=30.0)
    assert await retry_call(fn, policy, sleep=sleep) == "ok"
    assert len(sleep.delays) == 1
    assert sleep.delays[0] >= 7.5


async def test_rate_limited_beyond_max_delay_is_not_retried(sleep: FakeSleep) -> None:
    fn = Flaky(RateLimited("429", retry_after=600.0))
    with pytest.raises(RateLimited):
        await retry_call(fn, Backoff(max_attempts=3, max_delay=60.0), sleep=sleep)
    assert fn.calls == 1


async def test_exhausted_attempts_raise_last_error_with_a_note(sleep: FakeSleep) -> None:
    errors = [MalformedOutput("not json", raw="x") for _ in range(3)]
    fn = Flaky(*errors)
    with pytest.raises(MalformedOutput) as info:
        await retry_call(fn, Backoff(max_attempts=3), sleep=sleep)
    assert info.value is errors[2]
    assert fn.calls == 3
    assert any("after 3 attempts" in note for note in info.value.__notes__)


async def test_attempts_are_reported_in_order(clock: FakeClock, sleep: FakeSleep) -> None:
    fn = Flaky(ServerError("a"), ServerError("b"))
    attempts: list[Attempt] = []
    policy = Backoff(max_attempts=3, base_delay=2.0, jitter=0.0)
    await retry_call(fn, policy, sleep=sleep, clock=clock, on_attempt=attempts.append)
    assert [(a.number, a.delay) for a in attempts] == [(1, 2.0), (2, 4.0), (3, None)]
    assert [type(a.error).__name__ for a in attempts] == ["ServerError", "ServerError", "NoneType"]
    assert attempts[1].started_at == attempts[0].started_at + 2.0


async def test_budget_exhaustion_raises_with_the_original_error(clock: FakeClock, sleep: FakeSleep) -> None:
    budget = RetryBudget(1, clock=clock)
    original = ServerError("down")
    fn = Flaky(ServerError("first"), original, ServerError("never reached"))
    with pytest.raises(RetryBudgetExhausted) as info:
        await retry_call(fn, Backoff(max_attempts=5), budget=budget, sleep=sleep)
    assert info.value.error is original
    assert info.value.__cause__ is original
    assert info.value.attempts == 2
    assert fn.calls == 2
    assert "RetryBudget(max_retries=" in str(info.value)


async def test_budget_stops_a_retry_storm(clock: FakeClock) -> None:
    budget = RetryBudget(10, clock=clock)
    calls = 0

    async def always_down() -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        raise ServerError("503")

    async def no_wait(_seconds: float) -> None:
        await asyncio.sleep(0)

    policy = Backoff(max_attempts=5)
    results = await asyncio.gather(
        *(retry_call(always_down, policy, budget=budget, sleep=no_wait) for _ in range(100)),
        return_exceptions=True,
    )
    retries = calls - 100
    assert retries <= 10
    assert budget.remaining == 0
    assert sum(isinstance(r, RetryBudgetExhausted) for r in results) >= 90
    assert all(isinstance(r, RetryBudgetExhausted | ServerError) for r in results)


async def test_the_last_attempt_does_not_spend_budget(sleep: FakeSleep, clock: FakeClock) -> None:
    budget = RetryBudget(5, clock=clock)
    with pytest.raises(ServerError):
        await retry_call(Flaky(*[ServerError("x")] * 3), Backoff(max_attempts=3), budget=budget, sleep=sleep)
    assert budget.remaining == 3


def test_budget_refills_after_the_window(clock: FakeClock) -> None:
    budget = RetryBudget(2, window=60.0, clock=clock)
    assert budget.try_acquire() and budget.try_acquire()
    assert not budget.try_acquire()
    clock.advance(59.9)
    assert not budget.try_acquire()
    clock.advance(0.1)
    assert budget.remaining == 2
    assert budget.try_acquire()


def test_backoff_is_exponential_and_capped() -> None:
    policy = Backoff(base_delay=1.0, max_delay=10.0, multiplier=3.0)
    assert [policy.backoff(n) for n in range(1, 5)] == [1.0, 3.0, 9.0, 10.0]
    assert policy.backoff(10_000) == 10.0


def test_jitter_stays_within_its_fraction() -> None:
    policy = Backoff(base_delay=4.0, max_delay=4.0, jitter=0.25)
    rng = random.Random(7)
    delays = [policy.delay(1, rng=rng) for _ in range(200)]
    assert all(4.0 <= d <= 5.0 for d in delays)
    assert len(set(delays)) > 1


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"base_delay": 5.0, "max_delay": 1.0}, {"jitter": 1.5}, {"multiplier": 0.5}],
)
def test_invalid_policies_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(UsageError):
        Backoff(**kwargs)  # type: ignore[arg-type]


def test_policy_converts_to_langgraph_retry_policy() -> None:
    native = Backoff(max_attempts=4, base_delay=0.5, max_delay=8.0, multiplier=3.0).to_langgraph()
    assert isinstance(native, LangGraphRetryPolicy)
    assert (native.initial_interval, native.backoff_factor, native.max_interval, native.max_attempts) == (
        0.5,
        3.0,
        8.0,
        4,
    )
    assert native.jitter is True
    assert callable(native.retry_on)
    assert native.retry_on(ServerError("x"))
    assert not native.retry_on(PermanentModelError("x"))
    assert Backoff(jitter=0.0).to_langgraph().jitter is False


async def test_langgraph_node_retries_with_the_converted_policy() -> None:
    from typing import TypedDict

    from langgraph.graph import END, START, StateGraph

    class State(TypedDict):
        answer: str

    calls = 0

    async def node(state: State) -> State:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ServerError("503")
        return {"answer": "done"}

    policy = Backoff(max_attempts=3, base_delay=0.001, max_delay=0.002, jitter=0.0)
    graph = StateGraph(State)
    graph.add_node("work", node, retry_policy=policy.to_langgraph())
    graph.add_edge(START, "work")
    graph.add_edge("work", END)
    result = await graph.compile().ainvoke({"answer": ""})
    assert result == {"answer": "done"}
    assert calls == 3


async def test_an_open_circuit_is_not_retried(sleep: FakeSleep, clock: FakeClock) -> None:
    from patterns.resilience import BreakerPolicy, CircuitBreaker, CircuitOpenError

    breaker = CircuitBreaker("writer", BreakerPolicy(failure_threshold=1), clock=clock)
    fn = Flaky(ServerError("503"))
    with pytest.raises(CircuitOpenError):
        await retry_call(lambda: breaker.call(fn), Backoff(max_attempts=5), sleep=sleep)
    # The first failure was retried once; the open circuit then failed fast.
    assert fn.calls == 1
    assert len(sleep.delays) == 1


async def test_cancellation_is_never_retried(sleep: FakeSleep) -> None:
    calls = 0

    async def cancelled() -> None:
        nonlocal calls
        calls += 1
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await retry_call(cancelled, Backoff(max_attempts=5), sleep=sleep)
    assert calls == 1


def test_budget_is_thread_safe(clock: FakeClock) -> None:
    import threading

    budget = RetryBudget(50, clock=clock)
    granted: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(100):
            ok = budget.try_acquire()
            with lock:
                granted.append(ok)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(granted) == 50
