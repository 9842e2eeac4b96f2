"""`orch submit/status/result/answer/worker/front-door`: runs on Celery workers, registered as an `orch` plugin.

    export ORCH_CHECKPOINT_URL=postgresql://postgres@127.0.0.1:5432/test
    orch worker --partitions 0,1 --concurrency 2      # consumes PREFIX.p0 and PREFIX.p1
    orch submit debate --thread t1 --input split.json  # queued on partition hash(t1) % P
    orch status t1
    orch result t1 --wait 60                           # exit 0 completed, 1 failed, 3 waiting
    orch answer t1 rabbitmq                            # resumes a run waiting for a human
    orch front-door --port 8080                        # the same over HTTP, /openapi.json

Bad input ends in one line on stderr and exit code 2, as for every `orch` command.
Celery is imported by the commands that use it, not when `orch` starts.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

from patterns.cli import number, read_input
from patterns.errors import UsageError

__all__ = ["register"]

EXIT_WAITING = 3  # as `orch run`: paused for a human's answer

_out = Console(highlight=False, width=None if sys.stdout.isatty() else 150)
_err = Console(stderr=True, highlight=False, soft_wrap=True)


def register(sub: Any, parsers: dict[str, argparse.ArgumentParser]) -> None:
    cluster = argparse.ArgumentParser(add_help=False)
    cluster.add_argument(
        "--checkpoint",
        metavar="URL",
        default=None,
        help="PostgreSQL: checkpoints and the runs table ($ORCH_CHECKPOINT_URL)",
    )
    cluster.add_argument(
        "--broker",
        metavar="URL",
        default=None,
        help="amqp://... (RabbitMQ, default) or redis://... ($ORCH_BROKER_URL)",
    )
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print the run as JSON")

    submit = sub.add_parser("submit", parents=[cluster, as_json], help="queue a run for the Celery workers")
    submit.add_argument("pattern", nargs="?", help="a preset's name (or give --flow)")
    submit.add_argument(
        "--flow", metavar="MODULE:ATTRIBUTE", help="a declared flow, importable on every worker"
    )
    submit.add_argument("--thread", metavar="ID", help="the run's thread id (default: a new one)")
    submit.add_argument("--tenant", metavar="NAME", help="partition by tenant instead of thread")
    submit.add_argument(
        "--input", metavar="FILE|-", help="input JSON file, or - for stdin (default: the sample)"
    )
    submit.set_defaults(handler=_refusing(_submit))

    status = sub.add_parser("status", parents=[cluster, as_json], help="a submitted run's status")
    status.add_argument("thread")
    status.set_defaults(handler=_refusing(_status))

    result = sub.add_parser("result", parents=[cluster, as_json], help="a finished run's output")
    result.add_argument("thread")
    result.add_argument(
        "--wait",
        type=number(low=0, high=86_400, unit="seconds"),
        default=0.0,
        help="wait up to this long for the run to finish",
    )
    result.set_defaults(handler=_refusing(_result))

    answer = sub.add_parser("answer", parents=[cluster, as_json], help="answer a run waiting for a human")
    answer.add_argument("thread")
    answer.add_argument("choice", help="the answer: JSON, or a bare word such as rabbitmq")
    answer.set_defaults(handler=_refusing(_answer))

    worker = sub.add_parser(
        "worker",
        parents=[cluster, parsers["model-options"]],
        help="a Celery worker that runs submitted runs",
    )
    worker.add_argument(
        "--partitions", metavar="LIST", default=None, help="the partitions to consume, e.g. 0,1 (default all)"
    )
    worker.add_argument(
        "--concurrency", type=number(int, low=1, high=64), default=1, help="runs at once (processes)"
    )
    worker.add_argument(
        "--pool",
        choices=["prefork", "solo"],
        default="prefork",
        help="prefork: a process per run, a crash costs one run; solo: in the worker process",
    )
    worker.add_argument("--name", default=None, help="the worker's node name (default orch-PID@HOST)")
    worker.add_argument(
        "--budget-steps",
        type=number(int, low=1, high=100_000),
        default=50,
        help="steps a delivery runs before it re-enqueues the run to continue",
    )
    worker.add_argument(
        "--budget-seconds",
        type=number(low=0.1, high=3600, unit="seconds"),
        default=300.0,
        help="seconds a delivery runs before it re-enqueues the run (keep under RabbitMQ's consumer timeout)",
    )
    worker.add_argument(
        "--visibility-timeout",
        type=number(low=0.5, high=86_400, unit="seconds"),
        default=None,
        help="Redis only: seconds before an unacknowledged run is handed to another worker "
        "(default: twice --budget-seconds, at least 60; the thread's lock refuses a second owner)",
    )
    worker.add_argument(
        "--spread-branches",
        type=number(low=0, high=3600, unit="seconds"),
        nargs="?",
        const=1.0,
        default=None,
        metavar="SECONDS",
        help="ask a map's batches on any worker, their replies kept by key (a resumed map reuses them); "
        "a batch nobody took within SECONDS (default 1) is asked here",
    )
    worker.add_argument(
        "--call-log", metavar="FILE", default=None, help="scripted model: append each call to this JSONL"
    )
    worker.add_argument("--loglevel", choices=["DEBUG", "INFO", "WARNING", "ERROR"], default="INFO")
    worker.set_defaults(handler=_refusing(_worker))

    door = sub.add_parser(
        "front-door", parents=[cluster], help="the HTTP front door: submit, status, result, answer"
    )
    door.add_argument("--host", default="127.0.0.1")
    door.add_argument("--port", type=number(int, low=1, high=65535), default=8080)
    door.add_argument(
        "--allow-remote", action="store_true", help="serve on a non-loopback host (no authentication)"
    )
    door.add_argument(
        "--flow", action="append", default=[], metavar="MODULE:ATTRIBUTE", help="a declared flow it accepts"
    )
    door.set_defaults(handler=_refusing(_front_door))


def _refusing(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A full queue is a refusal like any other: one line and exit 2, as `orch` promises."""

    def run(args: argparse.Namespace) -> int:
        from patterns.flow_control import Overloaded

        try:
            return handler(args)
        except Overloaded as exc:
            raise UsageError(str(exc)) from None

    return run


