"""One URL chooses where checkpoints live: `memory`, `sqlite:///path` or `postgresql://...`.

SQLite is the embedded default (a file under the working directory), so a run
survives a crash with nothing to install. PostgreSQL uses a connection pool
with the settings LangGraph's saver needs, and runs the saver's migrations
(`setup()`) the first time a process opens a database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver

from patterns.errors import UsageError

__all__ = ["DEFAULT_CHECKPOINT_URL", "open_checkpointer", "describe"]

DEFAULT_CHECKPOINT_URL = "sqlite:///.orch/checkpoints.sqlite"

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")
_set_up: set[str] = set()


def describe(url: str) -> str:
    """The URL with any password masked, fit for messages and logs."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in credentials else url
    return url


@asynccontextmanager
async def open_checkpointer(url: str = DEFAULT_CHECKPOINT_URL) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    """Yield a ready checkpointer for `url`; raises `UsageError` saying what is wrong with it."""
    if url == "memory":
        yield InMemorySaver()
    elif url.startswith("sqlite:///"):
        async with _sqlite(url) as saver:
            yield saver
    elif url.startswith(_POSTGRES_SCHEMES):
        async with _postgres(url) as saver:
            yield saver
    else:
        raise UsageError(
            f"unsupported checkpoint URL {describe(url)!r}: use 'memory', 'sqlite:///PATH' or 'postgresql://...'"
        )


@asynccontextmanager
async def _sqlite(url: str) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    path = Path(url.removeprefix("sqlite:///"))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = await aiosqlite.connect(path)
    except (OSError, aiosqlite.Error) as exc:
        raise UsageError(f"cannot open SQLite checkpoint file {str(path)!r}: {exc}") from None
    try:
        saver = AsyncSqliteSaver(connection)
        await saver.setup()
        yield saver
    finally:
        await connection.close()


@asynccontextmanager
async def _postgres(url: str) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    try:
        import psycopg
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        from psycopg.rows import dict_row
        from psycopg_pool import AsyncConnectionPool
    except ImportError:
        raise UsageError(
            "PostgreSQL checkpoints need the postgres extra: pip install 'orchestration-patterns[postgres]'"
        ) from None

    # Connect once directly first: the pool would only report a timeout, while
    # psycopg says why (refused, unknown database, bad password).
    try:
        probe = await psycopg.AsyncConnection.connect(url, connect_timeout=5)
        await probe.close()
    except psycopg.Error as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reason = " ".join(lines) or type(exc).__name__
        raise UsageError(f"cannot connect to checkpoint database {describe(url)}: {reason}") from None

    # LangGraph's saver requires autocommit, no server-side prepared statements
    # (poolers such as PgBouncer reject them) and dict rows.
    pool = AsyncConnectionPool(
        url,
        min_size=1,
        max_size=10,
        open=False,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
    )
    await pool.open(wait=True, timeout=10)
    try:
        saver = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
        if url not in _set_up:
            await saver.setup()
            _set_up.add(url)
        yield saver
    finally:
        await pool.close()
