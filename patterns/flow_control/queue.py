"""A bounded work queue: N workers, and an immediate `Overloaded` when full.

Backpressure means saying no early: when `max_pending` jobs are already
waiting, `submit()` raises `Overloaded` at once (with the queue depth, its
capacity and a suggested retry-after) instead of letting latency and memory
grow without bound. A web handler maps it to HTTP 503 + Retry-After; the retry
machinery treats it as transient (`patterns.errors.is_transient`).

Work that was accepted is never dropped: `close()` stops intake and waits for
every queued and running job; only a `close(timeout=...)` that runs out of
time cancels what is left, and those callers see `CancelledError`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ParamSpec, Self, TypeVar

from patterns.errors import OrchError, UsageError
from patterns.flow_control.clock import Clock, MonotonicClock

__all__ = ["Overloaded", "QueuePolicy", "QueueStats", "WorkQueue"]

P = ParamSpec("P")
R = TypeVar("R")

# Weight of the newest job duration in the moving average behind retry_after.
_EWMA_ALPHA = 0.2


class Overloaded(OrchError):
    """Work was refused because a bounded resource is full; retry later.

    `status_code` makes `patterns.errors.classify` treat it as transient (503).
    """

    status_code = 503

    def __init__(self, message: str, *, depth: int, capacity: int, retry_after: float) -> None:
        super().__init__(message)
        self.depth = depth
        self.capacity = capacity
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class QueuePolicy:
    """`workers` jobs run at once; up to `max_pending` more wait their turn.

    `default_retry_after` is suggested to refused callers until the queue has
    timed some jobs and can estimate how long the backlog takes to clear.
    """

    workers: int = 4
    max_pending: int = 100
    default_retry_after: float = 1.0

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise UsageError(f"QueuePolicy.workers must be >= 1, got {self.workers}")
        if self.max_pending < 1:
            raise UsageError(
                f"QueuePolicy.max_pending must be >= 1, got {self.max_pending}; "
                "to refuse all queued work, use workers alone with a semaphore instead"
            )
        if self.default_retry_after < 0:
            raise UsageError(
                f"QueuePolicy.default_retry_after must be >= 0 s, got {self.default_retry_after}"
            )


@dataclass(frozen=True, slots=True)
class QueueStats:
    """Counters since the queue was created.

    Every accepted job ends in exactly one of completed, failed or cancelled,
    or is still pending or running: nothing accepted is lost.
    """

    accepted: int
    rejected: int
    completed: int
    failed: int
    cancelled: int
    pending: int
    running: int


@dataclass(slots=True)
class _Job:
    call: Callable[[], Awaitable[Any]]
    future: asyncio.Future[Any]


class WorkQueue:
    """Run submitted coroutine functions on a fixed pool of workers.

    Use as `async with WorkQueue(policy) as queue:` (closing drains), or call
    `close()` yourself. Workers start on the first `submit()`.
    """

    def __init__(
        self, policy: QueuePolicy | None = None, *, name: str = "work queue", clock: Clock | None = None
    ) -> None:
        self.policy = policy or QueuePolicy()
        self.name = name
        self._clock: Clock = clock or MonotonicClock()
        self._jobs: asyncio.Queue[_Job] = asyncio.Queue(maxsize=self.policy.max_pending)
        self._workers: list[asyncio.Task[None]] = []
        self._closed = False
        self._mean_job_seconds: float | None = None
        self._accepted = self._rejected = self._completed = self._failed = self._cancelled = 0
        self._running = 0

    @property
    def stats(self) -> QueueStats:
        return QueueStats(
            accepted=self._accepted,
            rejected=self._rejected,
            completed=self._completed,
            failed=self._failed,
            cancelled=self._cancelled,
            pending=self._jobs.qsize(),
            running=self._running,
        )

    @property
    def closed(self) -> bool:
        return self._closed

    def submit(
        self, fn: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs
    ) -> asyncio.Future[R]:
        """Queue `fn(*args, **kwargs)` and return a future of its result.

        Raises `Overloaded` at once when `max_pending` jobs are already waiting.
        Cancelling the returned future cancels the job (skipped if not started).
        """
        if self._closed:
            raise UsageError(f"{self.name} is closed: submit() before close(), or create a new WorkQueue")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()

        async def call() -> R:
            # Calling fn inside the job task means even a synchronous raise in fn
            # lands on the caller's future instead of killing a worker.
            return await fn(*args, **kwargs)

        try:
            self._jobs.put_nowait(_Job(call, future))
        except asyncio.QueueFull:
            self._rejected += 1
            raise self._overloaded() from None
        self._accepted += 1
        self._start_workers()
        return future

    async def close(self, timeout: float | None = None) -> None:
        """Stop accepting work and wait until every accepted job has finished.

        After `timeout` seconds, jobs still queued or running are cancelled.
        """
        self._closed = True
        if not self._workers:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._jobs.join(), timeout)
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()
        while not self._jobs.empty():
            job = self._jobs.get_nowait()
            self._jobs.task_done()
            job.future.cancel()
            self._cancelled += 1

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _overloaded(self) -> Overloaded:
        depth = self._jobs.qsize()
        if self._mean_job_seconds is None:
            retry_after = self.policy.default_retry_after
        else:
            # Time for the workers to clear the backlog ahead of a new job.
            retry_after = self._mean_job_seconds * depth / self.policy.workers
        return Overloaded(
            f"{self.name} is full: {depth} of {self.policy.max_pending} slots are waiting. "
            f"Retry after {retry_after:.2f} s; if this is steady load, raise QueuePolicy.max_pending "
            "or QueuePolicy.workers, or slow the producer down with a rate limiter.",
            depth=depth,
            capacity=self.policy.max_pending,
            retry_after=retry_after,
        )

    def _start_workers(self) -> None:
        if self._workers:
            return
        self._workers = [
            asyncio.create_task(self._work(), name=f"{self.name} worker {i}")
            for i in range(self.policy.workers)
        ]

    async def _work(self) -> None:
        while True:
            job = await self._jobs.get()
            try:
                await self._run(job)
            finally:
                self._jobs.task_done()

    async def _run(self, job: _Job) -> None:
        if job.future.cancelled():
            self._cancelled += 1
            return
        self._running += 1
        started = self._clock.now()
        task = asyncio.ensure_future(job.call())
        job.future.add_done_callback(lambda f: task.cancel() if f.cancelled() else None)
        try:
            # asyncio.wait, unlike await, does not raise when only the job was
            # cancelled, so a cancelled caller never takes its worker down.
            await asyncio.wait({task})
        except asyncio.CancelledError:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            if not job.future.done():
                job.future.cancel()
            self._cancelled += 1
            raise
        finally:
            self._running -= 1
        self._record_duration(self._clock.now() - started)
        if task.cancelled():
            self._cancelled += 1
            job.future.cancel()
        elif (error := task.exception()) is not None:
            self._failed += 1
            if not job.future.done():
                job.future.set_exception(error)
        else:
            self._completed += 1
            if not job.future.done():
                job.future.set_result(task.result())

    def _record_duration(self, seconds: float) -> None:
        if self._mean_job_seconds is None:
            self._mean_job_seconds = seconds
        else:
            self._mean_job_seconds += _EWMA_ALPHA * (seconds - self._mean_job_seconds)
