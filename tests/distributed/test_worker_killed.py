"""A worker SIGKILLed mid-run loses nothing: the message comes back, another worker resumes it.

Two real `orch worker` processes (Celery, solo or prefork pool) consume one partition on
the real RabbitMQ, with checkpoints in the real PostgreSQL. The scripted model
is slow (0.3 s a call) so that the run is mid-flight when the worker that owns
it (the runs table says which) is frozen, its checkpoint read, and the whole
process group SIGKILLed. The witness is each worker's call log: one line per
completed model call, with the superstep that made it and a hash of the
prompt. The other worker must resume from the checkpoint: no call of a saved
superstep is made again, every call an uninterrupted run makes is made, the
only calls made twice are those of the superstep in flight, and the output is
the uninterrupted run's. Order and causality are asserted, never durations;
the time to redelivery is printed (`pytest -s`) for the README.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from distributed._client import submit
from distributed._runs import Runs
from distributed._settings import Settings
from patterns.presets import PATTERNS
from patterns.runtime import arun, open_checkpointer, resolve_model

from .conftest import Worker, Workers, delete_layout, make_settings, wait_for

LATENCY = (
    "0.8"  # seconds a scripted call takes: about five seconds a run, so a loaded machine still kills mid-run
)
KILL_AFTER = 2  # completed calls, of the six a refinement run makes


@pytest.fixture
def one_partition(rabbitmq_url: str, cluster_db: str) -> Iterator[Settings]:
    settings = make_settings(rabbitmq_url, cluster_db, partitions=1)
    yield settings
    delete_layout(settings)


def shas(calls: list[dict[str, Any]]) -> Counter[str]:
    return Counter(c["prompt_sha"] for c in calls)


def read_calls(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize("pool_kind", ["solo", "prefork"])
async def test_a_worker_killed_mid_run_loses_nothing(
    pool_kind: str, one_partition: Settings, workers: Workers, tmp_path: Path
) -> None:
    settings = one_partition
    reference_log = tmp_path / "uninterrupted.jsonl"
    uninterrupted = await arun(
        "refinement", model=resolve_model("scripted", log_path=reference_log), checkpoint="memory"
    )
    expected = read_calls(reference_log)
    assert uninterrupted.status == "completed" and len(expected) == 6
    first_agent_step = min(c["langgraph_step"] for c in expected)

    pool = {
        name: workers.start(settings, name, "--pool", pool_kind, "--latency", LATENCY)
        for name in ("w1", "w2")
    }
    for worker in pool.values():
        worker.wait_ready()

    t = f"killed-{uuid.uuid4().hex[:10]}"
    submit(settings, "refinement", thread_id=t)
    runs = Runs(settings.database_url)
    config: dict[str, Any] = {"configurable": {"thread_id": t}}
    async with open_checkpointer(settings.database_url) as saver:
        graph = PATTERNS["refinement"].compile(checkpointer=saver)
        owner = await _freeze_mid_run(runs, t, pool, graph, config, first_agent_step)
        owner.kill()
        killed_at = time.monotonic()
        snapshot = await graph.aget_state(config)
    assert owner.proc.returncode == -signal.SIGKILL
    step = snapshot.metadata["step"]
    assert snapshot.next and "result" not in snapshot.values, "the kill came after the run had finished"
    saved_tasks = sum(1 for task in snapshot.tasks if task.result is not None)

    survivor = next(w for w in pool.values() if w is not owner)
    resumed_after = _wait_for_owner(runs, t, survivor, killed_at)
    done = wait_for(settings, t, "completed", "failed", "dead")

    assert done.status == "completed", done.error
    assert done.result is not None and done.result["output"] == uninterrupted.output
    assert survivor.owns(done.worker)
    assert done.segment == 0 and done.attempts == 2, "the killed delivery was not counted, or not redelivered"

    crashed, redone = owner.call_log(), survivor.call_log()
    completed = [c for c in crashed if c["langgraph_step"] <= step]
    in_flight = [c for c in crashed if c["langgraph_step"] > step]
    where = (
        f"killed after {len(crashed)} calls at saved step {step} ({saved_tasks} results pending); "
        f"the survivor made {len(redone)}, an uninterrupted run makes {len(expected)}"
    )
    print(f"\n{pool_kind}: {where}; {survivor.name} claimed it {resumed_after:.2f} s after the SIGKILL")
    # durability="sync": superstep n is saved before n + 1 starts, so only one is in flight.
    assert all(c["langgraph_step"] == step + 1 for c in in_flight), where
    # The survivor resumed from the checkpoint, not from the start ...
    assert redone and min(c["langgraph_step"] for c in redone) == step + 1, where
    # ... made no saved call again ...
    assert not shas(completed) & shas(redone), f"saved work done again: {where}"
    # ... and skipped none: each call of the uninterrupted run was made before the kill
    # (and saved) or after it; what neither side made is a result the checkpoint held.
    made = shas(completed) + shas(redone)
    assert not made - shas(expected), f"a call no uninterrupted run makes: {where}"
    not_redone = shas(expected) - made
    assert not not_redone - shas(in_flight), f"calls skipped: {where}"
    assert sum(not_redone.values()) == saved_tasks, where
    # Only the step in flight ran twice.
    twice = (shas(crashed) + shas(redone)) - shas(expected)
    assert not twice - shas(in_flight), where


async def _freeze_mid_run(
    runs: Runs, thread_id: str, pool: dict[str, Worker], graph: Any, config: dict[str, Any], first_step: int
) -> Worker:
    """The worker running `thread_id`, frozen (SIGSTOP) once its checkpoint holds some of its work."""
    deadline = time.monotonic() + 60
    while True:
        assert time.monotonic() < deadline, "the run never got under way"
        run = runs.get(thread_id)
        owner = next((w for w in pool.values() if run and w.owns(run.worker)), None)
        assert run is None or run.status in ("queued", "running"), f"the run ended before the kill: {run}"
        running = owner is not None and run is not None and run.status == "running"
        # Progress is read from the checkpoint, which the worker saves before it goes on; its call
        # log may lag. Frozen only between two saved steps, and only while the run is unfinished.
        if owner is not None and running and await _under_way(graph, config, first_step):
            os.killpg(owner.proc.pid, signal.SIGSTOP)  # it must not finish while we look
            if await _under_way(graph, config, first_step) and len(owner.call_log()) >= KILL_AFTER:
                return owner
            os.killpg(owner.proc.pid, signal.SIGCONT)
        time.sleep(0.01)


async def _under_way(graph: Any, config: dict[str, Any], first_step: int) -> bool:
    snapshot = await graph.aget_state(config)
    return bool(snapshot.created_at is not None and snapshot.metadata["step"] >= first_step and snapshot.next)


def _wait_for_owner(runs: Runs, thread_id: str, worker: Worker, since: float) -> float:
    """Seconds from `since` until `worker` claimed the run."""
    deadline = since + 60
    while time.monotonic() < deadline:
        run = runs.get(thread_id)
        if run is not None and worker.owns(run.worker):
            return time.monotonic() - since
        time.sleep(0.01)
    raise AssertionError(f"{worker.name} never claimed {thread_id}:\n{worker.output()[-3000:]}")
