"""The wire format between an agent and its model: one system and one user message.

Every framework sends the same two messages, so a flow's answer is the same on
LangGraph, AutoGen, CrewAI and Semantic Kernel, and the scripted model can tell
which agent is asking (from the system message) and what it was given (the
canonical JSON after the `INPUT:` marker). A real model reads the same text.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from patterns.runtime._agent import Agent

__all__ = ["AGENT_NAME", "AgentPrompt", "render", "parse", "canonical_json"]

#: What an agent name (and an instance label) may be: it travels in the system message.
AGENT_NAME = re.compile(r"[A-Za-z0-9_-]+")

_MARKER = "\n\nINPUT:\n"
_HEADER = re.compile(r'^You are the (?P<role>[A-Za-z0-9_-]+) agent(?: "(?P<name>[^"]+)")?\.')


class AgentPrompt:
    """A parsed prompt: which agent (`role`), which instance of it (`name`), and its payload."""

    __slots__ = ("name", "payload", "role")

    def __init__(self, role: str, name: str, payload: dict[str, Any]) -> None:
        self.role = role
        self.name = name
        self.payload = payload


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces variance: equal values, equal prompts."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(", ", ": "))


def render(agent: Agent[Any], payload: dict[str, Any], *, label: str | None = None) -> tuple[str, str]:
    """The (system, user) message texts asking `agent`, optionally one labelled instance of it."""
    shown = f' "{label}"' if label and label != agent.name else ""
    system = f"You are the {agent.name} agent{shown}. {agent.instructions} Reply with one JSON object and nothing else."
    user = f"Do your task on this input.{_MARKER}{canonical_json(payload)}"
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
