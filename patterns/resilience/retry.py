"""Retrying transient failures: backoff policy, a shared retry budget, and `retry_call`.

`retry_call` is built on tenacity. Only errors that `patterns.errors.is_transient`
accepts are retried; anything else fails on the first attempt. A 429 waits at
least its `retry_after`. A `RetryBudget` shared by many calls caps retries per
rolling window, so a failing dependency cannot trigger a retry storm: once the
budget is spent, calls fail with `RetryBudgetExhausted` instead of retrying.

`Backoff.to_langgraph()` gives the same policy as LangGraph's native
`langgraph.types.RetryPolicy` for graph nodes (LangGraph ignores Retry-After and
retry budgets: use `retry_call` inside the node when those matter). The class is
`Backoff`, not `RetryPolicy`, so importing both never shadows LangGraph's.
"""

from __future__ import annotations

import asyncio
import math
import random
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from langgraph.types import RetryPolicy as LangGraphRetryPolicy
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from patterns.errors import OrchError, UsageError, is_transient, retry_after
from patterns.observability import _hooks as telemetry

__all__ = ["Attempt", "RetryBudget", "RetryBudgetExhausted", "Backoff", "retry_call"]

T = TypeVar("T")

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Backoff:
    """How often and how patiently to retry a transient failure.

    The n-th retry waits `min(base_delay * multiplier**(n-1), max_delay)` plus a
    random extra of up to `jitter` times that (jitter spreads clients that failed
    together). A 429 waits at least its `retry_after`; one whose `retry_after`
    exceeds `max_delay` is not retried, so the flow can fall back instead of stalling.
    """

    max_attempts: int = 3
    base_delay: float = 1.0
    max_delay: float = 60.0
    multiplier: float = 2.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise UsageError(f"max_attempts must be >= 1 (1 means no retry), got {self.max_attempts}")
        if self.base_delay < 0 or self.max_delay < self.base_delay:
            raise UsageError(
                f"need 0 <= base_delay <= max_delay, got base_delay={self.base_delay}, "
                f"max_delay={self.max_delay}"
            )
        if self.multiplier < 1:
            raise UsageError(f"multiplier must be >= 1 so delays never shrink, got {self.multiplier}")
        if not 0 <= self.jitter <= 1:
            raise UsageError(f"jitter is a fraction of the delay in [0, 1], got {self.jitter}")

    def backoff(self, retry_number: int) -> float:
        """The delay before retry `retry_number` (1 = first retry), without jitter."""
        if retry_number < 1:
            raise UsageError(f"retry_number counts from 1, got {retry_number}")
        try:
            raw = self.base_delay * self.multiplier ** (retry_number - 1)
        except OverflowError:
            return self.max_delay
        return min(raw, self.max_delay) if math.isfinite(raw) else self.max_delay

    def delay(
        self,
        retry_number: int,
        *,
        error: BaseException | None = None,
        rng: random.Random | None = None,
    ) -> float:
        """The delay before retry `retry_number`, with jitter and the 429 rule applied."""
        base = self.backoff(retry_number)
        extra = (rng or random).uniform(0.0, self.jitter * base) if self.jitter else 0.0
        wait = base + extra
        if error is not None and (asked := retry_after(error)) is not None:
            wait = max(wait, asked)
        return wait

    def should_retry(self, error: BaseException) -> bool:
        """Whether `error` is worth another attempt under this policy."""
        if not isinstance(error, Exception) or not is_transient(error):
            return False
        asked = retry_after(error)
        return asked is None or asked <= self.max_delay

    def to_langgraph(self) -> LangGraphRetryPolicy:
        """This policy as LangGraph's native node `RetryPolicy`.

        LangGraph's jitter is a flag (it adds up to one second), so any non-zero
        `jitter` turns it on. Retry-After and budgets are not carried over.
        """
        return LangGraphRetryPolicy(
            initial_interval=self.base_delay,
            backoff_factor=self.multiplier,
            max_interval=self.max_delay,
            max_attempts=self.max_attempts,
            jitter=self.jitter > 0,
            retry_on=self.should_retry,
        )


class RetryBudget:
    """At most `max_retries` retries in any rolling `window` seconds, shared by all its callers.

    Safe to share between threads and tasks: the check-and-take is one locked step
    and never awaits.
    """

    def __init__(
        self, max_retries: int = 100, *, window: float = 60.0, clock: Clock = time.monotonic
    ) -> None:
        if max_retries < 0:
            raise UsageError(f"max_retries must be >= 0 (0 disables retries), got {max_retries}")
        if window <= 0:
            raise UsageError(f"window must be a positive number of seconds, got {window}")
        self.max_retries = max_retries
        self.window = window
        self._clock = clock
        self._taken: deque[float] = deque()
        self._lock = threading.Lock()

    def _evict(self, now: float) -> None:
        # A retry taken at t counts for the window (t - window, t]; older ones free up.
        while self._taken and self._taken[0] <= now - self.window:
            self._taken.popleft()

    def try_acquire(self) -> bool:
        """Take one retry from the budget; False (and nothing taken) when it is spent."""
        with self._lock:
            now = self._clock()
            self._evict(now)
            if len(self._taken) >= self.max_retries:
                return False
            self._taken.append(now)
            return True

    @property
    def remaining(self) -> int:
        """Retries still available in the current window."""
        with self._lock:
            self._evict(self._clock())
            return self.max_retries - len(self._taken)


