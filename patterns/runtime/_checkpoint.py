"""One URL chooses where checkpoints live: `memory`, `sqlite:///path` or `postgresql://...`.

SQLite is the embedded default (a file under the working directory), so a run
survives a crash with nothing to install. PostgreSQL uses a connection pool
with the settings LangGraph's saver needs, and runs the saver's migrations
(`setup()`) the first time a process opens a database.

A run holds its thread (`thread_lock`) and writes through the saver opened on
that hold: on PostgreSQL the advisory lock and the checkpoint writes share one
connection, so an owner whose connection died, and with it the lock, cannot
write another checkpoint after a new owner took the thread.
"""

from __future__ import annotations

import asyncio
import fcntl
import functools
import hashlib
import inspect
import os
from collections.abc import AsyncIterator, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, ChannelVersions, Checkpoint, CheckpointMetadata
from langgraph.checkpoint.memory import InMemorySaver

from patterns.errors import ThreadBusy, UsageError

__all__ = [
    "DEFAULT_CHECKPOINT_URL",
    "HeldThread",
    "WriteReceipts",
    "describe",
    "idempotency_key",
    "open_checkpointer",
    "thread_lock",
]

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


@dataclass(frozen=True)
class HeldThread:
    """A thread held by this process (`thread_lock`), for `open_checkpointer` to write through.

    `connection` is PostgreSQL's session holding the thread's advisory lock (None on
    SQLite and `memory`, whose locks guard no connection): a saver opened on the hold
    writes through it, so the lock and the right to write end together.
    """

    thread_id: str
    connection: Any = None


