"""Prometheus metrics: scraped from the real `/metrics` endpoint after runs, and by a real Prometheus."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

import adapters
from patterns import AgentPolicies, arun, observability, resolve_model
from patterns.errors import UsageError
from patterns.resilience import Backoff
from patterns.testing import FaultPolicy

from ..conftest import service_unavailable

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=5) as response:  # loopback
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= ls)


@pytest.fixture
def served() -> Iterator[str]:
    """Metrics (only) served on a free loopback port, from a registry of this test's own."""
    telemetry = observability.configure(metrics_port=0, metrics_registry=CollectorRegistry())
    assert telemetry.metrics_url is not None and telemetry.metrics_url.startswith("http://127.0.0.1:")
    yield telemetry.metrics_url
    observability.shutdown()


async def test_a_run_is_counted_on_the_metrics_endpoint(served: str, tmp_path: Path) -> None:
    checkpoint = f"sqlite:///{tmp_path / 'checkpoints.sqlite'}"
    result = await arun("pipeline", model=resolve_model(), checkpoint=checkpoint)
    samples = _scrape(served)

    run = {"framework": "langgraph", "pattern": "pipeline"}
    for agent in ("extractor", "validator", "transformer"):
        assert _value(samples, "orch_agent_calls_total", **run, agent=agent, status="ok") == 1
        assert _value(samples, "orch_agent_call_seconds_count", **run, agent=agent) == 1
    assert _value(samples, "orch_tokens_total", **run, kind="prompt") == result.prompt_tokens
    assert _value(samples, "orch_tokens_total", **run, kind="completion") == result.completion_tokens
    assert _value(samples, "orch_cost_usd_total", **run) == 0  # the scripted model is free
    assert _value(samples, "orch_flow_seconds_count", **run, status="completed") == 1
    # SQLite checkpoints: one checkpoint per superstep and the writes of every task, timed.
    assert _value(samples, "orch_checkpoint_write_seconds_count", backend="sqlite", op="checkpoint") >= 4
    assert _value(samples, "orch_checkpoint_write_seconds_count", backend="sqlite", op="writes") >= 3
    # No label carries a thread id, whatever the metric.
    assert all(result.thread_id not in value for _, labels in samples for _, value in labels)


async def test_retries_and_failed_attempts_are_counted(served: str) -> None:
    model = resolve_model(faults=FaultPolicy(down_agents=frozenset({"validator"})))
    policies = AgentPolicies(retry=Backoff(max_attempts=3, base_delay=0.0, jitter=0.0), sleep=_no_sleep)
    await arun("pipeline", model=model, checkpoint="memory", policies=policies)
    samples = _scrape(served)

    assert _value(samples, "orch_agent_calls_total", agent="validator", status="error") == 3
    assert _value(samples, "orch_retries_total", agent="validator", reason="ServerError") == 2
    assert _value(samples, "orch_flow_seconds_count", pattern="pipeline", status="failed") == 1


async def _no_sleep(_seconds: float) -> None:
    return None


async def test_another_framework_counts_the_same_tokens(served: str) -> None:
    result = await adapters.arun("autogen", "pipeline")
    samples = _scrape(served)

    run = {"framework": "autogen", "pattern": "pipeline"}
    assert _value(samples, "orch_tokens_total", **run, kind="prompt") == result.prompt_tokens
    assert _value(samples, "orch_tokens_total", **run, kind="completion") == result.completion_tokens
    assert _value(samples, "orch_agent_calls_total", **run, status="ok") == result.calls
    assert _value(samples, "orch_flow_seconds_count", **run, status="completed") == 1


def test_a_busy_port_is_a_usage_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UsageError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            observability.configure(metrics_port=port, metrics_registry=CollectorRegistry())


@pytest.mark.slow
async def test_debian_prometheus_scrapes_the_endpoint(served: str, tmp_path: Path) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        service_unavailable("Prometheus is not installed (Debian: apt-get install prometheus)")
    await arun("pipeline", model=resolve_model(), checkpoint="memory")
    target = urllib.parse.urlsplit(served).netloc
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s}\n"
        f"scrape_configs: [{{job_name: orch, static_configs: [{{targets: ['{target}']}}]}}]\n"
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        query = urllib.parse.urlencode({"query": 'sum(orch_agent_calls_total{pattern="pipeline"})'})
        found: list[dict[str, object]] = []
        deadline = time.monotonic() + 60
        while not found and time.monotonic() < deadline:
            time.sleep(1)
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/v1/query?{query}", timeout=5
                ) as reply:
                    found = json.loads(reply.read())["data"]["result"]
            except OSError:
                continue  # not up yet
        assert found, "Prometheus never scraped an orch_agent_calls_total sample"
        assert float(found[0]["value"][1]) == 3  # type: ignore[index]
    finally:
        server.terminate()
        server.wait(timeout=30)
