"""The tool-using agent: typed tools in a bounded, checkpointed loop, on the scripted model.

The scripted responders call tools by returning `ToolCall`s and read the results
under `TOOL_RESULTS` on their next turn, in-process and through `ChatOpenAI`
against the scripted model's HTTP server. Every test checks what the tools were
called with and what the model was shown, not only the final answer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool as langchain_tool
from langchain_openai import ChatOpenAI
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command, RetryPolicy, interrupt
from pydantic import BaseModel

from patterns import (
    Agent,
    AgentContext,
    AgentPolicies,
    ScriptedBrain,
    ScriptedChatModel,
    UsageError,
    arun,
    build_routing,
    build_scatter_gather,
)
from patterns.errors import PermanentModelError, is_transient
from patterns.flow_control.cache import MemoryCache
from patterns.flows import routing, tools
from patterns.flows.routing import Answer
from patterns.flows.tools import Request, Tool, ToolBudgetExceeded, as_tool, build_tool_agent
from patterns.presets import assistant
from patterns.runtime import PatternGraph
from patterns.testing import MODEL_ID, TOOL_RESULTS, ToolCall, running_server

Payload = dict[str, Any]
FAST_RETRY = RetryPolicy(
    initial_interval=0.01, max_interval=0.02, max_attempts=3, jitter=False, retry_on=is_transient
)


class Total(BaseModel):
    total: float


CALCULATOR = Agent("calculator", "Compute with the tools, never in your head. Keys: total.", output=Total)


class Calls:
    """The tools of a test, recording each execution's arguments."""

    def __init__(self) -> None:
        self.made: list[tuple[str, dict[str, Any]]] = []

    def of(self, name: str) -> list[dict[str, Any]]:
        return [arguments for tool, arguments in self.made if tool == name]


def arithmetic(calls: Calls) -> list[Callable[..., Any]]:
    def add(a: float, b: float) -> float:
        """Add two numbers."""
        calls.made.append(("add", {"a": a, "b": b}))
        return a + b

    async def square(x: float) -> float:
        """Square a number."""
        calls.made.append(("square", {"x": x}))
        return x * x

    def divide(a: float, b: float) -> float:
        """Divide a by b."""
        calls.made.append(("divide", {"a": a, "b": b}))
        return a / b

    return [add, square, divide]


def results(payload: Payload) -> list[Payload]:
    return list(payload.get(TOOL_RESULTS, []))


def value(result: Payload) -> Any:
    return json.loads(result["content"])


def http_model(url: str) -> BaseChatModel:
    return ChatOpenAI(model=MODEL_ID, base_url=url, api_key="not-needed", max_retries=0, temperature=0)  # type: ignore[arg-type]


@asynccontextmanager
async def model_for(brain: ScriptedBrain, *, via_http: bool) -> AsyncIterator[BaseChatModel]:
    """The scripted model in-process, or `ChatOpenAI` against its HTTP server."""
    if not via_http:
        yield ScriptedChatModel(brain=brain)
        return
    with running_server(brain) as url:
        yield http_model(url)


async def invoke(
    graph: PatternGraph, data: Payload, model: BaseChatModel, config: RunnableConfig | None = None
) -> Payload:
    state = await graph.ainvoke(data, config, context=AgentContext(model=model))
    return dict(state["result"])


def transcript(result: Payload) -> list[tuple[int, str, dict[str, Any], Any, str | None]]:
    return [(c["turn"], c["tool"], c["arguments"], c["result"], c["error"]) for c in result["tool_calls"]]


# --------------------------------------------------------------------------- the loop


