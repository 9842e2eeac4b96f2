"""The Semantic Kernel adapter: the model bridge, faults, human arbitration, offline use, saved runs.

Output equivalence with LangGraph on every pattern (in-process and over HTTP)
is `test_equivalence.py`; this file covers what the adapter's docstring promises
beyond it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import warnings
from collections.abc import Iterator
from functools import reduce
from pathlib import Path
from typing import Any

import openai
import pytest

import adapters.semantic_kernel as sk
from adapters import arun
from adapters._common import FlowRun, initial_state
from adapters.semantic_kernel._agents import Context
from adapters.semantic_kernel._flows import build
from adapters.semantic_kernel._service import ScriptedChatCompletion
from patterns import Agent
from patterns.errors import MalformedOutput, ModelTimeout, RateLimited, ServerError, UsageError
from patterns.flows import debate, handoff, pipeline, refinement
from patterns.flows.debate import Position
from patterns.flows.scatter_gather import QuorumNotMet
from patterns.presets import AGENTS
from patterns.runtime import PatternSpec, RunResult, get_flow, wire
from patterns.testing import FaultPolicy, LatencyPolicy, ScriptedBrain, running_server

from .._samples import SPLIT_VOTE
from ._declared import COPIES, DECLARED, DRAFTER, PUBLISHER, SHOP, STAGES

FRAMEWORK = "semantic_kernel"


async def _flow(
    pattern: str, data: Any = None, *, brain: ScriptedBrain | None = None, **options: Any
) -> tuple[dict[str, Any], FlowRun]:
    """Run the adapter directly, so a failure arrives as the exception it is."""
    flow = FlowRun(FRAMEWORK, get_flow(pattern), brain or ScriptedBrain())
    state = await sk.run_flow(initial_state(pattern, data), flow, **options)
    return state, flow


def _other_tasks() -> set[asyncio.Task[Any]]:
    return asyncio.all_tasks() - {asyncio.current_task()}  # type: ignore[operator]


async def _langgraph(pattern: str, data: Any = None) -> RunResult:
    result = await arun("langgraph", pattern, data, brain=ScriptedBrain())
    assert result.status == "completed", result.error
    return result


# -- faults: the original error, the failing step, nothing left running ------------------


@pytest.mark.parametrize(
    ("faults", "error", "failed_step"),
    [
        (FaultPolicy(down_agents=frozenset({"validator"})), ServerError, "validate"),
        (FaultPolicy(timeout=1.0), ModelTimeout, "extract"),
        (FaultPolicy(rate_limit=1.0), RateLimited, "extract"),
        (FaultPolicy(malformed=1.0), MalformedOutput, "extract"),
    ],
)
async def test_a_fault_fails_the_run_with_the_original_error(
    faults: FaultPolicy, error: type[Exception], failed_step: str
) -> None:
    flow = FlowRun(FRAMEWORK, get_flow("pipeline"), ScriptedBrain(faults=faults))
    with pytest.raises(error) as raised:
        await sk.run_flow(initial_state("pipeline", None), flow)
    assert type(raised.value) is error, "SK's wrapper, not the fault"
    last = flow.recorder.steps[-1]
    assert (last.agent, last.status) == (failed_step, "error")
    assert last.error is not None and last.error.startswith(error.__name__)
    assert not _other_tasks()

    result = await arun(FRAMEWORK, "pipeline", brain=ScriptedBrain(faults=faults))
    assert result.status == "failed" and result.error is not None
    assert result.error.startswith(f"{error.__name__}: ")


async def test_a_failed_branch_stops_the_fan_out_and_leaves_nothing_running() -> None:
    # Every mapper is down; 40 batches, 8 at a time, 0.2 s each: 1 s if the run went on.
    brain = ScriptedBrain(
        latency=LatencyPolicy(mean=0.2), faults=FaultPolicy(down_agents=frozenset({"mapper"}))
    )
    flow = FlowRun(FRAMEWORK, get_flow("map_reduce"), brain)
    with pytest.raises(ServerError):
        await sk.run_flow(initial_state("map_reduce", None), flow)
    assert not _other_tasks()
    # The first wave, and at most one batch per slot that opened before the run was cancelled:
    # the run did not wait for the other batches (counted, not timed).
    assert 8 <= brain.ledger.total().failures <= 16
    assert len(flow.recorder.steps) <= 16 and all(s.status == "error" for s in flow.recorder.steps)


async def test_a_failed_merge_fails_the_run_instead_of_hanging() -> None:
    # The merge runs in the ConcurrentOrchestration's output_transform, where SK loses exceptions.
    brain = ScriptedBrain(faults=FaultPolicy(down_agents=frozenset({"aggregator"})))
    with pytest.raises(ServerError, match="aggregator"):
        await asyncio.wait_for(_flow("scatter_gather", brain=brain), timeout=30)
    assert not _other_tasks()


async def test_scatter_gather_records_failed_sources_and_enforces_the_quorum() -> None:
    brain = ScriptedBrain(faults=FaultPolicy(down_agents=frozenset({"news", "forum"})))
    state, flow = await _flow("scatter_gather", brain=brain)
    result = state["result"]
    assert result["sources_ok"] == ["encyclopedia", "journal", "patents"]
    assert [f["source"] for f in result["sources_failed"]] == ["forum", "news"]
    assert all(f["error"].startswith("ServerError: ") for f in result["sources_failed"])
    assert {s.agent: s.status for s in flow.recorder.steps}["news"] == "error"

    brain = ScriptedBrain(faults=FaultPolicy(down_agents=frozenset({"news", "forum", "patents"})))
    with pytest.raises(QuorumNotMet, match="2 of 5 sources answered, quorum is 3"):
        await _flow("scatter_gather", brain=brain)


async def test_over_http_a_fault_is_the_clients_error_and_is_not_retried(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    brain = ScriptedBrain(faults=FaultPolicy(down_agents=frozenset({"validator"})))
    with running_server(brain, request_log=log) as url, pytest.raises(openai.InternalServerError) as raised:
        await _flow("pipeline", brain=brain, base_url=url)
    assert raised.value.status_code == 503
    requests = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["agent"], r["status"]) for r in requests] == [("extractor", 200), ("validator", 503)]

    brain = ScriptedBrain(faults=FaultPolicy(rate_limit=1.0))
    with running_server(brain) as url, pytest.raises(openai.RateLimitError):
        await _flow("pipeline", brain=brain, base_url=url)


# -- human arbitration through the group chat manager's human_response_function -------------


async def test_human_arbitration_decides_a_split_vote() -> None:
    prompts_seen: list[str] = []

    def arbitrator(prompt: str) -> str:
        prompts_seen.append(prompt)
        return "rabbitmq"

    state, flow = await _flow("debate", SPLIT_VOTE, input_func=arbitrator)
    assert state["result"]["decision"] == "rabbitmq" and state["result"]["decided_by"] == "human"
    assert state["result"]["consensus"] is False
    assert len(prompts_seen) == 1 and '["kafka", "rabbitmq"]' in prompts_seen[0]
    assert [s.agent for s in flow.recorder.steps] == [
        "debater_1", "debater_2", "close_round", "vote", "ask_human", "finish"
    ]  # fmt: skip

    answered = await arun(FRAMEWORK, "debate", SPLIT_VOTE, answer="kafka")
    assert answered.status == "completed" and answered.output is not None
    assert answered.output["decision"] == "kafka" and answered.calls == 2


async def test_human_arbitration_needs_an_answer() -> None:
    with pytest.raises(UsageError, match="answer='OPTION'"):
        await arun(FRAMEWORK, "debate", SPLIT_VOTE)
    assert not _other_tasks()


async def test_judge_arbitration_and_a_larger_debate_equal_langgraph() -> None:
    for data in (
        {**SPLIT_VOTE, "arbitration": "judge"},
        {**SPLIT_VOTE, "debaters": 4, "rounds": 3, "arbitration": "judge"},
    ):
        reference = await _langgraph("debate", data)
        result = await arun(FRAMEWORK, "debate", data, brain=ScriptedBrain())
        assert result.status == "completed", result.error
        assert result.output == reference.output
        assert result.usage == reference.usage


# -- declared flows: what SK cannot run is refused before any model call; a panel's failures ----

_OPINION = "Answer the question. Keys: position, confidence, argument."

#: Flows and options SK cannot run (LangGraph runs all but the wrong answer): refused while the
#: orchestration is built, before any model call.
_REFUSED: list[tuple[str, str | PatternSpec, dict[str, Any], dict[str, Any], str]] = [
    (
        "nested-pattern-stage",
        pipeline.SPEC.flow(stages=[DRAFTER, STAGES.compile(), PUBLISHER]),
        {"input": {"brief": "tests help"}},
        {},
        "stage 'pipeline' is a compiled LangGraph pattern",
    ),
    (
        "human-answer-not-an-option",
        "debate",
        SPLIT_VOTE,
        {"answer": "zookeeper"},
        "must pick one of kafka, rabbitmq, got 'zookeeper'",
    ),
    (
        "desk-name-not-an-sk-name",
        handoff.SPEC.flow(
            desks={"front desk": SHOP.args["desks"]["front"], "help": SHOP.args["desks"]["help"]}
        ),
        {"message": "I want to buy"},
        {},
        "'front desk' cannot name a Semantic Kernel agent",
    ),
    (
        "debater-named-judge",
        debate.SPEC.flow(
            debaters=[Agent("judge", _OPINION, output=Position), Agent("juror", _OPINION, output=Position)],
            judge=COPIES.args["judge"],
        ),
        {"question": "When do we ship?", "arbitration": "judge"},
        {},
        "a debater named 'judge'",
    ),
]


@pytest.mark.parametrize(
    ("flow", "data", "options", "match"), [case[1:] for case in _REFUSED], ids=[case[0] for case in _REFUSED]
)
async def test_what_sk_cannot_run_is_a_usage_error_before_any_model_call(
    flow: str | PatternSpec, data: dict[str, Any], options: dict[str, Any], match: str
) -> None:
    brain = ScriptedBrain()
    with pytest.raises(UsageError, match=match):
        await arun(FRAMEWORK, flow, data, brain=brain, **options)
    assert not brain.ledger.snapshot(), "a model was called"
    assert not _other_tasks()


async def test_a_panel_worker_down_is_recorded_in_failed_as_on_langgraph() -> None:
    case = next(d for d in DECLARED if d.id == "scatter_gather-panel-chair")  # quorum 2 of 3 workers
    faults = FaultPolicy(down_agents=frozenset({"lawyer"}))
    reference = await arun(
        "langgraph", case.flow, case.input, brain=ScriptedBrain(responders=case.responders, faults=faults)
    )
    result = await arun(
        FRAMEWORK, case.flow, case.input, brain=ScriptedBrain(responders=case.responders, faults=faults)
    )
    assert reference.status == result.status == "completed", result.error
    assert result.output is not None and result.output == reference.output
    assert sorted(result.output["answers"]) == ["economist", "engineer"]
    assert [f["source"] for f in result.output["failed"]] == ["lawyer"]
    assert result.output["failed"][0]["error"].startswith("ServerError: ")
    assert {s.agent: s.status for s in result.steps} == {
        "economist": "ok", "engineer": "ok", "lawyer": "error", "gather": "ok"
    }  # fmt: skip
    assert result.usage["lawyer"].failures == 1, "no retries on SK"
    assert not _other_tasks()


# -- offline: nothing but loopback ---------------------------------------------------------


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Refuse every non-loopback connect; yield the addresses that were connected to."""
    connected: list[Any] = []
    real_connect, real_connect_ex, real_create = (
        socket.socket.connect,
        socket.socket.connect_ex,
        socket.create_connection,
    )

    def check(address: Any) -> None:
        if isinstance(address, tuple):
            host = str(address[0])
            if host != "localhost" and not ipaddress.ip_address(host.split("%")[0]).is_loopback:
                raise OSError(f"test blocked a network connection to {address!r}")
        connected.append(address)

    def connect(self: socket.socket, address: Any) -> None:
        check(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(address)
        return real_connect_ex(self, address)

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        check(address)
        return real_create(address, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    yield connected


async def test_flows_run_with_non_loopback_connections_blocked(loopback_only: list[Any]) -> None:
    with pytest.raises(OSError, match="blocked"):
        socket.create_connection(("203.0.113.7", 443), timeout=1)
    for pattern in ("handoff", "scatter_gather"):
        local = await arun(FRAMEWORK, pattern, brain=ScriptedBrain())
        assert local.status == "completed", local.error
    assert not loopback_only, "the in-process bridge opened a connection"
    brain = ScriptedBrain()
    with running_server(brain) as url:
        remote = await arun(FRAMEWORK, "handoff", brain=brain, base_url=url)
    assert remote.status == "completed", remote.error
    assert loopback_only, "the HTTP path went through the guarded connect"


def test_telemetry_and_diagnostics_are_off() -> None:
    from semantic_kernel.utils.telemetry.model_diagnostics import decorators
    from semantic_kernel.utils.telemetry.user_agent import APP_INFO, IS_TELEMETRY_ENABLED

    assert IS_TELEMETRY_ENABLED is False and APP_INFO is None
    settings = decorators.MODEL_DIAGNOSTICS_SETTINGS
    assert not settings.enable_otel_diagnostics and not settings.enable_otel_diagnostics_sensitive


# -- the model bridge: both of SK's paths, function calling, usage ---------------------------


def _history(role: str, payload: dict[str, Any], name: str | None = None) -> Any:
    from semantic_kernel.contents import ChatHistory

    system, user = wire.render(AGENTS[role], payload, label=name)
    history = ChatHistory()
    history.add_system_message(system)
    history.add_user_message(user)
    return history


async def test_the_bridge_streams_what_it_answers_with_usage() -> None:
    from semantic_kernel.connectors.ai.open_ai import OpenAIChatPromptExecutionSettings

    brain = ScriptedBrain()
    service = ScriptedChatCompletion(brain)
    history = _history("router", {"message": "My invoice is wrong"})
    settings = OpenAIChatPromptExecutionSettings()
    whole = (await service.get_chat_message_contents(history, settings))[0]
    chunks = [batch[0] async for batch in service.get_streaming_chat_message_contents(history, settings)]
    assert len(chunks) > 3, "one chunk per token, as the HTTP server streams"
    streamed = reduce(lambda a, b: a + b, chunks)
    assert streamed.content == whole.content and json.loads(whole.content)["route"] == "billing"
    usage = brain.ledger.snapshot()["router"]
    assert usage.calls == 2
    for message in (whole, streamed):
        assert message.metadata["usage"].prompt_tokens == usage.prompt_tokens // 2
        assert message.metadata["usage"].completion_tokens == usage.completion_tokens // 2
        assert message.finish_reason == "stop"


async def test_the_bridge_answers_a_transfer_tool_with_a_function_call() -> None:
    from semantic_kernel.connectors.ai.open_ai import OpenAIChatPromptExecutionSettings
    from semantic_kernel.contents import FunctionCallContent

    tools = [
        {"type": "function", "function": {"name": f"transfer_to_{d}", "parameters": {}}}
        for d in ("billing", "technical")
    ]
    settings = OpenAIChatPromptExecutionSettings(tools=tools, tool_choice="auto")
    payload = {"speciality": "triage", "message": "The app crashes at login", "history": [], "visited": []}
    service = ScriptedChatCompletion(ScriptedBrain())
    history = _history("support", payload, name="triage")
    whole = (await service.get_chat_message_contents(history, settings))[0]
    chunks = [batch[0] async for batch in service.get_streaming_chat_message_contents(history, settings)]
    for message in (whole, reduce(lambda a, b: a + b, chunks)):
        calls = [i for i in message.items if isinstance(i, FunctionCallContent)]
        assert [c.function_name for c in calls] == ["transfer_to_technical"]
        assert set(calls[0].parse_arguments() or {}) == {"reason"}
        assert message.finish_reason == "tool_calls" and not message.content


async def test_the_bridge_raises_injected_faults_on_both_paths() -> None:
    from semantic_kernel.connectors.ai.open_ai import OpenAIChatPromptExecutionSettings

    service = ScriptedChatCompletion(ScriptedBrain(faults=FaultPolicy(server_error=1.0)))
    history, settings = _history("router", {"message": "hi"}), OpenAIChatPromptExecutionSettings()
    with pytest.raises(ServerError):
        await service.get_chat_message_contents(history, settings)
    with pytest.raises(ServerError):
        async for _ in service.get_streaming_chat_message_contents(history, settings):
            pass


@pytest.mark.parametrize("pattern", ["pipeline", "debate", "handoff"])
async def test_unstreamed_turns_send_the_same(pattern: str) -> None:
    streamed = await arun(FRAMEWORK, pattern, brain=ScriptedBrain())
    single = await arun(FRAMEWORK, pattern, brain=ScriptedBrain(), stream=False)
    assert single.status == streamed.status == "completed"
    assert single.output == streamed.output and single.usage == streamed.usage


async def test_handoff_without_tools_matches_langgraph_to_the_token() -> None:
    reference = await _langgraph("handoff")
    result = await arun(FRAMEWORK, "handoff", brain=ScriptedBrain(), handoff_tools=False)
    assert result.output == reference.output and result.usage == reference.usage


async def test_over_http_the_flow_streams_and_offers_the_transfer_tools(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    brain = ScriptedBrain()
    with running_server(brain, request_log=log) as url:
        result = await arun(FRAMEWORK, "handoff", brain=brain, base_url=url)
    assert result.status == "completed", result.error
    requests = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["agent"], r["stream"], r["tools"], r["messages"]) for r in requests] == [
        ("triage", True, 3, 2),
        ("technical", True, 2, 2),
    ]


# -- bounds, concurrency, options ---------------------------------------------------------------


async def test_map_reduce_runs_batches_in_parallel_within_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    in_flight, peak = 0, 0
    answer = ScriptedChatCompletion._answer

    async def counting(self: ScriptedChatCompletion, *args: Any) -> Any:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            return await answer(self, *args)
        finally:
            in_flight -= 1

    monkeypatch.setattr(ScriptedChatCompletion, "_answer", counting)
    brain = ScriptedBrain(latency=LatencyPolicy(mean=0.02))
    state, _ = await _flow("map_reduce", brain=brain, max_concurrency=4, stream=False)
    assert state["result"]["batches"] == 40 and peak == 4  # four at once: not one after another


async def test_a_loop_past_its_bound_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(refinement, "recursion_limit", lambda max_iterations: 3)
    with pytest.raises(RuntimeError, match="passed its bound of 3 turns"):
        await _flow("refinement")
    assert not _other_tasks()


async def test_unknown_options_and_bad_bounds_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="does not take checkpoint"):
        await _flow("routing", checkpoint="memory")
    with pytest.raises(UsageError, match="at least 1; got 0"):
        await _flow("map_reduce", max_concurrency=0)


