"""Scale-out: the patterns' runs on Celery workers, over RabbitMQ, with checkpoints in PostgreSQL.

A submitted run is a row in the `orch_runs` table and a message on a
partition queue (`hash(tenant or thread) % P`). A worker consumes some
partitions; each delivery runs a budget of the run's steps with
`patterns.arun(..., durability="sync")` on the shared PostgreSQL checkpointer
and re-enqueues the rest. The per-thread advisory lock keeps one owner per
thread; a worker that dies leaves its message unacknowledged, so RabbitMQ
hands it to another worker, which resumes from the last checkpoint.

    from distributed import Settings, submit, get_result

    settings = Settings.from_env()          # ORCH_BROKER_URL, ORCH_CHECKPOINT_URL, ...
    run = submit(settings, "debate", thread_id="t1", input={...})
    run = get_result(settings, "t1", wait=60)

The commands are `orch submit/status/result/answer/worker/front-door`
(`distributed.cli`); the HTTP front door is `create_front_door(settings)`.
This package imports Celery lazily: `import distributed` costs little.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from distributed._errors import RunConflict, UnknownRun, Unreachable
from distributed._settings import Settings

if TYPE_CHECKING:
    from distributed._client import answer, get_result, get_status, submit
    from distributed._http import create_front_door
    from distributed._queues import partition_of
    from distributed._runs import Run

__all__ = [
    "Run",
    "RunConflict",
    "Settings",
    "UnknownRun",
    "Unreachable",
    "answer",
    "create_front_door",
    "get_result",
    "get_status",
    "partition_of",
    "submit",
]

_LAZY = {
    "answer": "distributed._client",
    "get_result": "distributed._client",
    "get_status": "distributed._client",
    "submit": "distributed._client",
    "create_front_door": "distributed._http",
    "Run": "distributed._runs",
    "partition_of": "distributed._queues",
}


def __getattr__(name: str) -> Any:
    # Celery and kombu load with the names that need them, not with the package.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'distributed' has no attribute {name!r}")
