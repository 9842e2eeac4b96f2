"""A step reported done is saved: a run SIGKILLed right after an "ok" line never redoes that step.

The child prints a line per finished step, as `orch run` does, and is killed
0 to 10 ms after its k-th "ok" line, while two other processes keep both CPUs
busy. The resumed run's calls (the scripted model's call log) must not include
any step that had been reported: of the 40 map batches, it asks at most the
ones never reported, and its output equals an uninterrupted run's.

Children are forked from a zygote that has imported the kit once, so thirty
kills per saver cost milliseconds each, not an interpreter start.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from patterns.errors import UsageError
from patterns.presets import reviews
from patterns.runtime import arun, resolve_model
from patterns.runtime._checkpoint import thread_lock
from patterns.testing import LatencyPolicy

KILLS = 30
DEADLINE = 30.0
INPUT = {"items": reviews(200), "batch_size": 5, "max_concurrency": 8}  # 40 batches
BATCHES = 40

# Reads one JSON job per stdin line, forks a child that runs it, and answers with the child's pid.
ZYGOTE = """
import asyncio, json, os, sys
from pathlib import Path

from patterns.runtime import arun, resolve_model
from patterns.runtime._checkpoint import thread_lock
from patterns.testing import LatencyPolicy


def run(job):
    out = os.open(job["progress"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)

    def on_step(event):
        if event.end is not None:
            os.write(out, f"{event.agent} {event.status}\\n".encode())  # unbuffered, as a terminal sees it

    model = resolve_model("scripted", latency=LatencyPolicy(mean=job["latency"]), log_path=Path(job["log"]))
    asyncio.run(arun("map_reduce", job["input"], model=model, checkpoint=job["checkpoint"],
                     thread_id=job["thread"], durability="sync", on_step=on_step))


for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        try:
            run(job)
        finally:
            os._exit(0)
    print(pid, flush=True)
    while os.waitpid(-1, os.WNOHANG)[0] > 0:  # reap the children already killed
        pass
"""


class Zygote:
    def __init__(self, workdir: Path) -> None:
        script = workdir / "zygote.py"
        script.write_text(ZYGOTE, encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k not in ("ORCH_MODEL", "ORCH_BASE_URL")}
        self.proc = subprocess.Popen(
            [sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )

    def fork(self, **job: Any) -> int:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def busy_cpus() -> Iterator[None]:
    """Both CPUs busy for the whole test, as on a loaded machine, where the window was widest."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    yield
    for burner in burners:
        burner.kill()
        burner.wait()


async def until_free(url: str, thread: str) -> None:
    """Wait until the killed run's thread lock is gone: the OS, or PostgreSQL, frees it a moment later."""
    deadline = time.monotonic() + DEADLINE
    while True:
        try:
            async with thread_lock(url, thread):
                return
        except UsageError:
            assert time.monotonic() < deadline, f"thread {thread} still locked after its owner was killed"
            await asyncio.sleep(0.01)


def ok_lines(path: Path) -> int:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return sum(1 for line in text.splitlines(keepends=True) if line == "map_batch ok\n")


def map_calls(log: Path) -> int:
    text = log.read_text(encoding="utf-8") if log.exists() else ""
    return sum(1 for line in text.splitlines(keepends=True) if line.endswith("\n") and '"mapper"' in line)


@pytest.mark.slow
async def test_no_step_reported_ok_is_run_again_after_a_kill(
    checkpoint_url: str, tmp_path: Path, unique_thread_id: str, busy_cpus: None
) -> None:
    fresh_log = tmp_path / "fresh.jsonl"
    fresh = await arun(
        "map_reduce", INPUT, model=resolve_model("scripted", log_path=fresh_log), checkpoint="memory"
    )
    assert fresh.status == "completed" and map_calls(fresh_log) == BATCHES

    zygote, rng, redone = Zygote(tmp_path), random.Random(checkpoint_url.split(":")[0]), []
    try:
        for kill in range(KILLS):
            thread, progress = f"{unique_thread_id}-{kill}", tmp_path / f"progress-{kill}.txt"
            k = rng.randint(1, BATCHES - 5)
            pid = zygote.fork(
                input=INPUT,
                latency=0.05,
                checkpoint=checkpoint_url,
                thread=thread,
                progress=str(progress),
                log=str(tmp_path / f"crashed-{kill}.jsonl"),
            )
            deadline = time.monotonic() + DEADLINE
            while ok_lines(progress) < k:
                assert time.monotonic() < deadline, f"kill {kill}: no {k} ok lines in time"
                await asyncio.sleep(0.0005)
            await asyncio.sleep(rng.uniform(0, 0.010))
            os.kill(pid, signal.SIGKILL)
            reported = ok_lines(progress)  # what the user saw before the process died
            await until_free(checkpoint_url, thread)

            resumed_log = tmp_path / f"resumed-{kill}.jsonl"
            model = resolve_model("scripted", latency=LatencyPolicy(), log_path=resumed_log)
            resumed = await arun(
                "map_reduce", model=model, checkpoint=checkpoint_url, thread_id=thread, resume=True
            )
            assert resumed.status == "completed", resumed.error
            assert resumed.output == fresh.output, f"kill {kill}: a different answer after the resume"
            redone.append((reported, map_calls(resumed_log)))
    finally:
        zygote.close()
    # Each batch is one call: a resume that asks more than the unreported ones redid a reported step.
    rerun = [(reported, asked) for reported, asked in redone if asked > BATCHES - reported]
    assert not rerun, f"(steps reported ok, batches asked again) where a reported step re-ran: {rerun}"
