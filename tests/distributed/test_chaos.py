"""Chaos on a real cluster: workers killed, stopped and raced, and still nothing lost, doubled or forked.

Real `orch worker` processes (Celery) consume the real RabbitMQ (or Redis) with
checkpoints in the real PostgreSQL, and run a mix of threads: map-reduce,
debate, refinement and a declared flow that is no preset, whose function
stage writes one row keyed by `idempotency_key()` into a table of this test's
own. Each thread has an input of its own, so each of its model calls has a
prompt no other thread's has: the workers' call logs say which thread made
which call. The scripted model is slowed (`--latency`) so runs are under way
when the chaos comes.

- Killed: the worker that owns a running thread (the runs table says which)
  is SIGKILLed at seeded random points and a replacement started; the first
  kill lands between a booking and the save of its step, so that step runs
  again and must book with the same key. The prefork variant spreads maps'
  batches over the workers (`--spread-branches`).
- Raced (Redis): a visibility timeout shorter than a run hands running
  messages to a second worker; the thread's lock refuses it.
- Stopped (Redis): a worker is SIGSTOPped past the visibility timeout, its
  lock's connection is cut while it sleeps, another worker finishes the
  thread; SIGCONTed, the first must write nothing more.

Every run must end with the in-process run's output; every model call of the
uninterrupted run is made, and the only calls made again are those of a
superstep in flight when its owner died (once per death, no more); each
idempotency key has one row, each declared thread one key; no thread's main
checkpoint chain forks (two checkpoints with the same parent). Order, counts
and causality are asserted, never durations. `pytest -s` prints the figures.
"""

from __future__ import annotations

import copy
import json
import os
import random
import signal
import textwrap
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from distributed._app import configure
from distributed._client import submit
from distributed._runs import Run, Runs
from distributed._settings import Settings
from patterns.runtime import PatternSpec, arun, get_flow, resolve_model

from .._postgres import checkpoint_rows, lock_holder
from .conftest import Worker, Workers, delete_layout, make_settings, wait_for

pytestmark = pytest.mark.slow

LATENCY = "0.15"  # seconds a scripted call takes: a run lasts about a second, long enough to be hit
KINDS = ("map_reduce", "debate", "refinement", "declared")
EFFECTS = "chaos_effects"
FLOW_MODULE = "chaos_flows"

DECLARED = textwrap.dedent(f'''
    """A declared flow that is no preset: an extractor agent, then a booking keyed by idempotency_key()."""
    import asyncio
    import os

    import psycopg
    from langgraph.config import get_config

    from patterns.flows import pipeline
    from patterns.presets.invoices import EXTRACTOR
    from patterns.runtime import idempotency_key


    async def book(payload):
        thread = get_config()["configurable"]["thread_id"]
        key = idempotency_key("book")
        async with await psycopg.AsyncConnection.connect(os.environ["CHAOS_EFFECTS_URL"], autocommit=True) as db:
            # Every attempt is counted; the booking itself is made once per key.
            await db.execute(
                "INSERT INTO {EFFECTS}_attempts (key, thread_id, pid) VALUES (%s, %s, %s)",
                (key, thread, os.getpid()),
            )
            await db.execute(
                "INSERT INTO {EFFECTS} (key, thread_id) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING",
                (key, thread),
            )
        # Booked, not yet saved: a worker killed now runs this step again, with the same key.
        await asyncio.sleep(float(os.environ.get("CHAOS_BOOK_PAUSE", "0")))
        return {{**payload, "booked": True}}


    FLOW = pipeline.SPEC.flow(stages=[EXTRACTOR, book])
''')


@dataclass
class Case:
    """One thread: what it runs, and what its uninterrupted in-process run did."""

    thread_id: str
    kind: str
    input: Any
    output: Any = None
    calls: Counter[str] = field(default_factory=Counter)  # prompt sha -> times
    steps: dict[str, int] = field(default_factory=dict)  # prompt sha -> langgraph step
    killed: int = 0  # deliveries of it lost with their worker


