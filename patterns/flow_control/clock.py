"""The time source every flow-control primitive reads.

Rate limiters, caches, the work queue and the micro-batcher never call
`time.monotonic()` or `asyncio.sleep()` directly: they take a `Clock`. In
production that is `MonotonicClock`; in tests and simulations it is a
`ManualClock`, whose time moves only when told to, so behaviour over minutes
of simulated time is checked in milliseconds and without flakiness.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol, runtime_checkable

from patterns.errors import UsageError

__all__ = ["Clock", "MonotonicClock", "ManualClock"]


@runtime_checkable
class Clock(Protocol):
    """A monotonic time source in seconds, and a way to wait on it."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    """Wall time from `time.monotonic()` (the clock asyncio's default loop uses)."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """Simulated time that moves only through `advance()` (or, with
    `auto_advance=True`, whenever someone sleeps).

    With `auto_advance=False`, `sleep()` parks the caller until a later
    `advance()` passes its deadline; the woken tasks run at the caller's next
    `await`. With `auto_advance=True`, `sleep()` jumps time forward to its own
    deadline at once, which suits sequential code that should never block.
    """

    def __init__(self, start: float = 0.0, *, auto_advance: bool = False) -> None:
        self._now = float(start)
        self._auto_advance = auto_advance
        # (deadline, tie-breaker, future): the tie-breaker keeps wake-up order FIFO
        # for equal deadlines and spares heapq from comparing futures.
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has passed."""
        if seconds < 0:
            raise UsageError(f"a clock cannot go backwards: advance() got {seconds} s; pass a value >= 0")
        self._now += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        deadline = self._now + seconds
        if self._auto_advance:
            self.advance(deadline - self._now)
            # Bump to the exact deadline: now + (deadline - now) can fall one ulp short.
            self._now = max(self._now, deadline)
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (deadline, next(self._order), fut))
        await fut

    @property
    def sleepers(self) -> int:
        """How many tasks are parked in `sleep()` (cancelled ones excluded)."""
        return sum(1 for _, _, fut in self._sleepers if not fut.done())
