"""The worker's task: run one segment of a run, from its last checkpoint, and say what comes next.

A delivery of `(thread, segment)`:

1. claims the run in the runs table (counting the delivery before anything
   runs, so a delivery that kills its worker still counts);
2. gives up on a message delivered more than the delivery limit: the run is
   marked dead with the last error, and the message is rejected to the
   dead-letter queue;
3. runs `arun(..., resume=<the thread has a checkpoint>)` with durability
   "sync" on the PostgreSQL checkpointer, within a budget of steps and seconds;
4. ends the segment: a finished or waiting run is recorded; a spent budget
   publishes the next segment (so no delivery outlives RabbitMQ's consumer
   timeout, 30 minutes by default); a busy thread (another owner holds its
   lock) waits in the wait queue and is tried again, never run twice at once;
   an error is recorded and the message is redelivered.

The budget stops a run at a superstep boundary: once it is spent (a number of
finished steps, or seconds), the worker asks LangGraph to drain the run
(`arun(control=RunControl)`, `RunControl.request_drain`): the superstep under
way finishes and is saved (durability "sync"), no task of the next one starts,
and `arun` returns status "drained". Nothing is cancelled half-way, so no step
is cut off after its model call and run again by the next segment.

The worker's other task asks one published map batch (`--spread-branches`,
`distributed._branches`): under the batch's lock, unless it is answered or
being asked already, and only while its run is running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from celery import Task
from celery.exceptions import Reject
from langchain_core.language_models import BaseChatModel
from langgraph.runtime import RunControl

from distributed._app import BRANCH_TASK, SEGMENT_TASK, app, publish, publish_branch
from distributed._branches import SpreadBranches, ask_once, find_agent
from distributed._flows import load_flow
from distributed._runs import Run, Runs, RunStatus
from distributed._settings import Settings
from patterns.errors import ThreadBusy, UsageError
from patterns.flow_control import Overloaded
from patterns.observability import _hooks as telemetry
from patterns.runtime import (
    AgentContext,
    PatternSpec,
    RunResult,
    StepEvent,
    arun,
    open_checkpointer,
    resolve_model,
)
from patterns.testing import FaultPolicy, LatencyPolicy

__all__ = ["WorkerOptions", "prepare_database", "run_branch", "run_segment", "set_options"]

_log = logging.getLogger(__name__)

# A submitter publishes before it commits the run's row: how long a worker waits to see it.
_ROW_WAIT_S = 5.0
_CLAIMABLE = ("queued", "running")
_STATUS: dict[str, RunStatus] = {"completed": "completed", "failed": "failed", "interrupted": "waiting"}


@dataclass(frozen=True)
class WorkerOptions:
    """What `orch worker` was started with: the cluster, the model, the budget."""

    settings: Settings
    budget_steps: int = 50
    budget_seconds: float = 300.0
    model: str | None = None
    base_url: str | None = None
    seed: int = 0
    latency: float = 0.0
    fault_rate: float = 0.0
    call_log: Path | None = None
    #: Seconds a map's published batch waits for another worker before it is asked here;
    #: None asks every batch here (`--spread-branches`).
    spread_branches: float | None = None

    def chat_model(self) -> BaseChatModel:
        return resolve_model(
            self.model,
            base_url=self.base_url,
            seed=self.seed,
            latency=LatencyPolicy(mean=self.latency),
            faults=FaultPolicy.transient(self.fault_rate),
            log_path=self.call_log,
        )


_options: WorkerOptions | None = None


def set_options(options: WorkerOptions) -> None:
    """Set before the worker starts: prefork children inherit it."""
    global _options
    _options = options


def prepare_database(url: str) -> None:
    """Create the runs table and run the checkpointer's migrations, one process at a time.

    LangGraph's `setup()` is not safe to run concurrently: two processes opening
    a fresh database at once failed with `DuplicateObject: type
    "checkpoint_migrations" already exists`. Done here, under an advisory lock,
    before the worker consumes; the pool's processes inherit "set up" and skip it.
    """
    Runs(url).setup()
    asyncio.run(_set_up_checkpoints(url))


async def _set_up_checkpoints(url: str) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
        # Polled, not a blocking pg_advisory_lock: the migrations CREATE INDEX CONCURRENTLY,
        # which waits for every open transaction, and a session blocked on the lock is one:
        # the holder would wait for the waiter forever, a cycle PostgreSQL cannot see.
        while not await _try_lock(connection, "orch_checkpoint_setup"):
            await asyncio.sleep(0.1)
        async with open_checkpointer(url):
            pass  # closing the connection releases the lock


async def _try_lock(connection: Any, name: str) -> bool:
    cursor = await connection.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (name,))
    row = await cursor.fetchone()
    return bool(row and row[0])


@app.task(bind=True, name=SEGMENT_TASK)  # type: ignore[untyped-decorator]  # Celery's decorator is unannotated
def run_segment(
    self: Task[Any, Any], thread_id: str, segment: int, trace: dict[str, str] | None = None
) -> str:
    """Celery's entry point: one delivery of one segment. Returns what became of it, for the log.

    `trace` is the trace context of whoever published the message (`orch submit`, an answer,
    the previous segment), so this segment's spans join that trace.
    """
    if _options is None:
        raise Reject("this worker was not started with `orch worker`", requeue=True)
    try:
        with telemetry.continued_trace(trace):
            return _deliver(_options, thread_id, segment, str(self.request.hostname or "worker"))
    except Reject:
        raise
    except Exception as exc:
        # The runs table itself failed (the database is down): nothing could be
        # counted, so only the broker's delivery limit stops this message.
        _log.exception("segment %s of %s: %s", segment, thread_id, exc)
        time.sleep(_options.settings.retry_delay)
        raise Reject(f"{type(exc).__name__}: {exc}", requeue=True) from exc


def _deliver(options: WorkerOptions, thread_id: str, segment: int, worker: str) -> str:
    settings = options.settings
    runs = Runs(settings.database_url)
    while True:
        run = _claim(runs, thread_id, segment, worker)
        if run is None:
            return "nothing to do"
        if run.attempts > settings.delivery_limit:
            runs.give_up(thread_id, segment, settings.delivery_limit)
            raise Reject(f"delivered {run.attempts} times", requeue=False)  # to PREFIX.dead
        try:
            return _run(options, runs, run, worker)
        except _Busy as exc:
            _log.info("segment %s of %s: %s", segment, thread_id, exc)
            runs.busy(thread_id, segment)
            try:
                publish(settings, thread_id, segment, run.partition, wait=True)
            except Overloaded:
                # Even the wait queue is full: wait here, holding the message, and try again.
                time.sleep(settings.retry_delay)
                continue
            return "busy: waiting"
        except UsageError as exc:
            _refused(runs, run, str(exc))
            return "refused"
        except Exception as exc:
            runs.failed_delivery(thread_id, segment, run.attempts, f"{type(exc).__name__}: {exc}")
            # Back off before the redelivery, so a passing fault has time to pass.
            time.sleep(min(settings.retry_delay * 2 ** (run.attempts - 1), 30.0))
            raise Reject(f"{type(exc).__name__}: {exc}", requeue=True) from exc


def _claim(runs: Runs, thread_id: str, segment: int, worker: str) -> Run | None:
    deadline = time.monotonic() + _ROW_WAIT_S
    pause = 0.02
    while True:
        run = runs.claim(thread_id, segment, worker)
        if run is not None:
            return run
        existing = runs.get(thread_id)
        if existing is not None and (
            existing.segment > segment or (existing.segment == segment and existing.status not in _CLAIMABLE)
        ):
            # A later segment was published, or this one already ran to its end.
            _log.info("segment %s of %s: %s, dropped", segment, thread_id, existing.status)
            return None
        # A submit or an answer publishes before it commits: the row has not caught up yet
        # (or became visible just now, between the claim and the look).
        if time.monotonic() > deadline:
            _log.warning(
                "segment %s of %s: not in the runs table after %.0f s, dropped",
                segment,
                thread_id,
                _ROW_WAIT_S,
            )
            return None
        time.sleep(pause)
        pause = min(pause * 2, 0.5)


def _run(options: WorkerOptions, runs: Runs, run: Run, worker: str) -> str:
    steps = 0
    while True:
        outcome = asyncio.run(_segment(options, run, worker))
        steps += outcome.steps
        if outcome.result is not None:
            _record(runs, run, outcome.result, steps, outcome.answered)
            return outcome.result.status
        try:
            publish(options.settings, run.thread_id, run.segment + 1, run.partition)
        except Overloaded:
            # The partition is full: carry on here rather than lose the run's turn.
            _log.warning("%s: partition %s is full, running on", run.thread_id, run.partition)
            continue
        runs.advance(run.thread_id, run.segment, steps)
        return "budget spent: continued"


def _record(runs: Runs, run: Run, result: RunResult, steps: int, answered: bool) -> None:
    status = _STATUS[result.status]
    runs.finish(
        run.thread_id,
        run.segment,
        status=status,
        steps=steps,
        result=result.model_dump(mode="json"),
        interrupt=result.interrupt,
        error=result.error,
        answer_used=answered,
    )


def _refused(runs: Runs, run: Run, message: str) -> None:
    # An answer the waiting step cannot take leaves the run waiting for a better one.
    if run.answer is not None:
        runs.finish(
            run.thread_id,
            run.segment,
            status="waiting",
            steps=0,
            interrupt=run.interrupt,
            error=message,
            answer_used=True,
        )
    else:
        runs.finish(run.thread_id, run.segment, status="failed", steps=0, error=message)


class _Busy(Exception):
    """Another owner holds the thread, or moved it on while this delivery looked at it."""


@dataclass
class _Outcome:
    result: RunResult | None  # None: the budget was spent first
    steps: int
    answered: bool


async def _segment(options: WorkerOptions, run: Run, worker: str) -> _Outcome:
    spec = load_flow(run.pattern, run.flow)
    url = options.settings.database_url
    before, waiting = await _look(spec, url, run.thread_id)
    started = before is not None
    # An answer is written into the checkpoint as the run resumes: a delivery lost after
    # that resumes without it (the thread no longer waits), or `arun` would refuse it.
    answer = run.answer if waiting else None
    budget = _Budget(options.budget_steps, options.budget_seconds)
    try:
        async with _branches(options, run, worker) as branches:
            result = await arun(
                spec,
                None if started else run.input,
                model=options.chat_model(),
                checkpoint=url,
                thread_id=run.thread_id,
                resume=started,
                resume_value=answer,
                durability="sync",
                on_step=budget,
                control=budget.control,
                branches=branches,
            )
        if result.status == "drained":
            return _Outcome(None, budget.done, answer is not None)
    except ThreadBusy as exc:
        raise _Busy(str(exc)) from exc
    except UsageError as exc:
        # Moved on by another owner between our look and our lock.
        if (await _look(spec, url, run.thread_id))[0] != before:
            raise _Busy(str(exc)) from exc
        raise
    finally:
        budget.close()
    return _Outcome(result, budget.done, answer is not None)


def _branches(options: WorkerOptions, run: Run, worker: str) -> contextlib.AbstractAsyncContextManager[Any]:
    """Where the run's map batches are asked: across the workers with `--spread-branches`, else here."""
    if options.spread_branches is None:
        return contextlib.nullcontext()
    settings = options.settings

    def publish(key: str, agent: str, payload: dict[str, Any], label: str | None) -> None:
        publish_branch(settings, run.thread_id, key, agent, payload, label)

    return SpreadBranches(
        settings.database_url, run.thread_id, worker, publish, claim_wait=options.spread_branches
    )


