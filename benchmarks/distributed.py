"""`orch bench --measures distributed`: the Celery workers of `distributed/` measured on the real services.

Everything here runs real `orch worker` processes (Celery's worker, solo pool: one
flow at a time per process, so "N workers" is N processes running flows) on the real
RabbitMQ, with the checkpoints and the runs table in the real PostgreSQL. Each
scenario gets a queue layout of its own (a fresh prefix, deleted afterwards) and a
database of its own (dropped afterwards), so no scenario sees another's messages,
rows or checkpoints; every worker is in a process group of its own and every one
is stopped when its scenario ends, failed or not.

The flows are the `pipeline` preset (three model calls, one per superstep) on the
scripted model with a fixed latency per call (`--latency`); each flow's input names
its own invoice, so every flow's prompts, and so its call-log lines, are its own.
Every figure comes from what the services recorded:

- the runs table's timestamps (`created_at` at submit, `started_at` at the first
  claim, `finished_at`): enqueue-to-start, enqueue-to-finish, and per-flow overhead,
  the run's wall (finish minus start) minus the model latency its supersteps wait;
- the workers' call logs (one line per completed model call, with its superstep):
  calls made twice, split into the superstep in flight at a kill (redone, expected)
  and saved supersteps (duplicates, which must be none);
- the checkpoints table: forks, two checkpoints with the same parent in a thread's
  main namespace (must be none);
- the broker: the partition queue's depth, and the refused publishes (`Overloaded`).

Scenarios: throughput (N flows queued while the workers are paused, then released)
for each worker count; dispatch at idle (one flow in flight at a time); recovery
(SIGKILL of the worker running a flow, frozen between two saved supersteps, and a
replacement started); backpressure (a burst of twice the queue bound); and one
tenant flooding its partition while the others submit a few flows each.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.profiles import Profile
from benchmarks.timing import percentile

__all__ = ["PATTERN", "measure", "rabbitmq_url"]

#: The flow every scenario runs: its supersteps are sequential, one model call each,
#: so the model latency a flow waits is exactly calls x latency.
PATTERN = "pipeline"
RABBITMQ_ENV = "ORCH_BENCH_RABBITMQ_URL"
_DEFAULT_RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"
_STARTUP_S = 120.0  # a worker's start (imports, broker, database) on a loaded 2-core machine
_POLL_S = 0.02
_FIRST_AGENT_STEP = 2  # the pipeline's first model call is superstep 2 (after the input step)

Progress = Callable[[str], None]


def rabbitmq_url() -> str:
    """The broker the measure uses: `$ORCH_BENCH_RABBITMQ_URL`, the tests' variable, or the local default."""
    return os.environ.get(RABBITMQ_ENV) or os.environ.get("ORCH_TEST_RABBITMQ_URL") or _DEFAULT_RABBITMQ


def _orch() -> list[str]:
    # The `orch` script of this interpreter, as a user runs it; `python -m` when it is not installed.
    script = Path(sys.executable).with_name("orch")
    return [str(script)] if script.exists() else [sys.executable, "-m", "patterns"]


def _ms(seconds: float) -> float:
    return seconds * 1000.0


def _quantiles(samples: list[float], *qs: int) -> dict[str, float | None]:
    """`p50_ms`, `p95_ms`, ... of `samples` (seconds), in milliseconds; None when there are none."""
    return {f"p{q}_ms": _ms(percentile(samples, q)) if samples else None for q in qs}


# -- the workers -------------------------------------------------------------------------


