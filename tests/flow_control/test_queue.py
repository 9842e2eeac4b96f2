import asyncio

import pytest

from patterns.errors import OrchError, UsageError, is_transient
from patterns.flow_control import ManualClock, Overloaded, QueuePolicy, WorkQueue


async def _settle(rounds: int = 10) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


async def test_rejects_when_full_and_loses_no_accepted_work() -> None:
    gate = asyncio.Event()

    async def job(i: int) -> int:
        await gate.wait()
        return i * 10

    queue = WorkQueue(QueuePolicy(workers=2, max_pending=3), name="reviews")
    futures = [queue.submit(job, 0), queue.submit(job, 1)]
    await _settle()
    assert queue.stats.running == 2
    futures += [queue.submit(job, i) for i in (2, 3, 4)]
    assert queue.stats.pending == 3

    with pytest.raises(Overloaded) as info:
        queue.submit(job, 5)
    assert (info.value.depth, info.value.capacity, info.value.retry_after) == (3, 3, 1.0)
    assert "reviews is full" in str(info.value) and "max_pending" in str(info.value)

    gate.set()
    assert await asyncio.gather(*futures) == [0, 10, 20, 30, 40]
    await queue.close()
    stats = queue.stats
    assert (stats.accepted, stats.rejected, stats.completed, stats.pending, stats.running) == (5, 1, 5, 0, 0)


def test_overloaded_is_a_transient_orch_error() -> None:
    exc = Overloaded("full", depth=1, capacity=1, retry_after=0.5)
    assert isinstance(exc, OrchError)
    assert is_transient(exc)


async def test_retry_after_estimates_time_to_clear_the_backlog() -> None:
    clock = ManualClock()
    gate = asyncio.Event()

    async def timed() -> None:
        clock.advance(2.0)  # the job "takes" 2 simulated seconds

    async def blocked() -> None:
        await gate.wait()

    queue = WorkQueue(QueuePolicy(workers=1, max_pending=2), clock=clock)
    await queue.submit(timed)
    running = queue.submit(blocked)
    await _settle()
    waiting = [queue.submit(blocked), queue.submit(blocked)]
    with pytest.raises(Overloaded) as info:
        queue.submit(blocked)
    assert info.value.retry_after == pytest.approx(2.0 * 2 / 1)
    gate.set()
    await asyncio.gather(running, *waiting)
    await queue.close()


async def test_failures_reach_the_caller_and_workers_survive() -> None:
    async def boom() -> None:
        raise ValueError("bad input")

    def raises_before_awaiting() -> asyncio.Future[None]:
        raise KeyError("sync")

    async def ok() -> str:
        return "ok"

    async with WorkQueue(QueuePolicy(workers=1, max_pending=10)) as queue:
        first = queue.submit(boom)
        second = queue.submit(raises_before_awaiting)
        third = queue.submit(ok)
        with pytest.raises(ValueError, match="bad input"):
            await first
        with pytest.raises(KeyError):
            await second
        assert await third == "ok"
    assert (queue.stats.failed, queue.stats.completed) == (2, 1)


async def test_cancelling_a_queued_future_skips_the_job() -> None:
    gate = asyncio.Event()
    ran: list[str] = []

    async def job(name: str) -> None:
        ran.append(name)
        await gate.wait()

    queue = WorkQueue(QueuePolicy(workers=1, max_pending=5))
    first = queue.submit(job, "first")
    second = queue.submit(job, "second")
    await _settle()
    second.cancel()
    gate.set()
    await first
    await queue.close()
    assert ran == ["first"]
    assert queue.stats.cancelled == 1


async def test_cancelling_a_running_future_cancels_the_job_not_the_worker() -> None:
    seen: list[str] = []

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    async def ok() -> int:
        return 1

    queue = WorkQueue(QueuePolicy(workers=1, max_pending=5))
    stuck = queue.submit(forever)
    await _settle()
    stuck.cancel()
    assert await queue.submit(ok) == 1
    await queue.close()
    assert seen == ["cancelled"]
    assert queue.stats.cancelled == 1


async def test_close_drains_then_refuses_new_work() -> None:
    async def double(x: int) -> int:
        await asyncio.sleep(0)
        return 2 * x

    queue = WorkQueue(QueuePolicy(workers=2, max_pending=20))
    futures = [queue.submit(double, i) for i in range(20)]
    await queue.close()
    assert all(f.done() for f in futures)
    assert [f.result() for f in futures] == [2 * i for i in range(20)]
    with pytest.raises(UsageError, match="closed"):
        queue.submit(double, 1)


async def test_close_with_timeout_cancels_what_is_left() -> None:
    async def forever() -> None:
        await asyncio.Event().wait()

    queue = WorkQueue(QueuePolicy(workers=1, max_pending=5))
    futures = [queue.submit(forever) for _ in range(3)]
    await queue.close(timeout=0.005)
    assert all(f.cancelled() for f in futures)
    stats = queue.stats
    assert (stats.accepted, stats.cancelled, stats.pending, stats.running) == (3, 3, 0, 0)


async def test_under_overload_every_accepted_job_completes_exactly_once() -> None:
    done: list[int] = []

    async def job(i: int) -> int:
        await asyncio.sleep(0)
        done.append(i)
        return i

    queue = WorkQueue(QueuePolicy(workers=3, max_pending=7))
    accepted: dict[int, asyncio.Future[int]] = {}
    refused = 0
    for i in range(300):
        try:
            accepted[i] = queue.submit(job, i)
        except Overloaded:
            refused += 1
        if i % 5 == 0:
            await asyncio.sleep(0)
    await queue.close()
    assert refused > 0 and accepted
    assert sorted(done) == sorted(accepted)
    assert all(f.result() == i for i, f in accepted.items())
    stats = queue.stats
    assert (stats.accepted, stats.rejected, stats.completed) == (len(accepted), refused, len(accepted))


def test_policy_validation_says_what_to_change() -> None:
    with pytest.raises(UsageError, match="workers must be >= 1"):
        QueuePolicy(workers=0)
    with pytest.raises(UsageError, match="max_pending"):
        QueuePolicy(max_pending=0)
