"""Reading PostgreSQL's own tables in tests: who holds a thread, and a thread's checkpoint chain."""

from __future__ import annotations

from typing import Any


def lock_holder(admin: Any, thread_id: str) -> int | None:
    """The backend pid holding `thread_id`'s advisory lock (`thread_lock`'s key), if any."""
    row = admin.execute(
        "SELECT pid FROM pg_locks, (SELECT hashtextextended(%s, 0) AS k) key"
        " WHERE locktype = 'advisory' AND granted AND objsubid = 1"
        " AND classid = ((k >> 32) & 4294967295)::oid AND objid = (k & 4294967295)::oid",
        (f"orch-thread:{thread_id}",),
    ).fetchone()
    return None if row is None else int(row[0])


def checkpoint_rows(admin: Any, thread_id: str) -> list[tuple[str, str | None]]:
    """(checkpoint id, parent id) of the thread's main chain (`checkpoint_ns = ''`), in id order,
    read from the checkpoints table itself: two rows with one parent are a forked chain."""
    rows = admin.execute(
        "SELECT checkpoint_id, parent_checkpoint_id FROM checkpoints"
        " WHERE thread_id = %s AND checkpoint_ns = '' ORDER BY checkpoint_id",
        (thread_id,),
    ).fetchall()
    return [(str(r[0]), r[1]) for r in rows]
