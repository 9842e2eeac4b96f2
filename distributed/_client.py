"""Submit a run, follow it, answer it: what `orch submit/status/result/answer` and the front door call.

Each call is synchronous (a database transaction and a confirmed publish) and
raises `UsageError` for the caller's mistakes, `Overloaded` when the queue is
full (nothing is recorded then: submit again after `retry_after`).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

from distributed._app import configure, declare, publish
from distributed._errors import RunConflict, UnknownRun
from distributed._flows import load_flow
from distributed._queues import partition_of
from distributed._runs import TERMINAL, Run, Runs
from distributed._settings import Settings
from patterns.errors import UsageError
from patterns.runtime import validate_input

__all__ = ["answer", "check_answer", "get_result", "get_status", "submit"]

_NAME = re.compile(r"^[^\s/\x00-\x1f\x7f]{1,200}$")  # no "/": it names a URL path segment
_declared: set[Settings] = set()


def submit(
    settings: Settings,
    pattern: str | None = None,
    *,
    flow: str | None = None,
    thread_id: str | None = None,
    tenant: str | None = None,
    input: Any = None,
) -> Run:
    """Record a run (status queued) and publish it to its partition; returns the run.

    `pattern` is a preset's name; `flow` a declared flow's `module:attribute`
    (importable on every worker). `input=None` submits the flow's sample.
    """
    if pattern and flow:
        raise UsageError("give a preset name or --flow MODULE:ATTRIBUTE, not both")
    try:
        spec = load_flow(pattern, flow)
    except ImportError as exc:
        raise UsageError(str(exc)) from None
    thread_id = thread_id or f"{spec.name}-{uuid.uuid4().hex[:12]}"  # as `orch run` names its threads
    _check_name("thread id", thread_id)
    if tenant is not None:
        _check_name("tenant", tenant)
    if input is None:
        if spec.sample is None:
            raise UsageError(f"this {spec.name} flow has no sample input: pass its input (--input FILE)")
        input = dict(spec.sample)
    validate_input(spec, input)
    partition = partition_of(tenant or thread_id, settings.partitions)
    _ready(settings)
    runs = Runs(settings.database_url)
    with runs.inserting(
        thread_id, tenant=tenant, pattern=spec.name, flow=flow, partition=partition, input=input
    ):
        publish(settings, thread_id, 0, partition)
    run = runs.get(thread_id)
    assert run is not None  # just committed; runs are never deleted
    return run


def get_status(settings: Settings, thread_id: str) -> Run:
    """The run of `thread_id`, as the runs table has it now."""
    run = Runs(settings.database_url).get(thread_id)
    if run is None:
        raise UnknownRun(f"no run with thread {thread_id!r}: submit it with `orch submit`")
    return run


def get_result(settings: Settings, thread_id: str, *, wait: float = 0.0) -> Run:
    """The run once it is finished or waits for an answer, polling up to `wait` seconds."""
    deadline = time.monotonic() + wait
    while True:
        run = get_status(settings, thread_id)
        if run.status in TERMINAL or run.status == "waiting" or time.monotonic() >= deadline:
            return run
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


def answer(settings: Settings, thread_id: str, value: Any) -> Run:
    """Answer a run waiting for a human: it is queued again and resumes with `value`."""
    runs = Runs(settings.database_url)
    run = get_status(settings, thread_id)
    if run.status != "waiting":
        raise RunConflict(f"thread {thread_id!r} is not waiting for an answer (it is {run.status})")
    check_answer(run, value)
    _ready(settings)
    with runs.answering(thread_id, value) as queued:
        publish(settings, thread_id, queued.segment, queued.partition)
    return get_status(settings, thread_id)


def check_answer(run: Run, value: Any) -> None:
    """Refuse an answer the waiting step cannot take, as `patterns.arun` would, before it is queued."""
    ask = run.interrupt
    options = ask.get("options") if isinstance(ask, Mapping) else None
    if options and value not in options:
        raise UsageError(
            f"{value!r} is not an option for thread {run.thread_id!r}; answer one of: {', '.join(map(str, options))}"
        )
    if options == [] and not (isinstance(value, str) and value.strip()):
        raise UsageError(
            f"thread {run.thread_id!r} asks an open question: answer it with text, not {value!r}"
        )


def _ready(settings: Settings) -> None:
    configure(settings)
    if settings not in _declared:
        declare(settings)
        _declared.add(settings)


def _check_name(what: str, value: str) -> None:
    if not _NAME.match(value):
        raise UsageError(
            f"the {what} must be 1 to 200 characters without spaces, '/' or control characters: {value!r}"
        )