def _settings(args: argparse.Namespace) -> Any:
    from distributed._settings import Settings

    return Settings.from_env(broker_url=args.broker, database_url=args.checkpoint)


def _print_run(args: argparse.Namespace, run: Any, headline: str) -> None:
    if args.json:
        print(json.dumps(run.public(), indent=2))
        return
    table = Table(title=headline, show_header=False)
    for key, value in run.public().items():
        if key == "result" or value is None:
            continue
        table.add_row(key, value if isinstance(value, str) else json.dumps(value))
    _out.print(table)


def _submit(args: argparse.Namespace) -> int:
    from distributed._client import submit

    run = submit(
        _settings(args),
        args.pattern,
        flow=args.flow,
        thread_id=args.thread,
        tenant=args.tenant,
        input=read_input(args.input),
    )
    if args.json:
        print(json.dumps(run.public(), indent=2))
    else:
        print(
            f"queued {run.thread_id} on partition {run.partition}; follow it with: orch status {run.thread_id}"
        )
    return 0


def _status(args: argparse.Namespace) -> int:
    from distributed._client import get_status

    run = get_status(_settings(args), args.thread)
    _print_run(args, run, f"run {run.thread_id}: {run.status}")
    return 0


def _result(args: argparse.Namespace) -> int:
    from distributed._client import get_result

    run = get_result(_settings(args), args.thread, wait=args.wait)
    if run.status in ("queued", "running"):
        raise UsageError(
            f"thread {run.thread_id!r} is {run.status}, not finished: try again, or pass --wait SECONDS"
        )
    if args.json:
        print(json.dumps(run.public(), indent=2))
    elif run.status == "completed":
        _out.print_json(json.dumps((run.result or {}).get("output")))
    elif run.status == "waiting":
        _out.print(f"waiting for an answer: {json.dumps(run.interrupt)[:300]}", markup=False)
        _out.print(f"answer with: orch answer {run.thread_id} CHOICE", markup=False)
    else:
        _err.print(f"orch: run {run.thread_id} {run.status}: {run.error}", markup=False)
    return {"completed": 0, "waiting": EXIT_WAITING}.get(run.status, 1)


