"""Dead letters: work that failed for good is recorded, never dropped, and can be re-driven.

A `DeadLetterQueue` writes records through a `DeadLetterStore`;
`SQLiteDeadLetterStore` (stdlib sqlite3, one file) is the embedded default and
a PostgreSQL store only has to implement the same four methods. `redrive`
re-runs the work: success marks the record resolved, failure increments its
attempts and keeps it pending. No path deletes a record.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from patterns.errors import UsageError
from patterns.observability import _hooks as telemetry

__all__ = [
    "DeadLetter",
    "DeadLetterQueue",
    "DeadLetterStatus",
    "DeadLetterStore",
    "SQLiteDeadLetterStore",
]

Json = Any  # a value that survives json.dumps/json.loads unchanged
WallClock = Callable[[], datetime]


class DeadLetterStatus(StrEnum):
    PENDING = "pending"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class DeadLetter:
    """One piece of failed work: what it was, how it failed, how often, and whether it is resolved."""

    id: str
    flow: str
    agent: str | None
    input: Json
    error_type: str
    error_message: str
    attempts: int
    first_failed_at: datetime
    last_failed_at: datetime
    status: DeadLetterStatus = DeadLetterStatus.PENDING
    resolved_at: datetime | None = None


class DeadLetterStore(Protocol):
    """Where dead letters live. Implementations must never delete a record."""

    def insert(self, record: DeadLetter) -> None: ...

    def update(self, record: DeadLetter) -> None: ...

    def get(self, id: str) -> DeadLetter | None: ...

    def list(
        self, *, status: DeadLetterStatus | None = None, flow: str | None = None, limit: int = 100
    ) -> list[DeadLetter]: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letters (
    id TEXT PRIMARY KEY,
    flow TEXT NOT NULL,
    agent TEXT,
    input TEXT NOT NULL,
    error_type TEXT NOT NULL,
    error_message TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    first_failed_at TEXT NOT NULL,
    last_failed_at TEXT NOT NULL,
    status TEXT NOT NULL,
    resolved_at TEXT
);
CREATE INDEX IF NOT EXISTS dead_letters_status_flow ON dead_letters (status, flow, first_failed_at);
"""

_COLUMNS = (
    "id, flow, agent, input, error_type, error_message, attempts, "
    "first_failed_at, last_failed_at, status, resolved_at"
)


def _to_row(r: DeadLetter) -> tuple[Any, ...]:
    return (
        r.id,
        r.flow,
        r.agent,
        json.dumps(r.input, sort_keys=True),
        r.error_type,
        r.error_message,
        r.attempts,
        r.first_failed_at.isoformat(),
        r.last_failed_at.isoformat(),
        r.status.value,
        r.resolved_at.isoformat() if r.resolved_at else None,
    )


def _from_row(row: sqlite3.Row) -> DeadLetter:
    return DeadLetter(
        id=row["id"],
        flow=row["flow"],
        agent=row["agent"],
        input=json.loads(row["input"]),
        error_type=row["error_type"],
        error_message=row["error_message"],
        attempts=row["attempts"],
        first_failed_at=datetime.fromisoformat(row["first_failed_at"]),
        last_failed_at=datetime.fromisoformat(row["last_failed_at"]),
        status=DeadLetterStatus(row["status"]),
        resolved_at=datetime.fromisoformat(row["resolved_at"]) if row["resolved_at"] else None,
    )


