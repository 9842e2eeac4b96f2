"""Who owns a running saga: a PostgreSQL advisory lock held by the owner's database session.

The process that runs a saga takes the saga's lock before it writes the saga's
first row and releases it after the saga's final status is written. The lock
belongs to the connection: when the process dies, however it dies, PostgreSQL
ends its session and the lock goes with it. No heartbeat, no expiry to tune,
and no clock: a saga marked running whose lock nobody holds has lost its owner.

The owner writes every step through that same connection, so once the lock is
gone the owner cannot write any more either: `recover` can never race a
half-dead owner that still commits steps.

Advisory locks are per database, not per schema, so the key hashes the schema
with the saga id: two shops in one database never share a lock.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import psycopg

__all__ = ["SagaBusy", "held", "owner_alive", "release", "try_claim"]

# 64 bits of md5(schema/saga id), as a signed bigint: the single-key form of the advisory lock.
# The queries are concatenated literals, so they stay plain SQL text, never built from data.
_KEY = "('x' || left(md5(current_schema() || '/' || %s), 16))::bit(64)::bigint"
_TRY_LOCK = "SELECT pg_try_advisory_lock(" + _KEY + ")"
_UNLOCK = "SELECT pg_advisory_unlock(" + _KEY + ")"
# pg_locks splits a bigint key into classid (high 32 bits) and objid (low 32 bits), objsubid 1.
_HELD = (
    "SELECT EXISTS (SELECT 1 FROM pg_locks"
    " WHERE locktype = 'advisory' AND granted AND objsubid = 1"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " AND ((classid::bigint << 32) | objid::bigint) = " + _KEY + ")"
)


class SagaBusy(RuntimeError):
    """Another live session already owns this saga."""


async def try_claim(conn: psycopg.AsyncConnection, saga_id: str) -> bool:
    """Take the saga's lock for this session, without waiting; False when a live session holds it."""
    row = await (await conn.execute(_TRY_LOCK, (saga_id,))).fetchone()
    return bool(row and row[0])


async def release(conn: psycopg.AsyncConnection, saga_id: str) -> None:
    """Give the lock back. On a broken connection there is nothing to give back: the session is gone."""
    with contextlib.suppress(psycopg.Error):
        await conn.execute(_UNLOCK, (saga_id,))


@contextlib.asynccontextmanager
async def held(conn: psycopg.AsyncConnection, saga_id: str) -> AsyncIterator[None]:
    """Own the saga while the block runs; `SagaBusy` if a live session already owns it."""
    if not await try_claim(conn, saga_id):
        raise SagaBusy(f"saga {saga_id} is already running in another live process")
    try:
        yield
    finally:
        # Also on a SimulatedCrash, so the next process sees the saga orphaned at once, as it
        # would after a real crash once PostgreSQL has noticed the closed connection.
        await release(conn, saga_id)


async def owner_alive(conn: psycopg.AsyncConnection, saga_id: str) -> bool:
    """Whether some session (this one included) holds the saga's lock, read from `pg_locks`.

    Only a look: it takes nothing, so an audit never gets in the way of the owner or of `recover`.
    """
    row = await (await conn.execute(_HELD, (saga_id,))).fetchone()
    return bool(row and row[0])
