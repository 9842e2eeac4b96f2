"""The cluster's settings: one broker, one PostgreSQL database, and the queue layout.

Submitters, workers and the front door must agree on the queue layout (prefix,
number of partitions, queue bound, delivery limit): RabbitMQ refuses to declare
a queue again with other arguments, and a run hashed with another partition
count lands in a queue nobody reads. So the layout comes from the environment,
set once for the whole deployment, and only the URLs have command-line flags.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from patterns.errors import UsageError

__all__ = [
    "BROKER_ENV",
    "CHECKPOINT_ENV",
    "DEFAULT_BROKER_URL",
    "Settings",
]

BROKER_ENV = "ORCH_BROKER_URL"
CHECKPOINT_ENV = "ORCH_CHECKPOINT_URL"
DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"

_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$")
_POSTGRES = ("postgresql://", "postgres://")
_BROKERS = ("amqp://", "pyamqp://", "redis://", "rediss://")
N = TypeVar("N", int, float)


@dataclass(frozen=True, slots=True)
class Settings:
    """Where runs are queued and kept, and the shape of the queues.

    Args:
        broker_url: RabbitMQ (`amqp://...`, the default) or Redis (`redis://...`).
        database_url: PostgreSQL: the checkpoints and the runs table.
        prefix: Names every queue and exchange (`PREFIX.p0`, `PREFIX.wait`, `PREFIX.dead`).
        partitions: How many partition queues; a run goes to `hash(tenant or thread) % partitions`.
        max_queued: Messages a partition queue holds before publishes are refused (RabbitMQ).
        delivery_limit: Deliveries of one message before it is dead-lettered as poison.
        retry_delay: Seconds a run whose thread is busy waits before it is tried again.
        retry_after: Seconds a refused submitter is told to wait (`Retry-After`).
    """

    broker_url: str = DEFAULT_BROKER_URL
    database_url: str = ""
    prefix: str = "orch"
    partitions: int = 4
    max_queued: int = 10_000
    delivery_limit: int = 5
    retry_delay: float = 1.0
    retry_after: float = 5.0

    def __post_init__(self) -> None:
        if not self.broker_url.startswith(_BROKERS):
            raise UsageError(
                f"unsupported broker URL {_masked(self.broker_url)!r}: use amqp://... (RabbitMQ) or redis://..."
            )
        if not self.database_url:
            raise UsageError(
                "distributed runs keep their checkpoints and the runs table in PostgreSQL: "
                f"pass --checkpoint postgresql://... or set ${CHECKPOINT_ENV}"
            )
        if not self.database_url.startswith(_POSTGRES):
            raise UsageError(
                f"distributed runs need a PostgreSQL checkpoint URL that every worker can reach, "
                f"not {_masked(self.database_url)!r}: use postgresql://..."
            )
        if not _PREFIX.match(self.prefix):
            raise UsageError(f"queue prefix {self.prefix!r} must be letters, digits, '.', '_' or '-'")
        if not 1 <= self.partitions <= 1024:
            raise UsageError(f"partitions must be from 1 to 1024, got {self.partitions}")
        if self.max_queued < 1:
            raise UsageError(f"the queue bound must be >= 1 message, got {self.max_queued}")
        if not 1 <= self.delivery_limit <= 100:
            raise UsageError(f"the delivery limit must be from 1 to 100, got {self.delivery_limit}")
        if not 0 < self.retry_delay <= 3600:
            raise UsageError(f"the retry delay must be > 0 and <= 3600 seconds, got {self.retry_delay}")
        if not 0 < self.retry_after <= 3600:
            raise UsageError(f"the retry-after must be > 0 and <= 3600 seconds, got {self.retry_after}")

    @property
    def rabbitmq(self) -> bool:
        """RabbitMQ gives the bounded queues, delivery limits and dead-lettering; Redis does not."""
        return self.broker_url.startswith(("amqp://", "pyamqp://"))

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        broker_url: str | None = None,
        database_url: str | None = None,
    ) -> Settings:
        """The settings from `ORCH_*` variables; the URLs given here win over theirs.

        `ORCH_BROKER_URL`, `ORCH_CHECKPOINT_URL`, `ORCH_QUEUE_PREFIX`, `ORCH_PARTITIONS`,
        `ORCH_QUEUE_MAX`, `ORCH_DELIVERY_LIMIT`, `ORCH_RETRY_DELAY`, `ORCH_RETRY_AFTER`.
        """
        env = os.environ if env is None else env
        return cls(
            broker_url=broker_url or env.get(BROKER_ENV) or DEFAULT_BROKER_URL,
            database_url=database_url or env.get(CHECKPOINT_ENV) or "",
            prefix=env.get("ORCH_QUEUE_PREFIX") or "orch",
            partitions=_number(env, "ORCH_PARTITIONS", 4, int),
            max_queued=_number(env, "ORCH_QUEUE_MAX", 10_000, int),
            delivery_limit=_number(env, "ORCH_DELIVERY_LIMIT", 5, int),
            retry_delay=_number(env, "ORCH_RETRY_DELAY", 1.0, float),
            retry_after=_number(env, "ORCH_RETRY_AFTER", 5.0, float),
        )


def _number(env: Mapping[str, str], name: str, default: N, kind: type[N]) -> N:
    text = env.get(name)
    if not text:
        return default
    try:
        return kind(text)
    except ValueError:
        raise UsageError(f"${name} must be a number, got {text!r}") from None


def _masked(url: str) -> str:
    from patterns.runtime import describe

    return describe(url)
