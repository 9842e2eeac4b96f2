"""With nothing configured, nothing happens: no exporter, no metrics library, shared no-op hooks."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from patterns import observability
from patterns.observability import _hooks


def test_a_run_with_nothing_configured_loads_no_exporter_and_no_metrics() -> None:
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent("""
                import asyncio, os, sys
                for name in list(os.environ):
                    if name.startswith("OTEL_"):
                        del os.environ[name]
                from patterns import arun, resolve_model
                result = asyncio.run(arun("pipeline", model=resolve_model(), checkpoint="memory"))
                from opentelemetry import trace
                loaded = [m for m in sys.modules if m.startswith(("prometheus_client", "opentelemetry.exporter"))]
                print(result.status, result.cost_usd, type(trace.get_tracer_provider()).__name__, loaded)
            """),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    # LangSmith (under langchain-core) imports the OpenTelemetry SDK when it is installed; we set
    # no provider, add no processor and load no exporter.
    assert probe.stdout.split() == ["completed", "0.0", "ProxyTracerProvider", "[]"]


def test_the_hooks_are_shared_no_ops() -> None:
    observability.shutdown()
    assert _hooks.agent_call("a", "a") is _hooks.agent_call("b", "b")
    assert _hooks.flow("langgraph", "pipeline", "t") is _hooks.flow("autogen", "debate", None)
    call = _hooks.agent_call("a", "a")
    assert call.attempt() is call.attempt()

    async def reply() -> int:
        return 1

    assert call.attempts(reply) is reply
