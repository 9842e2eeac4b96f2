"""One agent call: render the prompt, ask the model, parse and validate the reply.

Patterns never talk to a model any other way, so every agent in every flow gets
the same prompt format, the same JSON parsing and the same error on a reply it
cannot use (`MalformedOutput`, which the node retry policy treats as transient).
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import get_runtime
from langgraph.types import RetryPolicy
from pydantic import BaseModel, ValidationError

from patterns import prompts
from patterns.errors import MalformedOutput, is_transient
from patterns.resilient import AgentPolicies, protected_call

__all__ = ["DEFAULT_RETRY", "AgentContext", "AgentPolicies", "PatternGraph", "call_agent", "parse_reply"]

T = TypeVar("T", bound=BaseModel)

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)


async def call_agent(
    model: BaseChatModel | AgentContext,
    role: str,
    payload: dict[str, Any],
    schema: type[T],
    *,
    name: str | None = None,
    policies: AgentPolicies | None = None,
) -> T:
    """Ask agent `name` (default: the role) with `payload`; return its validated reply.

    The call runs under `policies` (see `patterns.resilient`): the ones given, or
    those of `model` when it is an `AgentContext`, or, inside a graph run, those of
    the run's `AgentContext` when its model is `model`. Without any, it is one
    plain model call.
    """
    if isinstance(model, AgentContext):
        policies = policies or model.policies
        model = model.model
    else:
        policies = policies or _run_policies(model)
    chat_model = model
    agent = name or role
    system, user = prompts.render(role, payload, name=name)

    async def attempt() -> T:
        message = await chat_model.ainvoke([SystemMessage(system), HumanMessage(user)])
        return parse_reply(message, schema, agent=agent)

    if policies is None:
        return await attempt()
    return await protected_call(policies, agent, role, payload, attempt)


def _run_policies(model: BaseChatModel) -> AgentPolicies | None:
    # Pattern nodes pass `runtime.context.model`; the policies ride along in the same context.
    try:
        context = getattr(get_runtime(), "context", None)
    except (RuntimeError, KeyError):  # not inside a graph run
        return None
    if isinstance(context, AgentContext) and context.model is model:
        return context.policies
    return None


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


@dataclass(frozen=True, slots=True)
class AgentContext:
    """What every node of every pattern graph gets at run time: the model to ask,
    and optionally the `AgentPolicies` every agent call runs under.

    Passed as LangGraph run context (`graph.ainvoke(input, config, context=...)`),
    not baked into the graph, so one compiled graph serves the scripted model and
    a real one, and the model never ends up in a checkpoint. When `policies.retry`
    is set, build the graph with `retry_policy=None` so attempts do not multiply.
    Use one context per run: its `slots` bound concurrency within that run.
    """

    model: BaseChatModel
    policies: AgentPolicies | None = None
    _slots: dict[str, asyncio.Semaphore] = field(default_factory=dict, init=False, repr=False, compare=False)

    def slots(self, key: str, limit: int) -> asyncio.Semaphore:
        """The semaphore of `limit` slots this run's tasks share under `key` (made on first use)."""
        if key not in self._slots:
            self._slots[key] = asyncio.Semaphore(limit)
        return self._slots[key]


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
