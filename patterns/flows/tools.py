"""Tool-using agent: one agent calls tools in a bounded ReAct loop until it answers.

For work an agent cannot do from its prompt: look a figure up, compute, ask a
specialist agent, run a whole flow. The agent is asked with its tools bound;
each call it makes runs as its own step (its calls of one turn in parallel), and
the result, or the error as text, goes back to it as a tool message: a failing
tool never fails the flow, the agent sees why and can try otherwise. The loop
ends when the agent answers with its output model. Every model turn and every
tool run is checkpointed, so a resumed run never runs a finished tool again.

Tools are plain typed functions (sync or async, with a docstring), LangChain
tools, or agents and flows made tools by `as_tool`; the schema the model sees
comes from the signature (`StructuredTool.from_function`). The loop is bounded
by `max_tool_calls`: a turn asking for more fails the run with
`ToolBudgetExceeded`, the transcript so far kept in the checkpoint, rather than
forcing an answer the agent did not have the facts for.
"""

from __future__ import annotations

import dataclasses
import inspect
import operator
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, StructuredTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.errors import NodeError
from langgraph.graph import END, StateGraph
from langgraph.pregel import Pregel
from langgraph.runtime import Runtime
from langgraph.types import Command, RetryPolicy, Send
from pydantic import BaseModel, Field, ValidationError
from pydantic_core import to_jsonable_python
from typing_extensions import TypedDict  # pydantic reads its schema on 3.11 (the server's /schemas)

from patterns.errors import OrchError, UsageError
from patterns.resilience.policies import protected_call
from patterns.runtime import wire
from patterns.runtime._agent import (
    DEFAULT_RETRY,
    Agent,
    AgentContext,
    PatternGraph,
    ask_model,
    call_agent,
    parse_reply,
)
from patterns.runtime._input import INPUT_NODE, PayloadInput, add_input, takes_payload
from patterns.runtime._spec import PatternSpec

__all__ = [
    "DEFAULT_MAX_TOOL_CALLS",
    "SPEC",
    "Request",
    "Tool",
    "ToolAgent",
    "ToolAgentOutput",
    "ToolBudgetExceeded",
    "ToolCallRecord",
    "as_tool",
    "build_tool_agent",
    "recursion_limit",
    "tool_message_text",
]

DEFAULT_MAX_TOOL_CALLS = 10

#: OpenAI's rule for function names; the other providers accept at least these.
_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


class ToolBudgetExceeded(OrchError):
    """The agent asked for more tool calls than `max_tool_calls`. The transcript stays in the checkpoint."""


class Request(BaseModel):
    """The arguments of an agent made a tool (the default): one request, in words."""

    request: str = Field(description="What to ask, in full: the agent sees nothing else.")


class ToolCallRecord(BaseModel):
    """One tool call of the transcript: which turn made it, with what, and what came back."""

    turn: int
    tool: str
    arguments: dict[str, Any]
    result: Any = None
    error: str | None = None


class ToolAgentOutput(BaseModel):
    answer: dict[str, Any]
    """The agent's reply, validated against its output model."""
    tool_calls: list[ToolCallRecord]
    """Every call, in the order the agent made them."""
    turns: int
    """Model turns, the answering one included."""


class ToolCallTask(TypedDict):
    """One call of a model turn, sent to the tool's node."""

    turn: int
    index: int
    id: str
    tool: str
    arguments: dict[str, Any]


class ToolAgentState(TypedDict, total=False):
    input: dict[str, Any]
    turns: Annotated[list[dict[str, Any]], operator.add]
    """The model turns that called tools: `{"content", "calls": [ToolCallTask]}`."""
    results: Annotated[list[dict[str, Any]], operator.add]
    """One per call, in any order: the call's fields with its `result` or `error`."""
    result: dict[str, Any]


