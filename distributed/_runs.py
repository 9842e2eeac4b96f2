"""The runs table: one row per submitted run, in the same PostgreSQL database as its checkpoints.

The checkpoints say where a run's graph is; this table says where the run is
in the cluster: queued, running (on which worker, which delivery), waiting for
a human, or finished with its result or error. Submitters insert, workers
update, `orch status` and the front door read.

Two counters make redelivery safe:

- `segment` numbers the messages of a run. A run is cut into segments by the
  worker's budget (each segment is one message, published by the previous
  one), and an answer to a waiting run publishes a new one. A worker acts on a
  message only if its segment is not older than the row's: a stale duplicate
  (redelivered after its successor was published) is dropped, so one run never
  grows two chains of messages.
- `attempts` counts the deliveries of the current segment, incremented before
  the run starts: a delivery that killed its worker is still counted, so a
  message that crashes every worker it reaches is given up after the limit.
  `delivery_open` tells a delivery that ended (with a result or an error) from
  one that was lost with its worker.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from distributed._errors import RunConflict, UnknownRun, Unreachable
from patterns.runtime import describe

__all__ = ["Run", "RunStatus", "Runs", "TERMINAL"]

RunStatus = Literal["queued", "running", "waiting", "completed", "failed", "dead"]
#: Statuses no worker will change again.
TERMINAL: frozenset[str] = frozenset({"completed", "failed", "dead"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS orch_runs (
    thread_id     text PRIMARY KEY,
    tenant        text,
    pattern       text NOT NULL,
    flow          text,
    partition     integer NOT NULL,
    input         jsonb,
    status        text NOT NULL
                  CHECK (status IN ('queued', 'running', 'waiting', 'completed', 'failed', 'dead')),
    segment       integer NOT NULL DEFAULT 0,
    attempts      integer NOT NULL DEFAULT 0,
    delivery_open boolean NOT NULL DEFAULT false,
    retries       integer NOT NULL DEFAULT 0,
    steps         integer NOT NULL DEFAULT 0,
    worker        text,
    answer        jsonb,
    interrupt     jsonb,
    error         text,
    result        jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);
CREATE INDEX IF NOT EXISTS orch_runs_status ON orch_runs (status, updated_at);
-- A map's batches asked by any worker (distributed._branches), until their run ends.
CREATE TABLE IF NOT EXISTS orch_branches (
    key               text PRIMARY KEY,
    thread_id         text NOT NULL,
    agent             text NOT NULL,
    reply             jsonb NOT NULL,
    prompt_tokens     integer NOT NULL,
    completion_tokens integer NOT NULL,
    worker            text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS orch_branches_thread ON orch_branches (thread_id);
"""

# Per process and URL: a prefork worker child must not share its parent's sockets.
_pools: dict[tuple[int, str], Any] = {}
_pools_lock = threading.Lock()

_COLUMNS = (
    "thread_id, tenant, pattern, flow, partition, input, status, segment, attempts, retries, steps, "
    "worker, answer, interrupt, error, result, created_at, started_at, updated_at, finished_at"
)


class Run(BaseModel):
    """A row of the runs table, as `orch status --json` and `GET /runs/{thread}` show it."""

    thread_id: str
    tenant: str | None
    pattern: str
    flow: str | None
    partition: int
    status: RunStatus
    segment: int
    attempts: int
    retries: int
    steps: int
    worker: str | None
    interrupt: Any = None
    error: str | None
    result: dict[str, Any] | None
    created_at: datetime
    started_at: datetime | None
    updated_at: datetime
    finished_at: datetime | None
    # What the worker needs; left out of what users are shown.
    input: Any = None
    answer: Any = None

    def public(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"input", "answer"})


