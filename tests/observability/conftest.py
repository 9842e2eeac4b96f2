"""Observability fixtures: an in-memory span exporter, a fresh metrics registry, a log buffer.

OpenTelemetry lets a process set its global tracer provider once, and the
frameworks' own spans (AutoGen's, Semantic Kernel's) go to the global one: so one
provider serves the whole session and each test clears its exporter. Every test
ends with `observability.shutdown()`, so none leaks its configuration into the next.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from patterns import observability

_EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="session", autouse=True)
def tracer_provider() -> TracerProvider:
    """The session's global provider, set before any test's `configure` could make its own global."""
    # `adapters.disable_telemetry` (run by any earlier adapter test) sets OTEL_SDK_DISABLED, which
    # would make this provider record nothing: the SDK reads it once, here.
    with pytest.MonkeyPatch.context() as env:
        env.delenv("OTEL_SDK_DISABLED", raising=False)
        provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
    trace.set_tracer_provider(provider)
    assert trace.get_tracer_provider() is provider, "another global tracer provider was set first"
    return provider


@dataclass
class Spans:
    exporter: InMemorySpanExporter

    def all(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, prefix: str) -> list[ReadableSpan]:
        return [s for s in self.all() if s.name.startswith(prefix)]

    def one(self, name: str) -> ReadableSpan:
        found = [s for s in self.all() if s.name == name]
        assert len(found) == 1, f"{len(found)} spans named {name!r}: {[s.name for s in self.all()]}"
        return found[0]

    def children(self, parent: ReadableSpan, prefix: str = "") -> list[ReadableSpan]:
        return [
            s
            for s in self.all()
            if s.parent is not None
            and s.parent.span_id == parent.context.span_id
            and s.name.startswith(prefix)
        ]


@dataclass
class Observed:
    spans: Spans
    registry: CollectorRegistry
    logs: io.StringIO
    telemetry: observability.Telemetry


@pytest.fixture
def observe(tracer_provider: TracerProvider) -> Iterator[Observed]:
    """Traces, metrics (not served) and JSON logs on, each test with its own registry and buffer."""
    _EXPORTER.clear()
    registry, logs = CollectorRegistry(), io.StringIO()
    telemetry = observability.configure(
        tracer_provider=tracer_provider, metrics_registry=registry, log_format="json", log_stream=logs
    )
    yield Observed(Spans(_EXPORTER), registry, logs, telemetry)
    observability.shutdown()
    _EXPORTER.clear()


@pytest.fixture(autouse=True)
def _nothing_configured_after() -> Iterator[None]:
    yield
    observability.shutdown()
    observability.configure()  # back to the default: nothing on, the scripted model free
