"""The on-disk cache: survives the process, keeps models apart, never unpickles anything."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pydantic import BaseModel

from disk_cache import DiskCache


class Answer(BaseModel):
    value: int


class Other(BaseModel):
    value: int


def test_results_survive_reopening_and_namespaces_do_not_mix(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    calls: list[str] = []

    async def compute(tag: str) -> Answer:
        calls.append(tag)
        return Answer(value=len(calls))

    async def scenario() -> None:
        scripted = DiskCache(path, namespace="scripted", types=[Answer])
        assert await scripted.get_or_compute({"q": 1}, lambda: compute("a")) == Answer(value=1)
        scripted.close()

        reopened = DiskCache(path, namespace="scripted", types=[Answer])
        assert await reopened.get_or_compute({"q": 1}, lambda: compute("b")) == Answer(value=1)
        assert (reopened.stats.hits, reopened.stats.misses) == (1, 0)

        real = DiskCache(path, namespace="openai:gpt-4o-mini", types=[Answer])
        assert await real.get_or_compute({"q": 1}, lambda: compute("c")) == Answer(value=2)

        await reopened.invalidate({"q": 1})
        assert await reopened.get_or_compute({"q": 1}, lambda: compute("d")) == Answer(value=3)

    asyncio.run(scenario())
    assert calls == ["a", "c", "d"]


def test_only_the_declared_types_are_cached(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path / "cache.sqlite", namespace="n", types=[Answer])

    async def other() -> Other:
        return Other(value=1)

    async def scenario() -> None:
        await cache.get_or_compute("k", other)
        await cache.get_or_compute("k", other)

    asyncio.run(scenario())
    assert (cache.stats.hits, cache.stats.misses, len(cache)) == (0, 2, 0)