@pytest.mark.parametrize("via_http", [False, True], ids=["in-process", "http"])
async def test_tools_run_with_the_models_arguments_and_their_results_go_back(via_http: bool) -> None:
    seen: list[Payload] = []

    def calculator(payload: Payload) -> Payload | list[ToolCall]:
        seen.append(payload)
        done = results(payload)
        if not done:  # two independent calls in one turn: they run in parallel
            return [ToolCall("add", {"a": 2, "b": 3}), ToolCall("square", {"x": 4})]
        if len(done) == 2:
            return [ToolCall("add", {"a": value(done[0]), "b": value(done[1])})]
        return {"total": value(done[-1])}

    calls = Calls()
    graph = build_tool_agent(agent=CALCULATOR, tools=arithmetic(calls))
    brain = ScriptedBrain(responders={"calculator": calculator})
    async with model_for(brain, via_http=via_http) as model:
        result = await invoke(graph, {"input": {"numbers": [2, 3, 4]}}, model)

    assert result["answer"] == {"total": 21.0} and result["turns"] == 3
    assert transcript(result) == [
        (1, "add", {"a": 2, "b": 3}, 5.0, None),
        (1, "square", {"x": 4}, 16.0, None),
        (2, "add", {"a": 5.0, "b": 16.0}, 21.0, None),
    ]
    assert calls.of("add") == [{"a": 2.0, "b": 3.0}, {"a": 5.0, "b": 16.0}] and calls.of("square") == [
        {"x": 4.0}
    ]
    # Each turn is the agent's own prompt, then the calls so far and what they returned.
    assert [{k: v for k, v in p.items() if k != TOOL_RESULTS} for p in seen] == [{"numbers": [2, 3, 4]}] * 3
    assert results(seen[1]) == [
        {"name": "add", "arguments": {"a": 2, "b": 3}, "content": "5.0"},
        {"name": "square", "arguments": {"x": 4}, "content": "16.0"},
    ]
    assert brain.ledger.snapshot()["calculator"].calls == 3


async def test_a_raising_tool_is_reported_to_the_model_which_recovers() -> None:
    def calculator(payload: Payload) -> Payload | ToolCall:
        done = results(payload)
        if not done:
            return ToolCall("divide", {"a": 1, "b": 0})
        last = value(done[-1])
        if isinstance(last, dict):  # {"error": ...}: try the divisor it meant
            return ToolCall("divide", {"a": 1, "b": 4})
        return {"total": last}

    calls = Calls()
    graph = build_tool_agent(agent=CALCULATOR, tools=arithmetic(calls))
    result = await invoke(
        graph, {"input": {}}, ScriptedChatModel(brain=ScriptedBrain(responders={"calculator": calculator}))
    )
    assert result["answer"] == {"total": 0.25}
    assert transcript(result) == [
        (1, "divide", {"a": 1, "b": 0}, None, "ZeroDivisionError: float division by zero"),
        (2, "divide", {"a": 1, "b": 4}, 0.25, None),
    ]
    assert calls.of("divide") == [{"a": 1, "b": 0}, {"a": 1, "b": 4}]  # a permanent error is not retried


async def test_bad_arguments_and_unknown_tools_are_errors_the_model_reads() -> None:
    shown: list[Payload] = []

    def calculator(payload: Payload) -> Payload | list[ToolCall]:
        done = results(payload)
        if not done:
            return [ToolCall("add", {"a": "two", "b": 1}), ToolCall("multiply", {"a": 2, "b": 3})]
        shown.extend(done)
        return {"total": 0}

    calls = Calls()
    graph = build_tool_agent(agent=CALCULATOR, tools=arithmetic(calls))
    result = await invoke(
        graph, {"input": {}}, ScriptedChatModel(brain=ScriptedBrain(responders={"calculator": calculator}))
    )
    assert [json.loads(r["content"]) for r in shown] == [
        {"error": "invalid arguments: a: Input should be a valid number, unable to parse string as a number"},
        {"error": "LookupError: no tool named 'multiply'; the tools are: add, square, divide"},
    ]
    assert [c["error"] is not None for c in result["tool_calls"]] == [True, True] and calls.made == []


