import asyncio
import random
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patterns.errors import UsageError
from patterns.flow_control import (
    Batch,
    ManualClock,
    MicroBatcher,
    MicroBatchPolicy,
    reassemble,
    split_batches,
)


async def _settle(rounds: int = 10) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


def test_split_and_reassemble_round_trip() -> None:
    items = list("abcdefg")
    batches = split_batches(items, 3)
    assert [b.items for b in batches] == [("a", "b", "c"), ("d", "e", "f"), ("g",)]
    assert [b.start for b in batches] == [0, 3, 6]
    # Batches may finish in any order.
    pairs = [(b, [x.upper() for x in b.items]) for b in reversed(batches)]
    assert reassemble(pairs, total=len(items)) == list("ABCDEFG")
    assert split_batches([], 4) == []
    assert reassemble([], total=0) == []


def test_reassemble_refuses_wrong_counts_gaps_and_duplicates() -> None:
    batches = split_batches(range(5), 2)
    with pytest.raises(UsageError, match=r"items\[2:4\] returned 1 results for 2 items"):
        reassemble([(batches[0], [0, 1]), (batches[1], [2]), (batches[2], [4])], total=5)
    with pytest.raises(UsageError, match=r"no result for items \[2, 3\]"):
        reassemble([(batches[0], [0, 1]), (batches[2], [4])], total=5)
    with pytest.raises(UsageError, match="returned by two batches"):
        reassemble([(batches[0], [0, 1]), (batches[0], [0, 1])], total=5)
    with pytest.raises(UsageError, match="outside"):
        reassemble([(Batch(4, (1, 2)), [1, 2])], total=5)
    with pytest.raises(UsageError, match="batch size must be >= 1"):
        split_batches([1], 0)


@settings(max_examples=300, deadline=None)
@given(
    items=st.lists(st.integers(), max_size=200),
    size=st.integers(min_value=1, max_value=25),
    rng=st.randoms(use_true_random=False),
)
def test_batching_then_unbatching_is_the_identity(items: list[int], size: int, rng: random.Random) -> None:
    batches = split_batches(items, size)
    assert all(1 <= len(b) <= size for b in batches)
    assert all(len(b) == size for b in batches[:-1])  # only the last may be short
    assert [x for b in batches for x in b.items] == items
    shuffled = batches[:]
    rng.shuffle(shuffled)
    assert reassemble(((b, list(b.items)) for b in shuffled), total=len(items)) == items
    assert reassemble(((b, [x * 2 for x in b.items]) for b in shuffled), total=len(items)) == [
        x * 2 for x in items
    ]


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[list[int]] = []

    async def square(self, items: list[int]) -> Sequence[int]:
        self.calls.append(items)
        await asyncio.sleep(0)
        return [x * x for x in items]


async def test_micro_batcher_sends_at_max_size_without_waiting() -> None:
    recorder = _Recorder()
    batcher = MicroBatcher(recorder.square, MicroBatchPolicy(max_size=3, max_wait=1), clock=ManualClock())
    results = await asyncio.gather(*(batcher.submit(i) for i in (1, 2, 3)))
    assert results == [1, 4, 9]
    assert recorder.calls == [[1, 2, 3]]


async def test_micro_batcher_sends_a_partial_batch_after_max_wait() -> None:
    clock = ManualClock()
    recorder = _Recorder()
    batcher = MicroBatcher(recorder.square, MicroBatchPolicy(max_size=10, max_wait=0.05), clock=clock)
    tasks = [asyncio.create_task(batcher.submit(i)) for i in (4, 5)]
    await _settle()
    assert recorder.calls == []
    clock.advance(0.05)
    assert await asyncio.gather(*tasks) == [16, 25]
    assert recorder.calls == [[4, 5]]


async def test_micro_batcher_splits_a_burst_into_full_batches_and_close_flushes() -> None:
    recorder = _Recorder()
    batcher = MicroBatcher(recorder.square, MicroBatchPolicy(max_size=10, max_wait=60), clock=ManualClock())
    tasks = [asyncio.create_task(batcher.submit(i)) for i in range(25)]
    await _settle()
    assert [len(c) for c in recorder.calls] == [10, 10]
    await batcher.close()
    assert [t.result() for t in tasks] == [i * i for i in range(25)]
    assert [len(c) for c in recorder.calls] == [10, 10, 5]
    assert batcher.batches_sent == 3
    with pytest.raises(UsageError, match="closed"):
        await batcher.submit(1)


async def test_micro_batcher_failures_reach_every_caller_in_the_batch() -> None:
    async def broken(items: list[int]) -> Sequence[int]:
        raise ConnectionError("model down")

    async def short(items: list[int]) -> Sequence[int]:
        return items[:-1]

    for fn, error in ((broken, ConnectionError), (short, UsageError)):
        batcher = MicroBatcher(fn, MicroBatchPolicy(max_size=2, max_wait=1), clock=ManualClock())
        results = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
        assert all(isinstance(r, error) for r in results)


async def test_a_caller_cancelled_before_sending_is_left_out() -> None:
    clock = ManualClock()
    recorder = _Recorder()
    batcher = MicroBatcher(recorder.square, MicroBatchPolicy(max_size=10, max_wait=1), clock=clock)
    tasks = [asyncio.create_task(batcher.submit(i)) for i in (1, 2, 3)]
    await _settle()
    tasks[1].cancel()
    await _settle()
    clock.advance(1)
    await asyncio.gather(*tasks, return_exceptions=True)
    assert recorder.calls == [[1, 3]]
    assert (tasks[0].result(), tasks[2].result()) == (1, 9)


def test_micro_batch_policy_validation() -> None:
    with pytest.raises(UsageError, match="max_size"):
        MicroBatchPolicy(max_size=0)
    with pytest.raises(UsageError, match="max_wait"):
        MicroBatchPolicy(max_wait=-1)
