"""Handing a task from one agent to another with its full context, and making sure someone took it.

BRIEF "Agent Handoff Protocol Design": a `HandoffMessage` carries the conversation,
artifacts, metadata, error context and constraints; it is validated strictly where it
enters (`parse_handoff`). The target answers with a `HandoffAck` (`handoff_accepted` or
`handoff_rejected`) after checking it can do the work within the constraints
(`CapabilityReceiver` does that check). `HandoffProtocol.deliver` waits for the
acknowledgement with a timeout, falls back to the next candidate on rejection, timeout
or error, escalates to an orchestrator or human last, and returns a `HandoffOutcome`
that records every attempt. In a LangGraph flow, a node calls `deliver` and routes with
`Command(goto=outcome.accepted_by, ...)`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Protocol, Self, TypeAlias, runtime_checkable
from uuid import uuid4

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    StrictFloat,
    StrictInt,
    StringConstraints,
    ValidationError,
    model_validator,
)

from patterns.coordination.capabilities import canonical_capability
from patterns.errors import OrchError, UsageError

__all__ = [
    "AckStatus",
    "Artifact",
    "AttemptStatus",
    "CapabilityReceiver",
    "ConversationTurn",
    "ErrorContext",
    "HandoffAck",
    "HandoffAttempt",
    "HandoffConstraints",
    "HandoffContext",
    "HandoffFailed",
    "HandoffMessage",
    "HandoffMetadata",
    "HandoffOutcome",
    "HandoffProtocol",
    "HandoffReceiver",
    "InvalidHandoff",
    "Receiver",
    "parse_handoff",
]

_log = logging.getLogger(__name__)

AckStatus: TypeAlias = Literal["handoff_accepted", "handoff_rejected"]
AttemptStatus: TypeAlias = Literal["accepted", "rejected", "timeout", "error"]

_Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
_Text = Annotated[str, StringConstraints(min_length=1)]
_Unit = Annotated[StrictFloat, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
_Count = Annotated[StrictInt, Field(ge=0)]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _not_a_number(value: object) -> object:
    # pydantic reads bare numbers as Unix times; a handoff must state its instant and offset.
    if isinstance(value, int | float):
        raise ValueError(
            "give an ISO 8601 timestamp with an offset, e.g. '2026-02-08T10:30:00Z', not a number"
        )
    return value


def _as_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


_Instant = Annotated[AwareDatetime, BeforeValidator(_not_a_number), AfterValidator(_as_utc)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _OpenModel(BaseModel):
    """A part of the message that may carry extra, application-defined JSON fields."""

    model_config = ConfigDict(frozen=True, extra="allow")
    __pydantic_extra__: dict[str, JsonValue] = Field(init=False)


class ConversationTurn(_Model):
    """One message of the dialogue up to the handoff; `name` tells agents apart."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str
    name: _Name | None = None


class HandoffConstraints(_OpenModel):
    """Limits the receiver must work within; extra keys (JSON values) are kept as given.

    `required_capabilities` names what the receiver must be able to do (matched with
    `canonical_capability`), `budget_tokens` caps its spending, `quality_threshold` is
    the minimum acceptable score of its result.
    """

    timeout_seconds: Annotated[StrictFloat, Field(gt=0.0, allow_inf_nan=False)]
    max_retries: _Count
    required_capabilities: tuple[_Name, ...] = ()
    budget_tokens: _Count | None = None
    quality_threshold: _Unit | None = None


class ErrorContext(_Model):
    """Why this handoff is a recovery: who failed, how, and who was already tried."""

    failed_agent: _Name
    error: _Text
    attempted: tuple[_Name, ...] = ()


class HandoffContext(_Model):
    """What the receiver needs to continue: history, state, task, constraints, past failure."""

    conversation_history: tuple[ConversationTurn, ...]
    current_state: _Text
    task_description: _Text
    constraints: HandoffConstraints
    error_context: ErrorContext | None = None