class SQLiteDeadLetterStore:
    """Dead letters in one SQLite file (created with its parent folder if missing)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection guarded by a lock: callers may be tasks or threads.
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.executescript(_SCHEMA)

    def insert(self, record: DeadLetter) -> None:
        with self._lock:
            self._conn.execute(
                f"INSERT INTO dead_letters ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)", _to_row(record)
            )

    def update(self, record: DeadLetter) -> None:
        row = _to_row(record)
        with self._lock:
            cur = self._conn.execute(
                "UPDATE dead_letters SET flow=?, agent=?, input=?, error_type=?, error_message=?, "
                "attempts=?, first_failed_at=?, last_failed_at=?, status=?, resolved_at=? WHERE id=?",
                (*row[1:], row[0]),
            )
        if cur.rowcount != 1:
            raise UsageError(f"no dead letter with id {record.id!r} to update; insert it first")

    def get(self, id: str) -> DeadLetter | None:
        with self._lock:
            row = self._conn.execute(f"SELECT {_COLUMNS} FROM dead_letters WHERE id=?", (id,)).fetchone()
        return _from_row(row) if row else None

    def list(
        self, *, status: DeadLetterStatus | None = None, flow: str | None = None, limit: int = 100
    ) -> list[DeadLetter]:
        clauses, params = [], []
        if status is not None:
            clauses.append("status=?")
            params.append(status.value)
        if flow is not None:
            clauses.append("flow=?")
            params.append(flow)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT {_COLUMNS} FROM dead_letters {where} ORDER BY first_failed_at, id LIMIT ?"
        with self._lock:
            rows = self._conn.execute(sql, (*params, limit)).fetchall()
        return [_from_row(row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _utcnow() -> datetime:
    return datetime.now(UTC)


class DeadLetterQueue:
    """Records failed work in a `DeadLetterStore` and re-drives it."""

    def __init__(self, store: DeadLetterStore, *, clock: WallClock = _utcnow) -> None:
        self.store = store
        self._clock = clock

    @classmethod
    def sqlite(cls, path: str | Path, *, clock: WallClock = _utcnow) -> DeadLetterQueue:
        return cls(SQLiteDeadLetterStore(path), clock=clock)

    def put(
        self,
        *,
        flow: str,
        input: Json,
        error: BaseException,
        agent: str | None = None,
        attempts: int = 1,
        id: str | None = None,
    ) -> DeadLetter:
        """Record failed work. Putting an existing `id` again adds the attempts to that record."""
        try:
            json.dumps(input)
        except (TypeError, ValueError) as exc:
            raise UsageError(
                f"dead-letter input must be JSON-serialisable ({exc}); convert it to dicts, lists, "
                "strings and numbers first"
            ) from exc
        now = self._clock()
        existing = self.store.get(id) if id is not None else None
        if existing is not None:
            record = replace(
                existing,
                error_type=type(error).__name__,
                error_message=str(error),
                attempts=existing.attempts + attempts,
                last_failed_at=now,
                status=DeadLetterStatus.PENDING,
                resolved_at=None,
            )
            self.store.update(record)
            telemetry.dead_lettered(record.id, record.flow, record.agent, record.error_type, attempts)
            return record
        record = DeadLetter(
            id=id or uuid.uuid4().hex,
            flow=flow,
            agent=agent,
            input=input,
            error_type=type(error).__name__,
            error_message=str(error),
            attempts=attempts,
            first_failed_at=now,
            last_failed_at=now,
        )
        self.store.insert(record)
        telemetry.dead_lettered(record.id, record.flow, record.agent, record.error_type, attempts)
        return record

    def get(self, id: str) -> DeadLetter | None:
        return self.store.get(id)

    def list(
        self, *, status: DeadLetterStatus | None = None, flow: str | None = None, limit: int = 100
    ) -> list[DeadLetter]:
        """Records oldest first, optionally filtered by status and flow."""
        return self.store.list(status=status, flow=flow, limit=limit)

    async def redrive(self, id: str, fn: Callable[[Json], Awaitable[object]]) -> DeadLetter:
        """Re-run `fn(record.input)` and return the updated record.

        Success marks it resolved (`attempts` counts failures only); an exception
        from `fn` is recorded (attempts + 1, new error, still pending) and not
        raised. A resolved record is returned as is. One redrive per id at a time:
        two workers re-driving the same id would both run `fn`.
        """
        record = self.store.get(id)
        if record is None:
            raise UsageError(f"no dead letter with id {id!r}; DeadLetterQueue.list() shows the stored ids")
        if record.status is DeadLetterStatus.RESOLVED:
            return record
        try:
            await fn(record.input)
        except Exception as exc:
            updated = replace(
                record,
                error_type=type(exc).__name__,
                error_message=str(exc),
                attempts=record.attempts + 1,
                last_failed_at=self._clock(),
            )
        else:
            updated = replace(
                record,
                status=DeadLetterStatus.RESOLVED,
                resolved_at=self._clock(),
            )
        self.store.update(updated)
        return updated