@app.task(bind=True, name=BRANCH_TASK)  # type: ignore[untyped-decorator]  # Celery's decorator is unannotated
def run_branch(
    self: Task[Any, Any],
    thread_id: str,
    key: str,
    agent: str,
    payload: dict[str, Any],
    label: str | None,
    trace: dict[str, str] | None = None,
) -> str:
    """Celery's entry point for one published map batch: ask it and keep its reply, unless taken.

    A batch that fails here is left to its run, which asks it itself once nobody
    holds it: the message is acknowledged either way.
    """
    if _options is None:
        raise Reject("this worker was not started with `orch worker`", requeue=True)
    try:
        with telemetry.continued_trace(trace):
            return asyncio.run(
                _ask_branch(_options, thread_id, key, agent, payload, label, str(self.request.hostname))
            )
    except Exception as exc:
        _log.warning("branch %s of %s: %s: %s, left to its run", key, thread_id, type(exc).__name__, exc)
        return "failed: left to its run"


async def _ask_branch(
    options: WorkerOptions,
    thread_id: str,
    key: str,
    agent: str,
    payload: dict[str, Any],
    label: str | None,
    worker: str,
) -> str:
    run = await asyncio.to_thread(Runs(options.settings.database_url).get, thread_id)
    if run is None or run.status != "running":
        return "its run is not running: dropped"  # a duplicate outliving its map
    found = find_agent(load_flow(run.pattern, run.flow), agent)
    async with await psycopg.AsyncConnection.connect(options.settings.database_url, autocommit=True) as db:
        context = AgentContext(model=options.chat_model())
        kept = await ask_once(db, key, thread_id, worker, context, found, payload, label)
    if kept is None:
        return "being asked elsewhere"
    return "asked" if kept.worker == worker else "already answered"


async def _look(spec: PatternSpec, url: str, thread_id: str) -> tuple[str | None, bool]:
    """The thread's latest checkpoint id (None before its first), and whether it waits for an answer."""
    async with open_checkpointer(url) as saver:
        snapshot = await spec.compile(checkpointer=saver).aget_state(
            {"configurable": {"thread_id": thread_id}}
        )
    if snapshot.created_at is None:
        return None, False
    return str(snapshot.config["configurable"]["checkpoint_id"]), bool(snapshot.interrupts)


class _Budget:
    """Counts finished steps; asks the run to drain once the steps or the seconds are spent."""

    def __init__(self, steps: int, seconds: float) -> None:
        self.steps = steps
        self.done = 0
        self.control = RunControl()
        # Past the seconds, the superstep under way still finishes: nothing is cut off.
        self._timer = asyncio.get_running_loop().call_later(seconds, self.control.request_drain, "budget")

    def close(self) -> None:
        self._timer.cancel()

    def __call__(self, event: StepEvent) -> None:
        if event.end is None:
            return
        self.done += 1
        if self.done >= self.steps:
            self.control.request_drain("budget")
