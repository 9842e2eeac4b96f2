from __future__ import annotations

import asyncio
from typing import TypedDict

import pytest

from patterns.errors import FailureKind, ModelError, PermanentModelError, ServerError, UsageError, classify
from patterns.resilience import (
    BreakerEvent,
    BreakerPolicy,
    BreakerRegistry,
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
)

from ._fakes import FakeClock

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


async def ok() -> str:
    return "ok"


async def boom() -> str:
    raise ServerError("503")


async def fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        with pytest.raises(ServerError):
            await breaker.call(boom)


def make(clock: FakeClock, **policy: float) -> tuple[CircuitBreaker, list[BreakerEvent]]:
    breaker = CircuitBreaker("writer", BreakerPolicy(**policy), clock=clock)  # type: ignore[arg-type]
    events: list[BreakerEvent] = []
    breaker.add_listener(events.append)
    return breaker, events


def transitions(events: list[BreakerEvent]) -> list[tuple[CircuitState, CircuitState]]:
    return [(e.old, e.new) for e in events]


async def test_opens_after_consecutive_failure_threshold(clock: FakeClock) -> None:
    breaker, events = make(clock)
    await fail(breaker, 4)
    assert breaker.state is CLOSED
    await fail(breaker, 1)
    assert breaker.state is OPEN
    assert transitions(events) == [(CLOSED, OPEN)]
    assert events[0].agent == "writer"
    assert events[0].at == clock.now
    assert "5 consecutive failures" in events[0].reason


async def test_success_resets_the_consecutive_count(clock: FakeClock) -> None:
    breaker, _ = make(clock, failure_threshold=3, min_calls=20)
    for _ in range(5):
        await fail(breaker, 2)
        await breaker.call(ok)
    assert breaker.state is CLOSED


async def test_open_circuit_refuses_without_calling(clock: FakeClock) -> None:
    breaker, _ = make(clock, failure_threshold=1, open_timeout=60.0)
    await fail(breaker, 1)
    calls = 0

    async def counted() -> str:
        nonlocal calls
        calls += 1
        return "ok"

    clock.advance(59.0)
    with pytest.raises(CircuitOpenError) as info:
        await breaker.call(counted)
    assert calls == 0
    assert info.value.retry_in == pytest.approx(1.0)
    assert info.value.agent == "writer"
    assert "fallback" in str(info.value)


def test_circuit_open_error_is_a_cascading_model_error() -> None:
    error = CircuitOpenError("writer", retry_in=3.0, state=OPEN)
    assert isinstance(error, ModelError)
    assert classify(error) is FailureKind.CASCADING


async def test_half_opens_after_timeout_then_closes_after_success_threshold(clock: FakeClock) -> None:
    breaker, events = make(clock, failure_threshold=2, success_threshold=2, open_timeout=30.0)
    await fail(breaker, 2)
    clock.advance(29.999)
    assert breaker.state is OPEN
    clock.advance(0.001)
    assert breaker.state is HALF_OPEN
    assert await breaker.call(ok) == "ok"
    assert breaker.state is HALF_OPEN
    assert await breaker.call(ok) == "ok"
    assert breaker.state is CLOSED
    assert transitions(events) == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]
    assert events[1].reason == "open timeout elapsed"


async def test_half_open_failure_reopens_and_restarts_the_timer(clock: FakeClock) -> None:
    breaker, events = make(clock, failure_threshold=1, open_timeout=10.0)
    await fail(breaker, 1)
    clock.advance(10.0)
    await fail(breaker, 1)
    assert breaker.state is OPEN
    assert transitions(events) == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, OPEN)]
    clock.advance(9.0)
    with pytest.raises(CircuitOpenError):
        await breaker.call(ok)
    clock.advance(1.0)
    assert breaker.state is HALF_OPEN


