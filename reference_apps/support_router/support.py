"""The support flow: classify a message, hand it to a desk with acknowledgement, let that desk answer.

    classify -> [acknowledged handoff] -> (billing | technical | ... | fallback)

The graph is the library's routing pattern (`patterns.build_routing`), built
from the desks file: a router agent told every desk, and one agent per desk.
A run pauses after `classify` (`interrupt_after`, saved by the checkpointer);
`hand_off` turns the route into a required capability (`billing` ->
`billing_support`), asks the capability registry which desks declare it (or,
failing that, which declared capability is semantically closest), and delivers
a `HandoffMessage` through the `HandoffProtocol`: the first capable desk is
asked, then the next; a rejection or a missing acknowledgement moves on, and
the fallback desk takes whatever nobody else accepted. The run then resumes
with the route set to the desk that accepted, which answers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypedDict

from langgraph.checkpoint.memory import InMemorySaver
from patterns import Agent, AgentContext, build_routing
from patterns.coordination import CapabilityRegistry, HandoffMessage, HandoffProtocol, Receiver, parse_handoff
from patterns.flows.routing import Answer, Classification
from patterns.runtime import PatternGraph

from desks import GENERAL, DeskBook, DeskSpec

__all__ = [
    "Match",
    "SupportContext",
    "SupportState",
    "build_support",
    "desk_agent",
    "find_desks",
    "hand_off",
    "handle",
    "handoff_message",
    "requirement_for",
    "router_agent",
]


@dataclass(frozen=True, slots=True)
class SupportContext(AgentContext):
    """Run context: the model, plus the registry, the desks' receivers and the delivery protocol."""

    registry: CapabilityRegistry | None = None
    receivers: Mapping[str, Receiver] = field(default_factory=dict)
    #: The desk that takes whatever no other desk accepted (the desks file's `fallback`).
    fallback: str = GENERAL
    #: How long the protocol waits for a desk's acknowledgement before trying the next one.
    ack_timeout_seconds: float = 2.0
    #: How long a desk may take over the work once it accepts (a constraint in the message).
    work_timeout_seconds: float = 60.0
    #: The least cosine similarity for a semantic match, when no desk declares the capability exactly.
    min_score: float = 0.5


class SupportState(TypedDict, total=False):
    """One message on its way: what the handoff is made from."""

    message: str
    customer: str | None
    session: str
    route: str
    confidence: float


# -- the agents, declared from the desks file ---------------------------------


def router_agent(book: DeskBook) -> Agent[Classification]:
    """Classifies a message into one of the desks of `book`."""
    lines = []
    for desk in book.desks:
        hints = f" (e.g. {', '.join(desk.keywords)})" if desk.keywords else ""
        lines.append(f"- {desk.name}: {desk.about}{hints}")
    return Agent(
        "router",
        "Classify the customer message: which support desk should answer it. The desks:\n"
        + "\n".join(lines)
        + f"\nA message no other desk fits goes to {book.fallback}. "
        f"Keys: route ({' | '.join(book.names)}), confidence (0 to 1).",
        output=Classification,
        description="picks the desk for a customer message",
    )


def desk_agent(desk: DeskSpec) -> Agent[Answer]:
    """The agent behind one desk: answers within what the desk handles."""
    return Agent(
        desk.name,
        f"You are the {desk.name} desk of a customer support team; you handle {desk.about}. "
        "Answer the customer message within your speciality, in one or two sentences. Keys: answer.",
        output=Answer,
        description=desk.about,
    )


def build_support(book: DeskBook, *, checkpointer: Any = None) -> PatternGraph:
    """The routing pattern over the desks of `book`; a run pauses after `classify` (see `handle`).

    The pause needs a checkpointer; without one, an in-memory one is used.
    """
    return build_routing(
        router=router_agent(book),
        routes={desk.name: desk_agent(desk) for desk in book.desks},
        default=book.fallback,
        checkpointer=InMemorySaver() if checkpointer is None else checkpointer,
    )


# -- the acknowledged handoff -------------------------------------------------


def requirement_for(route: str) -> str:
    """The capability a desk needs to take a message on `route`."""
    return f"{route}_support"