@dataclass
class Chaos:
    settings: Settings
    workers: Workers
    flows: Path
    folder: Path
    admin: Any  # a psycopg connection to the cluster's database
    worker_args: tuple[str, ...] = ()
    book_pause: float = 0.3  # seconds the declared flow's booking step waits after booking
    pool: list[Worker] = field(default_factory=list)
    started: int = 0

    def start(self) -> Worker:
        self.started += 1
        env = {"CHAOS_EFFECTS_URL": self.settings.database_url, "CHAOS_BOOK_PAUSE": str(self.book_pause)}
        worker = self.workers.start(
            self.settings, f"w{self.started}", *self.worker_args, pythonpath=self.flows, env=env
        )
        self.pool.append(worker)
        return worker


@pytest.fixture
def chaos(rabbitmq_url: str, cluster_db: str, workers: Workers, tmp_path: Path) -> Iterator[Chaos]:
    settings = make_settings(rabbitmq_url, cluster_db, delivery_limit=5)
    yield from _chaos(settings, workers, tmp_path)
    delete_layout(settings)


@pytest.fixture
def redis_chaos(
    redis_url: str, rabbitmq_url: str, cluster_db: str, workers: Workers, tmp_path: Path
) -> Iterator[Chaos]:
    # A database of its own: kombu's unacknowledged-message keys are not under the queue prefix.
    url = redis_url.rsplit("/", 1)[0] + "/11"
    settings = make_settings(url, cluster_db, delivery_limit=5)
    try:
        yield from _chaos(settings, workers, tmp_path)
    finally:
        workers.stop_all()
        workers.started.clear()
        configure(make_settings(rabbitmq_url, cluster_db))  # this process's publisher back on RabbitMQ
        import redis

        client = redis.Redis.from_url(url)
        client.flushdb()
        client.close()


def _chaos(settings: Settings, workers: Workers, tmp_path: Path) -> Iterator[Chaos]:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / f"{FLOW_MODULE}.py").write_text(DECLARED, encoding="utf-8")
    with psycopg.connect(settings.database_url, autocommit=True) as admin:
        admin.execute(f"CREATE TABLE IF NOT EXISTS {EFFECTS} (key text PRIMARY KEY, thread_id text NOT NULL)")
        admin.execute(
            f"CREATE TABLE IF NOT EXISTS {EFFECTS}_attempts (key text, thread_id text, pid integer)"
        )
        yield Chaos(settings, workers, flows, tmp_path, admin)


def declared_flow(flows: Path, monkeypatch: pytest.MonkeyPatch, url: str) -> PatternSpec:
    """The declared flow, imported here as the workers import it (for the in-process runs)."""
    import importlib

    monkeypatch.syspath_prepend(str(flows))
    monkeypatch.setenv("CHAOS_EFFECTS_URL", url)
    flow = importlib.import_module(FLOW_MODULE).FLOW
    assert isinstance(flow, PatternSpec)
    return flow


def input_for(kind: str, i: int) -> Any:
    """The sample input of `kind`, made this thread's own (every prompt differs from other threads')."""
    sample = copy.deepcopy(dict(get_flow("pipeline" if kind == "declared" else kind).sample or {}))
    if kind == "map_reduce":
        sample["items"] = [{**item, "id": f"t{i}-{item['id']}"} for item in sample["items"][:8]]
    elif kind == "debate":
        sample["question"] += f" (case {i})"
    elif kind == "refinement":
        sample["topic"] += f" #{i}"
    else:
        return {"input": {"document": sample["document"].replace("inv-2026-0042", f"inv-2026-{i:04d}")}}
    return sample


async def prepare(chaos: Chaos, count: int, flow: PatternSpec, tag: str) -> list[Case]:
    """`count` threads over the kinds, each with its uninterrupted in-process run (its output, its calls)."""
    cases = []
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        case = Case(f"{tag}-{kind}-{i}-{uuid.uuid4().hex[:6]}", kind, input_for(kind, i))
        log = chaos.folder / f"reference-{i}.jsonl"
        result = await arun(
            flow if kind == "declared" else kind,
            case.input,
            model=resolve_model("scripted", log_path=log),
            checkpoint="memory",
        )
        assert result.status == "completed", result.error
        case.output = result.output
        for call in read_calls(log):
            case.calls[call["prompt_sha"]] += 1
            case.steps[call["prompt_sha"]] = call["langgraph_step"]
        cases.append(case)
    shas = [sha for case in cases for sha in case.calls]
    assert len(shas) == len(set(shas)), (
        "two threads make the same call: the call logs could not tell them apart"
    )
    return cases


