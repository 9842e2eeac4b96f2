"""Structured log records: agent_invocation, agent_failure and flow_run, as JSON lines and as text."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest

from patterns import AgentPolicies, arun, observability, resolve_model
from patterns.cli import main
from patterns.resilience import Backoff
from patterns.testing import FaultPolicy

from .conftest import Observed


def _records(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


async def _no_sleep(_seconds: float) -> None:
    return None


async def test_each_attempt_is_a_json_record_tied_to_its_span(observe: Observed) -> None:
    result = await arun("pipeline", model=resolve_model(), checkpoint="memory")

    records = _records(observe.logs)
    invocations = [r for r in records if r["event"] == "agent_invocation"]
    assert [r["agent"] for r in invocations] == ["extractor", "validator", "transformer"]
    chats = {f"{s.context.span_id:016x}": s for s in observe.spans.named("chat ")}
    for record in invocations:
        assert record["level"] == "info" and record["logger"] == "patterns.agents"
        assert (record["flow"], record["framework"], record["thread_id"]) == (
            "pipeline",
            "langgraph",
            result.thread_id,
        )
        assert (record["attempt"], record["status"], record["model"]) == (1, "success", "scripted")
        assert record["tokens_used"] == record["prompt_tokens"] + record["completion_tokens"] > 0
        assert record["duration_ms"] > 0
        span = chats[record["span_id"]]  # the record names the attempt's own span, in the run's trace
        assert record["trace_id"] == f"{span.context.trace_id:032x}"
        assert (
            span.attributes is not None
            and span.attributes["gen_ai.usage.input_tokens"] == record["prompt_tokens"]
        )
    (flow_run,) = [r for r in records if r["event"] == "flow_run"]
    assert flow_run["logger"] == "patterns.flows"
    assert (flow_run["status"], flow_run["calls"], flow_run["steps"]) == ("completed", 3, 3)
    assert flow_run["prompt_tokens"] == result.prompt_tokens and flow_run["cost_usd"] == 0.0


async def test_a_failure_says_whether_it_will_be_retried(observe: Observed) -> None:
    model = resolve_model(faults=FaultPolicy(down_agents=frozenset({"validator"})))
    policies = AgentPolicies(retry=Backoff(max_attempts=3, base_delay=0.0, jitter=0.0), sleep=_no_sleep)
    await arun("pipeline", model=model, checkpoint="memory", policies=policies)

    failures = [r for r in _records(observe.logs) if r["event"] == "agent_failure"]
    assert [(r["attempt"], r["will_retry"]) for r in failures] == [(1, True), (2, True), (3, False)]
    for record in failures:
        assert record["level"] == "warning"
        assert (record["agent"], record["error_type"]) == ("validator", "ServerError")
        assert "503" in record["error_message"]
        assert record["span_id"] and record["trace_id"]
    assert [r["retry_in_s"] for r in failures] == [0.0, 0.0, None]


async def test_langgraphs_node_retry_is_the_will_retry_of_a_run_without_policies(observe: Observed) -> None:
    # Seed 2 at a 30% fault rate: the validator's first call fails once, LangGraph retries the node.
    model = resolve_model(seed=2, faults=FaultPolicy.transient(0.3))
    result = await arun("pipeline", model=model, checkpoint="memory")

    assert result.status == "completed" and result.failed_calls == 1
    records = _records(observe.logs)
    (failure,) = [r for r in records if r["event"] == "agent_failure"]
    assert (failure["agent"], failure["attempt"], failure["will_retry"]) == ("validator", 1, True)
    retried = [r for r in records if r["event"] == "agent_invocation" and r["agent"] == "validator"]
    assert [r["attempt"] for r in retried] == [2]


def test_the_cli_writes_text_or_json_records_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--log-format", "json", "run", "routing", "--checkpoint", "memory", "--json"]) == 0
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.err.splitlines() if line.startswith("{")]
    assert {r["event"] for r in records} == {"agent_invocation", "flow_run"}
    assert json.loads(captured.out)["status"] == "completed"  # stdout stays the result alone

    # After the command, and in text form given after it.
    assert main(["run", "routing", "--checkpoint", "memory", "--json", "--log-format", "text"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "patterns." in line]
    assert any(" INFO    patterns.flows flow_run flow=routing " in line for line in lines)


async def test_nothing_is_logged_when_nothing_is_configured(caplog: pytest.LogCaptureFixture) -> None:
    observability.shutdown()
    with caplog.at_level(logging.DEBUG, logger="patterns"):
        await arun("pipeline", model=resolve_model(), checkpoint="memory")
    assert [r for r in caplog.records if r.name in ("patterns.agents", "patterns.flows")] == []


async def test_logs_alone_go_to_the_applications_own_handlers(caplog: pytest.LogCaptureFixture) -> None:
    observability.configure(logs=True)
    with caplog.at_level(logging.INFO, logger="patterns"):
        await arun("pipeline", model=resolve_model(), checkpoint="memory")
    events = [(r.name, r.getMessage()) for r in caplog.records if r.name.startswith("patterns.")]
    assert events[-1] == ("patterns.flows", "flow_run")
    assert sum(1 for _, message in events if message == "agent_invocation") == 3
    record = next(r for r in caplog.records if r.getMessage() == "agent_invocation")
    assert record.orch["agent"] == "extractor" and "trace_id" not in record.orch  # type: ignore[attr-defined]
