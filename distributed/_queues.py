"""The queue layout on the broker: partitions, the wait queue and the dead-letter queue.

RabbitMQ (one exchange per role, all named after the prefix):

- `PREFIX.p0` ... `PREFIX.p{P-1}`: quorum queues, one per partition. Bounded
  (`x-max-length` with `x-overflow: reject-publish`, so a full queue nacks the
  publish instead of dropping an old message), with a delivery limit
  (`x-delivery-limit`) after which a message that keeps failing is
  dead-lettered, at least once, to `PREFIX.dead`.
- `PREFIX.wait`: where a run whose thread is busy waits `retry_delay` seconds
  (`x-message-ttl`), then is dead-lettered back to its own partition queue
  through the `PREFIX` exchange with its routing key. It holds no worker slot
  while it waits, and a full partition keeps it waiting rather than losing it
  (at-least-once dead-lettering).
- `PREFIX.dead`: poison messages, kept for inspection; the runs table says why.
- `PREFIX.branches`: a map's batches, for any worker to ask (`--spread-branches`),
  bounded and delivery-limited as a partition is; every worker consumes it.

Quorum queues because classic queues have no delivery limit, and their
dead-lettering is at most once. Measured on RabbitMQ 3.10: a quorum queue
admits one message over `x-max-length` before it starts to refuse publishes.

Redis (the alternative broker) has none of these arguments: its queues are
plain lists, unbounded, and the delivery limit is kept in the runs table only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from kombu.entity import Exchange, Queue

from distributed._settings import Settings

__all__ = ["Layout", "partition_of"]


def partition_of(key: str, partitions: int) -> int:
    """The partition of a run keyed by `key` (its tenant, else its thread id).

    SHA-256, not `hash()`: Python salts string hashes per process, and every
    submitter on every machine must route a tenant to the same partition.
    """
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % partitions


@dataclass(frozen=True)
class Layout:
    """The exchanges and queues that `settings` describe."""

    settings: Settings

    @cached_property
    def exchange(self) -> Exchange:
        return Exchange(self.settings.prefix, type="direct", durable=True)

    @cached_property
    def wait_exchange(self) -> Exchange:
        return Exchange(f"{self.settings.prefix}.wait", type="fanout", durable=True)

    @cached_property
    def dead_exchange(self) -> Exchange:
        return Exchange(f"{self.settings.prefix}.dead", type="fanout", durable=True)

    def queue_name(self, partition: int) -> str:
        return f"{self.settings.prefix}.p{partition}"

    def partition(self, partition: int) -> Queue:
        name = self.queue_name(partition)
        return Queue(name, self.exchange, routing_key=name, queue_arguments=self._partition_arguments())

    @cached_property
    def partitions(self) -> list[Queue]:
        return [self.partition(p) for p in range(self.settings.partitions)]

    @cached_property
    def wait_queue(self) -> Queue:
        name = f"{self.settings.prefix}.wait"
        arguments: dict[str, Any] = {
            "x-queue-type": "quorum",
            "x-message-ttl": round(self.settings.retry_delay * 1000),
            # No x-dead-letter-routing-key: an expired message keeps the routing key it was
            # published with, its partition queue's name.
            "x-dead-letter-exchange": self.settings.prefix,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",  # at-least-once dead-lettering requires it
            "x-max-length": self.settings.max_queued,
        }
        return Queue(name, self.wait_exchange, routing_key=name, queue_arguments=arguments)

    @cached_property
    def branch_queue(self) -> Queue:
        name = f"{self.settings.prefix}.branches"
        return Queue(name, self.exchange, routing_key=name, queue_arguments=self._partition_arguments())

    @cached_property
    def dead_queue(self) -> Queue:
        name = f"{self.settings.prefix}.dead"
        return Queue(name, self.dead_exchange, routing_key=name, queue_arguments={"x-queue-type": "quorum"})

    def all_queues(self) -> list[Queue]:
        """Everything to declare (RabbitMQ) or to delete when a layout is retired."""
        if not self.settings.rabbitmq:
            return [*self.partitions, self.branch_queue]
        return [*self.partitions, self.branch_queue, self.wait_queue, self.dead_queue]

    def _partition_arguments(self) -> dict[str, Any] | None:
        if not self.settings.rabbitmq:
            return None
        return {
            "x-queue-type": "quorum",
            "x-max-length": self.settings.max_queued,
            "x-overflow": "reject-publish",
            # RabbitMQ dead-letters a message returned more than this many times: it
            # is delivered delivery_limit + 1 times. The worker gives up on that last
            # delivery itself (it can say why in the runs table); the broker's limit
            # is the backstop for a message that kills the worker before it can.
            "x-delivery-limit": self.settings.delivery_limit,
            "x-dead-letter-exchange": f"{self.settings.prefix}.dead",
            "x-dead-letter-strategy": "at-least-once",
        }
