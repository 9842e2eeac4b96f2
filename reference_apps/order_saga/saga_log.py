"""The saga log: one row per saga run and one per step or compensation outcome.

A step's `ok` row is written in the same transaction as the step's own
changes, so the log never claims work the database does not hold, and never
misses work it does. That is what makes recovery after a crash possible: the
log alone says which steps to undo.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.types.json import Jsonb
from pydantic import BaseModel

__all__ = ["LogEntry", "entries", "finish", "record", "start", "status", "unfinished"]

Phase = Literal["action", "compensation"]
Outcome = Literal["ok", "failed", "skipped"]
RunStatus = Literal["running", "completed", "compensated", "compensation_failed"]


class LogEntry(BaseModel):
    step: str
    phase: Phase
    outcome: Outcome
    detail: dict[str, Any]
    at: datetime


async def start(conn: psycopg.AsyncConnection, saga_id: str) -> None:
    await conn.execute("INSERT INTO saga_runs (saga_id, status) VALUES (%s, 'running')", (saga_id,))


async def record(
    conn: psycopg.AsyncConnection,
    saga_id: str,
    step: str,
    phase: Phase,
    outcome: Outcome,
    detail: dict[str, Any],
) -> None:
    await conn.execute(
        "INSERT INTO saga_log (saga_id, step, phase, outcome, detail) VALUES (%s, %s, %s, %s, %s)",
        (saga_id, step, phase, outcome, Jsonb(detail)),
    )


async def finish(
    conn: psycopg.AsyncConnection, saga_id: str, status: RunStatus, failed_step: str | None, error: str | None
) -> None:
    await conn.execute(
        "UPDATE saga_runs SET status = %s, failed_step = %s, error = %s, finished_at = now() WHERE saga_id = %s",
        (status, failed_step, error, saga_id),
    )


async def entries(conn: psycopg.AsyncConnection, saga_id: str) -> list[LogEntry]:
    """The saga's log in the order it was written."""
    rows = await (
        await conn.execute(
            "SELECT step, phase, outcome, detail, at FROM saga_log WHERE saga_id = %s ORDER BY id", (saga_id,)
        )
    ).fetchall()
    return [LogEntry(step=s, phase=p, outcome=o, detail=d, at=a) for s, p, o, d, a in rows]


async def status(conn: psycopg.AsyncConnection, saga_id: str) -> RunStatus | None:
    """The saga's status now, or None when there is no such saga."""
    row = await (await conn.execute("SELECT status FROM saga_runs WHERE saga_id = %s", (saga_id,))).fetchone()
    if row is None:
        return None
    found: RunStatus = row[0]  # the table's CHECK constraint allows only these
    return found


async def unfinished(conn: psycopg.AsyncConnection) -> list[str]:
    """Sagas still marked running: their process died, or is still working (`lease` tells which)."""
    rows = await (
        await conn.execute("SELECT saga_id FROM saga_runs WHERE status = 'running' ORDER BY started_at")
    ).fetchall()
    return [row[0] for row in rows]