def read_calls(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]


def submit_all(chaos: Chaos, cases: list[Case]) -> None:
    for case in cases:
        if case.kind == "declared":
            submit(chaos.settings, flow=f"{FLOW_MODULE}:FLOW", thread_id=case.thread_id, input=case.input)
        else:
            submit(chaos.settings, case.kind, thread_id=case.thread_id, input=case.input)


def running(chaos: Chaos, cases: list[Case], *, booking: bool = False) -> list[tuple[str, str]]:
    """(thread, worker) of the cases running now with a step saved past their input (or booking now)."""
    progress = (
        f"EXISTS (SELECT 1 FROM {EFFECTS}_attempts a WHERE a.thread_id = r.thread_id)"
        if booking
        else "(SELECT count(*) FROM checkpoints c WHERE c.thread_id = r.thread_id AND c.checkpoint_ns = '') >= 2"
    )
    rows = chaos.admin.execute(
        "SELECT r.thread_id, r.worker FROM orch_runs r"
        f" WHERE r.status = 'running' AND r.thread_id = ANY(%s) AND {progress}",
        ([c.thread_id for c in cases],),
    ).fetchall()
    return [(str(t), str(w)) for t, w in rows]


def kill_an_owner(
    chaos: Chaos, cases: list[Case], rng: random.Random, *, booking: bool = False
) -> tuple[Worker, list[str]]:
    """SIGKILL a live worker that owns a running thread, at a random point; the threads it held.

    With `booking`, the thread is a declared one between its booking and the save of that step.
    """
    by_id = {case.thread_id: case for case in cases}
    deadline = time.monotonic() + 60
    while True:
        assert time.monotonic() < deadline, "no thread was ever running to be killed"
        live = [w for w in chaos.pool if w.proc.poll() is None]
        owned = [(t, w) for t, name in running(chaos, cases, booking=booking) for w in live if w.owns(name)]
        if not owned:
            time.sleep(0.02)
            continue
        _thread, victim = rng.choice(sorted(owned, key=lambda o: o[0]))
        if not booking:
            time.sleep(rng.uniform(0, 0.3))  # somewhere in the run, not always just after a checkpoint
        os.killpg(victim.proc.pid, signal.SIGSTOP)  # it must not finish while we look
        held = [
            str(t)
            for (t,) in chaos.admin.execute(
                "SELECT thread_id FROM orch_runs WHERE status = 'running' AND worker LIKE %s"
                " AND thread_id = ANY(%s)",
                (f"{victim.node}@%", list(by_id)),
            ).fetchall()
        ]
        if held:
            victim.kill()
            for t in set(held):
                by_id[t].killed += 1
            return victim, sorted(set(held))
        os.killpg(victim.proc.pid, signal.SIGCONT)


def wait_all(chaos: Chaos, cases: list[Case]) -> dict[str, Run]:
    return {
        case.thread_id: wait_for(chaos.settings, case.thread_id, "completed", "failed", "dead", timeout=120)
        for case in cases
    }


