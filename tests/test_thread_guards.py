"""A thread is one run of one pattern, owned by one process; a bad checkpoint file says what to do.

On SQLite and on the real PostgreSQL: a second process on a running thread is
refused with `ThreadBusy` (a lock, not a race), a finished thread is not
silently restarted, a thread is not resumed as another pattern, and a corrupt,
truncated or read-only SQLite file is one `UsageError` naming the file. On
PostgreSQL the lock lives on the connection that writes the checkpoints: an
owner whose connection died cannot write again, and another owner takes the
thread without forking its chain. A step's `idempotency_key()` survives a
crash and resume of that step, and differs between steps and branches.
"""

from __future__ import annotations

import asyncio
import operator
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from patterns.errors import ThreadBusy, UsageError
from patterns.runtime import StepEvent, arun, idempotency_key, resolve_model
from patterns.runtime._checkpoint import thread_lock

from ._postgres import checkpoint_rows, lock_holder


async def test_a_thread_running_elsewhere_is_refused_and_freed_when_its_owner_ends(
    checkpoint_url: str, unique_thread_id: str
) -> None:
    async with thread_lock(checkpoint_url, unique_thread_id):  # another run holds the thread
        with pytest.raises(ThreadBusy, match=f"thread '{unique_thread_id}' is being run by another process"):
            await arun(
                "routing",
                model=resolve_model("scripted"),
                checkpoint=checkpoint_url,
                thread_id=unique_thread_id,
            )
    result = await arun(
        "routing", model=resolve_model("scripted"), checkpoint=checkpoint_url, thread_id=unique_thread_id
    )
    assert result.status == "completed"


def test_a_killed_owner_leaves_its_thread_free(
    checkpoint_url: str, unique_thread_id: str, tmp_path: Path
) -> None:
    holder = tmp_path / "holder.py"
    holder.write_text(
        "import asyncio, sys\n"
        "from patterns.runtime._checkpoint import thread_lock\n"
        "async def main():\n"
        "    async with thread_lock(sys.argv[1], sys.argv[2]):\n"
        "        print('held', flush=True)\n"
        "        await asyncio.sleep(3600)\n"
        "asyncio.run(main())\n",
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [sys.executable, str(holder), checkpoint_url, unique_thread_id], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()

    async def take() -> None:
        async with thread_lock(checkpoint_url, unique_thread_id):
            pass

    # PostgreSQL notices the dead connection a moment later; the OS frees a flock at once.
    for _ in range(200):
        try:
            asyncio.run(take())
            break
        except UsageError:
            asyncio.run(asyncio.sleep(0.05))
    else:
        pytest.fail("the killed owner's lock was never released")


async def test_a_used_thread_is_not_restarted_nor_resumed_as_another_pattern(
    checkpoint_url: str, unique_thread_id: str
) -> None:
    model = resolve_model("scripted")
    first = await arun("routing", model=model, checkpoint=checkpoint_url, thread_id=unique_thread_id)
    assert first.status == "completed"
    with pytest.raises(
        UsageError, match=r"already holds a routing run \(finished\).*--resume.*another --thread"
    ):
        await arun("routing", model=model, checkpoint=checkpoint_url, thread_id=unique_thread_id)
    with pytest.raises(
        UsageError, match="holds a routing run, not pipeline: resume it with `orch run routing"
    ):
        await arun(
            "pipeline", model=model, checkpoint=checkpoint_url, thread_id=unique_thread_id, resume=True
        )
    again = await arun(
        "routing", model=model, checkpoint=checkpoint_url, thread_id=unique_thread_id, resume=True
    )
    assert again.status == "completed" and again.output == first.output and again.calls == 0


@pytest.mark.parametrize(
    ("damage", "advice"),
    [
        ("corrupt", "move it away and start again"),
        ("truncated", "move it away and start again"),
        ("read-only", "make the file (and its folder) writable"),
    ],
)
async def test_a_bad_sqlite_file_is_named_with_what_to_do(damage: str, advice: str, tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.sqlite"
    url = f"sqlite:///{path}"
    assert (await arun("routing", model=resolve_model("scripted"), checkpoint=url)).status == "completed"
    if damage == "corrupt":
        path.write_bytes(b"this is not a database" * 500)
    elif damage == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])
    else:
        read_only(path)
    try:
        with pytest.raises(
            UsageError, match=f"SQLite checkpoint file '{path}' is not usable .*: {re.escape(advice)}"
        ):
            await arun("routing", model=resolve_model("scripted"), checkpoint=url)
    finally:
        if damage == "read-only" and os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)], check=True)


