"""An agent is a value; one agent call renders its prompt, asks a model, validates the reply.

`Agent(name, instructions, output=Model)` is declared next to its output model,
as the OpenAI Agents SDK and pydantic-ai do; builders take agents, never role
strings. Patterns never talk to a model any other way than `call_agent`, so every
agent in every flow gets the same prompt format, the same JSON parsing and the
same error on a reply it cannot use (`MalformedOutput`, which the node retry
policy treats as transient).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeAlias, TypeVar

from langchain_core.callbacks import BaseCallbackManager
from langchain_core.globals import get_llm_cache
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable
from langchain_core.runnables.config import var_child_runnable_config
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import get_runtime
from langgraph.types import RetryPolicy
from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, ValidationError
from pydantic_core import CoreSchema, core_schema

from patterns.errors import MalformedOutput, UsageError, is_transient
from patterns.observability import _hooks as telemetry
from patterns.resilience.policies import AgentPolicies, PolicyFields, protected_call
from patterns.runtime import wire
from patterns.runtime._usage import UsageMeter

if TYPE_CHECKING:
    from patterns.runtime._branches import Branches

__all__ = [
    "DEFAULT_RETRY",
    "Agent",
    "AgentContext",
    "AgentContextFields",
    "Ask",
    "ask_in",
    "ask_model",
    "AgentPolicies",
    "PatternGraph",
    "call_agent",
    "parse_reply",
]

T = TypeVar("T", bound=BaseModel)
OutputT = TypeVar("OutputT", bound=BaseModel)

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Agent(Generic[OutputT]):
    """An agent: who it is, what it is told, what it must answer, and optionally its own model.

    Args:
        name: Identifies the agent on the wire, in step records, usage and policies
            (letters, digits, `_` and `-`). The scripted model picks its responder by it.
        instructions: The agent's system instructions. Name the reply's keys: a real
            model follows them, the scripted model ignores the prose.
        output: The pydantic model every reply is validated against; a reply that does
            not match is `MalformedOutput`, retried like any transient failure.
        model: A chat model for this agent only; None uses the run's model.
        description: What the agent is for, for people and for routers that pick agents.

    Example:
        ```python
        class Answer(BaseModel):
            answer: str
            confidence: float

        expert = Agent("expert", "Answer the question. Keys: answer, confidence.", output=Answer)
        reply = await call_agent(context, expert, {"question": "Why is the sky blue?"})
        ```
    """

    name: str
    instructions: str
    output: type[OutputT]
    model: BaseChatModel | None = None
    description: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not wire.AGENT_NAME.fullmatch(self.name):
            raise UsageError(
                f"agent name {self.name!r} is not a name: use letters, digits, '_' and '-' (e.g. 'reviewer')"
            )
        if not isinstance(self.instructions, str) or not self.instructions.strip():
            raise UsageError(f"agent {self.name!r} needs instructions: a non-empty string")
        if not (isinstance(self.output, type) and issubclass(self.output, BaseModel)):
            raise UsageError(
                f"agent {self.name!r}: output must be a pydantic model class (output=MyReply), not {self.output!r}"
            )
        if self.model is not None and not isinstance(self.model, BaseChatModel):
            raise UsageError(
                f"agent {self.name!r}: model must be a LangChain chat model (e.g. resolve_model(...)), "
                f"not {type(self.model).__name__}"
            )


async def call_agent(
    context: AgentContext | BaseChatModel,
    agent: Agent[OutputT],
    payload: dict[str, Any],
    *,
    label: str | None = None,
    policies: AgentPolicies | None = None,
) -> OutputT:
    """Ask `agent` with `payload`; return its reply validated against `agent.output`.

    Args:
        context: The run's `AgentContext` (a node's `runtime.context`), or a chat model.
        agent: The `Agent` to ask. Its own `model`, when set, is used instead of the run's.
        payload: The agent's input; sent as canonical JSON, so equal inputs are equal prompts.
        label: Names one instance of an agent that runs many times in a flow (a
            source, a debater, a desk); it is shown in the prompt and counted in usage.
        policies: Protections for this call (see `patterns.resilience`); default: the
            context's, or inside a graph run those of the run's `AgentContext`.

    Example:
        ```python
        async def review(state: State, runtime: Runtime[AgentContext]) -> State:
            verdict = await call_agent(runtime.context, reviewer, {"draft": state["draft"]})
            return {"verdict": verdict.model_dump()}
        ```
    """
    if not isinstance(agent, Agent):
        raise UsageError(
            f"call_agent needs an Agent(name, instructions, output=Model), not {type(agent).__name__}"
        )
    meter: UsageMeter | None
    if isinstance(context, AgentContext):
        policies = policies or context.policies
        run_model, meter = context.model, context.usage
    else:
        run_context = _run_context()
        if policies is None and run_context is not None and run_context.model is context:
            # Pattern nodes pass `runtime.context.model`; the policies ride along in the same context.
            policies = run_context.policies
        run_model, meter = context, run_context.usage if run_context is not None else None
    chat_model = agent.model or run_model
    who = label or agent.name
    system, user = wire.render(agent, payload, label=label)
    observed = telemetry.agent_call(who, agent.name, description=agent.description, model=chat_model)

    async def attempt() -> OutputT:
        with observed.attempt() as chat:
            messages = [SystemMessage(system), HumanMessage(user)]
            message = await ask_model(chat_model, messages, who=who, meter=meter)
            chat.reply(message)
            return parse_reply(message, agent.output, agent=who)

    with observed:
        if policies is None:
            return await attempt()
        return await protected_call(policies, who, agent.name, payload, attempt)


def _policy_fields(given: Mapping[str, Any]) -> PolicyFields:
    try:
        return PolicyFields.model_validate(dict(given))
    except ValidationError as exc:
        raise UsageError(f"invalid AgentContext policies: {exc.errors()[0]['msg']}") from None


def _run_context() -> AgentContext | None:
    """The `AgentContext` of the graph run this call is in, if any."""
    try:
        context = getattr(get_runtime(), "context", None)
    except (RuntimeError, KeyError):  # not inside a graph run
        return None
    return context if isinstance(context, AgentContext) else None


async def ask_model(
    model: BaseChatModel | Runnable[Any, Any],
    messages: list[BaseMessage],
    *,
    who: str,
    meter: UsageMeter | None,
    priced_as: BaseChatModel | None = None,
) -> AIMessage:
    """One model call of agent `who`, counted in `meter`: how every agent turn reaches a model.

    A model class that says it `answers_directly` (the scripted model, with its
    `areply`) is called below `ainvoke` when nothing would observe the call:
    inside a graph node whose callback manager has no handlers. LangGraph built
    that manager from the run's callbacks, environment tracing and hooks, so an
    empty one means `ainvoke` would only build run trees nobody reads. Streamed
    tokens (a "messages" stream), tracing and user callbacks all add handlers,
    and then the call goes through `ainvoke` as before.

    Example:
        ```python
        async def summarize(state: State, runtime: Runtime[AgentContext]) -> State:
            messages = [SystemMessage("Summarize."), HumanMessage(state["text"])]
            reply = await ask_model(runtime.context.model, messages, who="summarizer", meter=runtime.context.usage)
            return {"summary": reply.content}
        ```
    """
    message: AIMessage
    try:
        # Read on the class: a bound model (`bind_tools`) forwards attributes, not its kwargs.
        if getattr(type(model), "answers_directly", False) and _unobserved(model):
            message = await getattr(model, "areply")(messages)  # noqa: B009 (typed as any chat model)
        else:
            message = await model.ainvoke(messages)
    except BaseException:
        if meter is not None:
            meter.failed(who)
        raise
    if meter is not None:
        meter.record(who, priced_as or model, message)
    return message


def _unobserved(model: Any) -> bool:
    config = var_child_runnable_config.get()
    callbacks = config.get("callbacks") if config else None
    if not isinstance(callbacks, BaseCallbackManager) or callbacks.handlers:
        return False
    # `ainvoke` would also run the model's own callbacks, rate limiter and cache.
    cache = getattr(model, "cache", None)
    return (
        not getattr(model, "callbacks", None)
        and getattr(model, "rate_limiter", None) is None
        and (cache is False or (cache is None and get_llm_cache() is None))
    )


def parse_reply(message: AIMessage | Any, schema: type[T], *, agent: str) -> T:
    """Validate a model reply against `schema`, from a tool call or from JSON text."""
    tool_calls = getattr(message, "tool_calls", None) or []
    if tool_calls:
        data: Any = tool_calls[0]["args"]
        raw = json.dumps(data)
    else:
        raw = message.content if isinstance(message.content, str) else str(message.content)
        try:
            data = json.loads(_FENCE.sub("", raw).strip())
        except json.JSONDecodeError as exc:
            raise MalformedOutput(
                f"agent {agent!r} replied with invalid JSON ({exc.msg})", raw=raw, agent=agent
            ) from None
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors()[:3]
        )
        raise MalformedOutput(
            f"agent {agent!r} reply does not match {schema.__name__}: {problems}", raw=raw, agent=agent
        ) from None


class AgentContextFields(BaseModel):
    """`AgentContext` as JSON: how LangGraph's server (and Studio) send a run's context.

    The server builds the context of every run from JSON (`context={"model": "scripted"}`)
    and publishes this schema at `/assistants/{id}/schemas`; a live chat model has
    neither form, so over the wire the model travels by name and is resolved when
    the run starts.
    """

    model_config = ConfigDict(extra="forbid", title="AgentContext")

    model: str | None = Field(
        default=None,
        description="The chat model by name, resolved with patterns.runtime.resolve_model: "
        "'scripted' or PROVIDER:MODEL; default $ORCH_MODEL, else the scripted model.",
        examples=["scripted", "openai:gpt-4o-mini"],
    )
    policies: PolicyFields | None = Field(
        default=None, description="Protections every agent call runs under; default none."
    )


@dataclass(frozen=True, slots=True, init=False)
class AgentContext:
    """What every node of every pattern graph gets at run time: the model to ask,
    and optionally the `AgentPolicies` every agent call runs under.

    Passed as LangGraph run context (`graph.ainvoke(input, config, context=...)`),
    not baked into the graph, so one compiled graph serves the scripted model and
    a real one, and the model never ends up in a checkpoint. When `policies.retry`
    is set, build the graph with `retry_policy=None` so attempts do not multiply.
    Use one context per run: its `slots` bound concurrency within that run, and
    its `usage` (a `UsageMeter`) counts that run's agent calls, tokens and cost.

    Args:
        model: A live chat model, or one by name (`"scripted"`, `"openai:gpt-4o-mini"`),
            resolved here with `resolve_model`; None resolves the default ($ORCH_MODEL,
            else the scripted model). The name form is what a JSON context carries.
        policies: `AgentPolicies`, or their JSON form (`PolicyFields` or a mapping of
            its fields); None runs every call unprotected.
        branches: Where a fan-out's branches are asked (`patterns.runtime.Branches`);
            None asks them here. The distributed workers spread them over the cluster.

    Example:
        ```python
        context = AgentContext(model=resolve_model("openai:gpt-4o-mini"))
        context = AgentContext(model="scripted", policies={"timeout": "standard"})
        ```
    """

    model: BaseChatModel
    policies: AgentPolicies | None = None
    branches: Branches | None = None
    _slots: dict[str, asyncio.Semaphore] = field(default_factory=dict, init=False, repr=False, compare=False)
    usage: UsageMeter = field(default_factory=UsageMeter, init=False, repr=False, compare=False)

    def __init__(
        self,
        model: BaseChatModel | str | None = None,
        policies: AgentPolicies | PolicyFields | Mapping[str, Any] | None = None,
        branches: Branches | None = None,
    ) -> None:
        object.__setattr__(self, "model", model)
        object.__setattr__(self, "policies", policies)
        object.__setattr__(self, "branches", branches)
        object.__setattr__(self, "_slots", {})
        object.__setattr__(self, "usage", UsageMeter())
        self.__post_init__()

    def __post_init__(self) -> None:
        # Also run by the generated __init__ of a dataclass subclass that adds fields of its own.
        model: Any = self.model
        policies: Any = self.policies
        if model is None or isinstance(model, str):
            from patterns.runtime._models import resolve_model  # imports the scripted model

            model = resolve_model(model)
        elif not isinstance(model, BaseChatModel):
            raise UsageError(
                f"AgentContext model must be a LangChain chat model or a model name (e.g. 'scripted'), "
                f"not {type(model).__name__}"
            )
        if isinstance(policies, Mapping):
            policies = _policy_fields(policies)
        if isinstance(policies, PolicyFields):
            policies = policies.to_policies()
        elif policies is not None and not isinstance(policies, AgentPolicies):
            raise UsageError(
                f"AgentContext policies must be AgentPolicies or their JSON fields, not {type(policies).__name__}"
            )
        object.__setattr__(self, "model", model)
        object.__setattr__(self, "policies", policies)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        # LangGraph publishes `TypeAdapter(context_schema).json_schema()` as the graph's context
        # schema: the JSON form, validated into a live context.
        def build(fields: AgentContextFields) -> AgentContext:
            return cls(model=fields.model, policies=fields.policies)

        return core_schema.no_info_after_validator_function(build, handler(AgentContextFields))

    def slots(self, key: str, limit: int) -> asyncio.Semaphore:
        """The semaphore of `limit` slots this run's tasks share under `key` (made on first use)."""
        if key not in self._slots:
            self._slots[key] = asyncio.Semaphore(limit)
        return self._slots[key]

    async def ask(
        self, agent: Agent[OutputT], payload: dict[str, Any], *, label: str | None = None
    ) -> OutputT:
        """`call_agent` in this context: the `Ask` a pattern's shared turns are given on LangGraph."""
        return await call_agent(self, agent, payload, label=label)


