"""Export over OTLP/HTTP: to a tiny local receiver, from `configure`, the CLI and the standard
variables, and to a real Arize Phoenix when one is installed."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from patterns import arun, observability, resolve_model

from ..conftest import service_unavailable

HERE = Path(__file__).parent


@dataclass
class Receiver:
    """An OTLP/HTTP trace receiver on loopback: what a collector's `/v1/traces` does, and no more."""

    url: str
    spans: list[dict[str, Any]] = field(default_factory=list)
    resources: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    received = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            request = ExportTraceServiceRequest.FromString(body)
            for resource_spans in request.resource_spans:
                received.resources.append(
                    {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                )
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        received.spans.append(
                            {
                                "name": span.name,
                                "trace_id": span.trace_id.hex(),
                                "span_id": span.span_id.hex(),
                                "parent": span.parent_span_id.hex() or None,
                                "attributes": {a.key: _value(a.value) for a in span.attributes},
                            }
                        )
            reply = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: Any) -> None:  # quiet
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    received.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield received
    server.shutdown()
    server.server_close()


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def _assert_tree(spans: list[dict[str, Any]], pattern: str) -> None:
    by_id = {s["span_id"]: s for s in spans}
    (workflow,) = [s for s in spans if s["name"] == f"invoke_workflow {pattern}"]
    assert workflow["parent"] is None
    agents = [s for s in spans if s["name"].startswith("invoke_agent ")]
    chats = [s for s in spans if s["name"].startswith("chat ")]
    assert agents and len(chats) == len(agents)
    assert all(a["parent"] == workflow["span_id"] for a in agents)
    assert all(by_id[c["parent"]]["name"].startswith("invoke_agent ") for c in chats)
    assert {s["trace_id"] for s in spans} == {workflow["trace_id"]}
    assert all(c["attributes"]["gen_ai.usage.input_tokens"] > 0 for c in chats)


async def test_configure_exports_a_run_over_otlp_http(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)  # set by earlier adapter tests, read by the SDK
    observability.configure(otel_endpoint=receiver.url, service_name="invoice-service")
    await arun("pipeline", model=resolve_model(), checkpoint="memory")
    observability.shutdown()  # flushes the batch

    _assert_tree(receiver.spans, "pipeline")
    assert {r["service.name"] for r in receiver.resources} == {"invoice-service"}


def test_the_cli_exports_when_the_standard_variable_names_a_collector(
    receiver: Receiver, orch_command: list[str]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.url
    done = subprocess.run(
        [*orch_command, "run", "routing", "--checkpoint", "memory", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    _assert_tree(receiver.spans, "routing")
    assert {r["service.name"] for r in receiver.resources} == {"orchestration-patterns"}
    (workflow,) = [s for s in receiver.spans if s["name"] == "invoke_workflow routing"]
    assert workflow["attributes"]["gen_ai.conversation.id"] == json.loads(done.stdout)["thread_id"]


def test_a_library_run_exports_when_only_the_standard_variable_is_set(receiver: Receiver) -> None:
    # No configure() at all: the first run reads the variable; the SDK flushes at exit.
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = f"{receiver.url}/v1/traces"
    code = (
        "import asyncio; from patterns import arun, resolve_model; "
        "asyncio.run(arun('pipeline', model=resolve_model(), checkpoint='memory'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    _assert_tree(receiver.spans, "pipeline")


def test_an_unsupported_otlp_protocol_is_refused_in_one_line(orch_command: list[str]) -> None:
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
    }
    env.pop("OTEL_SDK_DISABLED", None)
    done = subprocess.run(
        [*orch_command, "run", "routing"], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 2
    assert "OTLP protocol 'grpc' is not supported" in done.stderr and "Traceback" not in done.stderr


def _phoenix() -> str | None:
    for candidate in (
        os.environ.get("ORCH_PHOENIX"),
        "/opt/phoenix-venv/bin/phoenix",
        shutil.which("phoenix"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.mark.slow
def test_arize_phoenix_stores_the_trace_with_its_tree() -> None:
    """A real backend: Phoenix (its own venv: ~850 MB, it pins what ours pins differently) in a
    network namespace of its own, fed over OTLP/HTTP, read back from its REST API."""
    phoenix = _phoenix()
    if phoenix is None:
        service_unavailable(
            "Arize Phoenix is not installed: python -m venv /opt/phoenix-venv && /opt/phoenix-venv/bin/pip install arize-phoenix (or set ORCH_PHOENIX)"
        )
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-n", "true"]).returncode != 0:
        service_unavailable(
            "cannot make a network namespace here (unshare -n), and Phoenix's gRPC port binds every interface"
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        ["unshare", "-n", sys.executable, str(HERE / "_phoenix_probe.py"), phoenix],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    stored = json.loads(done.stdout)
    spans = [
        {
            "name": s["name"],
            "trace_id": s["context"]["trace_id"],
            "span_id": s["context"]["span_id"],
            "parent": s["parent_id"],
            "attributes": s["attributes"],
        }
        for s in stored["spans"]
    ]
    _assert_tree(spans, "pipeline")
    kinds = {s["name"].split(" ")[0]: s["span_kind"] for s in stored["spans"]}
    assert (kinds["invoke_agent"], kinds["chat"]) == ("AGENT", "LLM")  # Phoenix read our GenAI attributes
    (workflow,) = [s for s in spans if s["name"] == "invoke_workflow pipeline"]
    assert workflow["attributes"]["gen_ai.conversation.id"] == stored["thread_id"]
