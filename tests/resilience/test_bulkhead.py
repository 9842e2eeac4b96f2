from __future__ import annotations

import asyncio

import pytest

from patterns.errors import UsageError, is_transient
from patterns.resilience import Bulkhead, BulkheadFull, BulkheadPolicy


class Gate:
    """Work that blocks until released, so tests can hold slots open."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.started = 0

    async def work(self, value: int) -> int:
        self.started += 1
        await self.event.wait()
        return value


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_rejects_when_slots_are_full_and_there_is_no_queue() -> None:
    bulkhead = Bulkhead(BulkheadPolicy(max_concurrent=2))
    gate = Gate()
    running = [asyncio.create_task(bulkhead.call("writer", gate.work, i)) for i in range(2)]
    await settle()
    assert bulkhead.in_flight("writer") == 2
    with pytest.raises(BulkheadFull) as info:
        await bulkhead.call("writer", gate.work, 99)
    assert info.value.key == "writer"
    assert "2/2 in flight" in str(info.value)
    assert not is_transient(info.value)
    gate.event.set()
    assert await asyncio.gather(*running) == [0, 1]
    assert bulkhead.in_flight("writer") == 0


async def test_keys_are_isolated() -> None:
    bulkhead = Bulkhead(BulkheadPolicy(max_concurrent=1))
    gate = Gate()
    held = asyncio.create_task(bulkhead.call("tenant-a", gate.work, 1))
    await settle()
    gate.event.set()
    assert await bulkhead.call("tenant-b", gate.work, 2) == 2
    await held
    assert bulkhead.snapshot() == {"tenant-a": 0, "tenant-b": 0}


async def test_queue_admits_waiters_in_order_then_rejects_beyond_its_bound() -> None:
    bulkhead = Bulkhead(BulkheadPolicy(max_concurrent=1, max_waiting=2))
    gate = Gate()
    order: list[int] = []

    async def job(i: int) -> None:
        async with bulkhead.slot("k"):
            order.append(i)
            await gate.event.wait()

    tasks = [asyncio.create_task(job(i)) for i in range(3)]
    await settle()
    assert (bulkhead.in_flight("k"), bulkhead.waiting("k")) == (1, 2)
    with pytest.raises(BulkheadFull, match="2/2 waiting"):
        await job(3)
    gate.event.set()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2]
    assert (bulkhead.in_flight("k"), bulkhead.waiting("k")) == (0, 0)


async def test_waiting_too_long_is_rejected_and_leaks_no_slot() -> None:
    bulkhead = Bulkhead(BulkheadPolicy(max_concurrent=1, max_waiting=1, max_wait=0.005))
    gate = Gate()
    held = asyncio.create_task(bulkhead.call("k", gate.work, 1))
    await settle()
    with pytest.raises(BulkheadFull, match="no slot freed within"):
        await bulkhead.call("k", gate.work, 2)
    assert bulkhead.waiting("k") == 0
    gate.event.set()
    await held
    assert bulkhead.in_flight("k") == 0


async def test_cancelled_waiter_gives_its_place_back() -> None:
    bulkhead = Bulkhead(BulkheadPolicy(max_concurrent=1, max_waiting=1))
    gate = Gate()
    held = asyncio.create_task(bulkhead.call("k", gate.work, 1))
    await settle()
    waiter = asyncio.create_task(bulkhead.call("k", gate.work, 2))
    await settle()
    waiter.cancel()
    await settle()
    assert bulkhead.waiting("k") == 0
    gate.event.set()
    await held
    assert bulkhead.in_flight("k") == 0
    assert await bulkhead.call("k", gate.work, 3) == 3


async def test_overrides_set_per_key_limits() -> None:
    bulkhead = Bulkhead(BulkheadPolicy(max_concurrent=1), overrides={"big": BulkheadPolicy(max_concurrent=3)})
    gate = Gate()
    tasks = [asyncio.create_task(bulkhead.call("big", gate.work, i)) for i in range(3)]
    await settle()
    assert bulkhead.in_flight("big") == 3
    gate.event.set()
    await asyncio.gather(*tasks)


async def test_failures_release_the_slot() -> None:
    bulkhead = Bulkhead(BulkheadPolicy(max_concurrent=1))

    async def broken() -> None:
        raise RuntimeError("x")

    for _ in range(3):
        with pytest.raises(RuntimeError):
            await bulkhead.call("k", broken)
    assert bulkhead.in_flight("k") == 0


def test_invalid_policy() -> None:
    with pytest.raises(UsageError):
        BulkheadPolicy(max_concurrent=0)
