"""Prometheus metrics: what the hooks count, and the `/metrics` endpoint that serves them.

prometheus-client because Prometheus scrapes its text format natively, it is
pure Python with no dependencies, and it serves `/metrics` from a thread of its
own (no event loop needed, so `orch run`'s loop is untouched). The OpenTelemetry
metrics SDK would add a second pipeline for the same numbers.

Every label value is bounded by code, never by input: framework, pattern, agent
(the declared agent's name, not the instance label: a scatter-gather source's
label comes from the input), status, token kind, and exception class names. A
thread id is never a label. A circuit breaker's gauge is per breaker, which is
what one watches; breakers are keyed as the run's policies key them.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from prometheus_client import CollectorRegistry

__all__ = ["BREAKER_STATES", "Metrics", "MetricsServer", "metrics_for", "serve"]

#: `orch_breaker_state` values, ordered by severity.
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}

# Model calls take from milliseconds (a cache, the scripted model) to minutes (long generations).
_CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_FLOW_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600)
_WRITE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1)

_AGENT = ("framework", "pattern", "agent")


class Metrics:
    """The kit's metrics, registered once in one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.agent_calls = Counter(
            "orch_agent_calls",
            "Model calls made for agents (attempts: a retried call counts each try), by outcome",
            [*_AGENT, "status"],
            registry=registry,
        )
        self.agent_call_seconds = Histogram(
            "orch_agent_call_seconds",
            "Duration of one model call for an agent, reply parsing included",
            _AGENT,
            buckets=_CALL_BUCKETS,
            registry=registry,
        )
        self.tokens = Counter(
            "orch_tokens",
            "Tokens the models reported, by kind (prompt, completion)",
            [*_AGENT, "kind"],
            registry=registry,
        )
        self.cost_usd = Counter(
            "orch_cost_usd", "USD spent on model calls, from the pricing table", _AGENT, registry=registry
        )
        self.retries = Counter(
            "orch_retries",
            "Failed attempts that were retried, by agent and exception class",
            ["agent", "reason"],
            registry=registry,
        )
        self.breaker_state = Gauge(
            "orch_breaker_state",
            "Circuit breaker state per breaker: 0 closed, 1 half-open, 2 open (absent until a first transition)",
            ["agent"],
            registry=registry,
        )
        self.bulkhead_rejected = Counter(
            "orch_bulkhead_rejected",
            "Calls a full bulkhead compartment refused",
            ["agent"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "orch_dead_letters",
            "Calls recorded as dead letters (failed for good)",
            ["agent"],
            registry=registry,
        )
        self.flow_seconds = Histogram(
            "orch_flow_seconds",
            "Duration of one flow run (or resume), by outcome",
            ["framework", "pattern", "status"],
            buckets=_FLOW_BUCKETS,
            registry=registry,
        )
        self.checkpoint_write_seconds = Histogram(
            "orch_checkpoint_write_seconds",
            "Duration of one checkpoint write (op: checkpoint or task writes), by backend",
            ["backend", "op"],
            buckets=_WRITE_BUCKETS,
            registry=registry,
        )


_lock = threading.Lock()
# A metric name registers once per registry: re-configuring reuses the same objects.
_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, Metrics] = weakref.WeakKeyDictionary()


def metrics_for(registry: CollectorRegistry) -> Metrics:
    with _lock:
        metrics = _by_registry.get(registry)
        if metrics is None:
            metrics = _by_registry[registry] = Metrics(registry)
        return metrics


@dataclass
class MetricsServer:
    """The `/metrics` endpoint on loopback; `url` has the port actually bound (port 0 picks one)."""

    host: str
    server: WSGIServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.server.server_port}/metrics"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve(registry: CollectorRegistry, port: int, host: str = "127.0.0.1") -> MetricsServer:
    """Serve `registry` on `host:port/metrics` from a daemon thread."""
    from prometheus_client import start_http_server

    server, thread = start_http_server(port, addr=host, registry=registry)
    return MetricsServer(host, server, thread)
