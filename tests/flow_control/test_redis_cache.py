"""RedisCache against the real server (REDIS_URL, default 127.0.0.1:6379).

Without a reachable Redis these tests skip locally and fail under CI=true.
"""

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel

from patterns.errors import UsageError
from patterns.flow_control.redis_cache import RedisCache

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: Redis is required; start it or set REDIS_URL)")
    pytest.skip(reason)


def _redis_class() -> Any:
    try:
        from redis.asyncio import Redis
    except ImportError:
        _unavailable("the redis package is not installed: pip install 'redis>=5'")
    return Redis


@pytest.fixture
async def client() -> AsyncIterator[Any]:
    redis = _redis_class().from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        await redis.ping()
    except Exception as exc:
        await redis.aclose()
        _unavailable(f"Redis unreachable at {REDIS_URL}: {exc!r}")
    yield redis
    await redis.aclose()


@pytest.fixture
def namespace() -> str:
    return f"test:flow_control:{uuid.uuid4().hex}:"


class Verdict(BaseModel):
    label: str
    score: float


async def test_miss_then_hit_round_trips_json(client: Any, namespace: str) -> None:
    cache: RedisCache[Any] = RedisCache(client, namespace=namespace, ttl=60)
    calls = 0

    async def compute() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return {"findings": ["a", "b"], "score": 0.5}

    try:
        first = await cache.get_or_compute({"b": 1, "a": 2}, compute)
        second = await cache.get_or_compute({"a": 2, "b": 1}, compute)
        assert first == second == {"findings": ["a", "b"], "score": 0.5}
        assert calls == 1
        assert (cache.stats.hits, cache.stats.misses) == (1, 1)
    finally:
        await cache.clear()


async def test_entries_carry_the_ttl(client: Any, namespace: str) -> None:
    cache: RedisCache[int] = RedisCache(client, namespace=namespace, ttl=30)

    async def compute() -> int:
        return 7

    try:
        await cache.get_or_compute("q", compute)
        keys = [key async for key in client.scan_iter(match=namespace + "*")]
        assert len(keys) == 1
        assert 0 < await client.pttl(keys[0]) <= 30_000
    finally:
        await cache.clear()


async def test_custom_codec_for_pydantic_results(client: Any, namespace: str) -> None:
    cache: RedisCache[Verdict] = RedisCache(
        client, namespace=namespace, encode=Verdict.model_dump_json, decode=Verdict.model_validate_json
    )

    async def compute() -> Verdict:
        return Verdict(label="positive", score=0.9)

    try:
        await cache.get_or_compute("review 1", compute)
        cached = await cache.get_or_compute("review 1", compute)
        assert cached == Verdict(label="positive", score=0.9)
        assert cache.stats.hits == 1
    finally:
        await cache.clear()


async def test_undecodable_entry_is_recomputed(client: Any, namespace: str) -> None:
    old: RedisCache[Any] = RedisCache(client, namespace=namespace)
    new: RedisCache[Verdict] = RedisCache(
        client, namespace=namespace, encode=Verdict.model_dump_json, decode=Verdict.model_validate_json
    )

    async def old_shape() -> dict[str, str]:
        return {"verdict": "positive"}

    async def new_shape() -> Verdict:
        return Verdict(label="positive", score=1.0)

    try:
        await old.get_or_compute("k", old_shape)
        assert await new.get_or_compute("k", new_shape) == Verdict(label="positive", score=1.0)
        assert await new.get_or_compute("k", new_shape) == Verdict(label="positive", score=1.0)
        assert (new.stats.hits, new.stats.misses) == (1, 1)
    finally:
        await old.clear()


async def test_invalidate_and_clear_touch_only_this_namespace(client: Any, namespace: str) -> None:
    ours: RedisCache[int] = RedisCache(client, namespace=namespace)
    theirs: RedisCache[int] = RedisCache(client, namespace=namespace + "other:")
    calls = 0

    async def compute() -> int:
        nonlocal calls
        calls += 1
        return calls

    try:
        assert await ours.get_or_compute("x", compute) == 1
        await ours.invalidate("x")
        assert await ours.get_or_compute("x", compute) == 2
        assert await theirs.get_or_compute("x", compute) == 3
        await theirs.clear()
        assert await ours.get_or_compute("x", compute) == 2
    finally:
        await ours.clear()
        await theirs.clear()


async def test_a_redis_outage_degrades_to_computing() -> None:
    down = _redis_class()(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=None)
    cache: RedisCache[str] = RedisCache(down, namespace="test:down:")

    async def compute() -> str:
        return "fresh"

    try:
        assert await cache.get_or_compute("k", compute) == "fresh"
        assert cache.stats.misses == 1
    finally:
        await cache.aclose()


def test_namespace_must_not_contain_glob_characters() -> None:
    with pytest.raises(UsageError, match="namespace"):
        RedisCache(object(), namespace="cache:*")  # type: ignore[arg-type]
