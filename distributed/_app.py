"""The Celery app, its delivery guarantees, and publishing a run's next message.

Every setting below is one of the guarantees the README promises:

- `task_acks_late`: a message is acknowledged when its task ends, not when it
  arrives, so a worker that dies mid-run leaves it unacknowledged and RabbitMQ
  delivers it again to another worker.
- `task_reject_on_worker_lost`: a prefork child killed mid-task (OOM, SIGKILL)
  puts its message back rather than acknowledging it as failed.
- `worker_prefetch_multiplier = 1`: a worker holds one message per process, so
  a dying worker strands at most the runs it was actually running.
- publisher confirms (`confirm_publish`): a publish returns once RabbitMQ has
  the message, and a full queue's refusal (`reject-publish`) surfaces as
  `Overloaded` instead of a silent drop.
- `worker_cancel_long_running_tasks_on_connection_loss`: a worker that lost
  the broker (whose messages RabbitMQ hands to others) stops running them.

No result backend: results live in the runs table, beside the checkpoints.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from celery import Celery
from celery.worker.consumer import Consumer as _CeleryConsumer

from distributed._errors import Unreachable
from distributed._queues import Layout
from distributed._settings import Settings
from patterns.errors import UsageError
from patterns.flow_control import Overloaded
from patterns.observability import _hooks as telemetry
from patterns.runtime import describe

__all__ = [
    "BRANCH_TASK",
    "SEGMENT_TASK",
    "Consumer",
    "app",
    "configure",
    "declare",
    "publish",
    "publish_branch",
    "queue_depth",
]

SEGMENT_TASK = "orch.segment"
BRANCH_TASK = "orch.branch"

_log = logging.getLogger(__name__)

app = Celery("orch", set_as_current=False)


class Consumer(_CeleryConsumer):  # type: ignore[misc]  # Celery's classes are unannotated
    """Celery's consumer without native delayed delivery.

    Celery adds that step whenever it sees quorum queues: it declares 28 shared
    `celery_delayed_*` exchanges and queues on the vhost for countdown tasks. We
    publish no countdown on RabbitMQ (a busy run waits in `PREFIX.wait`), so
    the step would only leave broker-wide objects behind.
    """

    class Blueprint(_CeleryConsumer.Blueprint):  # type: ignore[misc]
        default_steps: ClassVar[list[str]] = [
            step for step in _CeleryConsumer.Blueprint.default_steps if "delayed_delivery" not in step
        ]


def _drop_connections() -> None:
    """Close the app's pooled connections and producers, so the next publish connects anew.

    `app.close()` is not enough: it drops the connection pool but keeps the producer
    pool, whose producers hold connections of their own (a publish after a switch from
    RabbitMQ to Redis went to RabbitMQ); and kombu keeps producer pools in a registry
    of its own, which would hand a closed one back on a switch back.
    """
    from kombu import pools

    app.amqp._producer_pool = None
    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    pools.reset()


def configure(settings: Settings, *, visibility_timeout: float = 3600.0) -> Celery:
    """Point the app at `settings`' broker and queues; returns the app.

    `visibility_timeout` (Redis only): how long a delivered message may stay
    unacknowledged before Redis hands it to another worker. Keep it above the
    longest segment; the per-thread lock refuses the second owner if not.
    """
    layout = Layout(settings)
    if app.conf.broker_url not in (None, settings.broker_url):
        _drop_connections()  # its pooled connections are to the other broker
    if settings.rabbitmq:
        transport: dict[str, Any] = {"confirm_publish": True}
    else:
        # Kombu scans for unacknowledged messages every interval x throttle (10 x 10 s):
        # a killed worker's run waited 87 s. Scan every second instead.
        transport = {
            "visibility_timeout": visibility_timeout,
            "unacked_restore_interval": 1,
            "unacked_restore_throttle": 1,
        }
    app.conf.update(
        broker_url=settings.broker_url,
        broker_transport_options=transport,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=5,
        task_queues=[*layout.partitions, layout.branch_queue],
        task_default_queue=layout.queue_name(0),
        task_create_missing_queues=False,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # A task that fails outside our own handling is rejected (dead-lettered), never acked away.
        task_acks_on_failure_or_timeout=False,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        result_backend=None,
        worker_prefetch_multiplier=1,
        worker_consumer="distributed._app:Consumer",
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_hijack_root_logger=False,
        # A lost connection is retried briefly; a nack (a full queue) is never retried: the caller hears it now.
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
    )
    return app


def declare(settings: Settings) -> None:
    """Declare every queue and exchange of the layout (a no-op when they exist as declared).

    Done before the first publish: a busy run expiring from the wait queue into
    a partition nobody declared yet would be dropped by RabbitMQ.
    """
    layout = Layout(settings)
    try:
        with app.connection_for_write() as connection:
            channel = connection.default_channel
            for queue in layout.all_queues():
                queue.bind(channel).declare()
    except Exception as exc:
        raise _broker_error(settings, exc) from None


def publish(settings: Settings, thread_id: str, segment: int, partition: int, *, wait: bool = False) -> None:
    """Publish segment `segment` of `thread_id` to its partition (after `retry_delay` with `wait`).

    Raises `Overloaded` when the broker refuses the message because the queue is full.
    """
    layout = Layout(settings)
    options: dict[str, Any] = {"queue": layout.partition(partition)}
    if wait and settings.rabbitmq:
        options = {
            "exchange": layout.wait_exchange,
            "routing_key": layout.queue_name(partition),
            "declare": [layout.wait_queue],
        }
    elif wait:
        options["countdown"] = settings.retry_delay  # Redis: the worker holds it until then
    where = layout.wait_queue.name if wait else layout.queue_name(partition)
    _send(
        settings, SEGMENT_TASK, (thread_id, segment), where, options, f"add workers for partition {partition}"
    )


def publish_branch(
    settings: Settings, thread_id: str, key: str, agent: str, payload: dict[str, Any], label: str | None
) -> None:
    """Publish one branch of `thread_id`'s fan-out (`key` names it) to the branch queue.

    Raises `Overloaded` when the queue is full (the caller asks the branch itself).
    """
    queue = Layout(settings).branch_queue
    _send(settings, BRANCH_TASK, (thread_id, key, agent, payload, label), queue.name, {"queue": queue}, "")


def _send(
    settings: Settings, task: str, args: tuple[Any, ...], where: str, options: dict[str, Any], advice: str
) -> None:
    from amqp.exceptions import MessageNacked

    try:
        # The publisher's trace goes with the message: the worker's spans continue it.
        trace = telemetry.trace_headers()
        app.send_task(task, args=args, kwargs={"trace": trace} if trace else {}, **options)
    except Exception as exc:
        if not _nacked(exc, MessageNacked):
            raise _broker_error(settings, exc) from None
        depth = queue_depth(settings, where)
        raise Overloaded(
            f"queue {where} is full (it holds {depth} messages; its bound is {settings.max_queued}): "
            f"retry after {settings.retry_after:g} s{', or ' + advice if advice else ''}",
            depth=depth,
            capacity=settings.max_queued,
            retry_after=settings.retry_after,
        ) from None


def _nacked(exc: BaseException | None, nack: type[Exception]) -> bool:
    # Kombu raises its OperationalError from py-amqp's MessageNacked.
    while exc is not None:
        if isinstance(exc, nack):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def queue_depth(settings: Settings, name: str) -> int:
    """Messages ready in queue `name`, or -1 if the broker cannot say."""
    try:
        with app.connection_for_write() as connection:
            if settings.rabbitmq:
                return int(connection.default_channel.queue_declare(name, passive=True).message_count)
            return int(connection.default_channel.client.llen(name))
    except Exception:  # a depth is advice for a message; its absence must not hide the refusal
        return -1


def _broker_error(settings: Settings, exc: BaseException) -> UsageError:
    if type(exc).__name__ == "PreconditionFailed":
        return UsageError(
            f"the broker holds queues named {settings.prefix}.* declared with other settings ({exc}); "
            "use the same ORCH_PARTITIONS, ORCH_QUEUE_MAX, ORCH_DELIVERY_LIMIT and ORCH_RETRY_DELAY "
            "everywhere, or another ORCH_QUEUE_PREFIX"
        )
    reason = " ".join(str(exc).split()) or type(exc).__name__
    return Unreachable(f"cannot reach the broker at {describe(settings.broker_url)}: {reason}")
