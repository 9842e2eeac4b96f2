import asyncio
from collections.abc import Awaitable, Callable

import pytest

from patterns.flow_control import Coalescer


async def _settle(rounds: int = 10) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


async def test_fifty_concurrent_callers_make_one_call() -> None:
    coalescer: Coalescer[dict[str, int]] = Coalescer()
    calls = 0

    async def lookup() -> dict[str, int]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.001)
        return {"answer": 42}

    results = await asyncio.gather(*(coalescer.run("q", lookup) for _ in range(50)))
    assert calls == 1
    assert all(r == {"answer": 42} for r in results)
    assert all(r is results[0] for r in results)  # one shared result object
    assert coalescer.in_flight == 0


async def test_the_exception_is_shared_too() -> None:
    coalescer: Coalescer[int] = Coalescer()
    calls = 0

    async def failing() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        raise ConnectionError("source down")

    results = await asyncio.gather(*(coalescer.run("q", failing) for _ in range(10)), return_exceptions=True)
    assert calls == 1
    assert all(isinstance(r, ConnectionError) for r in results)


async def test_finished_calls_are_forgotten_and_keys_are_separate() -> None:
    coalescer: Coalescer[str] = Coalescer()
    calls: list[str] = []

    def fetch(key: str) -> Callable[[], Awaitable[str]]:
        async def call() -> str:
            calls.append(key)
            await asyncio.sleep(0)
            return key.upper()

        return call

    first = await asyncio.gather(coalescer.run("a", fetch("a")), coalescer.run("b", fetch("b")))
    again = await coalescer.run("a", fetch("a"))
    assert list(first) == ["A", "B"] and again == "A"
    assert calls == ["a", "b", "a"]


async def test_a_cancelled_waiter_does_not_cancel_the_call_for_the_others() -> None:
    coalescer: Coalescer[str] = Coalescer()
    gate = asyncio.Event()
    calls = 0

    async def slow() -> str:
        nonlocal calls
        calls += 1
        await gate.wait()
        return "done"

    waiters = [asyncio.create_task(coalescer.run("k", slow)) for _ in range(3)]
    await _settle()
    waiters[0].cancel()
    await _settle()
    gate.set()
    assert await waiters[1] == await waiters[2] == "done"
    with pytest.raises(asyncio.CancelledError):
        await waiters[0]
    assert calls == 1


async def test_the_call_is_cancelled_once_every_waiter_has_left() -> None:
    coalescer: Coalescer[str] = Coalescer()
    cancelled = asyncio.Event()

    async def slow() -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    waiters = [asyncio.create_task(coalescer.run("k", slow)) for _ in range(2)]
    await _settle()
    for waiter in waiters:
        waiter.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    await asyncio.wait_for(cancelled.wait(), 1)
    assert coalescer.in_flight == 0

    async def quick() -> str:
        return "new call"

    assert await coalescer.run("k", quick) == "new call"


async def test_a_synchronous_raise_in_fn_reaches_every_caller() -> None:
    coalescer: Coalescer[int] = Coalescer()

    def broken() -> asyncio.Future[int]:
        raise TypeError("bad arguments")

    with pytest.raises(TypeError, match="bad arguments"):
        await coalescer.run("k", broken)
    assert coalescer.in_flight == 0