def check(chaos: Chaos, cases: list[Case], done: dict[str, Run]) -> dict[str, int]:
    """Every assertion of the proof; returns the figures."""
    owner_of_sha = {sha: case for case in cases for sha in case.calls}
    made: dict[str, Counter[str]] = {case.thread_id: Counter() for case in cases}
    for worker in chaos.pool:
        for call in read_calls(worker.calls):
            case = owner_of_sha.get(call["prompt_sha"])
            assert case is not None, f"a call no uninterrupted run makes: {call}"
            made[case.thread_id][call["prompt_sha"]] += 1
    redone = 0
    for case in cases:
        run = done[case.thread_id]
        where = f"{case.kind} thread {case.thread_id} (killed {case.killed} times)"
        assert run.status == "completed", f"{where}: {run.status} {run.error}"
        assert run.result is not None and run.result["output"] == case.output, where
        calls = made[case.thread_id]
        assert not case.calls - calls, f"{where}: calls never made: {case.calls - calls}"
        extra = calls - case.calls
        redone += sum(extra.values())
        # Only a superstep in flight at a death runs again, once per death: saved work never.
        assert all(times <= case.killed for times in extra.values()), f"{where}: redone {extra}"
        assert len({case.steps[sha] for sha in extra}) <= case.killed, f"{where}: redone {extra}"
        forks = chaos.admin.execute(
            "SELECT parent_checkpoint_id, count(*) FROM checkpoints WHERE thread_id = %s AND checkpoint_ns = ''"
            " GROUP BY parent_checkpoint_id HAVING count(*) > 1",
            (case.thread_id,),
        ).fetchall()
        assert not forks, f"{where}: a forked checkpoint chain {forks}"
        keys, rows = chaos.admin.execute(
            f"SELECT count(DISTINCT key), count(*) FROM {EFFECTS} WHERE thread_id = %s", (case.thread_id,)
        ).fetchone()
        # The declared flow books once per run: one key, one row, however often the step ran.
        assert (keys, rows) == ((1, 1) if case.kind == "declared" else (0, 0)), where
    attempts, booked = chaos.admin.execute(
        f"SELECT count(*), count(DISTINCT key) FROM {EFFECTS}_attempts WHERE thread_id = ANY(%s)",
        ([c.thread_id for c in cases],),
    ).fetchone()
    return {
        "threads": len(cases),
        "calls": sum(sum(c.calls.values()) for c in cases),
        "redone": redone,
        "booking attempts": attempts,
        "bookings": booked,
        "lock refusals": sum(run.retries for run in done.values()),
    }


async def run_with_kills(
    chaos: Chaos, monkeypatch: pytest.MonkeyPatch, *, threads: int, kills: int, seed: int, tag: str
) -> dict[str, int]:
    flow = declared_flow(chaos.flows, monkeypatch, chaos.settings.database_url)
    cases = await prepare(chaos, threads, flow, tag)
    first, second = chaos.start(), chaos.start()
    first.wait_ready()
    second.wait_ready()
    submit_all(chaos, cases)
    rng = random.Random(seed)
    victims = []
    for k in range(kills):
        # The first kill lands mid-booking: the step that booked runs again, with the same key.
        victim, held = kill_an_owner(chaos, cases, rng, booking=k == 0)
        victims.append((victim, held))
        chaos.start()  # the replacement; the others carry on meanwhile
    done = wait_all(chaos, cases)
    for victim, held in victims:
        assert victim.proc.returncode == -signal.SIGKILL
        for t in held:  # the run came back and was finished by another worker
            assert not victim.owns(done[t].worker) and done[t].attempts >= 2, done[t]
    figures = check(chaos, cases, done)
    figures["kills"] = len(victims)
    figures["threads killed"] = sum(1 for c in cases if c.killed)
    print(f"\n{tag}: {figures}")
    return figures


async def test_killed_workers_lose_nothing_double_nothing_fork_nothing(
    chaos: Chaos, monkeypatch: pytest.MonkeyPatch
) -> None:
    chaos.worker_args = ("--pool", "solo", "--latency", LATENCY)
    figures = await run_with_kills(chaos, monkeypatch, threads=24, kills=3, seed=14, tag="solo")
    assert figures["kills"] == 3 and figures["bookings"] == 6
    assert figures["booking attempts"] > figures["bookings"], (
        "no booking step ran twice: the key was not tested"
    )


async def test_killed_prefork_workers_lose_nothing(chaos: Chaos, monkeypatch: pytest.MonkeyPatch) -> None:
    # Maps' batches spread over the workers too: a killed map's successor reuses the replies kept.
    chaos.worker_args = ("--pool", "prefork", "--concurrency", "2", "--latency", LATENCY, "--spread-branches")
    figures = await run_with_kills(chaos, monkeypatch, threads=12, kills=2, seed=41, tag="prefork")
    assert figures["kills"] == 2 and figures["bookings"] == 3
    assert figures["booking attempts"] > figures["bookings"], (
        "no booking step ran twice: the key was not tested"
    )