class RetryBudgetExhausted(OrchError):
    """A transient failure was not retried because the shared retry budget is spent.

    `error` is the failure that would have been retried; `attempts` how many were made.
    Not transient itself: an outer retry layer must not multiply the storm.
    """

    def __init__(self, error: BaseException, *, budget: RetryBudget, attempts: int) -> None:
        super().__init__(
            f"retry budget exhausted ({budget.max_retries} retries per {budget.window:g} s) after "
            f"{attempts} attempt(s); last error {type(error).__name__}: {error}. The dependency is "
            "failing for many callers: let a circuit breaker or fallback take over, or raise "
            "RetryBudget(max_retries=...) if this load is expected."
        )
        self.error = error
        self.attempts = attempts


@dataclass(frozen=True)
class Attempt:
    """One attempt of a `retry_call`, for reports.

    `error` is None for the attempt that succeeded; `delay` is the wait before the
    next attempt, None when there was none.
    """

    number: int
    started_at: float
    ended_at: float
    error: BaseException | None
    delay: float | None


class _Wait(wait_base):
    def __init__(self, policy: Backoff, rng: random.Random | None) -> None:
        self._policy = policy
        self._rng = rng

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None and outcome.failed else None
        return self._policy.delay(retry_state.attempt_number, error=error, rng=self._rng)


class _BudgetStop(stop_base):
    # tenacity consults `stop` exactly once per retry it is about to make, and only
    # after the attempt limit allowed it, so taking from the budget here spends it
    # on real retries only.
    def __init__(self, budget: RetryBudget | None) -> None:
        self._budget = budget
        self.denied = False

    def __call__(self, retry_state: RetryCallState) -> bool:
        if self._budget is None or self._budget.try_acquire():
            return False
        self.denied = True
        return True


async def retry_call(
    fn: Callable[[], Awaitable[T]],
    policy: Backoff = Backoff(),
    *,
    budget: RetryBudget | None = None,
    on_attempt: Callable[[Attempt], None] | None = None,
    sleep: Sleep = asyncio.sleep,
    clock: Clock = time.monotonic,
    rng: random.Random | None = None,
) -> T:
    """Await `fn()` until it succeeds, retrying transient failures under `policy`.

    Permanent failures raise on the first attempt. When the attempts are used up
    the last error is raised (with a note saying how many attempts were made);
    when `budget` refuses a retry, `RetryBudgetExhausted` is raised from it.
    `on_attempt` receives an `Attempt` record for every attempt, in order.
    """
    stop = _BudgetStop(budget)
    state = _AttemptState()

    async def attempt() -> T:
        state.begin(clock())
        try:
            result = await fn()
        except BaseException as exc:
            state.fail(clock(), exc)
            raise
        state.succeed(clock())
        return result

    def before_sleep(retry_state: RetryCallState) -> None:
        state.emit(on_attempt, retry_state.upcoming_sleep)
        outcome = retry_state.outcome
        if outcome is not None and outcome.failed and (error := outcome.exception()) is not None:
            telemetry.retrying(state.number, error, retry_state.upcoming_sleep)

    retrying = AsyncRetrying(
        sleep=sleep,
        stop=stop_after_attempt(policy.max_attempts) | stop,
        wait=_Wait(policy, rng),
        retry=retry_if_exception(policy.should_retry),
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        result: T = await retrying(attempt)
    except BaseException as exc:
        state.emit(on_attempt, None)
        if stop.denied and budget is not None:
            raise RetryBudgetExhausted(exc, budget=budget, attempts=state.number) from exc
        if state.number > 1:
            exc.add_note(f"failed after {state.number} attempts (retry policy allows {policy.max_attempts})")
        raise
    state.emit(on_attempt, None)
    return result


class _AttemptState:
    def __init__(self) -> None:
        self.number = 0
        self._started = 0.0
        self._ended = 0.0
        self._error: BaseException | None = None
        self._emitted = 0

    def begin(self, now: float) -> None:
        self.number += 1
        self._started = now
        self._error = None

    def fail(self, now: float, error: BaseException) -> None:
        self._ended = now
        self._error = error

    def succeed(self, now: float) -> None:
        self._ended = now

    def emit(self, sink: Callable[[Attempt], None] | None, delay: float | None) -> None:
        # Each attempt is reported once, whichever path (retry, success, final error) ends it.
        if sink is None or self._emitted == self.number:
            return
        self._emitted = self.number
        sink(Attempt(self.number, self._started, self._ended, self._error, delay))