async def test_repeated_runs_leave_nothing_behind() -> None:
    for _ in range(3):
        for pattern in ("scatter_gather", "handoff", "refinement"):
            state, _ = await _flow(pattern)
            assert "result" in state
    assert not _other_tasks()


# -- checkpoints: what SK can save, and that its runtime saves nothing --------------------------


async def test_state_path_saves_the_flow_state_and_every_agents_thread(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    state, _ = await _flow("pipeline", state_path=path)
    saved_state, threads = sk.load_saved(path)
    assert saved_state["result"] == state["result"]
    assert set(threads) == {"extract", "validate", "gate"}
    messages = [m async for m in threads["extract"].get_messages()]
    assert [m.role.value for m in messages] == ["system", "user", "assistant"]
    assert messages[0].content.startswith("You are the extractor agent.")
    assert json.loads(messages[2].content)["invoice_id"] is not None

    brain = ScriptedBrain(faults=FaultPolicy(down_agents=frozenset({"validator"})))
    with pytest.raises(ServerError):
        await _flow("pipeline", brain=brain, state_path=path)
    failed_state, threads = sk.load_saved(path)
    assert "extracted" in failed_state and "result" not in failed_state
    assert [m.role.value async for m in threads["validate"].get_messages()] == []


async def test_the_runtime_has_no_state_to_save() -> None:
    from semantic_kernel.agents.runtime import InProcessRuntime

    flow = FlowRun(FRAMEWORK, get_flow("refinement"), ScriptedBrain())
    ctx = Context(initial_state("refinement", None), flow, {}, service=ScriptedChatCompletion(flow.brain))
    orchestration, task = build(ctx)
    runtime = InProcessRuntime()
    runtime.start()
    try:
        await (await orchestration.invoke(task=task, runtime=runtime)).get()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            saved = await runtime.save_state()
    finally:
        await runtime.stop_when_idle()
        await runtime.close()
    assert saved and all(actor_state == {} for actor_state in saved.values())
    assert {str(w.message) for w in caught} == {"save_state not implemented"}


async def test_a_cancelled_run_leaves_nothing_behind() -> None:
    brain = ScriptedBrain(latency=LatencyPolicy(mean=0.5))
    run = asyncio.ensure_future(_flow("scatter_gather", brain=brain))
    await asyncio.sleep(0.1)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert not _other_tasks()