class Runs:
    """The runs table of one database; one connection pool per process and URL."""

    def __init__(self, url: str) -> None:
        self.url = url

    # -- connections ---------------------------------------------------------

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        import psycopg

        try:
            with self._pool().connection() as connection:
                yield connection
        except psycopg.OperationalError as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise Unreachable(f"cannot use the runs table in {describe(self.url)}: {reason}") from None

    def _pool(self) -> Any:
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        key = (os.getpid(), self.url)
        with _pools_lock:
            pool = _pools.get(key)
            if pool is None:
                self._probe()
                pool = ConnectionPool(
                    self.url,
                    min_size=1,
                    max_size=4,
                    kwargs={"autocommit": True, "row_factory": dict_row},
                    open=True,
                )
                with pool.connection() as connection, connection.transaction():
                    _create(connection)
                _pools[key] = pool
        return pool

    def setup(self) -> None:
        """Create the table if it is missing, on a connection of its own (no pool threads before a fork)."""
        import psycopg

        self._probe()
        with psycopg.connect(self.url, autocommit=True) as connection, connection.transaction():
            _create(connection)

    def _probe(self) -> None:
        # The pool only reports a timeout; a direct connection says why (refused, no such database).
        import psycopg

        try:
            psycopg.connect(self.url, connect_timeout=5).close()
        except psycopg.Error as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise Unreachable(f"cannot connect to the runs database {describe(self.url)}: {reason}") from None

    @classmethod
    def close_all(cls) -> None:
        """Close this process's pools (tests and the front door's shutdown)."""
        with _pools_lock:
            for (pid, url), pool in list(_pools.items()):
                if pid == os.getpid():
                    pool.close()
                    del _pools[pid, url]

    # -- submitters ----------------------------------------------------------

    @contextmanager
    def inserting(
        self,
        thread_id: str,
        *,
        tenant: str | None,
        pattern: str,
        flow: str | None,
        partition: int,
        input: Any,
    ) -> Iterator[None]:
        """Insert a queued run and commit only if the body (which publishes it) succeeds.

        The message goes out before the commit: a run is never recorded without
        its message, and a worker that sees the message first waits for the row.
        """
        with self._connection() as connection, connection.transaction():
            row = connection.execute(
                "INSERT INTO orch_runs (thread_id, tenant, pattern, flow, partition, input, status) "
                "VALUES (%s, %s, %s, %s, %s, %s, 'queued') ON CONFLICT (thread_id) DO NOTHING "
                "RETURNING thread_id",
                (thread_id, tenant, pattern, flow, partition, _json(input)),
            ).fetchone()
            if row is None:
                existing = self.get(thread_id)
                status = existing.status if existing else "unknown"
                raise RunConflict(
                    f"thread {thread_id!r} was already submitted ({status}): "
                    "follow it with `orch status`, or submit with another --thread"
                )
            yield

    @contextmanager
    def answering(self, thread_id: str, answer: Any) -> Iterator[Run]:
        """Queue a waiting run again with `answer`; committed only if the body publishes it."""
        with self._connection() as connection, connection.transaction():
            row = connection.execute(
                f"UPDATE orch_runs SET answer = %s, status = 'queued', segment = segment + 1, attempts = 0, "
                f"error = NULL, updated_at = now() WHERE thread_id = %s AND status = 'waiting' "
                f"RETURNING {_COLUMNS}",
                (_json(answer), thread_id),
            ).fetchone()
            if row is None:
                existing = self.get(thread_id)
                if existing is None:
                    raise UnknownRun(f"no run with thread {thread_id!r}: submit it with `orch submit`")
                raise RunConflict(
                    f"thread {thread_id!r} is not waiting for an answer (it is {existing.status})"
                )
            yield Run.model_validate(row)

    # -- readers -------------------------------------------------------------

    def get(self, thread_id: str) -> Run | None:
        with self._connection() as connection:
            row = connection.execute(
                f"SELECT {_COLUMNS} FROM orch_runs WHERE thread_id = %s", (thread_id,)
            ).fetchone()
        return None if row is None else Run.model_validate(row)

    # -- workers -------------------------------------------------------------

    def claim(self, thread_id: str, segment: int, worker: str) -> Run | None:
        """Start a delivery of `segment`: the run as it is now, or None if there is nothing to do.

        Nothing to do: no such row (yet), a stale segment, or a run that is finished or waiting.
        """
        with self._connection() as connection:
            row = connection.execute(
                f"""
                UPDATE orch_runs SET
                    error = CASE WHEN segment = %(segment)s AND delivery_open
                        THEN format('delivery %%s of segment %%s was lost: its worker died '
                                    'or lost its broker connection', attempts, segment)
                        ELSE error END,
                    attempts = CASE WHEN segment = %(segment)s THEN attempts + 1 ELSE 1 END,
                    segment = %(segment)s, status = 'running', delivery_open = true,
                    worker = %(worker)s, started_at = coalesce(started_at, now()), updated_at = now()
                WHERE thread_id = %(thread)s AND segment <= %(segment)s AND status IN ('queued', 'running')
                RETURNING {_COLUMNS}
                """,
                {"thread": thread_id, "segment": segment, "worker": worker},
            ).fetchone()
        return None if row is None else Run.model_validate(row)

    def give_up(self, thread_id: str, segment: int, limit: int) -> None:
        """A poison message: dead, with the last error its deliveries left."""
        self._forget_branches(thread_id)
        self._update(
            thread_id,
            segment,
            "status = 'dead', delivery_open = false, finished_at = now(), "
            "error = format('dead-lettered after %%s deliveries of segment %%s; the last error: %%s', "
            "%(limit)s, segment, coalesce(error, 'none recorded'))",
            limit=limit,
        )

    def failed_delivery(self, thread_id: str, segment: int, attempt: int, error: str) -> None:
        """A delivery that raised: say so; the message is redelivered until the limit."""
        self._update(
            thread_id,
            segment,
            "delivery_open = false, error = %(error)s",
            error=f"delivery {attempt} of segment {segment} failed: {error}",
        )

    def busy(self, thread_id: str, segment: int) -> None:
        """The thread is held by another owner: this delivery does not count, it waits its turn.

        A run the other owner has finished meanwhile stays finished: this delivery,
        which lost the thread to it, must not queue it again.
        """
        self._update(
            thread_id,
            segment,
            "status = CASE WHEN status IN ('queued', 'running') THEN 'queued' ELSE status END, "
            "attempts = attempts - 1, retries = retries + 1, "
            "delivery_open = CASE WHEN status IN ('queued', 'running') THEN false ELSE delivery_open END",
        )

    def advance(self, thread_id: str, segment: int, steps: int) -> None:
        """The budget of `segment` is spent and segment + 1 is published: queued again."""
        with self._connection() as connection:
            # The next segment may already be running elsewhere: then only the step count is ours.
            connection.execute(
                """
                UPDATE orch_runs SET
                    steps = steps + %(steps)s,
                    status = CASE WHEN segment = %(segment)s THEN 'queued' ELSE status END,
                    delivery_open = CASE WHEN segment = %(segment)s THEN false ELSE delivery_open END,
                    attempts = CASE WHEN segment = %(segment)s THEN 0 ELSE attempts END,
                    segment = greatest(segment, %(segment)s + 1),
                    updated_at = now()
                WHERE thread_id = %(thread)s
                """,
                {"thread": thread_id, "segment": segment, "steps": steps},
            )

    def finish(
        self,
        thread_id: str,
        segment: int,
        *,
        status: RunStatus,
        steps: int,
        result: dict[str, Any] | None = None,
        interrupt: Any = None,
        error: str | None = None,
        answer_used: bool = False,
    ) -> None:
        """The run completed, failed, or now waits for a human."""
        if status in TERMINAL:
            self._forget_branches(thread_id)
        self._update(
            thread_id,
            segment,
            "status = %(status)s, steps = steps + %(steps)s, result = %(result)s, interrupt = %(interrupt)s, "
            "error = %(error)s, delivery_open = false, "
            "answer = CASE WHEN %(answer_used)s THEN NULL ELSE answer END, "
            "finished_at = CASE WHEN %(status)s IN ('completed', 'failed') THEN now() END",
            status=status,
            steps=steps,
            result=_json(result),
            interrupt=_json(interrupt),
            error=error,
            answer_used=answer_used,
        )

    def _forget_branches(self, thread_id: str) -> None:
        # Kept for a resume of the run; once it has ended, nothing will ask for them.
        with self._connection() as connection:
            connection.execute("DELETE FROM orch_branches WHERE thread_id = %s", (thread_id,))

    def _update(self, thread_id: str, segment: int, assignments: str, **values: Any) -> None:
        with self._connection() as connection:
            connection.execute(
                f"UPDATE orch_runs SET {assignments}, updated_at = now() "
                "WHERE thread_id = %(thread)s AND segment = %(segment)s",
                {"thread": thread_id, "segment": segment, **values},
            )


def _create(connection: Any) -> None:
    # Two processes starting at once would race CREATE TABLE IF NOT EXISTS.
    connection.execute("SELECT pg_advisory_xact_lock(hashtextextended('orch_runs', 0))")
    connection.execute(_SCHEMA)


def _json(value: Any) -> Any:
    from psycopg.types.json import Jsonb

    return None if value is None else Jsonb(value, dumps=json.dumps)