class Artifact(_Model):
    """An intermediate result passed along, e.g. an extracted document as JSON."""

    type: _Name
    format: _Name
    content: JsonValue


class HandoffMetadata(_OpenModel):
    """Session, user and quality figures; extra keys (JSON values) are kept as given."""

    session_id: _Name
    user_id: _Name | None = None
    confidence_score: _Unit
    tokens_used: _Count


class HandoffMessage(_Model):
    """The handoff message of BRIEF; `handoff_id` (generated if absent) ties acks to it."""

    handoff_id: _Name = Field(default_factory=lambda: uuid4().hex)
    from_agent: _Name
    to_agent: _Name
    handoff_timestamp: _Instant
    context: HandoffContext
    artifacts: tuple[Artifact, ...] = ()
    metadata: HandoffMetadata


class InvalidHandoff(OrchError, ValueError):
    """A handoff message failed validation; `problems` lists (field path, message) pairs."""

    def __init__(self, problems: tuple[tuple[str, str], ...]) -> None:
        self.problems = problems
        listed = "; ".join(f"{path}: {msg}" for path, msg in problems)
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(
            f"invalid handoff message, {len(problems)} {noun}: {listed}. Fix these fields and resend."
        )


def parse_handoff(data: str | bytes | bytearray | Mapping[str, Any]) -> HandoffMessage:
    """Validate a handoff message from JSON text or an already decoded mapping.

    Raises `InvalidHandoff`, whose one-line message lists every field at fault.
    """
    try:
        if isinstance(data, str | bytes | bytearray):
            return HandoffMessage.model_validate_json(data)
        if isinstance(data, Mapping):
            return HandoffMessage.model_validate(data)
    except ValidationError as exc:
        raise InvalidHandoff(
            tuple((".".join(str(p) for p in err["loc"]) or "<message>", err["msg"]) for err in exc.errors())
        ) from exc
    raise UsageError(f"parse_handoff takes JSON text or a mapping, got {type(data).__name__}")


class HandoffAck(_Model):
    """The target's answer to a handoff: accepted, or rejected with a reason."""

    handoff_id: _Name
    status: AckStatus
    agent: _Name
    reason: str | None = None
    at: _Instant = Field(default_factory=_utc_now)

    @model_validator(mode="after")
    def _rejection_needs_reason(self) -> Self:
        if self.status == "handoff_rejected" and not (self.reason and self.reason.strip()):
            raise ValueError("a rejected handoff needs a reason, so the sender can pick a better agent")
        return self

    @classmethod
    def accept(
        cls, message: HandoffMessage, *, agent: str | None = None, reason: str | None = None
    ) -> HandoffAck:
        """Accept `message`, as its `to_agent` unless `agent` is given."""
        return cls(
            handoff_id=message.handoff_id,
            status="handoff_accepted",
            agent=agent or message.to_agent,
            reason=reason,
        )

    @classmethod
    def reject(cls, message: HandoffMessage, reason: str, *, agent: str | None = None) -> HandoffAck:
        """Reject `message` and say why."""
        return cls(
            handoff_id=message.handoff_id,
            status="handoff_rejected",
            agent=agent or message.to_agent,
            reason=reason,
        )


@runtime_checkable
class HandoffReceiver(Protocol):
    """An agent that can be handed work: it declares capabilities and acknowledges handoffs."""

    @property
    def capabilities(self) -> Collection[str]: ...

    async def acknowledge(self, message: HandoffMessage) -> HandoffAck: ...


Receiver: TypeAlias = HandoffReceiver | Callable[[HandoffMessage], Awaitable[HandoffAck] | HandoffAck]
"""A receiver object, or a function (async or not) from message to acknowledgement."""