async def test_a_visibility_timeout_shorter_than_a_run_is_refused_by_the_lock(
    redis_chaos: Chaos, monkeypatch: pytest.MonkeyPatch
) -> None:
    chaos = redis_chaos
    # Redis hands an unacknowledged message to another worker after 0.5 s; the booking step
    # holds its message for 3 s.
    chaos.worker_args = ("--pool", "solo", "--latency", "0.25", "--visibility-timeout", "0.5")
    chaos.book_pause = 3.0
    flow = declared_flow(chaos.flows, monkeypatch, chaos.settings.database_url)
    cases = await prepare(chaos, 8, flow, "redis")
    for worker in (chaos.start(), chaos.start()):
        worker.wait_ready()
    # Alone first: only an idle worker sweeps for overdue messages (a solo worker's loop is
    # busy while it runs), so the other worker must be idle while the long step runs.
    alone = next(c for c in cases if c.kind == "declared")
    submit_all(chaos, [alone])
    first = wait_all(chaos, [alone])
    assert first[alone.thread_id].retries > 0, (
        "no message was handed to a second worker: the race never happened"
    )
    # Then the rest at once: both workers busy, every message raced or not, nothing run twice.
    rest = [c for c in cases if c is not alone]
    submit_all(chaos, rest)
    done = {**first, **wait_all(chaos, rest)}
    figures = check(chaos, cases, done)  # nobody died: every call made exactly once
    print(f"\nredis, visibility timeout 0.5 s: {figures}")
    assert figures["redone"] == 0 and figures["bookings"] == 2


async def test_a_worker_stopped_past_the_timeout_writes_nothing_once_it_lost_the_thread(
    redis_chaos: Chaos, monkeypatch: pytest.MonkeyPatch
) -> None:
    chaos = redis_chaos
    chaos.worker_args = ("--pool", "solo", "--latency", "0.3", "--visibility-timeout", "1")
    flow = declared_flow(chaos.flows, monkeypatch, chaos.settings.database_url)
    case = next(c for c in await prepare(chaos, 3, flow, "stopped") if c.kind == "refinement")
    for worker in (chaos.start(), chaos.start()):
        worker.wait_ready()
    submit_all(chaos, [case])
    runs = Runs(chaos.settings.database_url)

    # Frozen mid-run, once a step is saved.
    deadline = time.monotonic() + 60
    while not (owned := running(chaos, [case])):
        assert time.monotonic() < deadline, "the run never got under way"
        time.sleep(0.01)
    sleeper = next(w for w in chaos.pool if w.owns(owned[0][1]))
    os.killpg(sleeper.proc.pid, signal.SIGSTOP)
    try:
        # Past the visibility timeout Redis hands the message to the other worker: the lock refuses it.
        deadline = time.monotonic() + 60
        while (run := runs.get(case.thread_id)) is None or run.retries < 1:
            assert time.monotonic() < deadline, f"the message was never handed on: {run}"
            time.sleep(0.05)
        # Then the sleeper's session ends while it sleeps (a server-side timeout, a network cut).
        pid = lock_holder(chaos.admin, case.thread_id)
        assert pid is not None, "the frozen worker does not hold its thread"
        chaos.admin.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,))
        finished = wait_for(chaos.settings, case.thread_id, "completed", "failed", "dead", timeout=60)
        assert finished.status == "completed" and not sleeper.owns(finished.worker), finished
        chain = checkpoint_rows(chaos.admin, case.thread_id)
        ended = sleeper.output().count("succeeded in")
    finally:
        os.killpg(sleeper.proc.pid, signal.SIGCONT)

    # Awake, it finishes its step and tries to save it: refused, it writes nothing.
    deadline = time.monotonic() + 60
    while sleeper.output().count("succeeded in") == ended:
        assert time.monotonic() < deadline, (
            f"the woken worker never ended its delivery:\n{sleeper.output()[-2000:]}"
        )
        time.sleep(0.05)
    assert "is no longer held by this process" in sleeper.output()
    assert checkpoint_rows(chaos.admin, case.thread_id) == chain, (
        "the worker that lost the thread wrote to it"
    )
    done = {case.thread_id: wait_for(chaos.settings, case.thread_id, "completed", timeout=30)}
    case.killed = 1  # the step in flight when it froze was run again by its successor
    figures = check(chaos, [case], done)
    print(f"\nstopped past the timeout: {figures}")
