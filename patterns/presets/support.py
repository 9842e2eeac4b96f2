"""Customer support, twice: routing to a specialist, and desks handing a conversation to each other.

Both presets classify by keyword evidence (`classify_message`), so a message reaches
the same desk either way; routing sends it once, handoff lets desks pass it on.
"""

from __future__ import annotations

import re
from typing import Any

from langgraph.types import RetryPolicy

from patterns.flows import handoff, routing
from patterns.flows.handoff import DeskReply
from patterns.flows.routing import Answer, Classification
from patterns.runtime import DEFAULT_RETRY, Agent, PatternGraph

__all__ = [
    "HANDOFF_SPEC",
    "RESPONDERS",
    "ROUTER",
    "ROUTING_SPEC",
    "SPECIALIST",
    "SUPPORT",
    "SUPPORT_DESKS",
    "SUPPORT_ROUTES",
    "classify_message",
    "support_handoff",
    "support_routing",
]

Payload = dict[str, Any]


ROUTER = Agent(
    "router",
    "Classify the customer message. Keys: route (billing | technical | general), confidence.",
    output=Classification,
)
SPECIALIST = Agent(
    "specialist", "Answer the customer message within your speciality. Keys: answer.", output=Answer
)
SUPPORT = Agent(
    "support",
    "Handle the customer message if it is within your speciality; otherwise hand off. "
    "Keys: action (answer | handoff), to, reason, answer.",
    output=DeskReply,
)

#: The support presets' routes (routing) and desks (handoff, entered at triage).
SUPPORT_ROUTES = ("billing", "technical", "general")
SUPPORT_DESKS = ("triage", *SUPPORT_ROUTES)


_ROUTE_WORDS: dict[str, frozenset[str]] = {
    "billing": frozenset(
        [
            "invoice",
            "bill",
            "billing",
            "charge",
            "charged",
            "refund",
            "payment",
            "paid",
            "price",
            "subscription",
            "card",
        ]
    ),
    "technical": frozenset(
        [
            "error",
            "crash",
            "bug",
            "install",
            "login",
            "password",
            "broken",
            "slow",
            "api",
            "timeout",
            "update",
            "app",
        ]
    ),
}


def classify_message(message: str) -> tuple[str, float]:
    """Route by keyword evidence; messages with none go to the general desk."""
    words = set(re.findall(r"[a-z]+", message.lower()))
    hits = {route: len(words & vocab) for route, vocab in _ROUTE_WORDS.items()}
    route = max(hits, key=lambda r: (hits[r], r == "billing"))
    total = sum(hits.values())
    if total == 0:
        return "general", 0.5
    return route, round(hits[route] / total, 4)


def _route(payload: Payload) -> Payload:
    route, confidence = classify_message(str(payload.get("message", "")))
    return {"route": route, "confidence": confidence}


_ANSWERS = {
    "billing": "Billing here: I have reviewed the charges on your account and opened a billing case",
    "technical": "Technical support here: I have logged the problem with our engineers and sent reset steps",
    "general": "Thanks for reaching out: I have noted your request and a team member will follow up",
}


def _specialise(payload: Payload) -> Payload:
    speciality = str(payload.get("speciality", "general"))
    topics = sorted(
        set(re.findall(r"[a-z]+", str(payload.get("message", "")).lower()))
        & _ROUTE_WORDS.get(speciality, frozenset())
    )
    about = f" (about: {', '.join(topics)})" if topics else ""
    return {"answer": f"{_ANSWERS.get(speciality, _ANSWERS['general'])}{about}."}


def _support(payload: Payload) -> Payload:
    """A desk agent: answer within its speciality, otherwise hand off once to the right desk."""
    speciality = str(payload.get("speciality", "general"))
    message = str(payload.get("message", ""))
    tried = set(payload.get("visited") or [])
    route, _ = classify_message(message)
    if speciality == "triage" or (route != speciality and route not in tried and speciality != "general"):
        target = route if route not in tried else "general"
        return {"action": "handoff", "to": target, "reason": f"message is about {route}", "answer": None}
    return {
        "action": "answer",
        "to": None,
        "reason": f"within {speciality}",
        "answer": _specialise({"speciality": speciality, "message": message})["answer"],
    }


RESPONDERS = {"router": _route, "specialist": _specialise, "support": _support}


ROUTING_SAMPLE: dict[str, Any] = {
    "message": "I was charged twice on my last invoice and would like a refund."
}

HANDOFF_SAMPLE: dict[str, Any] = {
    "message": "The app shows an error at login and I also want a refund for this month.",
    "max_handoffs": 3,
}


def support_routing(
    *, checkpointer: Any = None, retry_policy: RetryPolicy | None = DEFAULT_RETRY
) -> PatternGraph:
    """Classify a customer message, route it to the billing, technical or general specialist."""
    return ROUTING_SPEC.compile(checkpointer=checkpointer, retry_policy=retry_policy)


def support_handoff(
    *, checkpointer: Any = None, retry_policy: RetryPolicy | None = DEFAULT_RETRY
) -> PatternGraph:
    """Support desks hand a conversation to each other with full context."""
    return HANDOFF_SPEC.compile(checkpointer=checkpointer, retry_policy=retry_policy)


ROUTING_SPEC = routing.SPEC.preset(
    router=ROUTER,
    routes=dict.fromkeys(SUPPORT_ROUTES, SPECIALIST),
    default="general",
    summary="classify a message, route it to the right specialist",
    sample=ROUTING_SAMPLE,
)


HANDOFF_SPEC = handoff.SPEC.preset(
    desks=dict.fromkeys(SUPPORT_DESKS, SUPPORT),
    entry="triage",
    fallback="general",
    summary="desks hand a conversation to each other with full context",
    sample=HANDOFF_SAMPLE,
)