def _answer(args: argparse.Namespace) -> int:
    from distributed._client import answer

    try:
        value = json.loads(args.choice)
    except json.JSONDecodeError:
        value = args.choice  # a bare word such as rabbitmq
    run = answer(_settings(args), args.thread, value)
    if args.json:
        print(json.dumps(run.public(), indent=2))
    else:
        print(f"queued {run.thread_id} again with its answer; follow it with: orch status {run.thread_id}")
    return 0


def _partitions(text: str | None, total: int) -> list[int]:
    if text is None:
        return list(range(total))
    try:
        chosen = sorted({int(part) for part in text.split(",")})
    except ValueError:
        raise UsageError(f"--partitions takes numbers separated by commas, e.g. 0,1, not {text!r}") from None
    if not chosen or chosen[0] < 0 or chosen[-1] >= total:
        raise UsageError(
            f"--partitions must be from 0 to {total - 1} (ORCH_PARTITIONS={total}), not {text!r}"
        )
    return chosen


def _worker(args: argparse.Namespace) -> int:
    from pathlib import Path

    from distributed._app import app, configure, declare
    from distributed._queues import Layout
    from distributed._worker import WorkerOptions, prepare_database, set_options

    settings = _settings(args)
    partitions = _partitions(args.partitions, settings.partitions)
    options = WorkerOptions(
        settings,
        budget_steps=args.budget_steps,
        budget_seconds=args.budget_seconds,
        model=args.model,
        base_url=args.base_url,
        seed=args.seed,
        latency=args.latency,
        fault_rate=args.fault_rate,
        call_log=Path(args.call_log) if args.call_log else None,
        spread_branches=args.spread_branches,
    )
    options.chat_model()  # a bad --model or --base-url is refused now, not at the first run
    prepare_database(settings.database_url)
    # Redis redelivers what stays unacknowledged this long: by default above the longest segment.
    visibility = args.visibility_timeout or max(60.0, 2 * args.budget_seconds)
    configure(settings, visibility_timeout=visibility)
    declare(settings)
    set_options(options)
    layout = Layout(settings)
    argv = [
        "worker",
        # Every worker asks other runs' map batches too, whether or not it spreads its own.
        f"--queues={','.join([*(layout.queue_name(p) for p in partitions), layout.branch_queue.name])}",
        f"--concurrency={args.concurrency}",
        f"--pool={args.pool}",
        f"--hostname={args.name or f'orch-{os.getpid()}@%h'}",
        f"--loglevel={args.loglevel}",
        # No worker-to-worker chatter: the runs table and the broker are the only shared state.
        "--without-mingle",
        "--without-gossip",
    ]
    app.worker_main(argv)
    return 0


def _front_door(args: argparse.Namespace) -> int:
    import uvicorn

    from distributed._http import create_front_door

    settings = _settings(args)
    if not (args.allow_remote or _loopback(args.host)):
        raise UsageError(
            f"refusing to serve the front door on {args.host!r}: it is not a loopback address and the door "
            "has no authentication; use 127.0.0.1, or pass --allow-remote behind your own gateway"
        )
    app = create_front_door(settings, flows=args.flow)
    _err.print(f"front door on http://{args.host}:{args.port} (OpenAPI at /openapi.json; Ctrl-C to stop)")
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def _loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
