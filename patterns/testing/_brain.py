"""The scripted model's core, shared by every front end (LangChain, HTTP, framework bridges).

`ScriptedBrain` takes OpenAI-style chat messages and answers them the way the
agent that sent them should be answered. Front ends only translate messages and
sleep: `plan()` says how long and whether this call fails, `finish()` produces
the reply or raises the injected error. Keeping it in one place is what makes a
flow's answer identical in-process and over HTTP, on every framework.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

from pydantic import BaseModel

from patterns.errors import ModelTimeout, PermanentModelError, RateLimited, ServerError
from patterns.runtime import wire
from patterns.runtime._usage import UsageLedger
from patterns.testing._faults import Fault, FaultInjector, FaultPolicy, LatencyPolicy
from patterns.testing._tokens import count_message_tokens, count_tokens

__all__ = ["NoResponder", "Plan", "Reply", "Responder", "ScriptedBrain", "ToolCall"]

Message = Mapping[str, Any]

#: What a scripted agent answers: a pure function of its payload, to a JSON object or a model.
Responder: TypeAlias = Callable[[dict[str, Any]], "dict[str, Any] | BaseModel"]


class NoResponder(PermanentModelError):
    """The scripted model was asked by an agent it has no responder for; retrying cannot help."""


@dataclass(frozen=True, slots=True)
class Plan:
    """What will happen to one call, decided before any waiting."""

    agent: str
    role: str
    delay: float
    fault: Fault | None
    prompt_tokens: int
    prompt_sha: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Reply:
    agent: str
    content: str
    tool_calls: tuple[ToolCall, ...]
    prompt_tokens: int
    completion_tokens: int


@dataclass
class ScriptedBrain:
    """Deterministic answers, seeded latency and faults, per-agent accounting.

    Args:
        responders: What each agent answers, by agent name: `fn(payload) -> dict`.
            None: the presets' responders (`patterns.presets.RESPONDERS`), so the
            shipped flows run with no setup. A call by an agent with no responder
            fails at once with `NoResponder`, naming the agent.
        seed: Seeds latency and fault injection, so a run is reproducible.

    Example:
        ```python
        def expert(payload: dict[str, Any]) -> dict[str, Any]:
            return {"answer": payload["question"].upper(), "confidence": 1.0}

        model = ScriptedChatModel(brain=ScriptedBrain(responders={"expert": expert}))
        ```
    """

    responders: Mapping[str, Responder] | None = None
    seed: int = 0
    latency: LatencyPolicy = field(default_factory=LatencyPolicy)
    faults: FaultPolicy = field(default_factory=FaultPolicy)
    log_path: Path | None = None
    ledger: UsageLedger = field(default_factory=UsageLedger)

    def __post_init__(self) -> None:
        if self.responders is None:
            from patterns.presets import RESPONDERS  # the presets own their domain logic

            self.responders = RESPONDERS
        self._injector = FaultInjector(self.seed, self.latency, self.faults)
        self._log_lock = threading.Lock()

    def plan(self, messages: Sequence[Message]) -> Plan:
        prompt = _find_prompt(messages)
        agent, role = (prompt.name, prompt.role) if prompt else ("unknown", "unknown")
        text = "\n".join(str(m.get("content") or "") for m in messages)
        delay, fault = self._injector.decide(agent, text)
        return Plan(
            agent,
            role,
            delay,
            fault,
            count_message_tokens(messages),
            hashlib.sha256(text.encode()).hexdigest()[:16],
        )

    def finish(
        self,
        plan: Plan,
        messages: Sequence[Message],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: Any = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Reply:
        """The reply to `messages`, or the injected error for this call."""
        if plan.fault in ("timeout", "rate_limit", "server_error"):
            self.ledger.record(plan.agent, 0, 0, failed=True)
            self._log(plan, 0, extra)
            raise _error(plan, self.faults)
        prompt = _find_prompt(messages)
        if prompt is None:
            answer: dict[str, Any] = {
                "error": "the scripted model did not recognise this prompt; render it with "
                "patterns.wire.render so it names its agent and carries an INPUT block"
            }
        else:
            answer = self._answer(plan, prompt)
        content = wire.canonical_json(answer)
        if plan.fault == "malformed":
            content = content[: max(1, len(content) // 2)]  # a reply cut off mid-object
        calls = (
            _tool_calls(answer, tools, tool_choice, f"call_{plan.prompt_sha[:12]}")
            if plan.fault is None
            else ()
        )
        completion = (
            sum(count_tokens(json.dumps(c.arguments)) for c in calls) if calls else count_tokens(content)
        )
        reply = Reply(plan.agent, "" if calls else content, calls, plan.prompt_tokens, completion)
        self.ledger.record(plan.agent, reply.prompt_tokens, reply.completion_tokens)
        self._log(plan, completion, extra)
        return reply

    def _answer(self, plan: Plan, prompt: wire.AgentPrompt) -> dict[str, Any]:
        responder = (self.responders or {}).get(prompt.role)
        if responder is None:
            self.ledger.record(plan.agent, 0, 0, failed=True)
            self._log(plan, 0, None)
            raise NoResponder(
                f"the scripted model has no responder for agent {prompt.role!r}: register one with "
                f"ScriptedBrain(responders={{{prompt.role!r}: fn}}), fn(payload) -> dict",
                agent=plan.agent,
            )
        answer = responder(prompt.payload)
        return answer.model_dump(mode="json") if isinstance(answer, BaseModel) else dict(answer)

    def _log(self, plan: Plan, completion_tokens: int, extra: Mapping[str, Any] | None) -> None:
        if self.log_path is None:
            return
        entry = {
            "agent": plan.agent,
            "role": plan.role,
            "prompt_sha": plan.prompt_sha,
            "prompt_tokens": plan.prompt_tokens,
            "completion_tokens": completion_tokens,
            "fault": plan.fault,
            **(extra or {}),
        }
        line = json.dumps(entry, sort_keys=True) + "\n"
        with self._log_lock, self.log_path.open("a", encoding="utf-8") as handle:
            handle.write(line)  # one write per line: a SIGKILL never leaves half a record


def _find_prompt(messages: Sequence[Message]) -> wire.AgentPrompt | None:
    # Frameworks add their own messages around ours; find the system text that
    # names the agent and the latest message that carries the INPUT block.
    texts = [str(m.get("content") or "") for m in messages if isinstance(m.get("content"), str)]
    for system in texts:
        for user in reversed(texts):
            parsed = wire.parse(system, user)
            if parsed is not None:
                return parsed
    return None


def _error(plan: Plan, faults: FaultPolicy) -> Exception:
    where = f"scripted model, agent {plan.agent!r}"
    if plan.fault == "timeout":
        return ModelTimeout(f"{where}: timed out (injected)", agent=plan.agent)
    if plan.fault == "rate_limit":
        return RateLimited(
            f"{where}: 429 rate limited (injected)", retry_after=faults.retry_after, agent=plan.agent
        )
    return ServerError(f"{where}: 503 service unavailable (injected)", agent=plan.agent)


def _tool_calls(
    answer: dict[str, Any], tools: Sequence[Mapping[str, Any]] | None, tool_choice: Any, call_id: str
) -> tuple[ToolCall, ...]:
    if not tools or tool_choice == "none":
        return ()
    names = [str(t.get("function", t).get("name")) for t in tools]
    target = answer.get("to") if answer.get("action") == "handoff" else None
    if target and f"transfer_to_{target}" in names:
        return (ToolCall(call_id, f"transfer_to_{target}", {"reason": answer.get("reason")}),)
    forced: str | None = None
    if isinstance(tool_choice, Mapping):
        forced = str(tool_choice.get("function", tool_choice).get("name"))
    elif isinstance(tool_choice, str) and tool_choice in names:
        forced = tool_choice
    elif tool_choice in ("required", "any", True):
        forced = names[0]
    if forced is None:
        return ()
    return (ToolCall(call_id, forced, answer),)