@dataclass(frozen=True)
class CapabilityReceiver:
    """A receiver that accepts exactly the handoffs it can serve within their constraints.

    It rejects a message addressed to another agent, one requiring a capability it lacks,
    and one whose `timeout_seconds` is below `min_timeout_seconds` (the least time it
    needs). Subclass or wrap it to add checks of your own.
    """

    name: str
    capabilities: frozenset[str]
    min_timeout_seconds: float = 0.0

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise UsageError("CapabilityReceiver needs a non-empty agent name")
        # A list or set passed at run time (e.g. read from config) still ends up immutable.
        object.__setattr__(self, "capabilities", frozenset(self.capabilities))

    def rejection_reason(self, message: HandoffMessage) -> str | None:
        """Why this agent cannot take `message`, or None when it can."""
        if message.to_agent != self.name:
            return f"addressed to {message.to_agent!r}, not to {self.name!r}"
        have = {canonical_capability(c) for c in self.capabilities}
        missing = [
            c
            for c in message.context.constraints.required_capabilities
            if canonical_capability(c) not in have
        ]
        if missing:
            return f"lacks required capabilities {missing}; has {sorted(self.capabilities)}"
        timeout = message.context.constraints.timeout_seconds
        if timeout < self.min_timeout_seconds:
            return f"needs at least {self.min_timeout_seconds:g} s but the handoff allows {timeout:g} s"
        return None

    async def acknowledge(self, message: HandoffMessage) -> HandoffAck:
        reason = self.rejection_reason(message)
        if reason is None:
            return HandoffAck.accept(message, agent=self.name)
        return HandoffAck.reject(message, reason, agent=self.name)


class HandoffAttempt(_Model):
    """One try at handing off: to whom, what came back, why, and how long it took."""

    agent: str
    status: AttemptStatus
    reason: str | None = None
    latency_seconds: float
    escalation: bool = False


class HandoffOutcome(_Model):
    """Every attempt of one `deliver` call, who accepted (if anyone) and what they received."""

    handoff_id: str
    attempts: tuple[HandoffAttempt, ...]
    accepted_by: str | None
    escalated: bool
    message: HandoffMessage | None = None

    @property
    def ok(self) -> bool:
        """True when some agent (or the escalation target) accepted the handoff."""
        return self.accepted_by is not None

    def raise_for_failure(self) -> HandoffOutcome:
        """Return self if accepted, else raise `HandoffFailed`."""
        if not self.ok:
            raise HandoffFailed(self)
        return self


class HandoffFailed(OrchError):
    """Nobody accepted a handoff, escalation included; `outcome` has every attempt."""

    def __init__(self, outcome: HandoffOutcome) -> None:
        self.outcome = outcome
        tried = ", ".join(f"{a.agent} ({a.status}: {a.reason})" for a in outcome.attempts) or "nobody"
        super().__init__(
            f"handoff {outcome.handoff_id} was accepted by no agent; tried {tried}. "
            "Add a capable candidate or configure HandoffProtocol(escalation=...)"
        )


