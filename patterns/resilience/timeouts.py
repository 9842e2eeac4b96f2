"""Per-agent-class deadlines that raise `patterns.errors.ModelTimeout` when they expire.

Three classes from the BRIEF: fast (lookup, validation) 5 s, standard
(generation, analysis) 30 s, research (search, deep analysis) 120 s. A policy
may grow its deadline on each retry (`growth`), because a timeout that expired
once under load is likely to expire again at the same length.
`ModelTimeout` is transient, so `retry_call` retries it.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import ParamSpec, TypeVar

from patterns.errors import ModelTimeout, UsageError

__all__ = [
    "DEFAULT_TIMEOUTS",
    "AgentClass",
    "AttemptTimeout",
    "call_with_timeout",
    "per_attempt_timeout",
    "with_timeout",
]

P = ParamSpec("P")
T = TypeVar("T")


class AgentClass(StrEnum):
    FAST = "fast"
    STANDARD = "standard"
    RESEARCH = "research"


@dataclass(frozen=True)
class AttemptTimeout:
    """A deadline of `seconds`, multiplied by `growth` on each later attempt, capped at `max_seconds`.

    Not `TimeoutPolicy`: LangGraph has a class of that name for whole nodes; this one is per attempt.
    """

    seconds: float
    growth: float = 1.0
    max_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.seconds <= 0:
            raise UsageError(f"a timeout must be a positive number of seconds, got {self.seconds}")
        if self.growth < 1:
            raise UsageError(f"growth must be >= 1 (1 keeps the deadline fixed), got {self.growth}")
        if self.max_seconds is not None and self.max_seconds < self.seconds:
            raise UsageError(f"max_seconds ({self.max_seconds}) must be >= seconds ({self.seconds})")

    @classmethod
    def for_class(cls, agent_class: AgentClass | str) -> AttemptTimeout:
        """The default policy of an agent class (`"fast"`, `"standard"` or `"research"`)."""
        try:
            return DEFAULT_TIMEOUTS[AgentClass(agent_class)]
        except ValueError:
            known = ", ".join(c.value for c in AgentClass)
            raise UsageError(f"unknown agent class {agent_class!r}; use one of: {known}") from None

    def for_attempt(self, attempt: int) -> float:
        """The deadline of attempt `attempt` (1 = first)."""
        if attempt < 1:
            raise UsageError(f"attempt counts from 1, got {attempt}")
        try:
            seconds = self.seconds * self.growth ** (attempt - 1)
        except OverflowError:
            seconds = float("inf")
        return seconds if self.max_seconds is None else min(seconds, self.max_seconds)


DEFAULT_TIMEOUTS: Mapping[AgentClass, AttemptTimeout] = MappingProxyType(
    {
        AgentClass.FAST: AttemptTimeout(5.0),
        AgentClass.STANDARD: AttemptTimeout(30.0),
        AgentClass.RESEARCH: AttemptTimeout(120.0),
    }
)

Deadline = AttemptTimeout | AgentClass | float


def _policy(deadline: Deadline) -> AttemptTimeout:
    if isinstance(deadline, AttemptTimeout):
        return deadline
    if isinstance(deadline, AgentClass):
        return AttemptTimeout.for_class(deadline)
    return AttemptTimeout(float(deadline))


async def call_with_timeout(
    fn: Callable[[], Awaitable[T]],
    deadline: Deadline,
    *,
    agent: str | None = None,
    attempt: int = 1,
) -> T:
    """Await `fn()`, raising `ModelTimeout` if it runs past the deadline of `attempt`."""
    seconds = _policy(deadline).for_attempt(attempt)
    scope = asyncio.timeout(seconds if math.isfinite(seconds) else None)
    try:
        async with scope:
            return await fn()
    except TimeoutError:
        # A TimeoutError raised by `fn` itself is its own failure, not our deadline.
        if not scope.expired():
            raise
        who = f"agent {agent!r}" if agent else "the call"
        raise ModelTimeout(
            f"{who} did not answer within {seconds:g} s (attempt {attempt}); retry it, or give it a "
            "longer AttemptTimeout (e.g. the 'research' class) if it is slow by nature",
            agent=agent,
        ) from None


def with_timeout(
    deadline: Deadline, *, agent: str | None = None
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """Decorator for an async function or LangGraph node: each call gets the first-attempt deadline."""

    def decorate(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        @functools.wraps(fn)
        async def timed(*args: P.args, **kwargs: P.kwargs) -> T:
            return await call_with_timeout(lambda: fn(*args, **kwargs), deadline, agent=agent)

        return timed

    return decorate


def per_attempt_timeout(
    fn: Callable[[], Awaitable[T]], deadline: Deadline, *, agent: str | None = None
) -> Callable[[], Awaitable[T]]:
    """`fn` under a deadline that grows with each call, for use inside `retry_call`.

    The n-th call of the returned function gets `policy.for_attempt(n)`.
    """
    policy = _policy(deadline)
    calls = 0

    async def attempt() -> T:
        nonlocal calls
        calls += 1
        return await call_with_timeout(fn, policy, agent=agent, attempt=calls)

    return attempt