#: How a tool runs: on the model's arguments (it validates them) in the run's context.
ToolRun = Callable[[dict[str, Any], AgentContext], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Tool:
    """A tool an agent may call: what the model is shown, and how a call runs.

    `as_tool` makes one from a function, a LangChain tool, an agent or a flow.
    Make one yourself for a tool that needs the run's model or policies: `run`
    is given the model's arguments and the run's `AgentContext`.

    Args:
        name: The function name the model calls (letters, digits, `_`, `-`; at most 64).
        description: What the tool does and when to use it: the model reads it.
        parameters: The JSON schema of the arguments.
        run: `await run(arguments, context)`: validates the arguments, returns a
            JSON-able value (or a pydantic model), raises on failure.
        retried: Whether a transient failure runs the call again (the build's
            retry policy); False for a flow, which retries its own model calls.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    run: ToolRun
    retried: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _TOOL_NAME.fullmatch(self.name):
            raise UsageError(
                f"tool name {self.name!r} is not a name: use letters, digits, '_' and '-', at most 64 "
                "(pass name='...')"
            )
        if not isinstance(self.description, str) or not self.description.strip():
            raise UsageError(
                f"tool {self.name!r} needs a description: the model reads it to decide when to call it "
                "(a docstring, or description='...')"
            )

    @property
    def schema(self) -> dict[str, Any]:
        """The tool as `bind_tools` and the OpenAI API take it."""
        function = {"name": self.name, "description": self.description, "parameters": self.parameters}
        return {"type": "function", "function": function}


#: What `as_tool` (and `build_tool_agent(tools=...)`) takes.
ToolLike = Tool | BaseTool | Agent[Any] | PatternSpec | PatternGraph | Callable[..., Any]


def as_tool(
    target: ToolLike,
    *,
    name: str | None = None,
    description: str | None = None,
    input: type[BaseModel] | None = None,
) -> Tool:
    """A tool of a function, a LangChain tool, an agent, or a flow (declared or compiled).

    An agent as a tool is asked with the call's arguments as its payload and returns
    its reply; a flow as a tool runs once per call, in the run's context, and returns
    its `result`. Built without a checkpointer, a compiled flow saves its steps in
    the run's checkpointer under the tool's step, so a resumed run resumes inside it.

    Args:
        target: A typed function (sync or async) with a docstring; a LangChain
            `BaseTool`; an `Agent`; a declared flow (`SPEC.flow(...)`, a preset);
            or a compiled pattern graph.
        name: The tool's name for the model (default: the function's, tool's,
            agent's, flow's or graph's).
        description: What it is for, for the model (default: the docstring, the
            agent's `description`, the flow's summary; a compiled graph needs one).
        input: For an agent or a flow, the pydantic model of the arguments
            (default: `Request`, one string, for an agent; the flow's input model;
            `{"input": {...}}` for a compiled graph that takes it, else required).

    Example:
        ```python
        translate = as_tool(translator, description="Translate a text into English.")
        panel = as_tool(build_scatter_gather(workers=experts), name="ask_the_panel",
                        description="Ask three experts the same question.")
        graph = build_tool_agent(agent=coordinator, tools=[lookup, translate, panel])
        ```
    """
    if isinstance(target, Tool):
        return dataclasses.replace(
            target, name=name or target.name, description=description or target.description
        )
    if input is not None and not isinstance(target, Agent | PatternSpec | Pregel):
        raise UsageError(
            "as_tool: input= is for an agent or a flow; a function's arguments are its parameters"
        )
    if isinstance(target, BaseTool):
        return _langchain_tool(target, name, description)
    if isinstance(target, Agent):
        return _agent_tool(target, name, description, input)
    if isinstance(target, PatternSpec):
        return _flow_tool(target, name, description, input)
    if isinstance(target, Pregel):
        return _graph_tool(target, name, description, input)
    if callable(target):
        return _function_tool(target, name, description)
    raise UsageError(
        f"as_tool takes a function, a LangChain tool, an Agent, a declared flow or a compiled graph, "
        f"not {type(target).__name__}"
    )


def _function_tool(fn: Callable[..., Any], name: str | None, description: str | None) -> Tool:
    label = name or getattr(fn, "__name__", repr(fn))
    untyped = [
        p.name for p in inspect.signature(fn).parameters.values() if p.annotation is inspect.Parameter.empty
    ]
    if untyped:
        raise UsageError(
            f"tool {label!r}: give {', '.join(untyped)} a type hint; the model is shown a JSON schema "
            "of the arguments, made from the hints"
        )
    if description is None and not inspect.getdoc(fn):
        raise UsageError(
            f"tool {label!r} needs a docstring (or description='...'): the model reads it to decide when to call it"
        )
    # LangChain runs a sync function in a worker thread, so a slow one does not stall the loop.
    coroutine = fn if inspect.iscoroutinefunction(fn) else None
    try:
        built = StructuredTool.from_function(
            func=None if coroutine else fn,
            coroutine=coroutine,
            name=name,
            description=description,
            parse_docstring=True,
        )
    except ValueError as exc:  # an `Args:` section naming a parameter the function does not have
        raise UsageError(f"tool {label!r}: {exc}") from None
    return _langchain_tool(built, None, None)


def _langchain_tool(tool: BaseTool, name: str | None, description: str | None) -> Tool:
    function = convert_to_openai_tool(tool)["function"]

    async def run(arguments: dict[str, Any], _context: AgentContext) -> Any:
        return await tool.ainvoke(arguments)

    return Tool(
        name or function["name"],
        description or function.get("description", ""),
        function.get("parameters", {"type": "object", "properties": {}}),
        run,
    )


def _parameters(model: type[BaseModel]) -> dict[str, Any]:
    parameters: dict[str, Any] = convert_to_openai_tool(model)["function"]["parameters"]
    return parameters


def _agent_tool(
    agent: Agent[Any], name: str | None, description: str | None, input: type[BaseModel] | None
) -> Tool:
    arguments_model = input or Request

    async def run(arguments: dict[str, Any], context: AgentContext) -> Any:
        payload = arguments_model.model_validate(arguments).model_dump(mode="json")
        return await call_agent(context, agent, payload)

    return Tool(name or agent.name, description or agent.description or "", _parameters(arguments_model), run)


def _flow_tool(
    flow: PatternSpec, name: str | None, description: str | None, input: type[BaseModel] | None
) -> Tool:
    graph = flow.compile()  # no checkpointer of its own: its steps go in the run's
    arguments_model = input or flow.input_model

    async def run(arguments: dict[str, Any], context: AgentContext) -> Any:
        given = arguments_model.model_validate(arguments).model_dump(mode="json")
        state = flow.initial_state(flow.input_model.model_validate(given))
        config: RunnableConfig = {"recursion_limit": flow.recursion_limit(state)}
        return (await graph.ainvoke(state, config, context=context))["result"]

    return Tool(
        name or flow.name, description or flow.summary, _parameters(arguments_model), run, retried=False
    )


def _graph_tool(
    graph: PatternGraph, name: str | None, description: str | None, input: type[BaseModel] | None
) -> Tool:
    arguments_model = input or (PayloadInput if takes_payload(graph) else None)
    if arguments_model is None:
        raise UsageError(
            f"the graph {graph.name!r} does not take {{'input': {{...}}}}: pass input=<a pydantic model of "
            "its input> so the model is shown its arguments (or make a tool of its declared flow)"
        )

    async def run(arguments: dict[str, Any], context: AgentContext) -> Any:
        given = arguments_model.model_validate(arguments).model_dump(mode="json")
        return (await graph.ainvoke(given, context=context))["result"]

    return Tool(name or graph.name, description or "", _parameters(arguments_model), run, retried=False)


# -- the loop's turns ----------------------------------------------------------


def tool_message_text(entry: Mapping[str, Any]) -> str:
    """What the model is shown of a call's outcome: a text result as it is, anything else as JSON."""
    if entry.get("error") is not None:
        return wire.canonical_json({"error": entry["error"]})
    result = entry.get("result")
    return result if isinstance(result, str) else wire.canonical_json(result)


def _describe(error: BaseException) -> str:
    """An error as the model reads it; bad arguments say which and why, as `parse_reply` does."""
    if isinstance(error, ValidationError):
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in error.errors(include_url=False)
        )
        return f"invalid arguments: {problems}"
    return f"{type(error).__name__}: {error}"