async def test_a_turn_calling_only_tools_that_do_not_exist_goes_straight_back_to_the_agent() -> None:
    def calculator(payload: Payload) -> Payload | ToolCall:
        done = results(payload)
        return {"total": len(done)} if done else ToolCall("cube", {"x": 2})

    calls = Calls()
    flow = tools.SPEC.flow(agent=CALCULATOR, tools=arithmetic(calls), max_tool_calls=1)
    model = ScriptedChatModel(brain=ScriptedBrain(responders={"calculator": calculator}))
    result = await arun(flow, {"input": {}}, model=model, checkpoint="memory")
    assert result.output is not None and result.output["answer"] == {"total": 1.0}
    assert [c["error"] for c in result.output["tool_calls"]] == [
        "LookupError: no tool named 'cube'; the tools are: add, square, divide"
    ]
    assert [s.agent for s in result.steps] == ["calculator", "calculator"] and calls.made == []


async def test_a_transient_tool_failure_is_retried_before_the_model_sees_anything() -> None:
    attempts: list[str] = []

    def fetch(key: str) -> str:
        """Fetch a value by key."""
        attempts.append(key)
        if len(attempts) == 1:
            raise ConnectionError("connection reset")
        return f"value of {key}"

    def agent(payload: Payload) -> Payload | ToolCall:
        done = results(payload)
        return {"answer": done[0]["content"]} if done else ToolCall("fetch", {"key": "k"})

    reader = Agent("reader", "Fetch, then answer. Keys: answer.", output=Answer)
    graph = build_tool_agent(agent=reader, tools=[fetch], retry_policy=FAST_RETRY)
    result = await invoke(
        graph, {"input": {}}, ScriptedChatModel(brain=ScriptedBrain(responders={"reader": agent}))
    )
    assert attempts == ["k", "k"]
    assert result["answer"] == {"answer": "value of k"}  # a text result is shown as it is, not as JSON
    assert transcript(result) == [(1, "fetch", {"key": "k"}, "value of k", None)]


async def test_max_tool_calls_bounds_the_run_with_a_clear_error() -> None:
    def restless(payload: Payload) -> ToolCall:
        return ToolCall("square", {"x": len(results(payload))})  # never answers

    calls = Calls()
    flow = tools.SPEC.flow(agent=CALCULATOR, tools=arithmetic(calls), max_tool_calls=3)
    brain = ScriptedBrain(responders={"calculator": restless})
    result = await arun(flow, {"input": {}}, model=ScriptedChatModel(brain=brain), checkpoint="memory")
    assert result.status == "failed" and result.error is not None
    assert result.error.startswith(
        "ToolBudgetExceeded: agent 'calculator' asked for 1 more tool call(s) (square)"
    )
    assert "after 3 of max_tool_calls=3" in result.error
    assert calls.of("square") == [{"x": 0}, {"x": 1}, {"x": 2}]

    # A turn asking for more than is left runs none of its calls, and the transcript stays in the checkpoint.
    def greedy(payload: Payload) -> list[ToolCall]:
        return [ToolCall("square", {"x": i}) for i in range(2)]

    calls.made.clear()
    graph = build_tool_agent(
        agent=CALCULATOR, tools=arithmetic(calls), max_tool_calls=3, checkpointer=InMemorySaver()
    )
    config: Any = {"configurable": {"thread_id": "greedy"}}
    model = ScriptedChatModel(brain=ScriptedBrain(responders={"calculator": greedy}))
    with pytest.raises(ToolBudgetExceeded, match="asked for 2 more tool call"):
        await graph.ainvoke({"input": {}}, config, context=AgentContext(model=model))
    assert calls.of("square") == [{"x": 0}, {"x": 1}]
    assert len((await graph.aget_state(config)).values["results"]) == 2


class ToolChoices(BaseCallbackHandler):
    """The `tool_choice` of every model call, as the chat model was invoked."""

    def __init__(self) -> None:
        self.choices: list[Any] = []

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[BaseMessage]], *, run_id: UUID, **kwargs: Any
    ) -> None:
        self.choices.append((kwargs.get("invocation_params") or {}).get("tool_choice"))


