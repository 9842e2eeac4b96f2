"""One worker shared by this module's tests: round trips, budgets, answers, busy threads, poison.

The worker runs two prefork processes with a budget of two steps per
delivery, so every run here is cut into segments, each a message of its own;
a run's result must still equal an uninterrupted in-process run's, with each
step run once (the runs table counts the steps that finished).
"""

from __future__ import annotations

import json
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from distributed._client import get_status, submit
from distributed._errors import UnknownRun
from distributed._queues import partition_of
from distributed._runs import Runs
from distributed._settings import Settings
from patterns.presets import PATTERNS
from patterns.runtime import RunResult, arun, open_checkpointer, resolve_model
from patterns.runtime._checkpoint import thread_lock

from .._samples import SPLIT_VOTE
from .conftest import Worker, Workers, dead_letters, delete_layout, make_settings, orch, wait_for


@dataclass
class Cluster:
    settings: Settings
    worker: Worker
    flows: Path  # on the worker's PYTHONPATH: declared flows every process can import


@pytest.fixture(scope="module")
def cluster(
    rabbitmq_url: str, cluster_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    settings = make_settings(rabbitmq_url, cluster_db)
    folder = tmp_path_factory.mktemp("cluster")
    flows = folder / "flows"
    flows.mkdir()
    pool = Workers(folder)
    try:
        worker = pool.start(settings, "shared", "--concurrency", "2", "--budget-steps", "2", pythonpath=flows)
        worker.wait_ready()
        yield Cluster(settings, worker, flows)
    finally:
        pool.stop_all()
        delete_layout(settings)


def thread(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:10]}"


async def uninterrupted(pattern: str, data: Any = None) -> RunResult:
    result = await arun(pattern, data, model=resolve_model("scripted"), checkpoint="memory")
    assert result.status in ("completed", "interrupted"), result.error
    return result


async def checkpoint_steps(url: str, pattern: str, thread_id: str) -> list[int]:
    async with open_checkpointer(url) as saver:
        graph = PATTERNS[pattern].compile(checkpointer=saver)
        history = graph.aget_state_history({"configurable": {"thread_id": thread_id}})
        return [snapshot.metadata["step"] async for snapshot in history]


# -- submit, status, result --------------------------------------------------------


async def test_submit_status_result_round_trip_through_the_cli(cluster: Cluster) -> None:
    expected = await uninterrupted("refinement")
    t = thread("round-trip")

    submitted = orch(cluster.settings, "submit", "refinement", "--thread", t, "--json")
    assert submitted.returncode == 0, submitted.stderr
    queued = json.loads(submitted.stdout)
    assert queued["status"] == "queued" and queued["thread_id"] == t
    assert queued["partition"] == partition_of(t, cluster.settings.partitions)

    result = orch(cluster.settings, "result", t, "--wait", "60", "--json")
    assert result.returncode == 0, result.stderr
    done = json.loads(result.stdout)
    assert done["status"] == "completed", done
    assert done["result"]["output"] == expected.output

    status = orch(cluster.settings, "status", t, "--json")
    assert status.returncode == 0, status.stderr
    row = json.loads(status.stdout)
    # Seven steps on a budget of two: four deliveries, each published by the one before.
    assert row["segment"] == 3
    assert row["steps"] == len(expected.steps) == 7, "a step ran twice, or was skipped, across segments"
    assert cluster.worker.owns(row["worker"]) and row["error"] is None
    # One checkpoint chain: a second writer would have forked it (two checkpoints for one step).
    steps = await checkpoint_steps(cluster.settings.database_url, "refinement", t)
    assert len(steps) == len(set(steps))


# -- a debate waiting for a human ----------------------------------------------------


async def test_answer_resumes_a_debate_waiting_for_a_human(cluster: Cluster, tmp_path: Path) -> None:
    t = thread("split-vote")
    split = tmp_path / "split.json"
    split.write_text(json.dumps(SPLIT_VOTE), encoding="utf-8")
    assert orch(cluster.settings, "submit", "debate", "--thread", t, "--input", str(split)).returncode == 0

    waiting = orch(cluster.settings, "result", t, "--wait", "60", "--json")
    assert waiting.returncode == 3, waiting.stderr  # as `orch run`: paused for a human
    row = json.loads(waiting.stdout)
    assert row["status"] == "waiting" and row["interrupt"]["options"] == ["kafka", "rabbitmq"]

    refused = orch(cluster.settings, "answer", t, "zookeeper")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        f"orch: error: 'zookeeper' is not an option for thread '{t}'; answer one of: kafka, rabbitmq"
    ]
    assert get_status(cluster.settings, t).status == "waiting", "a refused answer must not be queued"

    assert orch(cluster.settings, "answer", t, "rabbitmq").returncode == 0
    decided = orch(cluster.settings, "result", t, "--wait", "60", "--json")
    assert decided.returncode == 0, decided.stderr
    result = json.loads(decided.stdout)["result"]
    assert result["output"]["decision"] == "rabbitmq" and result["output"]["decided_by"] == "human"
    assert result["resumed"] and result["calls"] == 0, "resuming with the answer re-ran the debaters"

    again = orch(cluster.settings, "answer", t, "kafka")
    assert again.returncode == 2 and "is not waiting for an answer (it is completed)" in again.stderr


# -- one owner per thread ------------------------------------------------------------