def _failed(call: ToolCallTask, error: BaseException) -> dict[str, Any]:
    return {**call, "result": None, "error": _describe(error)}


@dataclass(frozen=True, slots=True)
class ToolAgent:
    """A declared tool-using agent: the arguments of `build_tool_agent`, checked, and its turns."""

    agent: Agent[Any]
    tools: tuple[Tool, ...]
    max_tool_calls: int = DEFAULT_MAX_TOOL_CALLS
    force_tool: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.agent, Agent):
            raise UsageError(f"build_tool_agent needs agent=Agent(...), not {type(self.agent).__name__}")
        names = [t.name for t in self.tools]
        if not names or len(set(names)) != len(names):
            raise UsageError(f"build_tool_agent needs tools with different names: {names}")
        taken = {self.agent.name, INPUT_NODE} & set(names)
        if taken:
            raise UsageError(
                f"a tool may not be named {', '.join(sorted(taken))}: the agent's and the input's steps have that name"
            )
        if not isinstance(self.max_tool_calls, int) or self.max_tool_calls < 1:
            raise UsageError(
                f"max_tool_calls must be a whole number of at least 1, not {self.max_tool_calls!r}"
            )
        if self.force_tool not in (None, "any", *names):
            raise UsageError(
                f"force_tool={self.force_tool!r} is not 'any' nor one of the tools: {', '.join(names)}"
            )

    @property
    def by_name(self) -> dict[str, Tool]:
        return {t.name: t for t in self.tools}

    def transcript(self, state: ToolAgentState) -> list[dict[str, Any]]:
        """Every call's outcome, in the order the agent made them (parallel calls finish in any order)."""
        return sorted(state.get("results", []), key=lambda r: (r["turn"], r["index"]))

    def messages(self, state: ToolAgentState) -> list[BaseMessage]:
        """The agent's prompt (the wire format's two messages), then each tool turn and its results."""
        system, user = wire.render(self.agent, state["input"])
        messages: list[BaseMessage] = [SystemMessage(system), HumanMessage(user)]
        outcomes = {(r["turn"], r["index"]): r for r in state.get("results", [])}
        for turn in state.get("turns", []):
            calls = turn["calls"]
            messages.append(
                AIMessage(
                    content=turn["content"],
                    tool_calls=[
                        {"name": c["tool"], "args": c["arguments"], "id": c["id"], "type": "tool_call"}
                        for c in calls
                    ],
                )
            )
            for call in calls:
                outcome = outcomes[(call["turn"], call["index"])]
                messages.append(
                    ToolMessage(
                        tool_message_text(outcome),
                        tool_call_id=call["id"],
                        name=call["tool"],
                        status="error" if outcome["error"] is not None else "success",
                    )
                )
        return messages

    def tool_choice(self, state: ToolAgentState) -> str | None:
        """`force_tool` on the first turn only; then the agent chooses (None: the provider's default, auto)."""
        return None if state.get("turns") else self.force_tool

    def turn_update(self, state: ToolAgentState, reply: AIMessage) -> ToolAgentState:
        """The agent's answer as the result, or its tool calls (a call to no such tool is answered at once)."""
        turn = len(state.get("turns", [])) + 1
        if not reply.tool_calls:
            answer = parse_reply(reply, self.agent.output, agent=self.agent.name)
            output = ToolAgentOutput(
                answer=answer.model_dump(mode="json"),
                tool_calls=[ToolCallRecord.model_validate(r) for r in self.transcript(state)],
                turns=turn,
            )
            return {"result": output.model_dump(mode="json")}
        spent = len(state.get("results", []))
        if spent + len(reply.tool_calls) > self.max_tool_calls:
            asked = ", ".join(c["name"] for c in reply.tool_calls)
            raise ToolBudgetExceeded(
                f"agent {self.agent.name!r} asked for {len(reply.tool_calls)} more tool call(s) ({asked}) after "
                f"{spent} of max_tool_calls={self.max_tool_calls}: raise the bound, or have it answer sooner"
            )
        calls: list[ToolCallTask] = [
            {
                "turn": turn,
                "index": i,
                # Some providers leave ids out; a tool message must name the call it answers.
                "id": c["id"] or f"call_{turn}_{i}",
                "tool": c["name"],
                "arguments": c["args"],
            }
            for i, c in enumerate(reply.tool_calls)
        ]
        unknown = [
            _failed(c, LookupError(f"no tool named {c['tool']!r}; the tools are: {', '.join(self.by_name)}"))
            for c in calls
            if c["tool"] not in self.by_name
        ]
        update: ToolAgentState = {"turns": [{"content": reply.text, "calls": calls}]}
        return {**update, "results": unknown} if unknown else update

    def next_steps(self, update: ToolAgentState) -> list[Send] | str:
        """After a turn: the end once answered, else each call to a tool that exists, or the agent again."""
        if "result" in update:
            return END
        calls: list[ToolCallTask] = update["turns"][0]["calls"]
        return [Send(c["tool"], c) for c in calls if c["tool"] in self.by_name] or self.agent.name

    def result_update(self, call: ToolCallTask, value: Any) -> ToolAgentState:
        # JSON now, so the checkpoint, the transcript and the tool message agree.
        return {"results": [{**call, "result": to_jsonable_python(value), "error": None}]}

    def failure_update(self, call: ToolCallTask, error: BaseException) -> ToolAgentState:
        return {"results": [_failed(call, error)]}

    def request(self, state: ToolAgentState) -> dict[str, Any]:
        """Everything the agent is shown this turn: what policies key a cache on and dead letters keep."""
        return {"input": state["input"], "turns": state.get("turns", []), "results": self.transcript(state)}

    async def ask(self, state: ToolAgentState, context: AgentContext) -> ToolAgentState:
        """One model turn with the tools bound, under the run's policies, like `call_agent`."""
        agent = self.agent
        chat = (agent.model or context.model).bind_tools(
            [t.schema for t in self.tools], tool_choice=self.tool_choice(state)
        )
        messages = self.messages(state)

        async def attempt() -> ToolAgentState:
            reply = await ask_model(
                chat, messages, who=agent.name, meter=context.usage, priced_as=agent.model or context.model
            )
            return self.turn_update(state, reply)

        if context.policies is None:
            return await attempt()
        return await protected_call(context.policies, agent.name, agent.name, self.request(state), attempt)

    async def call(self, call: ToolCallTask, context: AgentContext) -> ToolAgentState:
        """One tool call; whatever it raises is the node's error, answered by `failure_update`."""
        return self.result_update(call, await self.by_name[call["tool"]].run(call["arguments"], context))


