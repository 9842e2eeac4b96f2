"""OpenTelemetry tracing: the provider our spans go to, built only when traces are asked for.

Nothing here is imported until `configure` turns traces on, so a run with
nothing configured never loads the SDK. Export is OTLP over HTTP/protobuf (the
one transport every backend here takes: Phoenix, the OpenTelemetry Collector,
Jaeger, Tempo), batched off the event loop by the SDK's `BatchSpanProcessor`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from patterns.errors import UsageError

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer, TracerProvider

__all__ = ["OTLP_ENV", "Tracing", "exporting_provider", "sdk_disabled", "traces_wanted_by_env"]

_log = logging.getLogger("patterns.observability")

#: The standard variables that name an OTLP endpoint: either one turns traces on.
OTLP_ENV = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_PROTOCOL_ENV = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
_SCOPE = "orchestration-patterns"


def traces_wanted_by_env() -> bool:
    return any(os.environ.get(name) for name in OTLP_ENV)


@dataclass
class Tracing:
    """Where our spans go: a provider (ours when `owned`, so shutdown flushes and closes it)."""

    provider: TracerProvider
    owned: bool

    def __post_init__(self) -> None:
        self.tracer: Tracer = self.provider.get_tracer(_SCOPE)
        _share(self.provider)

    def shutdown(self) -> None:
        # An owned provider is closed (its batch flushed); the application's is only flushed.
        if self.owned:
            self.provider.shutdown()  # type: ignore[attr-defined]
        elif hasattr(self.provider, "force_flush"):
            self.provider.force_flush()


def exporting_provider(endpoint: str | None, service_name: str) -> TracerProvider:
    """An SDK provider batching spans to OTLP/HTTP at `endpoint` (a collector's base URL),
    or wherever the `OTEL_EXPORTER_OTLP_*` variables say when `endpoint` is None."""
    protocol = next((os.environ[n] for n in _PROTOCOL_ENV if os.environ.get(n)), "http/protobuf")
    if protocol != "http/protobuf":
        raise UsageError(
            f"OTLP protocol {protocol!r} is not supported here: traces are exported over http/protobuf "
            "(unset OTEL_EXPORTER_OTLP_PROTOCOL, or point it at the collector's HTTP port, usually 4318)"
        )
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        raise UsageError(
            "exporting traces needs the otel extra: pip install 'orchestration-patterns[otel]'"
        ) from None
    # The user's OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES win over our default name.
    named = os.environ.get("OTEL_SERVICE_NAME") or "service.name=" in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    provider = SdkTracerProvider(resource=Resource.create({} if named else {"service.name": service_name}))
    exporter = OTLPSpanExporter(endpoint=_traces_url(endpoint) if endpoint else None)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def _traces_url(endpoint: str) -> str:
    if not endpoint.startswith(("http://", "https://")):
        raise UsageError(
            f"the OTLP endpoint must be an http(s) URL such as http://127.0.0.1:4318, not {endpoint!r}"
        )
    base = endpoint.rstrip("/")
    return base if base.endswith("/v1/traces") else f"{base}/v1/traces"


def sdk_disabled() -> bool:
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def _share(provider: Any) -> None:
    """Make `provider` the global one if the application has set none, so frameworks' spans
    (AutoGen's runtime, Semantic Kernel's diagnostics) reach the same exporter and nest under ours."""
    from opentelemetry import trace

    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(provider)
    elif trace.get_tracer_provider() is not provider:
        _log.info(
            "an OpenTelemetry tracer provider is already set globally; frameworks' own spans go to it, ours to the one configured"
        )
