"""The support flow: classify a message, hand it to a desk with acknowledgement, let that desk answer.

    classify -> hand_off -> (billing | technical | ... | general)

`classify` asks the routing pattern's router agent. `hand_off` turns the route
into a required capability (`billing` -> `billing_support`), asks the
capability registry which desks declare it (or, failing that, which declared
capability is semantically closest), and delivers a `HandoffMessage`
through the `HandoffProtocol`: the first capable desk is asked, then the next;
a rejection or a missing acknowledgement moves on, and the general desk takes
whatever nobody else accepted. `Command(goto=...)` sends control to the desk
that accepted, which answers with the full handoff context.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command
from patterns import DEFAULT_RETRY, AgentContext, call_agent
from patterns.coordination import CapabilityRegistry, HandoffMessage, HandoffProtocol, Receiver, parse_handoff
from patterns.presets import ROUTER, SPECIALIST, SUPPORT_ROUTES

from desks import GENERAL

__all__ = [
    "Match",
    "SupportContext",
    "SupportState",
    "build_support",
    "find_desks",
    "handoff_message",
    "requirement_for",
]


@dataclass(frozen=True, slots=True)
class SupportContext(AgentContext):
    """Run context: the model, plus the registry, the desks' receivers and the delivery protocol."""

    registry: CapabilityRegistry | None = None
    receivers: Mapping[str, Receiver] = field(default_factory=dict)
    #: How long the protocol waits for a desk's acknowledgement before trying the next one.
    ack_timeout_seconds: float = 2.0
    #: How long a desk may take over the work once it accepts (a constraint in the message).
    work_timeout_seconds: float = 60.0
    #: The least cosine similarity for a semantic match, when no desk declares the capability exactly.
    min_score: float = 0.5


class SupportState(TypedDict, total=False):
    message: str
    customer: str | None
    session: str
    route: str
    confidence: float
    handoff: dict[str, Any]  # the protocol's outcome: every attempt with its acknowledgement
    result: dict[str, Any]


async def classify(state: SupportState, runtime: Runtime[SupportContext]) -> SupportState:
    """The routing pattern's router agent; a route it does not know goes to the general desk."""
    reply = await call_agent(runtime.context.model, ROUTER, {"message": state["message"]})
    route = reply.route if reply.route in SUPPORT_ROUTES else GENERAL
    return {"route": route, "confidence": reply.confidence}


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


def find_desks(registry: CapabilityRegistry, route: str, message: str, min_score: float) -> Match:
    """Desks able to take `route`: those declaring its capability, else the closest capability's desks.

    The semantic step lets a desk name its capability its own way ("payment_questions"
    for billing); the handoff then requires that capability, which its desks have.
    """
    requirement = requirement_for(route)
    if route == GENERAL:
        return Match(requirement, [], "exact")
    exact = [m.agent for m in registry.match_exact(requirement) if m.agent != GENERAL]
    if exact:
        return Match(requirement, exact, "exact")
    query = f"{requirement.replace('_', ' ')}: {message}"
    for match in registry.match_semantic(query, min_score=min_score):
        if match.agent != GENERAL:
            name = match.capability.name
            desks = [m.agent for m in registry.match_exact(name) if m.agent != GENERAL]
            return Match(name, desks, "semantic")
    return Match(requirement, [], "none")


async def hand_off(state: SupportState, runtime: Runtime[SupportContext]) -> Command[str]:
    ctx = runtime.context
    if ctx.registry is None:
        raise RuntimeError("SupportContext.registry is not set: build one with desks.registry_for()")
    match = find_desks(ctx.registry, state["route"], state["message"], ctx.min_score)
    capable = match.desks
    target = capable[0] if capable else GENERAL
    message = handoff_message(state, target, match.capability, work_timeout_seconds=ctx.work_timeout_seconds)
    if target == GENERAL:
        outcome = await HandoffProtocol(ack_timeout_seconds=ctx.ack_timeout_seconds).deliver(
            message, {GENERAL: ctx.receivers[GENERAL]}
        )
    else:
        # The general desk is the escalation: asked last, once every capable desk said no.
        protocol = HandoffProtocol(
            ack_timeout_seconds=ctx.ack_timeout_seconds,
            escalation=ctx.receivers[GENERAL],
            escalation_agent=GENERAL,
        )
        outcome = await protocol.deliver(message, {name: ctx.receivers[name] for name in capable})
    outcome.raise_for_failure()
    record = outcome.model_dump(mode="json", exclude={"message"})
    record |= {"required_capability": match.capability, "match": match.kind}
    return Command(goto=str(outcome.accepted_by), update={"handoff": record})


def _desk(name: str) -> Any:
    async def answer(state: SupportState, runtime: Runtime[SupportContext]) -> SupportState:
        handoff = state["handoff"]
        payload = {
            "speciality": name,
            "message": state["message"],
            # A desk that took over after a failed attempt knows who was tried before it.
            "previous_attempts": [a for a in handoff["attempts"] if a["agent"] != name],
        }
        reply = await call_agent(runtime.context.model, SPECIALIST, payload, label=name)
        result = {
            "message": state["message"],
            "route": state["route"],
            "confidence": state["confidence"],
            "handoff": handoff,
            "handled_by": name,
            "answer": reply.answer,
        }
        return {"result": result}

    answer.__name__ = name
    return answer


def build_support(desks: list[str], *, checkpointer: Any = None) -> Any:
    """classify -> hand_off -> one node per desk -> END."""
    graph = StateGraph(SupportState, context_schema=SupportContext)
    graph.add_node("classify", classify, retry_policy=DEFAULT_RETRY)
    graph.add_node("hand_off", hand_off, destinations=tuple(desks))
    for name in desks:
        graph.add_node(name, _desk(name), retry_policy=DEFAULT_RETRY)
        graph.add_edge(name, END)
    graph.add_edge(START, "classify")
    graph.add_edge("classify", "hand_off")
    return graph.compile(checkpointer=checkpointer, name="support_router")