class Ask(Protocol):
    """Asks an agent once and returns its validated reply: how a pattern's turns reach a model.

    A pattern's turns (payload, call, update) are written once, in its flow module,
    against this: LangGraph nodes pass `ask_in(runtime.context)`; each framework adapter
    passes its own, which calls the model through that framework.
    """

    def __call__(
        self, agent: Agent[OutputT], payload: dict[str, Any], *, label: str | None = None
    ) -> Awaitable[OutputT]: ...


def ask_in(context: AgentContext | BaseChatModel | None) -> Ask:
    """The `Ask` a node gives a pattern's turns: `call_agent` in its run context.

    Resolved at the call, so a turn that asks no agent (a function critic, a
    function stage) runs with no context; one that does gets a `UsageError` saying
    what to pass.
    """

    async def ask(agent: Agent[OutputT], payload: dict[str, Any], *, label: str | None = None) -> OutputT:
        if context is None:
            raise UsageError(
                f"agent {agent.name!r} needs a model: run the graph with context=AgentContext(model=...)"
            )
        return await call_agent(context, agent, payload, label=label)

    return ask


#: Transient model failures (timeouts, 429, 5xx, malformed replies) are retried
#: with exponential backoff and jitter; permanent ones fail the node at once.
DEFAULT_RETRY = RetryPolicy(
    initial_interval=0.05,
    backoff_factor=2.0,
    max_interval=2.0,
    max_attempts=6,
    jitter=True,
    retry_on=is_transient,
)


#: What every pattern builder returns: a compiled graph run with an `AgentContext`.
PatternGraph: TypeAlias = CompiledStateGraph[Any, AgentContext, Any, Any]