def read_only(path: Path) -> None:
    """Root ignores file modes, so as root the file is made immutable (ext4's `chattr +i`)."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=True)
    else:
        path.chmod(0o444)


# -- PostgreSQL: the lock and the writes share one connection ---------------------------


@pytest.mark.postgres
async def test_an_owner_whose_lock_connection_died_cannot_write_and_another_takes_the_thread(
    postgres_url: str, unique_thread_id: str
) -> None:
    import psycopg

    t = unique_thread_id
    expected = await arun("refinement", model=resolve_model("scripted"), checkpoint="memory")
    admin = psycopg.connect(postgres_url, autocommit=True)
    seen: dict[str, Any] = {}

    def cut_the_lock(event: StepEvent) -> None:
        # The first finished step: its writes are saved. Kill the session holding the
        # lock (as a server restart or a network cut would), waiting until it is gone.
        if event.end is None or seen:
            return
        pid = lock_holder(admin, t)
        assert pid is not None, "the running thread holds no lock"
        assert admin.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,)).fetchone() == (True,)
        seen["pid"], seen["rows"] = pid, checkpoint_rows(admin, t)

    try:
        with pytest.raises(ThreadBusy, match=f"thread '{t}' is no longer held by this process"):
            await arun(
                "refinement",
                model=resolve_model("scripted"),
                checkpoint=postgres_url,
                thread_id=t,
                durability="sync",
                on_step=cut_the_lock,
            )
        assert seen["rows"], "nothing was saved before the cut"
        # The run went on to its next step, but not one more checkpoint reached the table.
        assert checkpoint_rows(admin, t) == seen["rows"]
        assert lock_holder(admin, t) is None

        resumed = await arun(
            "refinement", model=resolve_model("scripted"), checkpoint=postgres_url, thread_id=t, resume=True
        )
        assert resumed.status == "completed" and resumed.output == expected.output
        chain = checkpoint_rows(admin, t)
        parents = [parent for _, parent in chain]
        assert len(parents) == len(set(parents)), f"a forked chain: {chain}"
        assert set(seen["rows"]) <= set(chain)
    finally:
        admin.close()


@pytest.mark.postgres
async def test_a_busy_thread_on_postgres_is_thread_busy_with_what_to_do(
    postgres_url: str, unique_thread_id: str
) -> None:
    async with thread_lock(postgres_url, unique_thread_id) as held:
        assert held.connection is not None
        with pytest.raises(ThreadBusy) as refused:
            async with thread_lock(postgres_url, unique_thread_id):
                pass
    assert isinstance(refused.value, UsageError)
    assert str(refused.value).splitlines() == [
        f"thread '{unique_thread_id}' is being run by another process; wait for it, or use another --thread"
    ]


# -- idempotency keys ------------------------------------------------------------------


class BranchState(TypedDict):
    items: list[int]
    keys: Annotated[list[tuple[int, str]], operator.add]


async def test_an_idempotency_key_survives_a_crash_and_differs_between_branches(
    unique_thread_id: str,
) -> None:
    calls: list[tuple[int, str]] = []
    crash = {2}  # branch 2 crashes on its first run, as a process killed mid-step

    def work(state: BranchState) -> dict[str, Any]:
        item = state["items"][0]
        key = idempotency_key()
        calls.append((item, key))
        assert idempotency_key("email") != key
        if item in crash:
            crash.discard(item)
            raise RuntimeError("crashed mid-step")
        return {"keys": [(item, key)]}

    builder = StateGraph(BranchState)
    builder.add_node("work", work)
    builder.add_conditional_edges(
        START, lambda s: [Send("work", {"items": [i], "keys": []}) for i in s["items"]]
    )
    builder.add_edge("work", END)
    graph = builder.compile(checkpointer=InMemorySaver())
    config: Any = {"configurable": {"thread_id": unique_thread_id}}

    with pytest.raises(RuntimeError, match="crashed mid-step"):
        await graph.ainvoke({"items": [1, 2, 3], "keys": []}, config, durability="sync")
    done = await graph.ainvoke(None, config, durability="sync")

    # The crashed branch ran again (and any branch cancelled before it started ran for the
    # first time), each run of a branch with the same key; the three keys differ.
    keys: dict[int, set[str]] = {}
    for item, key in calls:
        keys.setdefault(item, set()).add(key)
    assert [i for i, _ in calls].count(2) == 2
    assert all(len(seen) == 1 for seen in keys.values()), keys
    before = {item: next(iter(seen)) for item, seen in keys.items()}
    assert dict(done["keys"]) == before
    assert len(set(before.values())) == 3, "two branches share a key"

    other: Any = {"configurable": {"thread_id": unique_thread_id + "-other"}}
    calls.clear()
    await graph.ainvoke({"items": [1], "keys": []}, other)
    assert calls[0][1] not in before.values(), "another run reuses a key"


def test_an_idempotency_key_outside_a_flow_is_one_clear_error() -> None:
    with pytest.raises(UsageError, match=r"call it inside a node or agent turn"):
        idempotency_key()