@pytest.mark.parametrize("via_http", [False, True], ids=["in-process", "http"])
async def test_force_tool_makes_the_first_turn_call_a_tool(via_http: bool) -> None:
    recorded: list[float] = []

    def record(total: float) -> str:
        """Record a total in the ledger before answering it."""
        recorded.append(total)
        return "recorded"

    def hasty(payload: Payload) -> Payload:
        return {"total": 7.0}  # would answer at once, without a tool

    brain = ScriptedBrain(responders={"calculator": hasty})
    async with model_for(brain, via_http=via_http) as model:
        free = await invoke(build_tool_agent(agent=CALCULATOR, tools=[record]), {"input": {}}, model)
        choices = ToolChoices()
        forced = await invoke(
            build_tool_agent(agent=CALCULATOR, tools=[record], force_tool="record"),
            {"input": {}},
            model,
            {"callbacks": [choices]},
        )
    assert (free["turns"], free["tool_calls"]) == (1, [])
    # Forced, the model calls the tool (the scripted one with its answer as the arguments), then answers.
    assert forced["answer"] == {"total": 7.0} and recorded == [7.0]
    assert transcript(forced) == [(1, "record", {"total": 7.0}, "recorded", None)]
    named = {"type": "function", "function": {"name": "record"}}
    assert choices.choices == [named, None]  # only the first turn is forced


async def test_force_any_tool_makes_the_first_turn_call_one_of_them() -> None:
    def hasty(payload: Payload) -> Payload:
        done = results(payload)
        return {"total": value(done[0])} if done else {"a": 1, "b": 2}

    choices, calls = ToolChoices(), Calls()
    model = ScriptedChatModel(brain=ScriptedBrain(responders={"calculator": hasty}))
    graph = build_tool_agent(agent=CALCULATOR, tools=arithmetic(calls), force_tool="any")
    result = await invoke(graph, {"input": {}}, model, {"callbacks": [choices]})
    # The scripted model, made to call some tool, calls the first one offered.
    assert transcript(result) == [(1, "add", {"a": 1, "b": 2}, 3.0, None)] and result["answer"] == {
        "total": 3.0
    }
    assert choices.choices == ["any", None] and calls.of("add") == [{"a": 1, "b": 2}]


# --------------------------------------------------------------------------- agents and flows as tools


class Text(BaseModel):
    text: str


WORDS = {"bonjour": "hello", "monde": "world"}
TRANSLATOR = Agent("translator", "Translate the text into English. Keys: text.", output=Text)
COORDINATOR = Agent("coordinator", "Use your tools, then answer. Keys: answer.", output=Answer)
ROUTER = Agent("triage", "Route the message. Keys: route, confidence.", output=routing.Classification)
DESK = Agent("desk", "Answer the message. Keys: answer.", output=Answer)


@pytest.mark.parametrize("via_http", [False, True], ids=["in-process", "http"])
async def test_an_agent_is_a_tool_of_another_agent(via_http: bool) -> None:
    def translator(payload: Payload) -> Payload:
        return {"text": " ".join(WORDS.get(w, w) for w in payload["request"].split())}

    def coordinator(payload: Payload) -> Payload | ToolCall:
        done = results(payload)
        if not done:
            return ToolCall("translate", {"request": payload["text"]})
        return {"answer": f"It says: {value(done[0])['text']}"}

    translate = as_tool(TRANSLATOR, name="translate", description="Translate a text into English.")
    assert translate.parameters["properties"]["request"]["type"] == "string"
    graph = build_tool_agent(agent=COORDINATOR, tools=[translate])
    brain = ScriptedBrain(responders={"coordinator": coordinator, "translator": translator})
    async with model_for(brain, via_http=via_http) as model:
        result = await invoke(graph, {"input": {"text": "bonjour monde"}}, model)
    assert result["answer"] == {"answer": "It says: hello world"}
    assert transcript(result) == [
        (1, "translate", {"request": "bonjour monde"}, {"text": "hello world"}, None)
    ]
    usage = brain.ledger.snapshot()
    assert (usage["coordinator"].calls, usage["translator"].calls) == (2, 1)


