"""Batching: fewer, larger agent calls.

`split_batches` cuts a collection into batches of at most `size` items, each
remembering where it starts, and `reassemble` puts per-item results back in
the original order whatever order the batches finished in, refusing a batch
whose call returned the wrong number of results (a common model failure that
would otherwise shift every later result onto the wrong item).

`MicroBatcher` does the same for items that arrive one by one from concurrent
callers: it sends one call per `max_size` items, or per `max_wait` seconds
after the first waiting item, whichever comes first, and gives each caller
its own result.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from patterns.errors import UsageError
from patterns.flow_control.clock import Clock, MonotonicClock

__all__ = ["Batch", "split_batches", "reassemble", "MicroBatchPolicy", "MicroBatcher"]

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Batch(Generic[T]):
    """`items` is `original[start : start + len(items)]`."""

    start: int
    items: tuple[T, ...]

    def __len__(self) -> int:
        return len(self.items)


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


def split_batches(items: Sequence[T], size: int) -> list[Batch[T]]:
    """Cut `items` into consecutive batches of `size` (the last may be shorter)."""
    if size < 1:
        raise UsageError(f"batch size must be >= 1, got {size}")
    return [Batch(start, tuple(items[start : start + size])) for start in range(0, len(items), size)]


def reassemble(results: Iterable[tuple[Batch[Any], Sequence[R]]], total: int) -> list[R]:
    """Per-item results in original order, from `(batch, results_of_batch)` pairs in any order.

    `total` is the length of the original sequence; every position must be
    covered by exactly one batch.
    """
    slots: list[Any] = [_MISSING] * total
    for batch, batch_results in results:
        if len(batch_results) != len(batch):
            raise UsageError(
                f"batch items[{batch.start}:{batch.start + len(batch)}] returned {len(batch_results)} "
                f"results for {len(batch)} items: the batched call must return exactly one result per item, "
                "in order"
            )
        end = batch.start + len(batch)
        if batch.start < 0 or end > total:
            raise UsageError(f"batch items[{batch.start}:{end}] lies outside the {total} original items")
        for offset, result in enumerate(batch_results):
            if slots[batch.start + offset] is not _MISSING:
                raise UsageError(
                    f"item {batch.start + offset} was returned by two batches: pass each batch once"
                )
            slots[batch.start + offset] = result
    missing = [i for i, slot in enumerate(slots) if slot is _MISSING]
    if missing:
        raise UsageError(
            f"no result for items {missing[:10]}{' ...' if len(missing) > 10 else ''}: pass every batch"
        )
    return slots


@dataclass(frozen=True, slots=True)
class MicroBatchPolicy:
    """Send a batch at `max_size` items, or `max_wait` seconds after its first item."""

    max_size: int = 16
    max_wait: float = 0.01

    def __post_init__(self) -> None:
        if self.max_size < 1:
            raise UsageError(f"MicroBatchPolicy.max_size must be >= 1, got {self.max_size}")
        if self.max_wait < 0:
            raise UsageError(f"MicroBatchPolicy.max_wait must be >= 0 s, got {self.max_wait}")


class MicroBatcher(Generic[T, R]):
    """Group concurrent `submit(item)` calls into calls of `fn(items)`.

    `fn` must return one result per item, in order. If it raises, every caller
    in that batch gets the exception. A caller cancelled before its batch is
    sent is left out of it. `close()` sends what is waiting and awaits all
    batches. For one event loop.
    """

    def __init__(
        self,
        fn: Callable[[list[T]], Awaitable[Sequence[R]]],
        policy: MicroBatchPolicy | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        self._fn = fn
        self.policy = policy or MicroBatchPolicy()
        self._clock: Clock = clock or MonotonicClock()
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._timer: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self._closed = False
        self.batches_sent = 0

    async def submit(self, item: T) -> R:
        """Add `item` to the next batch and wait for its result."""
        if self._closed:
            raise UsageError("MicroBatcher is closed: submit() before close(), or create a new one")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if len(self._waiting) >= self.policy.max_size:
            self._send()
        elif self._timer is None:
            self._timer = asyncio.create_task(self._send_after_wait())
        return await future

    async def close(self) -> None:
        """Send the waiting items now and wait for every batch to finish."""
        self._closed = True
        self._send()
        await asyncio.gather(*self._sending, return_exceptions=True)

    async def _send_after_wait(self) -> None:
        await self._clock.sleep(self.policy.max_wait)
        # Clear first so _send does not cancel the task it is running in.
        self._timer = None
        self._send()

    def _send(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch = [(item, fut) for item, fut in self._waiting if not fut.done()]
        self._waiting = []
        if not batch:
            return
        self.batches_sent += 1
        task = asyncio.create_task(self._call(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _call(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        futures = [fut for _, fut in batch]
        try:
            results = await self._fn([item for item, _ in batch])
            if len(results) != len(batch):
                raise UsageError(
                    f"the batch function returned {len(results)} results for {len(batch)} items: "
                    "it must return exactly one result per item, in order"
                )
        except asyncio.CancelledError:
            for fut in futures:
                fut.cancel()
            raise
        except Exception as exc:
            for fut in futures:
                if not fut.done():
                    fut.set_exception(exc)
            return
        for fut, result in zip(futures, results, strict=True):
            if not fut.done():
                fut.set_result(result)