def recursion_limit(max_tool_calls: int) -> int:
    """The input step, a model step and a tool step per call at most, the answer, and headroom."""
    return 2 * max_tool_calls + 4


# -- builder -----------------------------------------------------------------


def build_tool_agent(
    *,
    agent: Agent[Any],
    tools: Sequence[ToolLike],
    max_tool_calls: int = DEFAULT_MAX_TOOL_CALLS,
    force_tool: str | None = None,
    checkpointer: Any = None,
    retry_policy: RetryPolicy | None = DEFAULT_RETRY,
) -> PatternGraph:
    """agent -> (each tool it calls, in parallel -> agent)* -> answer; run with `recursion_limit(max_tool_calls)`.

    The input is `{"input": {...}}`, the agent's payload. The agent's step is named
    after it and each tool's after the tool, so step records and usage name them.

    Args:
        agent: Asked with its tools bound until it answers with its output model
            (validated like `call_agent`'s replies; a malformed one is retried).
        tools: Functions, LangChain tools, or `as_tool(...)` of agents and flows;
            their names must differ, and differ from the agent's.
        max_tool_calls: The most tool calls in a run, over all turns; a turn asking
            for more fails the run with `ToolBudgetExceeded`.
        force_tool: Make the first turn call a tool: `"any"`, or a tool's name
            (the provider's `tool_choice`); None lets the agent choose.
        checkpointer: A LangGraph checkpointer; each model turn and tool call is saved.
        retry_policy: The node retry for model calls and for tools' transient
            failures; None when `AgentPolicies.retry` retries.

    Example:
        ```python
        def lookup(city: str) -> float:
            \"""The population of a city, in millions.\"""
            return POPULATION[city]

        graph = build_tool_agent(agent=analyst, tools=[lookup], max_tool_calls=5)
        state = await graph.ainvoke({"input": {"question": "..."}}, context=AgentContext(model=model))
        state["result"]["answer"], state["result"]["tool_calls"]
        ```
    """
    if isinstance(tools, str | bytes) or not isinstance(tools, Sequence):
        raise UsageError("build_tool_agent needs tools=[function, ...], a list")
    flow = ToolAgent(agent, tuple(as_tool(t) for t in tools), max_tool_calls, force_tool)
    me = agent.name

    async def ask(state: ToolAgentState, runtime: Runtime[AgentContext]) -> Command[str]:
        update = await flow.ask(state, runtime.context)
        return Command(goto=flow.next_steps(update), update=update)

    async def call(state: ToolCallTask, runtime: Runtime[AgentContext]) -> ToolAgentState:
        return await flow.call(state, runtime.context)

    def record_failure(state: ToolCallTask, error: NodeError) -> Command[str]:
        """A tool that raised (after its retries): its error goes back to the agent as the result.

        The explicit `goto` matters when every call of a turn fails: no finished
        tool step would then wake the agent.
        """
        return Command(goto=me, update=flow.failure_update(state, error.error))

    graph = StateGraph(ToolAgentState, input_schema=PayloadInput, context_schema=AgentContext)
    # The agent may also go back to itself (a turn that called no existing tool): not
    # declared, because a loop on one node is what graph layouts cannot draw.
    graph.add_node(me, ask, retry_policy=retry_policy, destinations=(*flow.by_name, END))
    for tool in flow.tools:
        graph.add_node(
            tool.name,
            call,
            input_schema=ToolCallTask,
            retry_policy=retry_policy if tool.retried else None,
            error_handler=record_failure,
        )
        graph.add_edge(tool.name, me)
    graph.add_edge(add_input(graph, PayloadInput), me)
    return graph.compile(checkpointer=checkpointer, name="tools")


def _shape(args: Mapping[str, Any]) -> dict[str, Any]:
    """The step bound follows the declared `max_tool_calls`."""
    bound = recursion_limit(args.get("max_tool_calls", DEFAULT_MAX_TOOL_CALLS))
    return {"recursion_limit": lambda _state: bound}


SPEC = PatternSpec(
    name="tools",
    summary="one agent calls tools (functions, agents, flows) in a bounded loop until it answers",
    input_model=PayloadInput,
    output_model=ToolAgentOutput,
    state_type=ToolAgentState,
    build=build_tool_agent,
    recursion_limit=lambda _state: recursion_limit(DEFAULT_MAX_TOOL_CALLS),
    shape=_shape,
)
