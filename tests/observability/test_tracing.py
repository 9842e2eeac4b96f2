"""The trace of a run: one tree, workflow > agent > chat, with the GenAI attributes, on every framework."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, StatusCode

import adapters
from adapters._common import FlowRun, initial_state
from patterns import AgentPolicies, arun, observability, resolve_model
from patterns.observability import _hooks
from patterns.resilience import (
    Backoff,
    BreakerPolicy,
    BreakerRegistry,
    Bulkhead,
    BulkheadFull,
    BulkheadPolicy,
    DeadLetterQueue,
)
from patterns.runtime import get_flow
from patterns.testing import FaultPolicy, ScriptedBrain

from .conftest import Observed, Spans

PIPELINE_AGENTS = ("extractor", "validator", "transformer")


async def _no_sleep(_seconds: float) -> None:
    return None


def _assert_pipeline_tree(spans: Spans, framework: str) -> None:
    """invoke_workflow pipeline > invoke_agent {agent} > chat scripted, each agent once."""
    workflow = spans.one("invoke_workflow pipeline")
    assert workflow.parent is None
    assert workflow.kind is SpanKind.INTERNAL
    assert workflow.attributes is not None
    assert workflow.attributes["gen_ai.operation.name"] == "invoke_workflow"
    assert workflow.attributes["gen_ai.workflow.name"] == "pipeline"
    assert workflow.attributes["orch.framework"] == framework
    assert workflow.attributes["orch.status"] == "completed"
    agents = spans.named("invoke_agent ")
    ours = [
        a
        for a in agents
        if a.instrumentation_scope and a.instrumentation_scope.name == "orchestration-patterns"
    ]
    assert sorted(a.name for a in ours) == sorted(f"invoke_agent {name}" for name in PIPELINE_AGENTS)
    for agent in ours:
        assert agent.context.trace_id == workflow.context.trace_id
        assert agent.attributes is not None
        assert agent.attributes["gen_ai.operation.name"] == "invoke_agent"
        assert agent.attributes["gen_ai.provider.name"] == "scripted"
        assert agent.attributes["gen_ai.request.model"] == "scripted"
        (chat,) = spans.children(agent, "chat ")
        assert chat.name == "chat scripted"
        assert chat.kind is SpanKind.CLIENT
        assert chat.attributes is not None
        assert chat.attributes["gen_ai.operation.name"] == "chat"
        assert chat.attributes["gen_ai.provider.name"] == "scripted"
        assert chat.attributes["gen_ai.request.model"] == "scripted"
        assert int(chat.attributes["gen_ai.usage.input_tokens"]) > 0  # type: ignore[arg-type]
        assert int(chat.attributes["gen_ai.usage.output_tokens"]) > 0  # type: ignore[arg-type]
        assert chat.attributes["gen_ai.usage.input_tokens"] == agent.attributes["gen_ai.usage.input_tokens"]
        assert chat.status.status_code is not StatusCode.ERROR


async def test_a_langgraph_run_is_one_tree_with_the_genai_attributes(observe: Observed) -> None:
    result = await arun("pipeline", model=resolve_model(), checkpoint="memory")

    spans = observe.spans
    _assert_pipeline_tree(spans, "langgraph")
    workflow = spans.one("invoke_workflow pipeline")
    assert workflow.attributes is not None
    assert workflow.attributes["gen_ai.conversation.id"] == result.thread_id
    assert workflow.attributes["orch.resumed"] is False
    assert workflow.attributes["orch.usage.input_tokens"] == result.prompt_tokens
    assert workflow.attributes["orch.usage.output_tokens"] == result.completion_tokens
    # Every agent span is a direct child of the run's, and carries the thread too.
    for agent in spans.named("invoke_agent "):
        assert agent.parent is not None and agent.parent.span_id == workflow.context.span_id
        assert agent.attributes is not None and agent.attributes["gen_ai.conversation.id"] == result.thread_id
    steps = [e for e in workflow.events if e.name == "orch.step"]
    assert [e.attributes["orch.step.agent"] for e in steps if e.attributes] == [s.agent for s in result.steps]


async def test_a_failed_run_ends_its_span_in_error_with_the_error_type(observe: Observed) -> None:
    model = resolve_model(faults=FaultPolicy(down_agents=frozenset({"validator"})))
    policies = AgentPolicies(retry=Backoff(max_attempts=2, base_delay=0.0, jitter=0.0), sleep=_no_sleep)
    result = await arun("pipeline", model=model, checkpoint="memory", policies=policies)

    assert result.status == "failed"
    workflow = observe.spans.one("invoke_workflow pipeline")
    assert workflow.status.status_code is StatusCode.ERROR
    assert workflow.attributes is not None and workflow.attributes["error.type"] == "ServerError"
    validator = observe.spans.one("invoke_agent validator")
    assert validator.status.status_code is StatusCode.ERROR
    chats = observe.spans.children(validator, "chat ")
    assert [c.attributes["orch.attempt"] for c in chats if c.attributes] == [1, 2]
    assert all(c.attributes and c.attributes["error.type"] == "ServerError" for c in chats)
    # The first attempt was retried: an event on the agent's span says so.
    (retry,) = [e for e in validator.events if e.name == "orch.retry"]
    assert retry.attributes is not None
    assert (retry.attributes["orch.attempt"], retry.attributes["error.type"]) == (1, "ServerError")


async def test_breaker_transitions_and_dead_letters_are_events_on_the_agent_span(
    observe: Observed, tmp_path: Path
) -> None:
    model = resolve_model(faults=FaultPolicy(down_agents=frozenset({"extractor"})))
    policies = AgentPolicies(
        breakers=BreakerRegistry(BreakerPolicy(failure_threshold=1, min_calls=1, window_size=1)),
        dead_letters=DeadLetterQueue.sqlite(tmp_path / "dead.sqlite"),
        flow="invoices",
    )
    result = await arun("pipeline", model=model, checkpoint="memory", policies=policies)

    assert result.status == "failed"
    names = {e.name for span in observe.spans.named("invoke_agent extractor") for e in span.events}
    assert {"orch.breaker.transition", "orch.dead_letter"} <= names
    (opened,) = [
        e
        for span in observe.spans.named("invoke_agent extractor")
        for e in span.events
        if e.name == "orch.breaker.transition"
    ]
    assert opened.attributes is not None
    assert (opened.attributes["orch.breaker.from"], opened.attributes["orch.breaker.to"]) == (
        "closed",
        "open",
    )
    # And as metrics: the breaker's state (2: open) and the dead letter, by the agent's name.
    assert observe.registry.get_sample_value("orch_breaker_state", {"agent": "extractor"}) == 2
    assert observe.registry.get_sample_value("orch_dead_letters_total", {"agent": "extractor"}) == 1


async def test_a_bulkhead_rejection_is_an_event_on_the_current_span(observe: Observed) -> None:
    bulkhead = Bulkhead(BulkheadPolicy(max_concurrent=1))
    release = asyncio.Event()

    async def hold() -> None:
        await release.wait()

    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("request"):
        holder = asyncio.create_task(bulkhead.call("researcher", hold))
        await asyncio.sleep(0)
        with pytest.raises(BulkheadFull):
            await bulkhead.call("researcher", hold)
        release.set()
        await holder
    (event,) = observe.spans.one("request").events
    assert event.name == "orch.bulkhead.rejected"
    assert event.attributes is not None and event.attributes["orch.bulkhead.key"] == "researcher"


@pytest.mark.parametrize("framework", ["autogen", "crewai", "semantic_kernel"])
async def test_every_framework_gives_the_same_tree(observe: Observed, framework: str) -> None:
    result = await adapters.arun(framework, "pipeline")

    assert result.status == "completed"
    _assert_pipeline_tree(observe.spans, framework)
    # The flow's token totals are the brain's ledger, on the run's span as in the result.
    workflow = observe.spans.one("invoke_workflow pipeline")
    assert workflow.attributes is not None
    assert workflow.attributes["orch.usage.input_tokens"] == result.prompt_tokens
    chats = observe.spans.named("chat ")
    assert sum(int(c.attributes["gen_ai.usage.input_tokens"]) for c in chats if c.attributes) == (  # type: ignore[arg-type]
        result.prompt_tokens
    )


async def test_a_scoped_adapter_run_nests_autogens_own_spans_under_ours(observe: Observed) -> None:
    # What `adapters.arun` does, with its run scoped by `adapter_run`: AutoGen's runtime spans
    # (through the global tracer provider) then start inside our workflow span.
    spec = get_flow("pipeline")
    adapter = adapters._load("autogen")
    run = FlowRun("autogen", spec, ScriptedBrain())
    with _hooks.adapter_run(run):
        final = await adapter.run_flow(initial_state(spec, None), run, base_url=None)
    run.result(final)

    spans = observe.spans.all()
    workflow = observe.spans.one("invoke_workflow pipeline")
    autogen = [
        s for s in spans if s.instrumentation_scope and s.instrumentation_scope.name.startswith("autogen")
    ]
    assert autogen, "AutoGen emitted no spans through the global provider"
    assert {s.context.trace_id for s in spans} == {workflow.context.trace_id}
    assert [s.name for s in spans if s.parent is None] == ["invoke_workflow pipeline"]
    _assert_pipeline_tree(observe.spans, "autogen")


async def test_an_unscoped_adapter_run_is_still_one_tree_of_ours(observe: Observed) -> None:
    # Opened at the first agent call, inside AutoGen's own span of another trace: ours stays a root.
    await adapters.arun("autogen", "pipeline")

    workflow = observe.spans.one("invoke_workflow pipeline")
    ours = [
        s
        for s in observe.spans.all()
        if s.instrumentation_scope and s.instrumentation_scope.name == "orchestration-patterns"
    ]
    assert {s.context.trace_id for s in ours} == {workflow.context.trace_id}
    assert workflow.parent is None


def test_traces_turn_semantic_kernels_genai_diagnostics_on_until_shutdown(
    tracer_provider: TracerProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    variable = "SEMANTICKERNEL_EXPERIMENTAL_GENAI_ENABLE_OTEL_DIAGNOSTICS"
    monkeypatch.delenv(variable, raising=False)
    observability.configure(tracer_provider=tracer_provider)
    assert os.environ[variable] == "true"  # read by Semantic Kernel when it is imported
    observability.shutdown()
    assert variable not in os.environ
    monkeypatch.setenv(variable, "false")  # the user's own setting stays theirs
    observability.configure(tracer_provider=tracer_provider)
    assert os.environ[variable] == "false"


async def test_a_run_published_to_another_process_continues_the_senders_trace(observe: Observed) -> None:
    """What a distributed run's message carries (`trace_headers`) and its worker continues."""
    from opentelemetry import trace

    from patterns.observability import _hooks

    with trace.get_tracer("a-submitter").start_as_current_span("submit") as submit:
        headers = _hooks.trace_headers()
    assert headers["traceparent"].split("-")[1] == format(submit.get_span_context().trace_id, "032x")
    assert _hooks.trace_headers() == {}, "no span current: nothing to carry"

    with _hooks.continued_trace(headers):  # in the worker, later, with no span of its own
        await arun("routing", model=resolve_model(), checkpoint="memory")
    workflow = observe.spans.one("invoke_workflow routing")
    assert workflow.context.trace_id == submit.get_span_context().trace_id
    assert workflow.parent is not None and workflow.parent.span_id == submit.get_span_context().span_id
