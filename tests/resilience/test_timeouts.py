from __future__ import annotations

import asyncio

import pytest

from patterns.errors import ModelTimeout, UsageError, is_transient
from patterns.resilience import (
    DEFAULT_TIMEOUTS,
    AgentClass,
    AttemptTimeout,
    Backoff,
    call_with_timeout,
    per_attempt_timeout,
    retry_call,
    with_timeout,
)


def test_agent_class_defaults_follow_the_brief() -> None:
    assert {c: p.seconds for c, p in DEFAULT_TIMEOUTS.items()} == {
        AgentClass.FAST: 5.0,
        AgentClass.STANDARD: 30.0,
        AgentClass.RESEARCH: 120.0,
    }
    assert AttemptTimeout.for_class("research").seconds == 120.0
    with pytest.raises(UsageError, match="fast, standard, research"):
        AttemptTimeout.for_class("glacial")


def test_deadline_grows_per_attempt_up_to_the_cap() -> None:
    policy = AttemptTimeout(2.0, growth=2.0, max_seconds=5.0)
    assert [policy.for_attempt(n) for n in (1, 2, 3, 4)] == [2.0, 4.0, 5.0, 5.0]
    assert AttemptTimeout(1.0, growth=10.0).for_attempt(10_000) == float("inf")


async def test_expiry_raises_a_transient_model_timeout() -> None:
    async def hang() -> str:
        await asyncio.Event().wait()
        return "never"

    with pytest.raises(ModelTimeout) as info:
        await call_with_timeout(hang, AttemptTimeout(0.01), agent="researcher")
    assert info.value.agent == "researcher"
    assert "researcher" in str(info.value) and "0.01 s" in str(info.value)
    assert is_transient(info.value)


async def test_fast_calls_return_their_value() -> None:
    async def quick() -> int:
        return 42

    assert await call_with_timeout(quick, AgentClass.FAST) == 42
    assert await call_with_timeout(quick, 1.0) == 42


async def test_a_timeout_error_raised_by_the_callee_is_not_relabelled() -> None:
    async def own_timeout() -> None:
        raise TimeoutError("socket")

    with pytest.raises(TimeoutError) as info:
        await call_with_timeout(own_timeout, 10.0)
    assert not isinstance(info.value, ModelTimeout)


async def test_decorator_keeps_the_signature() -> None:
    @with_timeout(0.01, agent="node")
    async def node(state: dict[str, int]) -> dict[str, int]:
        if state["n"] < 0:
            await asyncio.Event().wait()
        return {"n": state["n"] + 1}

    assert await node({"n": 1}) == {"n": 2}
    assert node.__name__ == "node"
    with pytest.raises(ModelTimeout):
        await node({"n": -1})


async def test_per_attempt_timeout_grows_inside_retry_call() -> None:
    seen: list[float] = []

    async def slow_then_fast() -> str:
        if len(seen) < 2:
            seen.append(0)
            await asyncio.Event().wait()
        return "done"

    async def no_wait(_s: float) -> None:
        return None

    policy = AttemptTimeout(0.005, growth=2.0)
    fn = per_attempt_timeout(slow_then_fast, policy, agent="a")
    assert await retry_call(fn, Backoff(max_attempts=3), sleep=no_wait) == "done"
    assert len(seen) == 2