async def test_half_open_allows_limited_trial_calls(clock: FakeClock) -> None:
    breaker, _ = make(clock, failure_threshold=1, open_timeout=1.0, half_open_max_calls=2)
    await fail(breaker, 1)
    clock.advance(1.0)
    gate = asyncio.Event()

    async def slow() -> str:
        await gate.wait()
        return "ok"

    trials = [asyncio.create_task(breaker.call(slow)) for _ in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(CircuitOpenError) as info:
        await breaker.call(slow)
    assert info.value.state is HALF_OPEN
    gate.set()
    assert await asyncio.gather(*trials) == ["ok", "ok"]
    assert breaker.state is CLOSED


async def test_opens_on_failure_rate_over_the_window(clock: FakeClock) -> None:
    breaker, events = make(
        clock, failure_threshold=100, failure_rate_threshold=0.5, window_size=10, min_calls=10
    )
    for _ in range(4):
        await breaker.call(ok)
        await fail(breaker, 1)
    await breaker.call(ok)
    assert breaker.state is CLOSED  # 4/9 failed, below min_calls anyway
    await fail(breaker, 1)  # 5/10 failed
    assert breaker.state is OPEN
    assert "failure rate 50% over the last 10 calls" in events[-1].reason


async def test_rate_below_threshold_keeps_the_circuit_closed(clock: FakeClock) -> None:
    breaker, _ = make(clock, failure_threshold=100, failure_rate_threshold=0.5, window_size=10, min_calls=4)
    for _ in range(20):
        await breaker.call(ok)
        await breaker.call(ok)
        await fail(breaker, 1)
    assert breaker.state is CLOSED
    assert breaker.failure_rate == pytest.approx(0.4)  # last 10: f,o,o,f,o,o,f,o,o,f


async def test_permanent_errors_do_not_trip_the_breaker(clock: FakeClock) -> None:
    breaker, _ = make(clock, failure_threshold=2)

    async def bad_request() -> str:
        raise PermanentModelError("400")

    for _ in range(10):
        with pytest.raises(PermanentModelError):
            await breaker.call(bad_request)
    assert breaker.state is CLOSED


async def test_stale_outcomes_from_before_a_transition_are_ignored(clock: FakeClock) -> None:
    breaker, _ = make(clock, failure_threshold=1, open_timeout=5.0)
    gate = asyncio.Event()

    async def slow_ok() -> str:
        await gate.wait()
        return "ok"

    late = asyncio.create_task(breaker.call(slow_ok))
    await asyncio.sleep(0)
    await fail(breaker, 1)
    assert breaker.state is OPEN
    gate.set()
    await late
    assert breaker.state is OPEN


async def test_listener_errors_do_not_break_calls(clock: FakeClock) -> None:
    breaker, events = make(clock, failure_threshold=1)

    def broken(_event: BreakerEvent) -> None:
        raise RuntimeError("listener bug")

    breaker.add_listener(broken)
    await fail(breaker, 1)
    assert breaker.state is OPEN
    assert len(events) == 1


async def test_reset_closes_the_circuit(clock: FakeClock) -> None:
    breaker, events = make(clock, failure_threshold=1)
    await fail(breaker, 1)
    breaker.reset()
    assert breaker.state is CLOSED
    assert events[-1].reason == "reset by operator"
    assert await breaker.call(ok) == "ok"


async def test_guard_wraps_a_langgraph_node(clock: FakeClock) -> None:
    from langgraph.graph import END, START, StateGraph

    class State(TypedDict):
        text: str

    breaker, _ = make(clock, failure_threshold=1)
    healthy = True

    @breaker.guard
    async def writer(state: State) -> State:
        if not healthy:
            raise ServerError("503")
        return {"text": state["text"].upper()}

    graph = StateGraph(State)
    graph.add_node("writer", writer)
    graph.add_edge(START, "writer")
    graph.add_edge("writer", END)
    app = graph.compile()
    assert await app.ainvoke({"text": "hi"}) == {"text": "HI"}
    healthy = False
    with pytest.raises(ServerError):
        await app.ainvoke({"text": "hi"})
    with pytest.raises(CircuitOpenError):
        await app.ainvoke({"text": "hi"})
    assert writer.__name__ == "writer"


def test_registry_keeps_one_breaker_per_agent(clock: FakeClock) -> None:
    registry = BreakerRegistry(BreakerPolicy(failure_threshold=1), clock=clock)
    events: list[BreakerEvent] = []
    registry.add_listener(events.append)
    a = registry.get("a")
    assert registry.get("a") is a
    b = registry.get("b")
    assert a is not b

    async def trip() -> None:
        with pytest.raises(ServerError):
            await b.call(boom)

    asyncio.run(trip())
    assert registry.states() == {"a": CLOSED, "b": OPEN}
    assert [e.agent for e in events] == ["b"]


def test_invalid_policy_is_rejected() -> None:
    with pytest.raises(UsageError, match="min_calls"):
        BreakerPolicy(window_size=5, min_calls=10)
    with pytest.raises(UsageError):
        BreakerPolicy(failure_rate_threshold=0.0)
