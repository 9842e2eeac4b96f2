"""Rate limiters that keep agent calls within a provider's quota.

Two shapes, one interface (`RateLimiter`): `acquire()` waits its turn,
`try_acquire()` answers at once and never waits, so a server can turn a
refusal into HTTP 429 instead of queueing.

- `TokenBucket`: sustained `rate` per second with bursts up to `capacity`;
  `cost` lets one call spend several tokens (e.g. prompt tokens per minute).
- `SlidingWindow`: at most `max_calls` in any window of `window` seconds, the
  exact contract most provider quotas state ("60 requests per minute").

Why not aiolimiter for the token bucket: its `AsyncLimiter` is the same
algorithm (a leaky bucket of size `capacity` draining at `rate` is a token
bucket), but it reads time only from the running event loop (`loop.time()`,
`loop.call_at`), so it cannot run on an injected `Clock`, which is what makes
these limits testable without sleeping and usable in simulated benchmarks; and
its non-blocking check (`has_capacity`) does not reserve capacity and ignores
queued waiters. The algorithm is a dozen lines, so we keep it here.

Both limiters are fair: waiters are served first come, first served, and
`try_acquire()` never jumps ahead of a waiter. They are for one event loop;
share a limit across processes with a server-side limiter.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from patterns.errors import UsageError
from patterns.flow_control.clock import Clock, MonotonicClock

__all__ = [
    "RateLimiter",
    "TokenBucketPolicy",
    "TokenBucket",
    "SlidingWindowPolicy",
    "SlidingWindow",
]

# Float refills can land a hair short of a whole token after sleeping exactly the
# computed wait; without this slack a waiter could spin on sub-ulp sleeps.
_TOKEN_EPSILON = 1e-9


@runtime_checkable
class RateLimiter(Protocol):
    """What callers of either limiter rely on."""

    async def acquire(self) -> None: ...

    def try_acquire(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class TokenBucketPolicy:
    """Refill `rate` tokens per second, hold at most `capacity` (the burst).

    Over any interval of `t` seconds at most `capacity + rate * t` tokens are
    spent. The bucket starts full.
    """

    rate: float
    capacity: float

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise UsageError(f"TokenBucketPolicy.rate must be > 0 tokens per second, got {self.rate}")
        if not self.capacity >= 1:
            raise UsageError(
                f"TokenBucketPolicy.capacity must be >= 1 (the largest burst), got {self.capacity}"
            )


class TokenBucket:
    """Token-bucket limiter: steady rate, bounded bursts."""

    def __init__(self, policy: TokenBucketPolicy, *, clock: Clock | None = None) -> None:
        self.policy = policy
        self._clock: Clock = clock or MonotonicClock()
        self._tokens = policy.capacity
        self._updated = self._clock.now()
        # asyncio.Lock wakes waiters in FIFO order, which is what makes acquire() fair.
        self._turn = asyncio.Lock()

    @property
    def tokens(self) -> float:
        """Tokens available now."""
        self._refill()
        return self._tokens

    async def acquire(self, cost: float = 1.0) -> None:
        """Wait until `cost` tokens are available, then spend them."""
        self._check_cost(cost)
        async with self._turn:
            while (wait := self._take_or_wait(cost)) > 0:
                await self._clock.sleep(wait)

    def try_acquire(self, cost: float = 1.0) -> bool:
        """Spend `cost` tokens if available now and nobody is waiting; never waits."""
        self._check_cost(cost)
        if self._turn.locked():
            return False
        return self._take_or_wait(cost) == 0

    def _check_cost(self, cost: float) -> None:
        if not 0 < cost <= self.policy.capacity:
            raise UsageError(
                f"cost {cost} can never be granted by a bucket of capacity {self.policy.capacity}: "
                "pass 0 < cost <= capacity, or raise TokenBucketPolicy.capacity"
            )

    def _refill(self) -> None:
        now = self._clock.now()
        elapsed = now - self._updated
        if elapsed > 0:
            self._tokens = min(self.policy.capacity, self._tokens + elapsed * self.policy.rate)
            self._updated = now

    def _take_or_wait(self, cost: float) -> float:
        """Spend `cost` and return 0, or return the seconds until it can be spent."""
        self._refill()
        if self._tokens + _TOKEN_EPSILON >= cost:
            self._tokens = max(0.0, self._tokens - cost)
            return 0.0
        return (cost - self._tokens) / self.policy.rate


@dataclass(frozen=True, slots=True)
class SlidingWindowPolicy:
    """At most `max_calls` admissions in any `window` seconds."""

    max_calls: int
    window: float

    def __post_init__(self) -> None:
        if self.max_calls < 1:
            raise UsageError(f"SlidingWindowPolicy.max_calls must be >= 1, got {self.max_calls}")
        if not self.window > 0:
            raise UsageError(f"SlidingWindowPolicy.window must be > 0 seconds, got {self.window}")


class SlidingWindow:
    """Sliding-window-log limiter: exact, memory O(max_calls).

    Unlike a fixed window (reset on the minute), it never lets 2x the limit
    through around a window boundary.
    """

    def __init__(self, policy: SlidingWindowPolicy, *, clock: Clock | None = None) -> None:
        self.policy = policy
        self._clock: Clock = clock or MonotonicClock()
        self._admitted: deque[float] = deque()
        self._turn = asyncio.Lock()

    @property
    def in_window(self) -> int:
        """Admissions that still count against the limit now."""
        self._expire(self._clock.now())
        return len(self._admitted)

    async def acquire(self) -> None:
        """Wait until admitting one more call keeps every window within the limit."""
        async with self._turn:
            while (wait := self._admit_or_wait()) > 0:
                await self._clock.sleep(wait)

    def try_acquire(self) -> bool:
        """Admit one call if the limit allows it now and nobody is waiting; never waits."""
        if self._turn.locked():
            return False
        return self._admit_or_wait() == 0

    def _expire(self, now: float) -> None:
        # An admission at `t` counts for the half-open window [t, t + window).
        while self._admitted and self._admitted[0] + self.policy.window <= now:
            self._admitted.popleft()

    def _admit_or_wait(self) -> float:
        now = self._clock.now()
        self._expire(now)
        if len(self._admitted) < self.policy.max_calls:
            self._admitted.append(now)
            return 0.0
        return self._admitted[0] + self.policy.window - now
