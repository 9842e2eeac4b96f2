"""Circuit breaker per agent: stop calling an agent that keeps failing, probe it later.

Closed: calls flow; the breaker opens after `failure_threshold` consecutive
failures, or when at least `min_calls` of the last `window_size` calls are known
and their failure rate reaches `failure_rate_threshold`. Open: calls fail at once
with `CircuitOpenError` until `open_timeout` seconds have passed. Half-open: at
most `half_open_max_calls` trial calls run at a time; `success_threshold`
consecutive successes close the circuit, any failure re-opens it.

Written here rather than taken from PyPI: pybreaker, aiobreaker, purgatory and
circuitbreaker (checked 2026-11) count consecutive failures only (no failure-rate
window), read the wall clock directly (`datetime.now()` / `time.time()`, so
tests would have to sleep or patch globals), and pybreaker's async support needs
Tornado. The class below is small, takes a clock, and reports every transition.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import ParamSpec, TypeVar

from patterns.errors import FailureKind, ModelError, UsageError, classify
from patterns.observability import _hooks as telemetry

__all__ = [
    "BreakerEvent",
    "BreakerPolicy",
    "BreakerRegistry",
    "CircuitBreaker",
    "CircuitOpenError",
    "CircuitState",
]

P = ParamSpec("P")
T = TypeVar("T")

Clock = Callable[[], float]
Listener = Callable[["BreakerEvent"], None]

_log = logging.getLogger(__name__)


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerPolicy:
    """Thresholds of a circuit breaker (defaults from the BRIEF)."""

    failure_threshold: int = 5
    failure_rate_threshold: float = 0.5
    window_size: int = 20
    min_calls: int = 10
    success_threshold: int = 2
    open_timeout: float = 60.0
    half_open_max_calls: int = 1

    def __post_init__(self) -> None:
        positive = {
            "failure_threshold": self.failure_threshold,
            "window_size": self.window_size,
            "min_calls": self.min_calls,
            "success_threshold": self.success_threshold,
            "half_open_max_calls": self.half_open_max_calls,
        }
        for name, value in positive.items():
            if value < 1:
                raise UsageError(f"BreakerPolicy.{name} must be >= 1, got {value}")
        if self.min_calls > self.window_size:
            raise UsageError(
                f"min_calls ({self.min_calls}) cannot exceed window_size ({self.window_size}): "
                "the rate threshold could never trigger"
            )
        if not 0 < self.failure_rate_threshold <= 1:
            raise UsageError(f"failure_rate_threshold must be in (0, 1], got {self.failure_rate_threshold}")
        if self.open_timeout < 0:
            raise UsageError(f"open_timeout must be >= 0 seconds, got {self.open_timeout}")


@dataclass(frozen=True)
class BreakerEvent:
    """One state transition; `at` is the breaker's clock reading."""

    agent: str
    old: CircuitState
    new: CircuitState
    at: float
    reason: str


class CircuitOpenError(ModelError):
    """The agent's circuit is open: the call was refused without reaching the agent."""

    kind = FailureKind.CASCADING
    status = 503

    def __init__(self, agent: str, *, retry_in: float, state: CircuitState) -> None:
        if state is CircuitState.OPEN:
            why = f"is open after repeated failures; calls are refused for another {retry_in:.1f} s"
        else:
            why = "is half-open and its trial calls are all in flight"
        super().__init__(
            f"circuit for agent {agent!r} {why}. Answer from a fallback for this agent, "
            "or retry after the open timeout.",
            agent=agent,
        )
        self.retry_in = retry_in
        self.state = state


def _counts_as_failure(exc: BaseException) -> bool:
    # A permanent error (bad input, a bug, a LangGraph interrupt bubbling up) says
    # nothing about the agent's health, so it must not trip the breaker.
    return isinstance(exc, Exception) and classify(exc) is not FailureKind.PERMANENT


@dataclass(frozen=True)
class _Ticket:
    epoch: int
    trial: bool


