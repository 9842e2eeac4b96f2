"""Partition routing, bounded queues, the command line's refusals, and Redis as the broker.

Routing: a run goes to `hash(tenant or thread) % P` with a hash every process
agrees on, and a worker runs only the partitions it consumes. Backpressure: a
full queue refuses the publish (publisher confirms), the submit says when to
retry, and nothing is recorded for the refused run. Every refusal on the
command line is one line on stderr and exit code 2.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from distributed._app import configure, queue_depth
from distributed._client import get_status, submit
from distributed._errors import UnknownRun
from distributed._queues import Layout, partition_of
from distributed._settings import Settings
from patterns.flow_control import Overloaded

from .conftest import Workers, delete_layout, env_for, make_settings, orch, wait_for


def threads_by_partition(settings: Settings, count: int) -> dict[int, list[str]]:
    """`count` thread ids for each partition, found by hashing."""
    found: dict[int, list[str]] = {p: [] for p in range(settings.partitions)}
    while any(len(ids) < count for ids in found.values()):
        t = f"route-{uuid.uuid4().hex[:10]}"
        found[partition_of(t, settings.partitions)].append(t)
    return {p: ids[:count] for p, ids in found.items()}


def test_the_partition_hash_is_stable_across_processes_and_pinned() -> None:
    # Python salts str hashes per process; a tenant must land on the same partition from
    # every submitter, today and after an upgrade (changing these values reroutes tenants).
    assert [partition_of(key, 8) for key in ("tenant-a", "tenant-b", "thread-1", "")] == [1, 2, 1, 4]
    code = "from distributed._queues import partition_of; print(partition_of('tenant-a', 1000))"
    seen = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env={"PYTHONHASHSEED": seed},
            check=True,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert seen == {str(partition_of("tenant-a", 1000))}


def test_orch_starts_without_loading_celery() -> None:
    # The plugin is loaded by every `orch` command: Celery waits for the commands that use it.
    code = "import sys, distributed, distributed.cli; print([m for m in ('celery', 'kombu') if m in sys.modules])"
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "[]"


@pytest.fixture
def three_partitions(rabbitmq_url: str, cluster_db: str) -> Iterator[Settings]:
    settings = make_settings(rabbitmq_url, cluster_db, partitions=3)
    yield settings
    delete_layout(settings)


def test_runs_are_routed_by_tenant_or_thread_and_run_where_they_are_consumed(
    three_partitions: Settings, workers: Workers
) -> None:
    settings = three_partitions
    worker = workers.start(settings, "p1-only", "--partitions", "1")
    by_partition = threads_by_partition(settings, 2)
    for ids in by_partition.values():
        for t in ids:
            assert submit(settings, "routing", thread_id=t).partition == partition_of(t, 3)
    # All runs of a tenant share its partition, whatever their thread.
    tenant = "acme"
    tenant_runs = [
        submit(settings, "routing", thread_id=f"acme-{i}-{uuid.uuid4().hex[:6]}", tenant=tenant)
        for i in range(3)
    ]
    assert {run.partition for run in tenant_runs} == {partition_of(tenant, 3)}

    worker.wait_ready()
    for t in by_partition[1]:
        done = wait_for(settings, t, "completed", "failed", "dead")
        assert done.status == "completed" and worker.owns(done.worker)
    # The others wait in their own queues: nobody consumes partitions 0 and 2.
    layout = Layout(settings)
    waiting = Counter(run.partition for run in tenant_runs if run.partition != 1)
    for p in (0, 2):
        assert queue_depth(settings, layout.queue_name(p)) == len(by_partition[p]) + waiting[p]
        assert all(get_status(settings, t).status == "queued" for t in by_partition[p])


# -- backpressure ------------------------------------------------------------------


@pytest.fixture
def tiny_queue(rabbitmq_url: str, cluster_db: str) -> Iterator[Settings]:
    settings = make_settings(rabbitmq_url, cluster_db, partitions=1, max_queued=1)
    yield settings
    delete_layout(settings)


def fill(settings: Settings) -> list[str]:
    """Submit until the queue refuses: the threads it took."""
    taken = []
    for _ in range(5):
        t = f"fill-{uuid.uuid4().hex[:10]}"
        try:
            submit(settings, "routing", thread_id=t)
        except Overloaded:
            return taken
        taken.append(t)
    raise AssertionError(f"a queue bounded at {settings.max_queued} took {len(taken)} runs")


def test_a_full_queue_refuses_the_submit_with_a_retry_after_and_records_nothing(tiny_queue: Settings) -> None:
    settings = tiny_queue
    taken = fill(settings)
    # A quorum queue admits one message over x-max-length before it refuses (RabbitMQ 3.10).
    assert settings.max_queued <= len(taken) <= settings.max_queued + 1
    t = f"refused-{uuid.uuid4().hex[:10]}"
    with pytest.raises(Overloaded) as refused:
        submit(settings, "routing", thread_id=t)
    assert refused.value.retry_after == settings.retry_after
    assert refused.value.capacity == 1 and refused.value.depth == len(taken)
    assert f"retry after {settings.retry_after:g} s" in str(refused.value)
    with pytest.raises(UnknownRun):
        get_status(settings, t)  # rolled back with the refused publish: submit it again later

    cli = orch(settings, "submit", "routing", "--thread", t)
    assert cli.returncode == 2
    [line] = cli.stderr.strip().splitlines()
    assert line.startswith(f"orch: error: queue {settings.prefix}.p0 is full") and "retry after 2 s" in line


# -- the command line's refusals ----------------------------------------------------


def test_bad_input_on_the_command_line_is_one_line_and_exit_2(settings: Settings) -> None:
    unknown = f"nobody-{uuid.uuid4().hex[:8]}"
    cases = {
        ("submit", "nope"): "unknown pattern 'nope'",
        ("submit", "routing", "--flow", "x:Y"): "not both",
        ("submit", "--flow", "no_such_module_here:FLOW"): "cannot import the module of flow",
        ("submit", "routing", "--thread", "has space"): "without spaces",
        ("submit", "routing", "--checkpoint", "sqlite:///x.db"): "need a PostgreSQL checkpoint URL",
        ("submit", "routing", "--broker", "kafka://x"): "unsupported broker URL",
        ("status", unknown): f"no run with thread '{unknown}'",
        ("result", unknown, "--wait", "-1"): "must be between 0 and 86400",
        ("answer", unknown, "kafka"): f"no run with thread '{unknown}'",
        ("worker", "--partitions", "7"): "--partitions must be from 0 to 1",
        ("worker", "--partitions", "a,b"): "--partitions takes numbers",
        ("worker", "--model", "nope"): "is not 'scripted' or PROVIDER:MODEL",
        ("front-door", "--host", "0.0.0.0"): "refusing to serve the front door",
    }
    env = env_for(settings)
    procs = {
        args: subprocess.Popen(
            [str(sys.executable), "-m", "patterns", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for args in cases
    }
    for args, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        lines = err.strip().splitlines()
        assert proc.returncode == 2, (args, out, err)
        assert len(lines) == 1 and "Traceback" not in err, (args, err)
        assert lines[0].startswith("orch: error: ") and cases[args] in lines[0], (args, lines[0])

    no_database = {k: v for k, v in env.items() if k != "ORCH_CHECKPOINT_URL"}
    missing = subprocess.run(
        [sys.executable, "-m", "patterns", "status", "x"], capture_output=True, text=True, env=no_database
    )
    assert missing.returncode == 2 and "set $ORCH_CHECKPOINT_URL" in missing.stderr


# -- Redis, the other broker ----------------------------------------------------------


def test_redis_is_the_broker_by_one_setting(
    redis_url: str, cluster_db: str, workers: Workers, rabbitmq_url: str
) -> None:
    settings = make_settings(redis_url, cluster_db)
    worker = workers.start(settings, "on-redis")
    worker.wait_ready()
    try:
        t = f"redis-{uuid.uuid4().hex[:10]}"
        queued = orch(settings, "submit", "refinement", "--thread", t)
        assert queued.returncode == 0, queued.stderr
        done = wait_for(settings, t, "completed", "failed", "dead")
        assert done.status == "completed" and worker.owns(done.worker)
    finally:
        configure(make_settings(rabbitmq_url, cluster_db))  # this process's publisher back on RabbitMQ
        _delete_redis_queues(redis_url, settings)


def _delete_redis_queues(url: str, settings: Settings) -> None:
    import redis

    client = redis.Redis.from_url(url)
    # Kombu keeps a list per queue and its bindings under keys naming the prefix.
    keys = list(client.scan_iter(match=f"*{settings.prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_a_published_segment_carries_the_submitters_trace(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker continues the trace of whoever published (`run_segment(..., trace=...)`)."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    from distributed import _app

    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(_app.app, "send_task", lambda name, **kw: sent.append(kw))
    _app.publish(settings, "traced-1", 0, 0)  # no span current: no trace to carry
    # An adapter test run earlier in this process sets OTEL_SDK_DISABLED (adapters.disable_telemetry),
    # which the SDK reads when a provider is made: this one must record.
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    tracer = TracerProvider().get_tracer("a-submitter")
    with trace.use_span(tracer.start_span("submit"), end_on_exit=True) as span:
        _app.publish(settings, "traced-1", 1, 0)
    assert sent[0]["kwargs"] == {}
    traceparent = sent[1]["kwargs"]["trace"]["traceparent"]
    assert traceparent.split("-")[1] == format(span.get_span_context().trace_id, "032x")
