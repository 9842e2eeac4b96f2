"""Handoff: an agent transfers control, with the whole context, to another agent.

For conversations that move between desks. Each desk is a node that either
answers or returns `Command(goto=desk, update=...)` carrying the conversation
history and the reason, so the next desk starts with everything the last one
knew. Handoffs are bounded (`max_handoffs`); past the bound, or to a desk that
does not exist, control goes to the general desk, which always answers.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command, RetryPolicy
from pydantic import BaseModel, Field

from patterns.agents import DEFAULT_RETRY, Agent, AgentContext, PatternGraph, call_agent

__all__ = [
    "DESKS",
    "DeskReply",
    "TRANSFER_PREFIX",
    "HandoffInput",
    "HandoffOutput",
    "build_handoff",
    "recursion_limit",
    "reply_from_transfer",
]

DESKS = ("triage", "billing", "technical", "general")


class HandoffInput(BaseModel):
    message: str = Field(min_length=1)
    max_handoffs: int = Field(default=3, ge=1, le=10)


class DeskReply(BaseModel):
    action: Literal["answer", "handoff"]
    to: str | None = None
    reason: str
    answer: str | None = None


#: Function-calling frameworks hand off through a tool per target desk, named this way.
TRANSFER_PREFIX = "transfer_to_"


def reply_from_transfer(tool_name: str, arguments: Mapping[str, Any]) -> DeskReply:
    """A desk's `transfer_to_X(reason=...)` function call, as the handoff reply it stands for."""
    return DeskReply(
        action="handoff",
        to=tool_name.removeprefix(TRANSFER_PREFIX),
        reason=str(arguments.get("reason") or ""),
    )


class Transfer(BaseModel):
    from_agent: str
    to_agent: str
    reason: str


class HandoffOutput(BaseModel):
    answer: str
    handled_by: str
    handoffs: list[Transfer]
    history: list[dict[str, str]]


class HandoffState(TypedDict, total=False):
    message: str
    max_handoffs: int
    history: Annotated[list[dict[str, str]], operator.add]
    handoffs: Annotated[list[dict[str, str]], operator.add]
    result: dict[str, Any]


def recursion_limit(max_handoffs: int) -> int:
    return max_handoffs + 4


# -- agent turns (payloads and updates, shared with the adapters) -----------


def desk_payload(desk: str, state: HandoffState) -> dict[str, Any]:
    return {
        "speciality": desk,
        "message": state["message"],
        "history": state.get("history", []),
        "visited": [h["to_agent"] for h in state.get("handoffs", [])],
    }


def desk_update(desk: str, state: HandoffState, reply: DeskReply) -> tuple[str, HandoffState]:
    """Where control goes next (a desk, or END when answered) and what the desk adds to the state."""
    if reply.action == "answer" or desk == "general":
        answer = reply.answer or "A team member will follow up."
        turn = {"agent": desk, "content": answer}
        output = HandoffOutput(
            answer=answer,
            handled_by=desk,
            handoffs=[Transfer(**h) for h in state.get("handoffs", [])],
            history=[*state.get("history", []), turn],
        )
        return END, {"result": output.model_dump(), "history": [turn]}
    target = reply.to if reply.to in DESKS and reply.to != "triage" else "general"
    if len(state.get("handoffs", [])) >= state["max_handoffs"]:
        target = "general"
    transfer = Transfer(from_agent=desk, to_agent=target, reason=reply.reason)
    note = {"agent": desk, "content": f"handing off to {target}: {reply.reason}"}
    return target, {"handoffs": [transfer.model_dump()], "history": [note]}


# -- nodes -------------------------------------------------------------------


def _desk(name: str, agent: Agent[DeskReply]) -> Any:
    async def desk(state: HandoffState, runtime: Runtime[AgentContext]) -> Command[str]:
        reply = await call_agent(runtime.context, agent, desk_payload(name, state), label=name)
        goto, update = desk_update(name, state, reply)
        return Command(goto=goto, update=update)

    desk.__name__ = name
    return desk


# -- builder -----------------------------------------------------------------


def build_handoff(
    *,
    desk: Agent[DeskReply],
    checkpointer: Any = None,
    retry_policy: RetryPolicy | None = DEFAULT_RETRY,
) -> PatternGraph:
    """triage -> any desk -> ... (each desk answers or hands off via `Command`).

    Args:
        desk: The agent behind every desk, labelled with the desk's name: it answers
            within the desk's speciality or hands off with a reason.
        checkpointer: A LangGraph checkpointer; each handoff is saved with its context.
        retry_policy: The node retry for model calls; None when `AgentPolicies.retry` retries.

    Example:
        ```python
        graph = build_handoff(desk=my_desk_agent)
        ```
    """
    graph = StateGraph(HandoffState, context_schema=AgentContext, input_schema=HandoffInput)
    for name in DESKS:
        others = tuple(d for d in DESKS if d not in (name, "triage"))
        graph.add_node(name, _desk(name, desk), retry_policy=retry_policy, destinations=(*others, END))
    graph.add_edge(START, "triage")
    return graph.compile(checkpointer=checkpointer, name="handoff")
