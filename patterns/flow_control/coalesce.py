"""In-flight request coalescing ("single flight").

When many callers ask for the same thing at once (fifty scatter branches
wanting the same lookup, a burst of identical user questions), `Coalescer.run`
makes one call per key and hands its result, or its exception, to every caller
waiting on it. Nothing is remembered afterwards: once the call finishes the key
is free and the next caller calls again (pair with a cache for that).

A waiter that is cancelled (a timeout, a client gone) leaves without
disturbing the others; the shared call is cancelled only when its last waiter
has left, since nobody is then waiting for the answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Coalescer"]

V = TypeVar("V")


@dataclass(slots=True)
class _Flight(Generic[V]):
    task: asyncio.Task[V]
    waiters: int = 0


class Coalescer(Generic[V]):
    """Share one in-flight call per key among concurrent callers; for one event loop."""

    def __init__(self) -> None:
        self._flights: dict[Hashable, _Flight[V]] = {}

    @property
    def in_flight(self) -> int:
        """Keys with a call running now."""
        return len(self._flights)

    async def run(self, key: Hashable, fn: Callable[[], Awaitable[V]]) -> V:
        """Await `fn()`, or join the call already running for `key`."""
        flight = self._flights.get(key)
        if flight is None or flight.task.done():
            flight = self._start(key, fn)
        flight.waiters += 1
        try:
            # shield: cancelling this waiter must not cancel the call the others share.
            return await asyncio.shield(flight.task)
        finally:
            flight.waiters -= 1
            if flight.waiters == 0 and not flight.task.done():
                # Only the last waiter being cancelled gets here: nobody wants the answer.
                self._forget(key, flight)
                flight.task.cancel()

    def _start(self, key: Hashable, fn: Callable[[], Awaitable[V]]) -> _Flight[V]:
        async def call() -> V:
            return await fn()

        flight = _Flight(asyncio.create_task(call()))
        self._flights[key] = flight
        # Registered before any waiter's callback, so the key is free again before
        # the first waiter resumes with the result.
        flight.task.add_done_callback(lambda _: self._forget(key, flight))
        return flight

    def _forget(self, key: Hashable, flight: _Flight[V]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