async def test_a_compiled_flow_and_a_declared_flow_are_tools() -> None:
    class View(BaseModel):
        verdict: str

    optimist = Agent("optimist", "Say whether to ship. Keys: verdict.", output=View)
    pessimist = Agent("pessimist", "Say whether to ship. Keys: verdict.", output=View)
    panel = build_scatter_gather(workers=[optimist, pessimist])  # compiled, without a checkpointer
    helpdesk = routing.SPEC.flow(router=ROUTER, routes={"ops": DESK, "other": DESK}, default="other")

    def coordinator(payload: Payload) -> Payload | list[ToolCall]:
        done = results(payload)
        if not done:
            return [
                ToolCall("panel", {"input": {"question": payload["question"]}}),
                ToolCall("helpdesk", {"message": "the build is red"}),
            ]
        votes, reply = value(done[0])["answers"], value(done[1])
        yes = sorted(name for name, view in votes.items() if view["verdict"] == "ship")
        return {"answer": f"ship: {', '.join(yes)}; {reply['handled_by']}: {reply['answer']}"}

    by_default = as_tool(
        helpdesk, description="Ask the helpdesk."
    )  # named after the flow, its input's schema
    assert by_default.name == "routing" and set(by_default.parameters["properties"]) == {"message"}
    flows = [
        as_tool(panel, name="panel", description="Ask the panel whether to ship."),
        as_tool(by_default, name="helpdesk"),
    ]
    assert set(flows[0].parameters["properties"]) == {"input"}
    brain = ScriptedBrain(
        responders={
            "coordinator": coordinator,
            "optimist": lambda p: {"verdict": "ship"},
            "pessimist": lambda p: {"verdict": "wait"},
            "triage": lambda p: {"route": "ops" if "build" in p["message"] else "other", "confidence": 0.9},
            "desk": lambda p: {"answer": f"looking at it ({p['speciality']})"},
        }
    )
    saver = InMemorySaver()
    graph = build_tool_agent(agent=COORDINATOR, tools=flows, checkpointer=saver)
    config: RunnableConfig = {"configurable": {"thread_id": "flows"}}
    result = await invoke(graph, {"input": {"question": "ship 2.0?"}}, ScriptedChatModel(brain=brain), config)
    assert result["answer"] == {"answer": "ship: optimist; ops: looking at it (ops)"}
    assert [c["tool"] for c in result["tool_calls"]] == ["panel", "helpdesk"]
    assert set(brain.ledger.snapshot()) == {"coordinator", "optimist", "pessimist", "triage", "ops"}
    # The nested flows saved their steps in the run's checkpointer, under their tool's step.
    namespaces = {c.config["configurable"]["checkpoint_ns"].split(":")[0] for c in saver.list(None)}
    assert namespaces == {"", "panel", "helpdesk"}


# --------------------------------------------------------------------------- durability


async def test_a_resumed_run_does_not_run_the_tools_again(tmp_path: Path) -> None:
    down = True

    def calculator(payload: Payload) -> Payload | list[ToolCall]:
        nonlocal down
        done = results(payload)
        if not done:
            return [ToolCall("add", {"a": 1, "b": 2}), ToolCall("square", {"x": 3})]
        if down:  # the model goes down once the tools have run
            down = False
            raise PermanentModelError("the model is down", agent="calculator")
        return {"total": value(done[0]) + value(done[1])}

    calls = Calls()
    flow = tools.SPEC.flow(agent=CALCULATOR, tools=arithmetic(calls))
    model = ScriptedChatModel(brain=ScriptedBrain(responders={"calculator": calculator}))
    url = f"sqlite:///{tmp_path / 'runs.sqlite'}"
    crashed = await arun(flow, {"input": {}}, model=model, checkpoint=url, thread_id="t")
    assert crashed.status == "failed" and "the model is down" in (crashed.error or "")
    resumed = await arun(flow, model=model, checkpoint=url, thread_id="t", resume=True)
    assert resumed.status == "completed" and resumed.output is not None
    assert resumed.output["answer"] == {"total": 12.0}
    assert sorted(calls.made) == [("add", {"a": 1, "b": 2}), ("square", {"x": 3})]  # once each
    assert [s.agent for s in resumed.steps] == ["calculator"]


