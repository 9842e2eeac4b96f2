"""A result cache for agent calls, keyed by a canonical hash of the input.

`canonical_key()` turns any JSON-like input (dicts, lists, pydantic models,
dataclasses, sets, enums) into a sha256 of its canonical JSON, so equal inputs
hit the same entry whatever their dict key order. `MemoryCache` keeps results
for `ttl` seconds and at most `max_entries` (least recently used evicted
first); `patterns.flow_control.redis_cache.RedisCache` shares the
`ResultCache` protocol for caches shared between processes.

Exceptions are never cached. One cache instance should serve one function (or
put the function's name into the key input), since the key is the input alone.
Concurrent misses for one key each compute; wrap the call in a `Coalescer` to
share one computation.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeAlias, TypeVar

from pydantic import BaseModel

from patterns.errors import UsageError
from patterns.flow_control.clock import Clock, MonotonicClock

__all__ = ["canonical_key", "CacheStats", "ResultCache", "MemoryCachePolicy", "MemoryCache"]

V = TypeVar("V")

_JSON: TypeAlias = bool | int | float | str | list["_JSON"] | dict[str, "_JSON"] | None


def canonical_key(value: object) -> str:
    """Return the sha256 hex digest of `value` as canonical JSON (sorted keys).

    Tuples hash like lists, sets like sorted lists, pydantic models like their
    `model_dump(mode="json")`, dataclasses like dicts of their fields, enums like
    their values. Dict keys must be strings, so `{1: x}` and `{"1": x}` can
    never collide.
    """
    text = json.dumps(_canonical(value, "input"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _canonical(value: object, path: str) -> _JSON:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, enum.Enum):
        return _canonical(value.value, path)
    if isinstance(value, BaseModel):
        dumped: _JSON = value.model_dump(mode="json")
        return dumped
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _canonical(getattr(value, f.name), f"{path}.{f.name}") for f in dataclasses.fields(value)
        }
    if isinstance(value, dict):
        out: dict[str, _JSON] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise UsageError(
                    f"cache key input has a non-string dict key {k!r} at {path}: "
                    "convert keys to str first (JSON cannot tell 1 from '1')"
                )
            out[k] = _canonical(v, f"{path}[{k!r}]")
        return out
    if isinstance(value, list | tuple):
        return [_canonical(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, set | frozenset):
        items = [_canonical(v, f"{path}{{}}") for v in value]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True, separators=(",", ":")))
    raise UsageError(
        f"cannot build a cache key from {type(value).__name__} at {path}: pass JSON-like data "
        "(dict, list, str, number, bool, None), a pydantic model or a dataclass"
    )


@dataclass(frozen=True, slots=True)
class CacheStats:
    hits: int
    misses: int

    @property
    def hit_rate(self) -> float:
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0


class ResultCache(Protocol[V]):
    """What every result cache offers, in memory or on a server."""

    @property
    def stats(self) -> CacheStats: ...

    async def get_or_compute(self, key_input: object, fn: Callable[[], Awaitable[V]]) -> V: ...

    async def invalidate(self, key_input: object) -> None: ...

    async def clear(self) -> None: ...


@dataclass(frozen=True, slots=True)
class MemoryCachePolicy:
    """Keep a result `ttl` seconds (None: until evicted), at most `max_entries` results."""

    ttl: float | None = 3600.0
    max_entries: int = 1024

    def __post_init__(self) -> None:
        if self.ttl is not None and not self.ttl > 0:
            raise UsageError(f"MemoryCachePolicy.ttl must be > 0 s or None (no expiry), got {self.ttl}")
        if self.max_entries < 1:
            raise UsageError(f"MemoryCachePolicy.max_entries must be >= 1, got {self.max_entries}")


class MemoryCache(Generic[V]):
    """In-process LRU cache with a time to live; for one event loop."""

    def __init__(self, policy: MemoryCachePolicy | None = None, *, clock: Clock | None = None) -> None:
        self.policy = policy or MemoryCachePolicy()
        self._clock: Clock = clock or MonotonicClock()
        # key -> (expires_at, value); order is recency of use, oldest first.
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()
        self._hits = 0
        self._misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def stats(self) -> CacheStats:
        return CacheStats(hits=self._hits, misses=self._misses)

    async def get_or_compute(self, key_input: object, fn: Callable[[], Awaitable[V]]) -> V:
        """Return the cached result for `key_input`, or await `fn()` and cache it."""
        key = canonical_key(key_input)
        entry = self._entries.get(key)
        if entry is not None:
            expires_at, value = entry
            if self._clock.now() < expires_at:
                self._hits += 1
                self._entries.move_to_end(key)
                return value
            del self._entries[key]
        self._misses += 1
        value = await fn()
        self._store(key, value)
        return value

    async def invalidate(self, key_input: object) -> None:
        self._entries.pop(canonical_key(key_input), None)

    async def clear(self) -> None:
        self._entries.clear()

    def _store(self, key: str, value: V) -> None:
        ttl = self.policy.ttl
        expires_at = float("inf") if ttl is None else self._clock.now() + ttl
        self._entries[key] = (expires_at, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.policy.max_entries:
            self._entries.popitem(last=False)