def handoff_message(
    state: SupportState, to_agent: str, capability: str, *, work_timeout_seconds: float
) -> HandoffMessage:
    """The handoff as it goes over the wire, validated by `parse_handoff` like any received message."""
    route, confidence = state["route"], float(state["confidence"])
    wire = {
        "from_agent": "router",
        "to_agent": to_agent,
        "handoff_timestamp": datetime.now(UTC).isoformat(),
        "context": {
            "conversation_history": [
                {"role": "user", "content": state["message"], "name": state.get("customer")}
            ],
            "current_state": f"classified as {route} (confidence {confidence:.2f})",
            "task_description": f"answer the customer's {route} message",
            "constraints": {
                "timeout_seconds": work_timeout_seconds,
                "max_retries": 0,
                "required_capabilities": [capability],
            },
        },
        "metadata": {
            "session_id": state["session"],
            "user_id": state.get("customer"),
            "confidence_score": confidence,
            "tokens_used": 0,
        },
    }
    return parse_handoff(json.dumps(wire))


@dataclass(frozen=True, slots=True)
class Match:
    """Which capability the handoff will require, the desks declaring it, and how it was found."""

    capability: str
    desks: list[str]
    kind: str  # "exact", "semantic" or "none"


def find_desks(
    registry: CapabilityRegistry, route: str, message: str, min_score: float, fallback: str = GENERAL
) -> Match:
    """Desks able to take `route`: those declaring its capability, else the closest capability's desks.

    The semantic step lets a desk name its capability its own way ("payment_questions"
    for billing); the handoff then requires that capability, which its desks have.
    """
    requirement = requirement_for(route)
    if route == fallback:
        return Match(requirement, [], "exact")
    exact = [m.agent for m in registry.match_exact(requirement) if m.agent != fallback]
    if exact:
        return Match(requirement, exact, "exact")
    query = f"{requirement.replace('_', ' ')}: {message}"
    for match in registry.match_semantic(query, min_score=min_score):
        if match.agent != fallback:
            name = match.capability.name
            desks = [m.agent for m in registry.match_exact(name) if m.agent != fallback]
            return Match(name, desks, "semantic")
    return Match(requirement, [], "none")


async def hand_off(state: SupportState, ctx: SupportContext) -> dict[str, Any]:
    """Deliver the classified message to a desk that acknowledges it; the protocol's record of it."""
    if ctx.registry is None:
        raise RuntimeError("SupportContext.registry is not set: build one with desks.registry_for()")
    fallback = ctx.fallback
    match = find_desks(ctx.registry, state["route"], state["message"], ctx.min_score, fallback)
    capable = match.desks
    target = capable[0] if capable else fallback
    message = handoff_message(state, target, match.capability, work_timeout_seconds=ctx.work_timeout_seconds)
    if target == fallback:
        outcome = await HandoffProtocol(ack_timeout_seconds=ctx.ack_timeout_seconds).deliver(
            message, {fallback: ctx.receivers[fallback]}
        )
    else:
        # The fallback desk is the escalation: asked last, once every capable desk said no.
        protocol = HandoffProtocol(
            ack_timeout_seconds=ctx.ack_timeout_seconds,
            escalation=ctx.receivers[fallback],
            escalation_agent=fallback,
        )
        outcome = await protocol.deliver(message, {name: ctx.receivers[name] for name in capable})
    outcome.raise_for_failure()
    record: dict[str, Any] = outcome.model_dump(mode="json", exclude={"message"})
    return record | {"required_capability": match.capability, "match": match.kind}


async def handle(
    graph: PatternGraph, ctx: SupportContext, message: str, *, customer: str | None, session: str
) -> dict[str, Any]:
    """One message through the flow: classify, acknowledged handoff, the accepting desk's answer."""
    config: Any = {"configurable": {"thread_id": session}}
    classified = await graph.ainvoke({"message": message}, config, context=ctx, interrupt_after=["classify"])
    state: SupportState = {
        "message": message,
        "customer": customer,
        "session": session,
        "route": classified["route"],
        "confidence": classified["confidence"],
    }
    record = await hand_off(state, ctx)
    # Resume as if the router had picked the desk that accepted: the routing edge goes there.
    await graph.aupdate_state(config, {"route": record["accepted_by"]}, as_node="classify")
    answered = await graph.ainvoke(None, config, context=ctx)
    return {
        "message": message,
        "route": state["route"],
        "confidence": state["confidence"],
        "handoff": record,
        "handled_by": answered["result"]["handled_by"],
        "answer": answered["result"]["answer"],
    }