async def test_a_run_stopped_mid_turn_reruns_only_the_unfinished_tool() -> None:
    started, release = asyncio.Event(), asyncio.Event()
    runs: list[str] = []

    async def quick() -> str:
        """Return at once."""
        runs.append("quick")
        return "quick done"

    async def slow() -> str:
        """Return once released."""
        runs.append("slow")
        started.set()
        await release.wait()
        return "slow done"

    def agent(payload: Payload) -> Payload | list[ToolCall]:
        done = results(payload)
        if not done:
            return [ToolCall("quick", {}), ToolCall("slow", {})]
        return {"answer": " and ".join(r["content"] for r in done)}

    graph = build_tool_agent(
        agent=Agent("waiter", "Call both. Keys: answer.", output=Answer),
        tools=[quick, slow],
        checkpointer=InMemorySaver(),
    )
    config: Any = {"configurable": {"thread_id": "stopped"}}
    context = AgentContext(model=ScriptedChatModel(brain=ScriptedBrain(responders={"waiter": agent})))
    run = asyncio.create_task(graph.ainvoke({"input": {}}, config, context=context, durability="sync"))
    await started.wait()
    for _ in range(500):  # until the finished call's writes are saved
        if any(t.name == "quick" and t.result for t in (await graph.aget_state(config)).tasks):
            break
        await asyncio.sleep(0.01)
    run.cancel()  # the process goes away while `slow` runs
    with pytest.raises(asyncio.CancelledError):
        await run
    release.set()
    state = await graph.ainvoke(None, config, context=context)
    assert state["result"]["answer"] == {"answer": "quick done and slow done"}
    assert sorted(runs) == ["quick", "slow", "slow"]  # at least once: a tool cut off runs again


async def test_a_run_stopped_inside_a_flow_tool_resumes_inside_it() -> None:
    started, release = asyncio.Event(), asyncio.Event()
    runs: list[str] = []

    async def quick() -> str:
        """Return at once."""
        runs.append("quick")
        return "quick done"

    async def slow() -> str:
        """Return once released."""
        runs.append("slow")
        started.set()
        await release.wait()
        return "slow done"

    def inner(payload: Payload) -> Payload | ToolCall:
        done = results(payload)
        if len(done) < 2:  # one tool per turn: the first turn's step is saved before the second starts
            return ToolCall(("quick", "slow")[len(done)], {})
        return {"answer": " and ".join(r["content"] for r in done)}

    def outer(payload: Payload) -> Payload | ToolCall:
        done = results(payload)
        return {"answer": value(done[0])["answer"]["answer"]} if done else ToolCall("worker", {"input": {}})

    worker = build_tool_agent(
        agent=Agent("inner", "Call both. Keys: answer.", output=Answer), tools=[quick, slow]
    )
    graph = build_tool_agent(
        agent=Agent("outer", "Delegate. Keys: answer.", output=Answer),
        tools=[as_tool(worker, name="worker", description="Do the job.")],
        checkpointer=InMemorySaver(),
    )
    brain = ScriptedBrain(responders={"inner": inner, "outer": outer})
    context = AgentContext(model=ScriptedChatModel(brain=brain))
    config: Any = {"configurable": {"thread_id": "nested"}}
    run = asyncio.create_task(graph.ainvoke({"input": {}}, config, context=context))
    await started.wait()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    release.set()
    state = await graph.ainvoke(None, config, context=context)
    assert state["result"]["answer"] == {"answer": "quick done and slow done"}
    assert runs == ["quick", "slow", "slow"]
    assert brain.ledger.snapshot()["inner"].calls == 3  # its first two turns were not asked again


