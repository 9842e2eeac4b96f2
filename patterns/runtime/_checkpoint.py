"""One URL chooses where checkpoints live: `memory`, `sqlite:///path` or `postgresql://...`.

SQLite is the embedded default (a file under the working directory), so a run
survives a crash with nothing to install. PostgreSQL uses a connection pool
with the settings LangGraph's saver needs, and runs the saver's migrations
(`setup()`) the first time a process opens a database.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import inspect
import os
from collections.abc import AsyncIterator, Coroutine, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver

from patterns.errors import UsageError

__all__ = ["DEFAULT_CHECKPOINT_URL", "WriteReceipts", "describe", "open_checkpointer", "thread_lock"]

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

    path = _sqlite_path(url)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = await aiosqlite.connect(path)
    except (OSError, aiosqlite.Error) as exc:
        raise UsageError(f"cannot open SQLite checkpoint file {str(path)!r}: {exc}") from None
    try:
        try:
            # WAL with synchronous=NORMAL: a commit is in the WAL file (the OS's cache) when it
            # returns, so it survives a process kill; only power loss can drop the last ones,
            # which FULL's fsync per write would prevent at several times the cost per step.
            await connection.execute("PRAGMA journal_mode=WAL")
            await connection.execute("PRAGMA synchronous=NORMAL")
            saver = AsyncSqliteSaver(connection)
            await saver.setup()
            await connection.execute("SELECT count(*) FROM checkpoints")  # reads the pages: finds damage
            # A write that changes nothing: a read-only file fails here, not at the first step.
            await connection.execute("DELETE FROM checkpoints WHERE 0")
            await connection.rollback()
        except aiosqlite.Error as exc:
            advice = (
                "make the file (and its folder) writable"
                if "readonly" in str(exc)
                else "move it away and start again, or pass another --checkpoint sqlite:///PATH"
            )
            raise UsageError(
                f"SQLite checkpoint file {str(path)!r} is not usable ({exc}): {advice}"
            ) from None
        yield saver
    finally:
        await connection.close()


def _sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


@asynccontextmanager
async def thread_lock(url: str, thread_id: str) -> AsyncIterator[None]:
    """Hold `thread_id` for one process: a second run of the same thread is refused, not raced.

    SQLite: an exclusive `flock` on a file per thread beside the database. PostgreSQL:
    a session advisory lock on its own connection. Either is released by the OS or
    the server when the process dies, so a killed run never leaves its thread locked.
    `memory` threads live in one process and need none.
    """
    busy = f"thread {thread_id!r} is being run by another process; wait for it, or use another --thread"
    if url.startswith("sqlite:///"):
        folder = _sqlite_path(url).with_name(_sqlite_path(url).name + ".locks")
        folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(thread_id.encode()).hexdigest()[:24]
        fd = os.open(folder / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UsageError(busy) from None
            yield
        finally:
            os.close(fd)
    elif url.startswith(_POSTGRES_SCHEMES):
        import psycopg

        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
            cursor = await connection.execute(
                "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (f"orch-thread:{thread_id}",)
            )
            row = await cursor.fetchone()
            if not (row and row[0]):
                raise UsageError(busy)
            yield  # closing the connection releases the lock
    else:
        yield


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


_TAKES_PATH: dict[type[Any], bool] = {}


def _takes_task_path(saver: BaseCheckpointSaver[Any]) -> bool:
    """Whether this saver's `aput_writes` takes `task_path` (read once per class: it costs a run 0.2 ms)."""
    kind = type(saver)
    if kind not in _TAKES_PATH:
        _TAKES_PATH[kind] = "task_path" in inspect.signature(saver.aput_writes).parameters
    return _TAKES_PATH[kind]


class WriteReceipts:
    """Tells when a task's writes are durable, so a step is reported done only once it is saved.

    LangGraph saves each finished task's writes in the background and streams
    the task's end at once; a process killed in between loses writes whose step
    was already reported, and the resumed run pays for it again. LangGraph calls
    the saver's `aput_writes` synchronously, before it streams the task's end, so
    wrapping it on this run's saver gives every finished task a receipt by the
    time the runner sees it.
    """

    def __init__(self, saver: BaseCheckpointSaver[Any]) -> None:
        self._put = saver.aput_writes
        self._takes_path = _takes_task_path(saver)
        self._pending: dict[str, asyncio.Future[None]] = {}
        saver.aput_writes = self._aput_writes  # type: ignore[method-assign]

    def _aput_writes(
        self, config: Any, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> Coroutine[Any, Any, None]:
        receipt = asyncio.get_running_loop().create_future()
        receipt.add_done_callback(lambda f: f.cancelled() or f.exception())  # awaited or not
        self._pending[task_id] = receipt
        return self._save(receipt, config, writes, task_id, task_path)

    async def _save(
        self,
        receipt: asyncio.Future[None],
        config: Any,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> None:
        try:
            if self._takes_path:
                await self._put(config, writes, task_id, task_path)
            else:
                await self._put(config, writes, task_id)
        except asyncio.CancelledError:
            receipt.cancel()
            raise
        except BaseException as exc:
            receipt.set_exception(exc)
            raise
        receipt.set_result(None)

    async def saved(self, task_id: str) -> None:
        """Return once `task_id`'s writes are saved (at once if it wrote nothing); raise if saving failed."""
        receipt = self._pending.pop(task_id, None)
        if receipt is not None:
            await receipt
