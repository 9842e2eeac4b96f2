"""The real services for the distributed tests, a database and queue prefix of their own, and workers.

Every test gets a queue prefix of its own (its queues are deleted after it),
and the session a PostgreSQL database of its own (dropped at the end), so runs
of this suite never meet each other's messages or rows. Workers are real
`orch worker` processes (Celery's worker), each in its own process group, so
a test can SIGKILL one the way a machine loses it; every worker a test starts
is stopped when it ends, and the suite fails if one outlives it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from distributed._app import app, configure
from distributed._queues import Layout
from distributed._runs import Run, Runs
from distributed._settings import Settings

RABBITMQ_URL_ENV = "ORCH_TEST_RABBITMQ_URL"
DEFAULT_RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"
ORCH = Path(sys.executable).with_name("orch")
STARTUP_S = 90.0  # a worker's start on a loaded 2-core machine: imports, broker, database


def _unavailable(reason: str) -> None:
    # As tests/conftest.py's service_unavailable: skip on a developer machine, fail in CI.
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the service is required)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    from kombu import Connection

    url = os.environ.get(RABBITMQ_URL_ENV, DEFAULT_RABBITMQ_URL)
    try:
        with Connection(url, connect_timeout=3) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as exc:
        _unavailable(f"RabbitMQ unreachable at {url} ({exc}); set {RABBITMQ_URL_ENV}")
    return url


@pytest.fixture(scope="session")
def cluster_db(postgres_url: str) -> Iterator[str]:
    """A fresh database for the session: its runs table and checkpoints, dropped at the end."""
    import psycopg

    name = f"orch_dist_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = postgres_url.rpartition("/")
    yield f"{base}/{name}"
    Runs.close_all()
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_settings(rabbitmq_url: str, database_url: str, **changes: Any) -> Settings:
    options: dict[str, Any] = {
        "prefix": f"orch-test-{uuid.uuid4().hex[:10]}",
        "partitions": 2,
        "delivery_limit": 2,
        "retry_delay": 0.2,
        "retry_after": 2.0,
        **changes,
    }
    return Settings(broker_url=rabbitmq_url, database_url=database_url, **options)


def delete_layout(settings: Settings) -> None:
    """Delete the prefix's queues and exchanges from the broker."""
    configure(settings)
    layout = Layout(settings)
    with app.connection_for_write() as connection:
        channel = connection.channel()
        for queue in layout.all_queues():
            channel.queue_delete(queue.name)
        for exchange in (layout.exchange, layout.wait_exchange, layout.dead_exchange):
            channel.exchange_delete(exchange.name)


@pytest.fixture
def settings(rabbitmq_url: str, cluster_db: str) -> Iterator[Settings]:
    """A queue layout of this test's own, deleted after it."""
    made = make_settings(rabbitmq_url, cluster_db)
    yield made
    delete_layout(made)


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of an `orch` process on `settings`' cluster; a developer's ORCH_MODEL stays out."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env.update(
        ORCH_BROKER_URL=settings.broker_url,
        ORCH_CHECKPOINT_URL=settings.database_url,
        ORCH_QUEUE_PREFIX=settings.prefix,
        ORCH_PARTITIONS=str(settings.partitions),
        ORCH_QUEUE_MAX=str(settings.max_queued),
        ORCH_DELIVERY_LIMIT=str(settings.delivery_limit),
        ORCH_RETRY_DELAY=str(settings.retry_delay),
        ORCH_RETRY_AFTER=str(settings.retry_after),
        **extra,
    )
    return env


def orch(settings: Settings, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`orch ARGS` as a user runs it, on `settings`' cluster."""
    return subprocess.run(
        [str(ORCH), *args], capture_output=True, text=True, timeout=timeout, env=env_for(settings)
    )


@dataclass
class Worker:
    """One `orch worker` process, in a process group of its own."""

    name: str
    node: str  # Celery's node name without the host: what the runs table's `worker` starts with
    proc: subprocess.Popen[bytes]
    log: Path
    calls: Path

    def owns(self, worker: str | None) -> bool:
        """Whether the runs table's `worker` names this worker."""
        return bool(worker) and str(worker).startswith(f"{self.node}@")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_S
        while " ready." not in self.output():
            assert self.proc.poll() is None, f"worker {self.name} exited:\n{self.output()[-3000:]}"
            assert time.monotonic() < deadline, f"worker {self.name} not ready:\n{self.output()[-3000:]}"
            time.sleep(0.1)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def call_log(self) -> list[dict[str, Any]]:
        """The worker's completed model calls; a line cut by a kill does not count."""
        if not self.calls.exists():
            return []
        text = self.calls.read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]

    def kill(self) -> None:
        """SIGKILL the whole worker (its pool children too), as a lost machine."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        """Celery's warm shutdown (SIGTERM), then SIGKILL if it takes too long."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(30)
        self._wait_for_group_gone()

    def _wait_for_group_gone(self) -> None:
        # Pool children die with their group's SIGKILL, but are reaped a moment later.
        deadline = time.monotonic() + 10
        while True:
            left = subprocess.run(
                ["ps", "-o", "pid=,stat=", "-g", str(self.proc.pid)],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.split("\n")
            alive = [line for line in left if line.strip() and not line.split()[1].startswith("Z")]
            if not alive:
                return
            assert time.monotonic() < deadline, f"worker {self.name} left processes: {alive}"
            time.sleep(0.1)


@dataclass
class Workers:
    """Starts workers; the fixture stops every one of them."""

    folder: Path
    started: list[Worker] = field(default_factory=list)

    def start(
        self,
        settings: Settings,
        name: str,
        *args: str,
        pythonpath: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> Worker:
        log, calls = self.folder / f"{name}.log", self.folder / f"{name}.calls.jsonl"
        # A node name of its own: Celery's remote-control queue is exclusive to one connection.
        node = f"{name}-{uuid.uuid4().hex[:6]}"
        inherited = [os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []
        extra = {"PYTHONPATH": os.pathsep.join([str(pythonpath), *inherited])} if pythonpath else {}
        extra.update(env or {})
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [str(ORCH), "worker", "--name", f"{node}@%h", "--call-log", str(calls), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env_for(settings, **extra),
                start_new_session=True,  # its own process group: kill() takes the pool children too
            )
        worker = Worker(name, node, proc, log, calls)
        self.started.append(worker)
        return worker

    def stop_all(self) -> None:
        problems = []
        for worker in self.started:  # every one, even after one fails to stop cleanly
            try:
                worker.stop()
            except AssertionError as exc:
                problems.append(str(exc))
        assert not problems, problems


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    started = Workers(tmp_path)
    yield started
    started.stop_all()


def wait_for(settings: Settings, thread_id: str, *statuses: str, timeout: float = 60.0) -> Run:
    """The run once its status is one of `statuses` (it fails the test after `timeout`)."""
    runs = Runs(settings.database_url)
    deadline = time.monotonic() + timeout
    while True:
        run = runs.get(thread_id)
        if run is not None and run.status in statuses:
            return run
        assert time.monotonic() < deadline, f"{thread_id} is not {statuses} after {timeout}s: {run}"
        time.sleep(0.05)


def dead_letters(settings: Settings) -> list[list[Any]]:
    """The args of every message in the dead-letter queue (taken off it)."""
    configure(settings)
    found = []
    with app.connection_for_write() as connection:
        channel = connection.channel()
        while (message := channel.basic_get(Layout(settings).dead_queue.name, no_ack=True)) is not None:
            args, _kwargs, _embed = json.loads(message.body)
            found.append(args)
    return found