async def test_a_tool_can_ask_a_human_and_the_run_resumes_with_the_answer() -> None:
    def pay(amount: float) -> str:
        """Pay an amount, once a human approves it."""
        approved = interrupt({"question": f"pay {amount}?", "options": ["yes", "no"]})
        return "paid" if approved == "yes" else "refused"

    def agent(payload: Payload) -> Payload | ToolCall:
        done = results(payload)
        return {"answer": done[0]["content"]} if done else ToolCall("pay", {"amount": 40})

    graph = build_tool_agent(
        agent=Agent("cashier", "Pay, then say so. Keys: answer.", output=Answer),
        tools=[pay],
        checkpointer=InMemorySaver(),
    )
    config: Any = {"configurable": {"thread_id": "pay"}}
    context = AgentContext(model=ScriptedChatModel(brain=ScriptedBrain(responders={"cashier": agent})))
    paused = await graph.ainvoke({"input": {}}, config, context=context)
    assert paused["__interrupt__"][0].value == {"question": "pay 40.0?", "options": ["yes", "no"]}
    state = await graph.ainvoke(Command(resume="yes"), config, context=context)
    assert state["result"]["answer"] == {"answer": "paid"}


async def test_a_cache_keys_each_turn_on_the_whole_transcript() -> None:
    def calculator(payload: Payload) -> Payload | ToolCall:
        done = results(payload)
        return {"total": value(done[-1])} if len(done) == 2 else ToolCall("square", {"x": len(done) + 2})

    calls = Calls()
    brain = ScriptedBrain(responders={"calculator": calculator})
    flow = tools.SPEC.flow(agent=CALCULATOR, tools=arithmetic(calls))
    policies = AgentPolicies(cache=MemoryCache())
    for _ in range(2):
        result = await arun(
            flow, {"input": {}}, model=ScriptedChatModel(brain=brain), checkpoint="memory", policies=policies
        )
        assert result.output is not None and result.output["answer"] == {"total": 9.0}
    # The second run's three turns were all cache hits, each the right one; its tools still ran.
    assert brain.ledger.snapshot()["calculator"].calls == 3
    assert calls.of("square") == [{"x": 2}, {"x": 3}] * 2


# --------------------------------------------------------------------------- the preset


@pytest.mark.parametrize("via_http", [False, True], ids=["in-process", "http"])
async def test_the_assistant_preset_looks_figures_up_and_computes_them(via_http: bool) -> None:
    brain = ScriptedBrain(responders=assistant.RESPONDERS)
    async with model_for(brain, via_http=via_http) as model:
        result = await arun(assistant.SPEC, model=model, checkpoint="memory")
    assert result.status == "completed" and result.output is not None
    countries = ("Japan", "Germany", "Netherlands")
    expected = {
        c: round(assistant.COUNTRIES[c]["population"] / assistant.COUNTRIES[c]["area_km2"], 1)
        for c in countries
    }
    assert (
        result.output["answer"]["figures"]
        == expected
        == {"Japan": 329.4, "Germany": 236.3, "Netherlands": 427.7}
    )
    assert result.output["answer"]["answer"].startswith("Highest population density: Netherlands, 427.7")
    by_turn = [(c["turn"], c["tool"]) for c in result.output["tool_calls"]]
    assert by_turn == [(1, "lookup")] * 6 + [(2, "calculate")] * 3 and result.output["turns"] == 3
    assert [s.agent for s in result.steps].count("lookup") == 6


async def test_the_assistant_answers_without_a_country_it_has_no_figures_for() -> None:
    model = ScriptedChatModel(brain=ScriptedBrain(responders=assistant.RESPONDERS))
    question = {"input": {"question": "Which is more densely populated, Atlantis or New Zealand?"}}
    result = await arun(assistant.SPEC, question, model=model, checkpoint="memory")
    assert result.output is not None
    assert result.output["answer"] == {
        "answer": "Highest population density: New Zealand, 19.4 people per km². No figures for Atlantis.",
        "figures": {"New Zealand": 19.4},
    }
    errors = [c["error"] for c in result.output["tool_calls"] if c["error"]]
    assert errors and all(e.startswith("LookupError: no figures for 'Atlantis'") for e in errors)


