"""Handoff: an agent transfers control, with the whole context, to another agent.

For conversations that move between desks. Each desk is a node that either
answers or returns `Command(goto=desk, update=...)` carrying the conversation
history and the reason, so the next desk starts with everything the last one
knew. The caller names the desks and the agent behind each. Handoffs are bounded
(`max_handoffs`); past the bound, or to a desk that does not exist, control goes
to the fallback desk, which always answers.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from langgraph.graph import END, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command, RetryPolicy
from pydantic import BaseModel, Field
from typing_extensions import TypedDict  # pydantic reads its schema on 3.11 (the server's /schemas)

from patterns.errors import UsageError
from patterns.runtime._agent import DEFAULT_RETRY, Agent, AgentContext, PatternGraph, call_agent
from patterns.runtime._input import INPUT_NODE, add_input
from patterns.runtime._spec import PatternSpec

__all__ = [
    "SPEC",
    "DeskReply",
    "TRANSFER_PREFIX",
    "HandoffInput",
    "HandoffOutput",
    "build_handoff",
    "recursion_limit",
    "reply_from_transfer",
]


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


def desk_update(
    desk: str, state: HandoffState, reply: DeskReply, desks: Sequence[str], entry: str, fallback: str
) -> tuple[str, HandoffState]:
    """Where control goes next (a desk, or END when answered) and what the desk adds to the state."""
    if reply.action == "answer" or desk == fallback:
        answer = reply.answer or "A team member will follow up."
        turn = {"agent": desk, "content": answer}
        output = HandoffOutput(
            answer=answer,
            handled_by=desk,
            handoffs=[Transfer(**h) for h in state.get("handoffs", [])],
            history=[*state.get("history", []), turn],
        )
        return END, {"result": output.model_dump(), "history": [turn]}
    target = reply.to if reply.to is not None and reply.to in desks and reply.to != entry else fallback
    if len(state.get("handoffs", [])) >= state["max_handoffs"]:
        target = fallback
    transfer = Transfer(from_agent=desk, to_agent=target, reason=reply.reason)
    note = {"agent": desk, "content": f"handing off to {target}: {reply.reason}"}
    return target, {"handoffs": [transfer.model_dump()], "history": [note]}


def entry_and_fallback(desks: Mapping[str, Any], entry: str | None, fallback: str | None) -> tuple[str, str]:
    """The desk every conversation starts at (default: the first) and the one that always answers (the last)."""
    names = list(desks)
    first, last = entry or names[0], fallback or names[-1]
    for role, name in (("entry", first), ("fallback", last)):
        if name not in desks:
            raise UsageError(f"{role} desk {name!r} is not one of the desks: {', '.join(names)}")
    return first, last


# -- nodes -------------------------------------------------------------------


def _desk(name: str, agent: Agent[DeskReply], desks: Sequence[str], entry: str, fallback: str) -> Any:
    async def desk(state: HandoffState, runtime: Runtime[AgentContext]) -> Command[str]:
        reply = await call_agent(runtime.context, agent, desk_payload(name, state), label=name)
        goto, update = desk_update(name, state, reply, desks, entry, fallback)
        return Command(goto=goto, update=update)

    desk.__name__ = name
    return desk


# -- builder -----------------------------------------------------------------


def build_handoff(
    *,
    desks: Mapping[str, Agent[DeskReply]],
    entry: str | None = None,
    fallback: str | None = None,
    checkpointer: Any = None,
    retry_policy: RetryPolicy | None = DEFAULT_RETRY,
) -> PatternGraph:
    """entry -> any desk -> ... (each desk answers or hands off via `Command`).

    Args:
        desks: Desk name -> the agent behind it (labelled with the desk's name; one
            agent may staff several desks: it is told the desk as `speciality`). It
            answers or hands off to another desk with a reason. List the desk names
            in its instructions.
        entry: The desk every conversation starts at (never handed back to); default: the first.
        fallback: The desk that always answers: past `max_handoffs`, or for a handoff
            to a desk that does not exist; default: the last.
        checkpointer: A LangGraph checkpointer; each handoff is saved with its context.
        retry_policy: The node retry for model calls; None when `AgentPolicies.retry` retries.

    Example:
        ```python
        graph = build_handoff(desks={"front": greeter, "sales": seller, "help": helper})
        ```
    """
    names = list(desks)
    if len(names) < 2:
        raise UsageError(
            "build_handoff needs at least two desks: desks={'front': Agent(...), 'help': Agent(...)}"
        )
    if INPUT_NODE in desks:
        raise UsageError(f"{INPUT_NODE!r} is the input node's name: give that desk another name")
    first, last = entry_and_fallback(desks, entry, fallback)
    graph = StateGraph(HandoffState, context_schema=AgentContext)
    for name, agent in desks.items():
        others = tuple(d for d in names if d not in (name, first))
        node = _desk(name, agent, names, first, last)
        graph.add_node(name, node, retry_policy=retry_policy, destinations=(*others, END))
    graph.add_edge(add_input(graph, HandoffInput), first)
    return graph.compile(checkpointer=checkpointer, name="handoff")


SPEC = PatternSpec(
    name="handoff",
    summary="desks hand a conversation to each other with full context",
    input_model=HandoffInput,
    output_model=HandoffOutput,
    state_type=HandoffState,
    build=build_handoff,
    recursion_limit=lambda state: recursion_limit(int(state["max_handoffs"])),
)
