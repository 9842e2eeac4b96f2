import enum
import random
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from patterns.errors import UsageError
from patterns.flow_control import ManualClock, MemoryCache, MemoryCachePolicy, ResultCache, canonical_key


class Review(BaseModel):
    text: str
    stars: int
    tags: list[str] = []


@dataclass
class Query:
    question: str
    k: int


class Mode(enum.Enum):
    FAST = "fast"


class _Counter:
    def __init__(self) -> None:
        self.calls = 0

    def fn(self, value: Any) -> Any:
        async def compute() -> Any:
            self.calls += 1
            return value

        return compute


def test_canonical_key_ignores_dict_key_order_at_every_depth() -> None:
    a = {"b": 1, "a": {"y": [1, {"q": 2, "p": 3}], "x": None}}
    b = {"a": {"x": None, "y": [1, {"p": 3, "q": 2}]}, "b": 1}
    assert canonical_key(a) == canonical_key(b)
    assert len(canonical_key(a)) == 64


def test_canonical_key_tells_apart_what_differs() -> None:
    assert canonical_key([1, 2]) != canonical_key([2, 1])
    assert canonical_key({"n": 1}) != canonical_key({"n": "1"})
    assert canonical_key({"n": 1}) != canonical_key({"n": True})
    assert canonical_key({"n": 1}) != canonical_key({"n": 1.5})
    assert canonical_key("é") != canonical_key("e")


def test_canonical_key_of_models_dataclasses_sets_and_enums() -> None:
    review = Review(text="great", stars=5, tags=["x"])
    assert canonical_key(review) == canonical_key({"tags": ["x"], "stars": 5, "text": "great"})
    assert canonical_key(Query("why?", 3)) == canonical_key({"k": 3, "question": "why?"})
    assert canonical_key((1, 2)) == canonical_key([1, 2])
    assert canonical_key({"s": {3, 1, 2}}) == canonical_key({"s": {2, 3, 1}})
    assert canonical_key(Mode.FAST) == canonical_key("fast")


def test_canonical_key_refuses_inputs_that_could_collide_or_not_serialise() -> None:
    with pytest.raises(UsageError, match="non-string dict key 1 at input\\['outer'\\]"):
        canonical_key({"outer": {1: "x"}})
    with pytest.raises(UsageError, match="cannot build a cache key from bytes"):
        canonical_key(b"raw")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=30,
)


def _shuffled(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict):
        keys = list(value)
        rng.shuffle(keys)
        return {k: _shuffled(value[k], rng) for k in keys}
    if isinstance(value, list):
        return [_shuffled(v, rng) for v in value]
    return value


@settings(max_examples=200, deadline=None)
@given(value=_json, rng=st.randoms(use_true_random=False))
def test_canonical_key_is_independent_of_dict_key_order(value: Any, rng: random.Random) -> None:
    assert canonical_key(_shuffled(value, rng)) == canonical_key(value)


async def test_entries_expire_after_ttl() -> None:
    clock = ManualClock()
    cache: MemoryCache[str] = MemoryCache(MemoryCachePolicy(ttl=10, max_entries=10), clock=clock)
    counter = _Counter()
    assert await cache.get_or_compute({"q": 1}, counter.fn("a")) == "a"
    clock.advance(9.99)
    assert await cache.get_or_compute({"q": 1}, counter.fn("b")) == "a"
    clock.advance(0.01)
    assert await cache.get_or_compute({"q": 1}, counter.fn("c")) == "c"
    assert counter.calls == 2
    assert (cache.stats.hits, cache.stats.misses) == (1, 2)
    assert cache.stats.hit_rate == pytest.approx(1 / 3)


async def test_least_recently_used_entry_is_evicted() -> None:
    cache: MemoryCache[str] = MemoryCache(MemoryCachePolicy(ttl=None, max_entries=2), clock=ManualClock())
    counter = _Counter()
    await cache.get_or_compute("a", counter.fn("A"))
    await cache.get_or_compute("b", counter.fn("B"))
    await cache.get_or_compute("a", counter.fn("A"))  # "a" is now the most recent
    await cache.get_or_compute("c", counter.fn("C"))  # evicts "b"
    assert len(cache) == 2
    assert await cache.get_or_compute("a", counter.fn("fresh")) == "A"
    assert await cache.get_or_compute("b", counter.fn("B2")) == "B2"
    assert counter.calls == 4


async def test_failures_are_not_cached_but_none_results_are() -> None:
    cache: MemoryCache[str | None] = MemoryCache(clock=ManualClock())
    calls = 0

    async def flaky() -> str | None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("model down")
        return None

    with pytest.raises(RuntimeError):
        await cache.get_or_compute("k", flaky)
    assert await cache.get_or_compute("k", flaky) is None
    assert await cache.get_or_compute("k", flaky) is None
    assert calls == 2


async def test_invalidate_and_clear() -> None:
    cache: ResultCache[int] = MemoryCache(clock=ManualClock())
    counter = _Counter()
    await cache.get_or_compute({"a": 1}, counter.fn(1))
    await cache.get_or_compute({"b": 2}, counter.fn(2))
    await cache.invalidate({"a": 1})
    await cache.get_or_compute({"a": 1}, counter.fn(1))
    await cache.get_or_compute({"b": 2}, counter.fn(2))
    assert counter.calls == 3
    await cache.clear()
    await cache.get_or_compute({"b": 2}, counter.fn(2))
    assert counter.calls == 4


def test_policy_validation() -> None:
    with pytest.raises(UsageError, match="ttl"):
        MemoryCachePolicy(ttl=0)
    with pytest.raises(UsageError, match="max_entries"):
        MemoryCachePolicy(max_entries=0)