# --------------------------------------------------------------------------- declaring tools


def test_a_tools_schema_comes_from_its_signature_and_docstring() -> None:
    schema = as_tool(assistant.lookup).schema["function"]
    assert schema["name"] == "lookup" and schema["description"] == "Look one figure up for a country."
    assert schema["parameters"]["required"] == ["country", "field"]
    assert schema["parameters"]["properties"]["field"] == {
        "description": "population (people) or area_km2 (square kilometres).",
        "enum": ["population", "area_km2"],
        "type": "string",
    }

    @langchain_tool
    def shout(text: str) -> str:
        """Say it louder."""
        return text.upper()

    assert as_tool(shout).parameters["properties"] == {"text": {"type": "string"}}


def _untyped(x):  # type: ignore[no-untyped-def]
    """Has no hints."""
    return x


def _undocumented(x: int) -> int:
    return x


def _documents_a_ghost(x: int) -> int:
    """Take x.

    Args:
        x: a number.
        y: not a parameter.
    """
    return x


def _square(x: float) -> float:
    """Square a number."""
    return x * x


@pytest.mark.parametrize(
    ("declare", "message"),
    [
        (lambda: as_tool(_untyped), "give x a type hint"),
        (lambda: as_tool(_undocumented), "needs a docstring"),
        (lambda: as_tool(_documents_a_ghost), "Arg y in docstring not found"),
        (lambda: as_tool(lambda x: x), "give x a type hint"),
        (lambda: as_tool(_square, name="two words"), "is not a name"),
        (lambda: as_tool(TRANSLATOR), "needs a description"),
        (lambda: as_tool(_square, input=Request), "input= is for an agent or a flow"),
        (lambda: as_tool(42), "not int"),  # type: ignore[arg-type]
        (lambda: as_tool(build_routing(router=ROUTER, routes={"ops": DESK}), description="x"), "pass input="),
        (lambda: build_tool_agent(agent=CALCULATOR, tools=[]), "tools with different names"),
        (lambda: build_tool_agent(agent=CALCULATOR, tools=[_square, _square]), "tools with different names"),
        (
            lambda: build_tool_agent(agent=CALCULATOR, tools=[as_tool(_square, name="calculator")]),
            "may not be named calculator",
        ),
        (
            lambda: build_tool_agent(agent=CALCULATOR, tools=[_square], force_tool="cube"),
            "not 'any' nor one of",
        ),
        (lambda: build_tool_agent(agent=CALCULATOR, tools=[_square], max_tool_calls=0), "at least 1"),
        (lambda: build_tool_agent(agent=CALCULATOR, tools=_square), "a list"),  # type: ignore[arg-type]
    ],
)
def test_a_tool_or_agent_declared_wrong_is_a_usage_error(declare: Callable[[], Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        declare()


async def test_a_tool_of_your_own_gets_the_runs_context() -> None:
    async def run(arguments: dict[str, Any], context: AgentContext) -> Any:
        return {"model": type(context.model).__name__, **arguments}

    own = Tool("whoami", "Say which model runs.", {"type": "object", "properties": {}}, run)

    def agent(payload: Payload) -> Payload | ToolCall:
        done = results(payload)
        return {"answer": done[0]["content"]} if done else ToolCall("whoami", {"k": 1})

    graph = build_tool_agent(agent=Agent("me", "Ask. Keys: answer.", output=Answer), tools=[own])
    model = ScriptedChatModel(brain=ScriptedBrain(responders={"me": agent}))
    result = await invoke(graph, {"input": {}}, model)
    assert json.loads(result["answer"]["answer"]) == {"k": 1, "model": "ScriptedChatModel"}