class CircuitBreaker:
    """A circuit breaker guarding one agent. Use `call`, or `guard` as a node decorator."""

    def __init__(
        self,
        agent: str,
        policy: BreakerPolicy | None = None,
        *,
        clock: Clock = time.monotonic,
        is_failure: Callable[[BaseException], bool] = _counts_as_failure,
    ) -> None:
        self.agent = agent
        self.policy = policy or BreakerPolicy()
        self._clock = clock
        self._is_failure = is_failure
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._state = CircuitState.CLOSED
        # Outcomes of calls admitted in an earlier state are stale and ignored.
        self._epoch = 0
        self._opened_at = 0.0
        self._consecutive_failures = 0
        # True for each failed call among the most recent `window_size` counted calls.
        self._window: deque[bool] = deque(maxlen=self.policy.window_size)
        self._trials_in_flight = 0
        self._trial_successes = 0

    def add_listener(self, listener: Listener) -> None:
        """Call `listener` with a `BreakerEvent` on every transition."""
        self._listeners.append(listener)

    @property
    def state(self) -> CircuitState:
        """The current state; an open circuit whose timeout has passed reads as half-open."""
        events: list[BreakerEvent] = []
        with self._lock:
            self._maybe_half_open(events)
            state = self._state
        self._emit(events)
        return state

    @property
    def failure_rate(self) -> float:
        """Failure rate over the recent-call window (0.0 when empty)."""
        with self._lock:
            return self._window.count(True) / len(self._window) if self._window else 0.0

    def reset(self) -> None:
        """Force the circuit closed and forget its history (an operator's override)."""
        events: list[BreakerEvent] = []
        with self._lock:
            self._transition(CircuitState.CLOSED, "reset by operator", events)
        self._emit(events)

    async def call(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """Await `fn(*args, **kwargs)` through the breaker; `CircuitOpenError` when refused."""
        ticket = self._admit()
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            # Errors that are not failures (see `is_failure`) count neither way.
            self._record(ticket, failed=True if self._is_failure(exc) else None)
            raise
        self._record(ticket, failed=False)
        return result

    def guard(self, fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        """Wrap an async function, such as a LangGraph node, so every call goes through `call`.

        The signature is preserved, so LangGraph still passes `config`/`runtime` to nodes that take them.
        """

        @functools.wraps(fn)
        async def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
            return await self.call(fn, *args, **kwargs)

        return guarded

    def _admit(self) -> _Ticket:
        events: list[BreakerEvent] = []
        try:
            with self._lock:
                self._maybe_half_open(events)
                if self._state is CircuitState.CLOSED:
                    return _Ticket(self._epoch, trial=False)
                if self._state is CircuitState.HALF_OPEN:
                    if self._trials_in_flight < self.policy.half_open_max_calls:
                        self._trials_in_flight += 1
                        return _Ticket(self._epoch, trial=True)
                    raise CircuitOpenError(self.agent, retry_in=0.0, state=self._state)
                retry_in = self._opened_at + self.policy.open_timeout - self._clock()
                raise CircuitOpenError(self.agent, retry_in=max(retry_in, 0.0), state=self._state)
        finally:
            self._emit(events)

    def _record(self, ticket: _Ticket, *, failed: bool | None) -> None:
        events: list[BreakerEvent] = []
        with self._lock:
            if ticket.epoch != self._epoch:
                return
            if ticket.trial:
                self._trials_in_flight -= 1
            if failed is None:
                return
            if self._state is CircuitState.HALF_OPEN:
                if failed:
                    self._transition(CircuitState.OPEN, "trial call failed", events)
                else:
                    self._trial_successes += 1
                    if self._trial_successes >= self.policy.success_threshold:
                        self._transition(
                            CircuitState.CLOSED, f"{self._trial_successes} trial calls succeeded", events
                        )
            elif self._state is CircuitState.CLOSED:
                self._window.append(failed)
                self._consecutive_failures = self._consecutive_failures + 1 if failed else 0
                reason = self._trip_reason()
                if reason:
                    self._transition(CircuitState.OPEN, reason, events)
        self._emit(events)

    def _trip_reason(self) -> str:
        p = self.policy
        if self._consecutive_failures >= p.failure_threshold:
            return f"{self._consecutive_failures} consecutive failures"
        if len(self._window) >= p.min_calls:
            rate = self._window.count(True) / len(self._window)
            if rate >= p.failure_rate_threshold:
                return f"failure rate {rate:.0%} over the last {len(self._window)} calls"
        return ""

    def _maybe_half_open(self, events: list[BreakerEvent]) -> None:
        if self._state is CircuitState.OPEN and self._clock() - self._opened_at >= self.policy.open_timeout:
            self._transition(CircuitState.HALF_OPEN, "open timeout elapsed", events)

    def _transition(self, new: CircuitState, reason: str, events: list[BreakerEvent]) -> None:
        old = self._state
        now = self._clock()
        self._state = new
        self._epoch += 1
        self._trials_in_flight = 0
        self._trial_successes = 0
        if new is CircuitState.OPEN:
            self._opened_at = now
        if new is CircuitState.CLOSED:
            self._window.clear()
            self._consecutive_failures = 0
        events.append(BreakerEvent(self.agent, old, new, now, reason))

    def _emit(self, events: list[BreakerEvent]) -> None:
        # Outside the lock, so a listener may read `state` without deadlocking.
        for event in events:
            telemetry.breaker_transition(event.agent, event.old.value, event.new.value, event.reason)
            for listener in list(self._listeners):
                try:
                    listener(event)
                except Exception:
                    # A broken listener must not break the calls the breaker protects.
                    _log.exception("circuit breaker listener failed on %s", event)


class BreakerRegistry:
    """One `CircuitBreaker` per agent name, created on first use with a shared policy and clock."""

    def __init__(self, policy: BreakerPolicy | None = None, *, clock: Clock = time.monotonic) -> None:
        self._policy = policy or BreakerPolicy()
        self._clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def get(self, agent: str) -> CircuitBreaker:
        with self._lock:
            breaker = self._breakers.get(agent)
            if breaker is None:
                breaker = CircuitBreaker(agent, self._policy, clock=self._clock)
                for listener in self._listeners:
                    breaker.add_listener(listener)
                self._breakers[agent] = breaker
            return breaker

    def add_listener(self, listener: Listener) -> None:
        """Listen to the transitions of every breaker, present and future."""
        with self._lock:
            self._listeners.append(listener)
            for breaker in self._breakers.values():
                breaker.add_listener(listener)

    def states(self) -> dict[str, CircuitState]:
        with self._lock:
            breakers = dict(self._breakers)
        return {agent: breaker.state for agent, breaker in breakers.items()}