@asynccontextmanager
async def open_checkpointer(
    url: str = DEFAULT_CHECKPOINT_URL, held: HeldThread | None = None
) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    """Yield a ready checkpointer for `url`; raises `UsageError` saying what is wrong with it.

    With `held` (from `thread_lock` on the same URL), a PostgreSQL saver writes
    through the connection that holds the thread's lock rather than a pool: when
    that connection dies the lock is gone and so is every later write.
    """
    if url == "memory":
        yield InMemorySaver()
    elif url.startswith("sqlite:///"):
        async with _sqlite(url) as saver:
            yield saver
    elif url.startswith(_POSTGRES_SCHEMES):
        if held is not None and held.connection is not None:
            async with _postgres_on(url, held) as saver:
                yield saver
        else:
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
async def thread_lock(url: str, thread_id: str) -> AsyncIterator[HeldThread]:
    """Hold `thread_id` for one process: a second run of the same thread is refused, not raced.

    SQLite: an exclusive `flock` on a file per thread beside the database. PostgreSQL:
    a session advisory lock on a connection of its own, yielded in the `HeldThread`
    so that the run's checkpoints are written through it (`open_checkpointer(url, held)`).
    Either is released by the OS or the server when the process dies, so a killed run
    never leaves its thread locked. `memory` threads live in one process and need none.

    Raises:
        ThreadBusy: another process holds the thread.
    """
    busy = f"thread {thread_id!r} is being run by another process; wait for it, or use another --thread"
    if url.startswith("sqlite:///"):
        folder = _sqlite_path(url).with_name(_sqlite_path(url).name + ".locks")
        name = hashlib.sha256(thread_id.encode()).hexdigest()[:24]
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(folder / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise UsageError(f"cannot lock thread {thread_id!r} in {str(folder)!r}: {exc}") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ThreadBusy(busy) from None
            yield HeldThread(thread_id)
        finally:
            os.close(fd)
    elif url.startswith(_POSTGRES_SCHEMES):
        connection = await _connect(url)
        async with connection:  # closing the connection releases the lock
            cursor = await connection.execute(
                "SELECT pg_try_advisory_lock(hashtextextended(%s, 0)) AS held", (f"orch-thread:{thread_id}",)
            )
            row = await cursor.fetchone()
            if not (row and row["held"]):
                raise ThreadBusy(busy)
            yield HeldThread(thread_id, connection)
    else:
        yield HeldThread(thread_id)


async def _connect(url: str) -> Any:
    """One connection with the settings LangGraph's saver needs; a `UsageError` says why not."""
    try:
        import psycopg
        from psycopg.rows import dict_row
    except ImportError:
        raise UsageError(_POSTGRES_EXTRA) from None
    try:
        # LangGraph's saver requires autocommit, no server-side prepared statements
        # (poolers such as PgBouncer reject them) and dict rows.
        return await psycopg.AsyncConnection.connect(
            url, connect_timeout=5, autocommit=True, prepare_threshold=0, row_factory=dict_row
        )
    except psycopg.Error as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reason = " ".join(lines) or type(exc).__name__
        raise UsageError(f"cannot connect to checkpoint database {describe(url)}: {reason}") from None


_POSTGRES_EXTRA = (
    "PostgreSQL checkpoints need the postgres extra: pip install 'orchestration-patterns[postgres]'"
)


@asynccontextmanager
async def _postgres_on(url: str, held: HeldThread) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    """A saver writing through the connection holding `held`'s lock; it serializes its own use of it."""
    saver = _held_saver_type()(held.connection)
    saver.held = held
    if url not in _set_up:
        await saver.setup()
        _set_up.add(url)
    yield saver


@functools.cache
def _held_saver_type() -> Any:
    """The saver class for a held thread, made once (LangGraph's PostgreSQL saver is an extra)."""
    try:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    except ImportError:
        raise UsageError(_POSTGRES_EXTRA) from None
    import psycopg

    class HeldSaver(AsyncPostgresSaver):
        """Writes only while the thread is held: a write on the lost lock's connection is `ThreadBusy`.

        The connection that held the lock is gone, so another owner may hold the
        thread now: the run must stop and be tried again later, like any busy
        thread, not be reported as a failed flow.
        """

        held: HeldThread

        async def aput(
            self,
            config: RunnableConfig,
            checkpoint: Checkpoint,
            metadata: CheckpointMetadata,
            new_versions: ChannelVersions,
        ) -> RunnableConfig:
            try:
                return await super().aput(config, checkpoint, metadata, new_versions)
            except psycopg.OperationalError as exc:
                raise _lost(self.held, exc) from exc

        async def aput_writes(
            self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
        ) -> None:
            try:
                await super().aput_writes(config, writes, task_id, task_path)
            except psycopg.OperationalError as exc:
                raise _lost(self.held, exc) from exc

    return HeldSaver


def _lost(held: HeldThread, exc: Exception) -> ThreadBusy:
    reason = " ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__
    return ThreadBusy(
        f"thread {held.thread_id!r} is no longer held by this process: the connection holding its lock "
        f"was lost ({reason}); another owner may be running it: resume it once that one is done"
    )


@asynccontextmanager
async def _postgres(url: str) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    try:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        from psycopg.rows import dict_row
        from psycopg_pool import AsyncConnectionPool
    except ImportError:
        raise UsageError(_POSTGRES_EXTRA) from None

    # Connect once directly first: the pool would only report a timeout, while
    # psycopg says why (refused, unknown database, bad password).
    probe = await _connect(url)
    await probe.close()

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


def idempotency_key(label: str = "") -> str:
    """A key naming this step of this run, the same when the step runs again, for side effects.

    Call it inside a node or an agent turn of a running flow. It is derived from
    the run's thread id and the task's checkpoint namespace, which holds
    LangGraph's task id: deterministic from the checkpoint the step started
    from, its step number, node name and path. A step that crashed and runs
    again on resume, or is retried, gets the same key; another step, another
    `Send` branch of a map, another run get another. An external write keyed by
    it (`INSERT ... ON CONFLICT DO NOTHING`, an HTTP `Idempotency-Key` header)
    happens once however often the step runs.

    Args:
        label: tells apart several side effects of one step ("charge", "email").

    Returns:
        32 hex digits.

    Raises:
        UsageError: called outside a running flow's node.

    Example:
        ```python
        async def charge(state):
            key = idempotency_key("charge")
            await db.execute(
                "INSERT INTO charges (key, amount) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING",
                (key, state["amount"]),
            )
        ```
    """
    from langgraph.config import get_config

    try:
        configurable = get_config().get("configurable", {})
    except RuntimeError:
        configurable = {}
    thread_id, namespace = configurable.get("thread_id"), configurable.get("checkpoint_ns")
    if thread_id is None or not namespace:
        raise UsageError(
            "idempotency_key() names a step of a running flow: call it inside a node or agent turn"
        )
    return hashlib.sha256(f"{thread_id}\x1f{namespace}\x1f{label}".encode()).hexdigest()[:32]


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