@dataclass
class _Worker:
    """One `orch worker` process, in a process group of its own (its kill takes everything it started)."""

    name: str
    node: str  # Celery's node name without the host: what the runs table's `worker` starts with
    proc: subprocess.Popen[bytes]
    log: Path
    calls: Path

    def owns(self, worker: str | None) -> bool:
        return bool(worker) and str(worker).startswith(f"{self.node}@")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"worker {self.name} exited ({self.proc.returncode}): {self.output()[-2000:]}")
        return " ready." in self.output()

    def call_log(self) -> list[dict[str, Any]]:
        """Completed model calls; a line cut by a SIGKILL is not one."""
        if not self.calls.exists():
            return []
        text = self.calls.read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]

    def signal(self, sig: signal.Signals) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL the whole group, as a machine that is lost."""
        self.signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        """Celery's warm shutdown; SIGKILL when it takes too long, or when the worker is frozen."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGCONT)  # a frozen worker cannot hear SIGTERM
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(30)
        # The group's other members (none with the solo pool) die with the leader's SIGKILL.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)


class _Cluster:
    """A database and a queue layout of one scenario, and the workers on them; all removed on exit."""

    def __init__(
        self, folder: Path, admin_url: str, broker_url: str, latency: float, settle: float, **layout: Any
    ) -> None:
        self.folder, self.admin_url, self.broker_url, self.latency = folder, admin_url, broker_url, latency
        self.settle = settle
        self.layout = layout
        self.workers: list[_Worker] = []
        self.database = f"orch_bench_{uuid.uuid4().hex[:10]}"
        base, _, _ = admin_url.rpartition("/")
        self.url = f"{base}/{self.database}"
        self.settings: Any = None

    def __enter__(self) -> _Cluster:
        import psycopg

        from distributed._settings import Settings

        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.database}"')
        options = {
            "prefix": f"orch-bench-{uuid.uuid4().hex[:10]}",
            "partitions": 1,
            "delivery_limit": 5,
            "retry_delay": 0.2,
            "retry_after": 1.0,
            **self.layout,
        }
        self.settings = Settings(broker_url=self.broker_url, database_url=self.url, **options)
        return self

    def __exit__(self, *_exc: object) -> None:
        # Every step runs even when an earlier one fails: no worker, queue or database is left behind.
        problems: list[str] = []
        for worker in self.workers:
            try:
                worker.stop()
            except Exception as exc:
                problems.append(f"stopping {worker.name}: {exc}")
        try:
            self._delete_layout()
        except Exception as exc:
            problems.append(f"deleting the queues of {self.settings.prefix}: {exc}")
        try:
            self._drop_database()
        except Exception as exc:
            problems.append(f"dropping {self.database}: {exc}")
        if problems:
            raise RuntimeError("; ".join(problems))

    def _delete_layout(self) -> None:
        from distributed._app import app, configure
        from distributed._queues import Layout

        configure(self.settings)
        layout = Layout(self.settings)
        with app.connection_for_write() as connection:
            channel = connection.channel()
            for queue in layout.all_queues():
                channel.queue_delete(queue.name)
            for exchange in (layout.exchange, layout.wait_exchange, layout.dead_exchange):
                channel.exchange_delete(exchange.name)

    def _drop_database(self) -> None:
        import psycopg

        from distributed._runs import Runs

        Runs.close_all()  # this process's pool on the database
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def env(self) -> dict[str, str]:
        """A worker's environment: the layout, and none of the developer's own `ORCH_*` (a real model)."""
        s = self.settings
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
        env.update(
            ORCH_BROKER_URL=s.broker_url,
            ORCH_CHECKPOINT_URL=s.database_url,
            ORCH_QUEUE_PREFIX=s.prefix,
            ORCH_PARTITIONS=str(s.partitions),
            ORCH_QUEUE_MAX=str(s.max_queued),
            ORCH_DELIVERY_LIMIT=str(s.delivery_limit),
            ORCH_RETRY_DELAY=str(s.retry_delay),
            ORCH_RETRY_AFTER=str(s.retry_after),
        )
        return env

    def start(self, count: int) -> list[_Worker]:
        """Start `count` workers at once, wait until every one consumes, then `settle` seconds more.

        Measured here: a worker started beside another one took its second message only
        about two seconds after it logged "ready", though the queue held messages meanwhile
        (alone on its queue it did not wait). Without the pause, the first figures after a
        start (a recovery right after a replacement started) would time that start-up.
        """
        started = []
        for _ in range(count):
            name = f"w{len(self.workers) + 1}"
            node = f"bench-{name}-{uuid.uuid4().hex[:6]}"  # Celery's control queue is exclusive to a node
            log, calls = (
                self.folder / f"{self.database}-{name}.log",
                self.folder / f"{self.database}-{name}.jsonl",
            )
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    [
                        *_orch(),
                        "worker",
                        "--name",
                        f"{node}@%h",
                        "--pool",
                        "solo",
                        "--latency",
                        str(self.latency),
                        "--call-log",
                        str(calls),
                        "--loglevel",
                        "INFO",
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=self.env(),
                    start_new_session=True,  # its own process group, to be killed as a whole
                )
            worker = _Worker(name, node, proc, log, calls)
            self.workers.append(worker)
            started.append(worker)
        deadline = time.monotonic() + _STARTUP_S
        while not all(w.ready() for w in started):
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers not ready after {_STARTUP_S:.0f} s")
            time.sleep(0.1)
        time.sleep(self.settle)
        return started

    def live(self) -> list[_Worker]:
        return [w for w in self.workers if w.proc.poll() is None]

    # -- reading what the services recorded ----------------------------------------------

    def query(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        import psycopg
        from psycopg.rows import dict_row

        with psycopg.connect(self.url, autocommit=True, row_factory=dict_row) as connection:
            return list(connection.execute(sql, params).fetchall())

    def runs(self, threads: list[str]) -> dict[str, dict[str, Any]]:
        """The runs table's rows of `threads`, with the timestamps as epoch seconds."""
        rows = self.query(
            "SELECT thread_id, tenant, partition, status, attempts, worker, result, error, "
            "extract(epoch FROM created_at)::float8 AS created, extract(epoch FROM started_at)::float8 AS started, "
            "extract(epoch FROM finished_at)::float8 AS finished FROM orch_runs WHERE thread_id = ANY(%s)",
            (threads,),
        )
        return {r["thread_id"]: r for r in rows}

    def wait_finished(self, threads: list[str], timeout: float) -> dict[str, dict[str, Any]]:
        """The rows once every run of `threads` has ended; a RuntimeError naming what is left after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.query(
                "SELECT status, count(*) AS n FROM orch_runs WHERE thread_id = ANY(%s) GROUP BY status",
                (threads,),
            )
            counts = {r["status"]: r["n"] for r in rows}
            if sum(n for s, n in counts.items() if s in ("completed", "failed", "dead")) == len(threads):
                return self.runs(threads)
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(threads)} runs not finished after {timeout:.0f} s: {counts}")
            time.sleep(0.1)

    def forks(self) -> int:
        """Checkpoints sharing a parent in a thread's main namespace: a run that grew two chains."""
        rows = self.query(
            "SELECT count(*) AS n FROM (SELECT thread_id, parent_checkpoint_id FROM checkpoints "
            "WHERE checkpoint_ns = '' AND parent_checkpoint_id IS NOT NULL "
            "GROUP BY thread_id, parent_checkpoint_id HAVING count(*) > 1) AS forked"
        )
        return int(rows[0]["n"])

    def calls(self) -> list[dict[str, Any]]:
        return [call for w in self.workers for call in w.call_log()]


# -- the flows ------------------------------------------------------------------------


def _input(thread: str) -> dict[str, Any]:
    """The pipeline's sample with an invoice number of the flow's own, so its prompts are its own."""
    from patterns.presets import SAMPLES

    data = dict(SAMPLES[PATTERN])
    data["document"] = str(data["document"]).replace("inv-2026-0042", f"inv-{thread}")
    return data


@dataclass
class _Flows:
    """The flows one scenario submitted: thread ids, and those refused with `Overloaded`."""

    threads: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    depths: list[int] = field(default_factory=list)


def _submit(cluster: _Cluster, flows: _Flows, tag: str, tenant: str | None = None) -> str | None:
    """Submit one flow; returns its thread id, or None when the queue refused it (counted)."""
    from distributed._client import submit
    from patterns.flow_control import Overloaded

    thread = f"{tag}-{uuid.uuid4().hex[:10]}"
    try:
        submit(cluster.settings, PATTERN, thread_id=thread, tenant=tenant, input=_input(thread))
    except Overloaded:
        flows.rejected.append(thread)
        return None
    flows.threads.append(thread)
    return thread


def _reference(threads: list[str]) -> dict[str, tuple[Any, list[dict[str, Any]]]]:
    """Each flow run in-process on the zero-latency scripted model: its output and its calls (with their prompts)."""
    from patterns.runtime import arun, resolve_model

    async def one(thread: str, log: Path) -> tuple[Any, list[dict[str, Any]]]:
        result = await arun(
            PATTERN, _input(thread), model=resolve_model("scripted", log_path=log), checkpoint="memory"
        )
        calls = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
        return result.output, calls

    async def every() -> dict[str, tuple[Any, list[dict[str, Any]]]]:
        with tempfile.TemporaryDirectory() as folder:
            return {t: await one(t, Path(folder) / f"{i}.jsonl") for i, t in enumerate(threads)}

    return asyncio.run(every())


def _made_twice(calls: list[dict[str, Any]]) -> int:
    """Calls beyond the first with the same prompt: each flow's prompts are its own, so each is a repeat."""
    return sum(n - 1 for n in Counter(c["prompt_sha"] for c in calls).values())


def _outputs_differ(rows: dict[str, dict[str, Any]], reference: dict[str, tuple[Any, Any]]) -> int:
    return sum(
        1
        for t, (output, _calls) in reference.items()
        if (rows[t].get("result") or {}).get("output") != output
    )


def _timings(rows: list[dict[str, Any]], model_s: float) -> dict[str, Any]:
    """Enqueue-to-start, enqueue-to-finish and per-flow overhead (wall minus model latency) quantiles."""
    done = [r for r in rows if r["status"] == "completed" and r["started"] and r["finished"]]
    waits = [r["started"] - r["created"] for r in done]
    totals = [r["finished"] - r["created"] for r in done]
    overheads = [r["finished"] - r["started"] - model_s for r in done]
    return {
        **{f"enqueue_to_start_{k}": v for k, v in _quantiles(waits, 50, 95).items()},
        **{f"enqueue_to_finish_{k}": v for k, v in _quantiles(totals, 50, 95, 99).items()},
        **{f"overhead_{k}": v for k, v in _quantiles(overheads, 50, 95).items()},
    }


# -- the scenarios -----------------------------------------------------------------------


@dataclass
class _Context:
    profile: Profile
    folder: Path
    admin_url: str
    broker_url: str
    progress: Progress
    calls_per_flow: int = 0

    @property
    def latency(self) -> float:
        return self.profile.dist_latency_s

    @property
    def model_s(self) -> float:
        return self.calls_per_flow * self.latency

    def cluster(self, **layout: Any) -> _Cluster:
        p = self.profile
        return _Cluster(self.folder, self.admin_url, self.broker_url, self.latency, p.dist_settle_s, **layout)


def _throughput(ctx: _Context, workers: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """N flows queued while `workers` workers are paused (SIGSTOP), then released at once: flows/s.

    Before that, with the same workers idle, flows one at a time: dispatch latency and
    overhead with nothing queued. Returns (the throughput row, the idle row).
    """
    p = ctx.profile
    with ctx.cluster() as cluster:
        ctx.progress(f"distributed: starting {workers} worker(s)")
        pool = cluster.start(workers)
        idle = _Flows()
        ctx.progress(f"distributed: {workers} worker(s), {p.dist_idle_flows} flows one at a time")
        for _ in range(p.dist_idle_flows):
            thread = _submit(cluster, idle, f"idle{workers}")
            if thread is None:  # one flow at a time on the default bound: a refusal is a broken setup
                raise RuntimeError(f"the broker refused an idle submit on {cluster.settings.prefix}")
            cluster.wait_finished([thread], p.dist_timeout_s)
        idle_rows = cluster.wait_finished(idle.threads, p.dist_timeout_s)

        # Paused, the workers hold at most their one prefetched message each; the rest is queued.
        for w in pool:
            w.signal(signal.SIGSTOP)
        queued = _Flows()
        ctx.progress(f"distributed: {workers} worker(s), queueing {p.dist_flows} flows")
        load_before = os.getloadavg()[0]
        submitting = time.perf_counter()
        try:
            for _ in range(p.dist_flows):
                _submit(cluster, queued, f"load{workers}")
            submit_s = time.perf_counter() - submitting
        finally:
            released = time.time()
            for w in pool:
                w.signal(signal.SIGCONT)
        ctx.progress(f"distributed: {workers} worker(s) running {p.dist_flows} queued flows")
        rows = cluster.wait_finished(queued.threads, p.dist_timeout_s)
        load_after = os.getloadavg()[0]
        forks, twice = cluster.forks(), _made_twice(cluster.calls())
        sample = queued.threads[: p.dist_checked_outputs]
        differ = _outputs_differ(rows, _reference(sample))

    done = [r for r in rows.values() if r["status"] == "completed"]
    last = max((r["finished"] for r in done), default=released)
    wall = last - released
    row = {
        "status": "ok",
        "workers": workers,
        "flows": len(queued.threads),
        "completed": len(done),
        "failed": len(rows) - len(done),
        "rejected": len(queued.rejected),
        "wall_s": wall,
        "flows_per_s": len(done) / wall if wall > 0 else None,
        # Every worker waiting on the model all the time, nothing else: the bound latency sets.
        "latency_bound_flows_per_s": workers / ctx.model_s,
        # One submitter, one flow at a time: a database transaction and a confirmed publish each.
        "submits_per_s": len(queued.threads) / submit_s if submit_s > 0 else None,
        # The machine's 1-minute load average before the flows were queued and once they had run:
        # other work on these two cores shows here.
        "load_before": load_before,
        "load_after": load_after,
        "redelivered": sum(1 for r in rows.values() if r["attempts"] > 1),
        "duplicates": twice,
        "forks": forks,
        "outputs_checked": len(sample),
        "outputs_differing": differ,
        **_timings(list(rows.values()), ctx.model_s),
    }
    idle_row = {
        "workers": workers,
        "flows": len(idle_rows),
        "completed": sum(1 for r in idle_rows.values() if r["status"] == "completed"),
        **_timings(list(idle_rows.values()), ctx.model_s),
    }
    return row, idle_row


def _recovery(ctx: _Context) -> dict[str, Any]:
    """SIGKILL the worker running a flow, frozen between two saved supersteps; a replacement takes its place.

    Per kill: the seconds from the SIGKILL until another worker claimed the flow (RabbitMQ
    redelivers the unacknowledged message when the dead worker's connection drops) and until
    the flow finished; the calls the killed flow had made twice (those of the superstep in
    flight, which was not saved) and the duplicates among them (calls of saved supersteps).
    """
    p = ctx.profile
    kills: list[dict[str, Any]] = []
    with ctx.cluster() as cluster:
        ctx.progress("distributed: recovery, starting 2 workers")
        cluster.start(2)
        flows = _Flows()
        _warm_up(cluster, flows, p.dist_kill_batch, p.dist_timeout_s)
        for kill in range(p.dist_kills):
            ctx.progress(f"distributed: recovery, kill {kill + 1} of {p.dist_kills}")
            batch = [t for _ in range(p.dist_kill_batch) if (t := _submit(cluster, flows, f"kill{kill}"))]
            # Alternate the point of the kill: after the first agent step is saved, then the second.
            victim, thread, step = asyncio.run(
                _freeze_mid_run(cluster, batch, _FIRST_AGENT_STEP + kill % 2, p.dist_timeout_s)
            )
            killed = time.monotonic()
            victim.kill()
            reclaimed = _wait_reclaimed(cluster, thread, victim, killed, p.dist_timeout_s)
            finished = cluster.wait_finished([thread], p.dist_timeout_s)
            kills.append(
                {
                    "kill": kill + 1,
                    "thread": thread,
                    "saved_step": step,
                    "reclaimed_s": reclaimed,
                    "finished_s": time.monotonic() - killed,
                    "status": finished[thread]["status"],
                    "attempts": finished[thread]["attempts"],
                    "victim": victim,  # replaced below by what its log says
                }
            )
            if kill + 1 < p.dist_kills:
                ctx.progress(f"distributed: recovery, starting a replacement for kill {kill + 1}")
                cluster.start(1)
                _warm_up(cluster, flows, p.dist_kill_batch, p.dist_timeout_s)
        rows = cluster.wait_finished(flows.threads, p.dist_timeout_s)
        forks = cluster.forks()
        reference = _reference(flows.threads)
        differ = _outputs_differ(rows, reference)
        for entry in kills:
            victim = entry.pop("victim")
            shas = {c["prompt_sha"] for c in reference[entry["thread"]][1]}
            mine = [c for c in victim.call_log() if c["prompt_sha"] in shas]
            others = [
                c for w in cluster.workers if w is not victim for c in w.call_log() if c["prompt_sha"] in shas
            ]
            twice = Counter(c["prompt_sha"] for c in mine) & Counter(c["prompt_sha"] for c in others)
            saved = {c["prompt_sha"] for c in mine if c["langgraph_step"] <= entry["saved_step"]}
            entry["calls_before_kill"] = len(mine)
            entry["calls_redone"] = sum(twice.values())
            entry["duplicates"] = sum(n for sha, n in twice.items() if sha in saved)
        killed_threads = {k["thread"] for k in kills}
        # The other flows were never killed: any call of theirs made twice is a duplicate.
        rest = {
            c["prompt_sha"]
            for t, (_out, calls) in reference.items()
            if t not in killed_threads
            for c in calls
        }
        others_twice = _made_twice([c for c in cluster.calls() if c["prompt_sha"] in rest])

    reclaims = [k["reclaimed_s"] for k in kills]
    return {
        "kills": kills,
        "workers": 2,
        "flows": len(flows.threads),
        "completed": sum(1 for r in rows.values() if r["status"] == "completed"),
        "reclaimed_p50_ms": _ms(percentile(reclaims, 50)) if reclaims else None,
        "reclaimed_max_ms": _ms(max(reclaims)) if reclaims else None,
        "calls_redone_per_kill": sum(k["calls_redone"] for k in kills) / len(kills) if kills else None,
        "duplicates": sum(k["duplicates"] for k in kills) + others_twice,
        "forks": forks,
        "outputs_checked": len(reference),
        "outputs_differing": differ,
    }


def _warm_up(cluster: _Cluster, flows: _Flows, count: int, timeout: float) -> None:
    """Run `count` flows to their end before a kill, so the survivor is a worker already under way.

    The workers have settled since their start (`_Cluster.start`), and each has run a flow.
    """
    batch = [t for _ in range(count) if (t := _submit(cluster, flows, "warm"))]
    cluster.wait_finished(batch, timeout)


async def _freeze_mid_run(
    cluster: _Cluster, threads: list[str], at_step: int, timeout: float
) -> tuple[_Worker, str, int]:
    """A worker running one of `threads`, frozen (SIGSTOP) once the flow's checkpoint holds step `at_step`.

    Read after the freeze, the checkpoint is what the worker saved: the step it holds is the
    last saved superstep, and the calls after it are the ones in flight.
    """
    from patterns.presets import PATTERNS
    from patterns.runtime import open_checkpointer

    deadline = time.monotonic() + timeout
    async with open_checkpointer(cluster.url) as saver:
        graph = PATTERNS[PATTERN].compile(checkpointer=saver)

        async def saved_step(thread: str) -> int | None:
            snapshot = await graph.aget_state({"configurable": {"thread_id": thread}})
            if snapshot.created_at is None or not snapshot.next or snapshot.metadata is None:
                return None  # not started, or finished
            step = int(snapshot.metadata["step"])
            return step if step >= at_step else None

        while time.monotonic() < deadline:
            running = cluster.query(
                "SELECT thread_id, worker FROM orch_runs WHERE status = 'running' AND thread_id = ANY(%s)",
                (threads,),
            )
            for row in running:
                owner = next((w for w in cluster.live() if w.owns(row["worker"])), None)
                if owner is None or await saved_step(row["thread_id"]) is None:
                    continue
                owner.signal(signal.SIGSTOP)  # it must not move on while we look
                again = cluster.runs([row["thread_id"]])[row["thread_id"]]
                step = await saved_step(row["thread_id"])
                if step is not None and again["status"] == "running" and owner.owns(again["worker"]):
                    return owner, row["thread_id"], step
                owner.signal(signal.SIGCONT)
            await asyncio.sleep(_POLL_S)
    raise RuntimeError(
        f"no worker was caught between two saved steps of {len(threads)} flows in {timeout:.0f} s"
    )


def _wait_reclaimed(cluster: _Cluster, thread: str, victim: _Worker, since: float, timeout: float) -> float:
    """Seconds from `since` until a worker other than `victim` claimed `thread`."""
    deadline = since + timeout
    while time.monotonic() < deadline:
        row = cluster.runs([thread])[thread]
        if row["worker"] and not victim.owns(row["worker"]):
            return time.monotonic() - since
        time.sleep(_POLL_S / 2)
    raise RuntimeError(f"no worker claimed {thread} within {timeout:.0f} s of the kill")


def _backpressure(ctx: _Context) -> dict[str, Any]:
    """A burst of twice the bound onto one bounded partition while one worker drains it.

    Refused submits raise `Overloaded` and record nothing; every accepted flow must finish.
    The depth is the broker's count of ready messages, read after each submit.
    """
    from distributed._app import queue_depth
    from distributed._queues import Layout

    p = ctx.profile
    bound = p.dist_queue_bound
    with ctx.cluster(max_queued=bound) as cluster:
        ctx.progress("distributed: backpressure, starting 1 worker")
        cluster.start(1)
        flows = _Flows()
        queue = Layout(cluster.settings).queue_name(0)
        ctx.progress(f"distributed: backpressure, {2 * bound} submits onto a bound of {bound}")
        for _ in range(2 * bound):
            _submit(cluster, flows, "burst")
            flows.depths.append(queue_depth(cluster.settings, queue))
        rows = cluster.wait_finished(flows.threads, p.dist_timeout_s)
        recorded = cluster.runs(flows.rejected)
        forks, twice = cluster.forks(), _made_twice(cluster.calls())
    return {
        "bound": bound,
        "offered": len(flows.threads) + len(flows.rejected),
        "accepted": len(flows.threads),
        "rejected": len(flows.rejected),
        "rejected_but_recorded": len(recorded),
        "completed": sum(1 for r in rows.values() if r["status"] == "completed"),
        "lost": len(flows.threads) - sum(1 for r in rows.values() if r["status"] == "completed"),
        "max_depth": max(flows.depths, default=None),
        "depths": flows.depths,
        "duplicates": twice,
        "forks": forks,
    }


def _tenants(ctx: _Context) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """One tenant floods its partition; the others submit a few flows each, spread over the flood.

    Tenants hash to partitions (`partition_of`); the quiet tenants are named so that one
    shares the flood's partition and the others do not, which is what partitioning by
    tenant does and does not isolate. Each worker consumes every partition.
    """
    from distributed._queues import partition_of

    p = ctx.profile
    partitions = p.dist_partitions
    flood = "tenant-flood"
    home = partition_of(flood, partitions)
    quiet: list[str] = []
    for i in range(1000):  # the first names that hash where we want them: deterministic
        name = f"tenant-{i}"
        where = partition_of(name, partitions)
        taken = {partition_of(q, partitions) for q in quiet}
        wanted = where == home if not quiet else where != home and where not in taken
        if wanted:
            quiet.append(name)
        if len(quiet) == min(p.dist_quiet_tenants, partitions):
            break
    with ctx.cluster(partitions=partitions) as cluster:
        ctx.progress(f"distributed: tenants, starting {p.dist_tenant_workers} workers")
        cluster.start(p.dist_tenant_workers)
        by_tenant: dict[str, _Flows] = {t: _Flows() for t in (flood, *quiet)}
        ctx.progress(f"distributed: tenants, {flood} floods with {p.dist_flood_flows} flows")
        for _ in range(p.dist_flood_flows):
            _submit(cluster, by_tenant[flood], "flood", tenant=flood)
        for _ in range(p.dist_quiet_flows):
            for tenant in quiet:
                _submit(cluster, by_tenant[tenant], "quiet", tenant=tenant)
            time.sleep(p.dist_quiet_gap_s)  # a steady trickle, not a second burst
        every = [t for f in by_tenant.values() for t in f.threads]
        rows = cluster.wait_finished(every, p.dist_timeout_s)
        checks = {"duplicates": _made_twice(cluster.calls()), "forks": cluster.forks()}
    out = []
    for tenant, flows in by_tenant.items():
        mine = [rows[t] for t in flows.threads]
        out.append(
            {
                "tenant": tenant,
                "role": "flood"
                if tenant == flood
                else ("same partition" if partition_of(tenant, partitions) == home else "quiet"),
                "partition": partition_of(tenant, partitions),
                "flows": len(mine),
                "completed": sum(1 for r in mine if r["status"] == "completed"),
                **_timings(mine, ctx.model_s),
            }
        )
    return out, checks


def _calls_per_flow() -> int:
    return len(_reference(["calls"])["calls"][1])


def measure(profile: Profile, progress: Progress = lambda _label: None) -> dict[str, Any]:
    """Run every scenario of `profile` on the real services; the measure's JSON (`rows`: flows/s per worker count)."""
    from benchmarks.suite import postgres_url

    with tempfile.TemporaryDirectory(prefix="orch-bench-distributed-") as folder:
        ctx = _Context(profile, Path(folder), postgres_url(), rabbitmq_url(), progress, _calls_per_flow())
        rows, idle = [], []
        for workers in profile.dist_workers:
            row, idle_row = _throughput(ctx, workers)
            rows.append(row)
            idle.append(idle_row)
        recovery = _recovery(ctx)
        backpressure = _backpressure(ctx)
        tenants, tenant_checks = _tenants(ctx)
    return {
        "pattern": PATTERN,
        "pool": "solo",
        "latency_ms": _ms(profile.dist_latency_s),
        "calls_per_flow": ctx.calls_per_flow,
        "model_latency_ms": _ms(ctx.model_s),
        "broker": _broker_version(ctx.broker_url),
        "rows": rows,
        "idle": idle,
        "recovery": recovery,
        "backpressure": backpressure,
        "tenants": tenants,
        "tenant_checks": tenant_checks,
        # Over every scenario: each must be zero.
        "duplicates": sum(r["duplicates"] for r in (*rows, recovery, backpressure, tenant_checks)),
        "forks": sum(r["forks"] for r in (*rows, recovery, backpressure, tenant_checks)),
    }


def _broker_version(url: str) -> str | None:
    from kombu.connection import Connection

    try:
        with Connection(url, connect_timeout=3) as connection:
            props = connection.connection.server_properties
            return f"{props.get('product')} {props.get('version')}"
    except Exception:  # the version is a label for the report; its absence is no failure
        return None
