"""Bulkhead: bounded concurrency per key (agent or tenant), so one cannot starve the others.

Each key gets `max_concurrent` slots and an optional FIFO wait queue of
`max_waiting` callers, who give up after `max_wait` seconds. A caller that finds
slots and queue full is rejected at once with `BulkheadFull`: rejecting is the
backpressure. `BulkheadFull` is not transient to `is_transient`, on purpose:
automatic retries of an overloaded compartment would add to the overload.

Compartments belong to one event loop; share a `Bulkhead` between tasks, not threads.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

from patterns.errors import OrchError, UsageError
from patterns.observability import _hooks as telemetry

__all__ = ["Bulkhead", "BulkheadFull", "BulkheadPolicy"]

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class BulkheadPolicy:
    """Limits of one compartment; `max_wait=None` waits in the queue as long as it takes."""

    max_concurrent: int
    max_waiting: int = 0
    max_wait: float | None = None

    def __post_init__(self) -> None:
        if self.max_concurrent < 1:
            raise UsageError(f"max_concurrent must be >= 1, got {self.max_concurrent}")
        if self.max_waiting < 0:
            raise UsageError(f"max_waiting must be >= 0 (0 = reject when busy), got {self.max_waiting}")
        if self.max_wait is not None and self.max_wait < 0:
            raise UsageError(f"max_wait must be >= 0 seconds or None, got {self.max_wait}")


class BulkheadFull(OrchError):
    """The compartment for `key` had no free slot and no room (or time) left to wait."""

    def __init__(
        self, key: str, policy: BulkheadPolicy, *, in_flight: int, waiting: int, timed_out: bool
    ) -> None:
        if timed_out:
            why = f"no slot freed within {policy.max_wait:g} s"
        else:
            why = f"{in_flight}/{policy.max_concurrent} in flight and {waiting}/{policy.max_waiting} waiting"
        super().__init__(
            f"bulkhead {key!r} is full ({why}). Shed or retry this request later, or raise "
            "max_concurrent / max_waiting for this key if the dependency can take more load."
        )
        self.key = key
        self.in_flight = in_flight
        self.waiting = waiting


@dataclass
class _Compartment:
    policy: BulkheadPolicy
    in_flight: int = 0
    waiters: deque[asyncio.Future[None]] = field(default_factory=deque)

    def release(self) -> None:
        # Hand the slot straight to the oldest live waiter, so a newcomer cannot jump the queue.
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.in_flight -= 1


class Bulkhead:
    """Compartments keyed by agent or tenant; `overrides` sets the limits of particular keys."""

    def __init__(
        self, policy: BulkheadPolicy, *, overrides: Mapping[str, BulkheadPolicy] | None = None
    ) -> None:
        self.policy = policy
        self._overrides = dict(overrides or {})
        self._compartments: dict[str, _Compartment] = {}

    def _compartment(self, key: str) -> _Compartment:
        comp = self._compartments.get(key)
        if comp is None:
            comp = _Compartment(self._overrides.get(key, self.policy))
            self._compartments[key] = comp
        return comp

    def in_flight(self, key: str) -> int:
        """Calls running now under `key`."""
        comp = self._compartments.get(key)
        return comp.in_flight if comp else 0

    def waiting(self, key: str) -> int:
        """Calls queued now under `key`."""
        comp = self._compartments.get(key)
        return sum(not w.done() for w in comp.waiters) if comp else 0

    def snapshot(self) -> dict[str, int]:
        """In-flight count of every key seen so far."""
        return {key: comp.in_flight for key, comp in self._compartments.items()}

    @asynccontextmanager
    async def slot(self, key: str) -> AsyncIterator[None]:
        """Hold one of `key`'s slots for the body of an `async with`."""
        comp = self._compartment(key)
        await self._acquire(key, comp)
        try:
            yield
        finally:
            comp.release()

    async def call(self, key: str, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """Await `fn(*args, **kwargs)` in one of `key`'s slots."""
        async with self.slot(key):
            return await fn(*args, **kwargs)

    async def _acquire(self, key: str, comp: _Compartment) -> None:
        policy = comp.policy
        if comp.in_flight < policy.max_concurrent and not comp.waiters:
            comp.in_flight += 1
            return
        if len(comp.waiters) >= policy.max_waiting:
            telemetry.bulkhead_rejected(key, timed_out=False)
            raise BulkheadFull(
                key, policy, in_flight=comp.in_flight, waiting=len(comp.waiters), timed_out=False
            )
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        comp.waiters.append(waiter)
        try:
            async with asyncio.timeout(policy.max_wait):
                await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                # The slot was handed over just as we gave up: pass it on, or it leaks.
                comp.release()
            else:
                waiter.cancel()
            if isinstance(exc, TimeoutError):
                telemetry.bulkhead_rejected(key, timed_out=True)
                raise BulkheadFull(
                    key, policy, in_flight=comp.in_flight, waiting=len(comp.waiters), timed_out=True
                ) from None
            raise
        finally:
            if waiter in comp.waiters:
                comp.waiters.remove(waiter)