@dataclass(frozen=True)
class HandoffProtocol:
    """Delivers a handoff to its target, with fallbacks and a last-resort escalation.

    Each acknowledgement is awaited for at most `ack_timeout_seconds`, and never longer
    than the message's own `timeout_seconds`. The escalation receiver (an orchestrator
    or a human queue) is addressed as `escalation_agent`.
    """

    ack_timeout_seconds: float = 5.0
    escalation: Receiver | None = None
    escalation_agent: str = "orchestrator"

    def __post_init__(self) -> None:
        if not self.ack_timeout_seconds > 0:
            raise UsageError(f"ack_timeout_seconds must be > 0, got {self.ack_timeout_seconds}")
        if not self.escalation_agent.strip():
            raise UsageError("escalation_agent must be a non-empty agent name")

    async def deliver(self, message: HandoffMessage, candidates: Mapping[str, Receiver]) -> HandoffOutcome:
        """Hand `message` to `candidates[message.to_agent]`, then to the other candidates in order.

        The sender itself is never a fallback. Each fallback receives the message
        readdressed to it, with `error_context` saying who failed and why. If nobody
        accepts and an escalation receiver is set, it gets the message last.
        """
        if message.to_agent not in candidates:
            raise UsageError(
                f"the target {message.to_agent!r} is not among the candidates {sorted(candidates)}; "
                "pass its receiver in candidates"
            )
        blank = [name for name in candidates if not name.strip()]
        if blank:
            raise UsageError("candidate names must be non-empty agent names")
        order = [message.to_agent] + [
            name for name in candidates if name not in (message.to_agent, message.from_agent)
        ]
        timeout = min(self.ack_timeout_seconds, message.context.constraints.timeout_seconds)
        attempts: list[HandoffAttempt] = []
        current = message
        for name in order:
            if attempts:
                current = _readdress(message, name, attempts)
            attempt = await _attempt(name, candidates[name], current, timeout, escalation=False)
            attempts.append(attempt)
            if attempt.status == "accepted":
                return HandoffOutcome(
                    handoff_id=message.handoff_id,
                    attempts=tuple(attempts),
                    accepted_by=name,
                    escalated=False,
                    message=current,
                )
            _log.warning(
                "handoff %s to %s failed (%s: %s)", message.handoff_id, name, attempt.status, attempt.reason
            )

        if self.escalation is None:
            return HandoffOutcome(
                handoff_id=message.handoff_id, attempts=tuple(attempts), accepted_by=None, escalated=False
            )
        current = _readdress(message, self.escalation_agent, attempts)
        attempt = await _attempt(self.escalation_agent, self.escalation, current, timeout, escalation=True)
        attempts.append(attempt)
        accepted = attempt.status == "accepted"
        return HandoffOutcome(
            handoff_id=message.handoff_id,
            attempts=tuple(attempts),
            accepted_by=self.escalation_agent if accepted else None,
            escalated=True,
            message=current if accepted else None,
        )


def _readdress(message: HandoffMessage, agent: str, attempts: list[HandoffAttempt]) -> HandoffMessage:
    last = attempts[-1]
    error = ErrorContext(
        failed_agent=last.agent,
        error=f"{last.status}: {last.reason or 'no reason given'}",
        attempted=tuple(a.agent for a in attempts),
    )
    context = message.context.model_copy(update={"error_context": error})
    return message.model_copy(update={"to_agent": agent, "context": context})


async def _attempt(
    agent: str, receiver: Receiver, message: HandoffMessage, timeout: float, *, escalation: bool
) -> HandoffAttempt:
    start = time.perf_counter()
    status: AttemptStatus
    reason: str | None
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            ack = await _acknowledge(receiver, message)
    except TimeoutError as exc:
        if deadline.expired():
            status, reason = "timeout", f"no acknowledgement within {timeout:g} s"
        else:
            status, reason = "error", _describe(exc)
    except Exception as exc:  # a broken receiver must not stop the fallback chain
        status, reason = "error", _describe(exc)
    else:
        status, reason = _check_ack(ack, agent, message)
    return HandoffAttempt(
        agent=agent,
        status=status,
        reason=reason,
        latency_seconds=time.perf_counter() - start,
        escalation=escalation,
    )


async def _acknowledge(receiver: Receiver, message: HandoffMessage) -> object:
    # Duck-typed on `acknowledge` alone: a receiver without `capabilities` still works here.
    acknowledge = getattr(receiver, "acknowledge", None)
    result = acknowledge(message) if callable(acknowledge) else receiver(message)  # type: ignore[operator]
    return await result if inspect.isawaitable(result) else result


def _check_ack(ack: object, agent: str, message: HandoffMessage) -> tuple[AttemptStatus, str | None]:
    if not isinstance(ack, HandoffAck):
        return "error", f"receiver returned {type(ack).__name__}, expected a HandoffAck"
    if ack.handoff_id != message.handoff_id:
        return "error", f"acknowledged handoff {ack.handoff_id!r}, expected {message.handoff_id!r}"
    if ack.agent != agent:
        return "error", f"acknowledged by {ack.agent!r} on behalf of {agent!r}"
    if ack.status == "handoff_accepted":
        return "accepted", ack.reason
    return "rejected", ack.reason


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
