"""The wire format between an agent and its model: one system and one user message.

Every framework sends the same two messages, so a flow's answer is the same on
LangGraph, AutoGen, CrewAI and Semantic Kernel, and the scripted model can tell
which agent is asking (from the system message) and what it was given (the
canonical JSON after the `INPUT:` marker). A real model reads the same text.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["ROLES", "AgentPrompt", "render", "parse", "canonical_json"]

#: What each role is told. Keys of the reply are part of the instruction so a
#: real model can follow it; the scripted model ignores the prose.
ROLES: dict[str, str] = {
    "extractor": "Extract the invoice fields from the document. "
    "Keys: invoice_id, customer, date, currency, items [{description, quantity, unit_price}], total.",
    "validator": "Check the extracted invoice record: required fields, a real date, positive quantities, "
    "and line items that add up to the total. Keys: valid (bool), reasons [str].",
    "transformer": "Normalise the validated record: upper-case ids and currency, ISO dates, amounts in cents. "
    "Keys: invoice_id, customer, date, currency, items [{description, quantity, unit_price_cents, "
    "amount_cents}], total_cents, line_count.",
    "researcher": "Find the sentences in your source's documents that answer the question, best first, "
    "at most three. Keys: findings [{text, score}].",
    "aggregator": "Merge the findings of all sources, remove duplicates, keep which sources support each. "
    "Keys: findings [{text, sources, score}], summary.",
    "mapper": "Score the sentiment of each review from -1 to 1 and label it. "
    "Keys: results [{id, score, label}].",
    "reducer": "Combine the partial aggregates into one. "
    "Keys: count, score_sum, mean_sentiment, histogram, most_positive, most_negative.",
    "generator": "Write or revise the draft so it covers every required point within the word limit. "
    "Keys: draft.",
    "critic": "Score the draft from 0 to 1 against the rubric: coverage of the required points, "
    "and the word limit. Keys: score, missing [str], word_count, over_length.",
    "debater": "Take a position on the question from your evidence and your peers' positions. "
    "Keys: position, confidence, argument.",
    "judge": "The debaters did not agree. Weigh all the evidence and decide. Keys: decision, rationale.",
    "router": "Classify the customer message. Keys: route (billing | technical | general), confidence.",
    "specialist": "Answer the customer message within your speciality. Keys: answer.",
    "support": "Handle the customer message if it is within your speciality; otherwise hand off. "
    "Keys: action (answer | handoff), to, reason, answer.",
}

_MARKER = "\n\nINPUT:\n"
_HEADER = re.compile(r'^You are the (?P<role>[a-z_]+) agent(?: "(?P<name>[^"]+)")?\.')


class AgentPrompt:
    """A parsed prompt: who is asking and with what payload."""

    __slots__ = ("name", "payload", "role")

    def __init__(self, role: str, name: str, payload: dict[str, Any]) -> None:
        self.role = role
        self.name = name
        self.payload = payload


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces variance: equal values, equal prompts."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(", ", ": "))


def render(role: str, payload: dict[str, Any], *, name: str | None = None, task: str = "") -> tuple[str, str]:
    """The (system, user) message texts for `role`, optionally a named instance."""
    if role not in ROLES:
        raise KeyError(f"unknown agent role {role!r}; known roles: {', '.join(sorted(ROLES))}")
    label = f' "{name}"' if name and name != role else ""
    system = f"You are the {role} agent{label}. {ROLES[role]} Reply with one JSON object and nothing else."
    user = f"{task or 'Do your task on this input.'}{_MARKER}{canonical_json(payload)}"
    return system, user


def parse(system: str, user: str) -> AgentPrompt | None:
    """Recover role, agent name and payload from a rendered prompt, or None."""
    header = _HEADER.search(system.strip())
    if header is None or _MARKER not in user:
        return None
    try:
        # raw_decode: frameworks may append their own instructions after our INPUT block.
        payload, _end = json.JSONDecoder().raw_decode(user.rsplit(_MARKER, 1)[1])
    except json.JSONDecodeError:
        return None
    if not isinstance(payload, dict):
        return None
    role = header["role"]
    return AgentPrompt(role, header["name"] or role, payload)
