"""A result cache on disk (one SQLite file), so a second run over the same data skips the model.

It implements the `patterns.flow_control.ResultCache` protocol, so it plugs into
`AgentPolicies(cache=...)` like the in-memory `MemoryCache`, but survives the
process. Entries are keyed by `canonical_key` of a namespace (put the model's
name there: a scripted answer must never be served to a real-model run) and
the call's input. Values are pydantic models stored as JSON, never pickled:
only the model classes given as `types` can come back out, anything else is
computed and not cached.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from patterns import UsageError
from patterns.flow_control import CacheStats, canonical_key
from pydantic import BaseModel, ValidationError

__all__ = ["DiskCache"]

_SCHEMA = "CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, type TEXT NOT NULL, value TEXT NOT NULL)"


class DiskCache:
    """Content-addressed results in SQLite: no expiry, since the same input gets the same answer."""

    def __init__(self, path: str | Path, *, namespace: str, types: Iterable[type[BaseModel]]) -> None:
        self.path = Path(path)
        self.namespace = namespace
        self._types = {_type_name(t): t for t in types}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise UsageError(
                f"cannot open the cache file {str(self.path)!r}: {exc} (or run with --no-cache)"
            ) from None
        self._hits = 0
        self._misses = 0

    @property
    def stats(self) -> CacheStats:
        return CacheStats(hits=self._hits, misses=self._misses)

    def _key(self, key_input: object) -> str:
        return canonical_key({"namespace": self.namespace, "input": key_input})

    async def get_or_compute(self, key_input: object, fn: Callable[[], Awaitable[Any]]) -> Any:
        key = self._key(key_input)
        row = self._db.execute("SELECT type, value FROM results WHERE key = ?", (key,)).fetchone()
        if row is not None and row[0] in self._types:
            try:
                value = self._types[row[0]].model_validate_json(row[1])
            except ValidationError:
                pass  # written by an older version of the model class: recompute and overwrite
            else:
                self._hits += 1
                return value
        self._misses += 1
        value = await fn()
        if isinstance(value, BaseModel) and _type_name(type(value)) in self._types:
            self._db.execute(
                "INSERT OR REPLACE INTO results (key, type, value) VALUES (?, ?, ?)",
                (key, _type_name(type(value)), value.model_dump_json()),
            )
        return value

    async def invalidate(self, key_input: object) -> None:
        self._db.execute("DELETE FROM results WHERE key = ?", (self._key(key_input),))

    async def clear(self) -> None:
        self._db.execute("DELETE FROM results")

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM results").fetchone()[0])

    def close(self) -> None:
        self._db.close()


def _type_name(cls: type[BaseModel]) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
