"""The scripted model's core, shared by every front end (LangChain, HTTP, framework bridges).

`ScriptedBrain` takes OpenAI-style chat messages and answers them the way the
agent that sent them should be answered. Front ends only translate messages and
sleep: `plan()` says how long and whether this call fails, `finish()` produces
the reply or raises the injected error. Keeping it in one place is what makes a
flow's answer identical in-process and over HTTP, on every framework.

A responder calls tools by returning `ToolCall`s instead of an answer; on its
next turn it finds the calls it made and what they returned in its payload,
under `TOOL_RESULTS`, read from the assistant and tool messages of the request.
"""

from __future__ import annotations

import dataclasses
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

__all__ = ["TOOL_RESULTS", "NoResponder", "Plan", "Reply", "Responder", "ScriptedBrain", "ToolCall"]

Message = Mapping[str, Any]

#: What a scripted agent answers: a pure function of its payload, to a JSON object or a model,
#: or to the tool calls it makes instead (one `ToolCall` or a sequence of them).
Responder: TypeAlias = Callable[
    [dict[str, Any]], "dict[str, Any] | BaseModel | ToolCall | Sequence[ToolCall]"
]

#: The payload key under which a responder that called tools finds them on its next turns:
#: `[{"name", "arguments", "content"}, ...]`, oldest first, `content` being the tool message's text.
TOOL_RESULTS = "tool_results"


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
    """A call to a tool: in a reply, or returned by a responder to call it (`ToolCall("lookup", {"key": 1})`).

    A responder leaves `id` empty: the scripted model numbers its calls from the
    prompt's hash, so the same prompt gets the same ids in-process and over HTTP.
    """

    name: str
    arguments: dict[str, Any]
    id: str = ""


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
            fails at once with `NoResponder`, naming the agent. A responder may
            return `ToolCall`s instead, to call the tools the request offers; its
            next payload has their results under `TOOL_RESULTS`.
        seed: Seeds latency and fault injection, so a run is reproducible.

    Example:
        ```python
        def expert(payload: dict[str, Any]) -> dict[str, Any]:
            return {"answer": payload["question"].upper(), "confidence": 1.0}

        def searcher(payload: dict[str, Any]) -> dict[str, Any] | ToolCall:
            done = payload.get(TOOL_RESULTS)  # the calls so far, with what each returned
            if not done:
                return ToolCall("search", {"query": payload["question"]})
            return {"answer": done[0]["content"], "confidence": 1.0}

        model = ScriptedChatModel(brain=ScriptedBrain(responders={"expert": expert, "searcher": searcher}))
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
            answer: dict[str, Any] | tuple[ToolCall, ...] = {
                "error": "the scripted model did not recognise this prompt; render it with "
                "patterns.wire.render so it names its agent and carries an INPUT block"
            }
        else:
            answer = self._answer(plan, prompt, messages)
        call_id = f"call_{plan.prompt_sha[:12]}"
        if isinstance(answer, tuple):
            self._check_offered(plan, tools, tool_choice)
            wanted = tuple(
                c if c.id else dataclasses.replace(c, id=f"{call_id}_{i}") for i, c in enumerate(answer)
            )
            content = wire.canonical_json([{"name": c.name, "arguments": c.arguments} for c in wanted])
        else:
            wanted = _tool_calls(answer, tools, tool_choice, call_id)
            content = wire.canonical_json(answer)
        if plan.fault == "malformed":
            content = content[: max(1, len(content) // 2)]  # a reply cut off mid-object
        calls = wanted if plan.fault is None else ()
        completion = (
            sum(count_tokens(json.dumps(c.arguments)) for c in calls) if calls else count_tokens(content)
        )
        reply = Reply(plan.agent, "" if calls else content, calls, plan.prompt_tokens, completion)
        self.ledger.record(plan.agent, reply.prompt_tokens, reply.completion_tokens)
        self._log(plan, completion, extra)
        return reply

    def _answer(
        self, plan: Plan, prompt: wire.AgentPrompt, messages: Sequence[Message]
    ) -> dict[str, Any] | tuple[ToolCall, ...]:
        responder = (self.responders or {}).get(prompt.role)
        if responder is None:
            raise self._refuse(
                plan,
                NoResponder(
                    f"the scripted model has no responder for agent {prompt.role!r}: register one with "
                    f"ScriptedBrain(responders={{{prompt.role!r}: fn}}), fn(payload) -> dict",
                    agent=plan.agent,
                ),
            )
        payload = prompt.payload
        results = _tool_results(messages)
        if results:
            if TOOL_RESULTS in payload:
                raise self._refuse(
                    plan,
                    PermanentModelError(
                        f"agent {prompt.role!r}'s input has a {TOOL_RESULTS!r} key, where the scripted "
                        "model puts the results of the agent's tool calls: rename it",
                        agent=plan.agent,
                    ),
                )
            payload = {**payload, TOOL_RESULTS: results}
        answer = responder(payload)
        if isinstance(answer, ToolCall):
            return (answer,)
        if isinstance(answer, BaseModel):
            return answer.model_dump(mode="json")
        if isinstance(answer, Mapping):
            return dict(answer)
        return tuple(answer)

    def _check_offered(self, plan: Plan, tools: Sequence[Mapping[str, Any]] | None, tool_choice: Any) -> None:
        # A call to a tool the request does not offer is passed on (a real model may
        # make one; the client should answer it with an error), but a request that
        # offers no tools at all cannot take a call: the responder is scripted wrong.
        if not tools or tool_choice == "none":
            offered = "forbids tool calls (tool_choice='none')" if tools else "offers no tools"
            raise self._refuse(
                plan,
                PermanentModelError(
                    f"the responder for agent {plan.role!r} called tools, but the request {offered}",
                    agent=plan.agent,
                ),
            )

    def _refuse(self, plan: Plan, error: Exception) -> Exception:
        """Count and log a call the scripted model cannot answer; the caller raises the error."""
        self.ledger.record(plan.agent, 0, 0, failed=True)
        self._log(plan, 0, None)
        return error

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


def _tool_results(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Each tool message's text, with the name and arguments of the call it answers (paired by id)."""
    made: dict[str, tuple[Any, Any]] = {}
    results: list[dict[str, Any]] = []
    for message in messages:
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            made[str(call.get("id"))] = (function.get("name"), _arguments(function.get("arguments")))
        if message.get("role") == "tool":
            name, arguments = made.get(str(message.get("tool_call_id")), (None, None))
            results.append(
                {"name": name, "arguments": arguments, "content": str(message.get("content") or "")}
            )
    return results


def _arguments(text: Any) -> Any:
    """A call's arguments as sent (a JSON text), decoded; text that is not JSON is kept as it is."""
    try:
        return json.loads(text)
    except (TypeError, ValueError, RecursionError):
        return text


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
        return (ToolCall(f"transfer_to_{target}", {"reason": answer.get("reason")}, call_id),)
    forced: str | None = None
    if isinstance(tool_choice, Mapping):
        forced = str(tool_choice.get("function", tool_choice).get("name"))
    elif isinstance(tool_choice, str) and tool_choice in names:
        forced = tool_choice
    elif tool_choice in ("required", "any", True):
        forced = names[0]
    if forced is None:
        return ()
    return (ToolCall(forced, answer, call_id),)