async def test_a_busy_thread_is_retried_later_never_run_twice(cluster: Cluster) -> None:
    expected = await uninterrupted("pipeline")
    t = thread("busy")
    url = cluster.settings.database_url
    async with thread_lock(url, t):  # another owner holds the thread
        submit(cluster.settings, "pipeline", thread_id=t)
        runs = Runs(url)
        for _ in range(600):
            run = runs.get(t)
            assert run is not None
            if run.retries >= 3:
                break
            time.sleep(0.05)
        # It went back to wait three times, and ran nothing meanwhile.
        assert run.retries >= 3 and run.status in ("queued", "running") and run.steps == 0, run
        assert await checkpoint_steps(url, "pipeline", t) == []
    done = wait_for(cluster.settings, t, "completed", "failed", "dead")
    assert done.status == "completed", done.error
    assert done.result is not None and done.result["output"] == expected.output
    assert done.steps == len(expected.steps)
    steps = await checkpoint_steps(url, "pipeline", t)
    assert len(steps) == len(set(steps))


# -- poison messages -----------------------------------------------------------------


def test_a_flow_the_workers_cannot_import_is_dead_lettered_with_its_error(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Deployed on the submitter only: every delivery fails to import it.
    module = f"only_here_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(DECLARED_FLOW, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    t = thread("poison-import")
    submit(cluster.settings, flow=f"{module}:FLOW", thread_id=t, input={"input": {"text": "hello"}})

    dead = wait_for(cluster.settings, t, "dead", "completed", "failed")
    limit = cluster.settings.delivery_limit
    assert dead.status == "dead"
    assert dead.attempts == limit + 1  # the broker's count: the last delivery gave up
    assert dead.error is not None
    assert dead.error.startswith(f"dead-lettered after {limit} deliveries of segment 0; the last error: ")
    assert (
        f"delivery {limit} of segment 0 failed: ImportError: cannot import the module of flow " in dead.error
    )
    assert f"No module named '{module}'" in dead.error
    assert [t, 0] in wait_for_dead_letter(cluster.settings, t)


def test_a_message_that_kills_its_worker_every_time_is_dead_lettered(cluster: Cluster) -> None:
    module = f"crashing_{uuid.uuid4().hex[:8]}"
    (cluster.flows / f"{module}.py").write_text(CRASHING_FLOW, encoding="utf-8")
    sys.path.insert(0, str(cluster.flows))
    try:
        t = thread("poison-crash")
        submit(cluster.settings, flow=f"{module}:FLOW", thread_id=t, input={"input": {"text": "hello"}})
        dead = wait_for(cluster.settings, t, "dead", "completed", "failed", timeout=90)
    finally:
        sys.path.remove(str(cluster.flows))
    limit = cluster.settings.delivery_limit
    assert dead.status == "dead"
    assert dead.error == (
        f"dead-lettered after {limit} deliveries of segment 0; the last error: delivery {limit} of "
        "segment 0 was lost: its worker died or lost its broker connection"
    )
    assert [t, 0] in wait_for_dead_letter(cluster.settings, t)
    # The pool replaced its killed processes: the worker still runs runs.
    t2 = thread("after-crashes")
    submit(cluster.settings, "routing", thread_id=t2)
    assert wait_for(cluster.settings, t2, "completed", "failed", "dead").status == "completed"


def wait_for_dead_letter(settings: Settings, thread_id: str) -> list[list[Any]]:
    # Dead-lettering (at least once) reaches the queue a moment after the reject.
    for _ in range(100):
        found = dead_letters(settings)
        if any(args[0] == thread_id for args in found):
            return found
        time.sleep(0.05)
    return []


DECLARED_FLOW = textwrap.dedent('''
    """A declared pipeline of one function stage: no model call."""
    from patterns.flows import pipeline


    async def shout(payload):
        return {"text": payload["text"].upper()}


    FLOW = pipeline.SPEC.flow(stages=[shout])
''')

CRASHING_FLOW = textwrap.dedent('''
    """A declared pipeline whose stage kills the process running it: a poison message."""
    import os
    import signal

    from patterns.flows import pipeline


    async def crash(payload):
        os.kill(os.getpid(), signal.SIGKILL)


    FLOW = pipeline.SPEC.flow(stages=[crash])
''')


def test_a_run_nobody_submitted_is_unknown(cluster: Cluster) -> None:
    with pytest.raises(UnknownRun, match="no run with thread"):
        get_status(cluster.settings, thread("never"))


# -- the front door, with a worker behind it -----------------------------------------


def test_the_front_door_submits_follows_and_answers_a_run(cluster: Cluster) -> None:
    from starlette.testclient import TestClient

    from distributed._http import create_front_door

    t = thread("door")
    with TestClient(create_front_door(cluster.settings)) as door:
        created = door.post("/runs", json={"pattern": "debate", "thread_id": t, "input": SPLIT_VOTE})
        assert created.status_code == 202, created.text
        wait_for(cluster.settings, t, "waiting")
        status = door.get(f"/runs/{t}").json()
        assert status["status"] == "waiting" and status["interrupt"]["options"] == ["kafka", "rabbitmq"]
        assert "input" not in status and "answer" not in status

        early = door.get(f"/runs/{t}/result")
        assert early.status_code == 409 and early.json()["error"]["code"] == "run_waiting"
        wrong = door.post(f"/runs/{t}/answer", json={"answer": "zookeeper"})
        assert wrong.status_code == 422 and "not an option" in wrong.json()["error"]["message"]

        answered = door.post(f"/runs/{t}/answer", json={"answer": "kafka"})
        assert answered.status_code == 202 and answered.json()["status"] == "queued"
        wait_for(cluster.settings, t, "completed", "failed", "dead")
        result = door.get(f"/runs/{t}/result")
    assert result.status_code == 200, result.text
    body = result.json()
    assert body["status"] == "completed" and body["error"] is None
    assert body["output"]["decision"] == "kafka" and body["output"]["decided_by"] == "human"
