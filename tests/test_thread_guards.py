"""A thread is one run of one pattern, owned by one process; a bad checkpoint file says what to do.

On SQLite and on the real PostgreSQL: a second process on a running thread is
refused (a lock, not a race), a finished thread is not silently restarted, a
thread is not resumed as another pattern, and a corrupt, truncated or read-only
SQLite file is one `UsageError` naming the file.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from patterns.errors import UsageError
from patterns.runtime import arun, resolve_model
from patterns.runtime._checkpoint import thread_lock


async def test_a_thread_running_elsewhere_is_refused_and_freed_when_its_owner_ends(
    checkpoint_url: str, unique_thread_id: str
) -> None:
    async with thread_lock(checkpoint_url, unique_thread_id):  # another run holds the thread
        with pytest.raises(UsageError, match=f"thread '{unique_thread_id}' is being run by another process"):
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
