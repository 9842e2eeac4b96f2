"""A result cache in Redis, shared by every process that points at it.

Same `ResultCache` protocol and the same `canonical_key()` as `MemoryCache`,
so swapping one for the other is a constructor change. Entries expire through
Redis's own TTL; the entry count is bounded by the server's `maxmemory` and
`maxmemory-policy` (use `allkeys-lru`), not by this class.

Values cross the wire as text: JSON by default, or your own `encode`/`decode`
(e.g. `Model.model_dump_json` and `Model.model_validate_json`). Pickle is not
offered on purpose: anyone who can write to the Redis could run code in every
reader.

A cache must not turn a Redis outage into a flow outage: when Redis fails,
`get_or_compute` logs a warning and computes the value as if it were a miss.
The `redis` package is needed only when this module is used.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from patterns.errors import UsageError
from patterns.flow_control.cache import CacheStats, canonical_key

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisCache"]

V = TypeVar("V")

_log = logging.getLogger(__name__)
_GLOB_CHARS = frozenset("*?[]\\")


def _json_encode(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _json_decode(raw: bytes) -> Any:
    return json.loads(raw)


class RedisCache(Generic[V]):
    """Result cache stored under `namespace` in Redis, each entry living `ttl` seconds."""

    def __init__(
        self,
        client: Redis,
        *,
        ttl: float | None = 3600.0,
        namespace: str = "patterns:cache:",
        encode: Callable[[V], str | bytes] = _json_encode,
        decode: Callable[[bytes], V] = _json_decode,
    ) -> None:
        if ttl is not None and not ttl >= 0.001:
            raise UsageError(
                f"RedisCache ttl must be >= 0.001 s (Redis counts milliseconds) or None, got {ttl}"
            )
        if not namespace or _GLOB_CHARS & set(namespace):
            raise UsageError(
                f"RedisCache namespace {namespace!r} must be non-empty and free of * ? [ ] \\ "
                "so clear() can match exactly its own keys"
            )
        # redis-py's command methods are typed as sync-or-async unions; Any keeps
        # the awaits below honest without a cast on every call.
        self._redis: Any = client
        self._ttl_ms = None if ttl is None else round(ttl * 1000)
        self.namespace = namespace
        self._encode = encode
        self._decode = decode
        self._hits = 0
        self._misses = 0

    @classmethod
    def from_url(cls, url: str = "redis://127.0.0.1:6379/0", **options: Any) -> RedisCache[Any]:
        """Connect to `url`; `options` go to the constructor (ttl, namespace, ...)."""
        try:
            from redis.asyncio import Redis
        except ImportError as exc:
            raise UsageError("RedisCache needs the redis package: pip install 'redis>=5'") from exc
        return RedisCache(Redis.from_url(url), **options)

    @property
    def stats(self) -> CacheStats:
        """Hits and misses seen by this process (not by the whole server)."""
        return CacheStats(hits=self._hits, misses=self._misses)

    async def get_or_compute(self, key_input: object, fn: Callable[[], Awaitable[V]]) -> V:
        """Return the cached result for `key_input`, or await `fn()` and store it."""
        key = self.namespace + canonical_key(key_input)
        raw: bytes | None = None
        try:
            raw = await self._redis.get(key)
        except Exception as exc:
            _log.warning("RedisCache: read of %s failed, computing instead: %r", key, exc)
        if raw is not None:
            try:
                cached = self._decode(raw)
            except Exception as exc:
                # Typically a result type changed shape since the entry was written.
                _log.warning("RedisCache: entry %s does not decode, recomputing: %r", key, exc)
            else:
                self._hits += 1
                return cached
        self._misses += 1
        value = await fn()
        # Encoding errors are the caller's to fix, so they are raised, not logged.
        payload = self._encode(value)
        try:
            await self._redis.set(key, payload, px=self._ttl_ms)
        except Exception as exc:
            _log.warning("RedisCache: write of %s failed, result not cached: %r", key, exc)
        return value

    async def invalidate(self, key_input: object) -> None:
        await self._redis.delete(self.namespace + canonical_key(key_input))

    async def clear(self) -> None:
        """Delete every entry under this cache's namespace."""
        batch: list[bytes] = []
        async for key in self._redis.scan_iter(match=self.namespace + "*", count=500):
            batch.append(key)
            if len(batch) >= 500:
                await self._redis.unlink(*batch)
                batch.clear()
        if batch:
            await self._redis.unlink(*batch)

    async def aclose(self) -> None:
        """Close the client's connections."""
        await self._redis.aclose()
