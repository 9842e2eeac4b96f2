"""HandoffProtocol.deliver: acknowledgement, fallback on reject/timeout/error, escalation."""

from __future__ import annotations

import asyncio

import pytest

from patterns.coordination import (
    CapabilityReceiver,
    HandoffAck,
    HandoffFailed,
    HandoffMessage,
    HandoffProtocol,
    Receiver,
)
from patterns.errors import UsageError

from ._builders import make_message

FAST = HandoffProtocol(ack_timeout_seconds=0.05)


def _message(**overrides: object) -> HandoffMessage:
    base: dict[str, object] = {"context__constraints__required_capabilities": ["json_schema_validation"]}
    return make_message(**{**base, **overrides})


def _validator(name: str, *caps: str, **kwargs: float) -> CapabilityReceiver:
    return CapabilityReceiver(name, frozenset(caps or ("json_schema_validation",)), **kwargs)


async def _never_answers(message: HandoffMessage) -> HandoffAck:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def _crashes(message: HandoffMessage) -> HandoffAck:
    raise RuntimeError("disk full")


async def test_target_accepts() -> None:
    message = _message()
    outcome = await FAST.deliver(message, {"content-validator": _validator("content-validator")})
    assert outcome.ok and outcome.accepted_by == "content-validator" and not outcome.escalated
    assert [(a.agent, a.status) for a in outcome.attempts] == [("content-validator", "accepted")]
    assert outcome.message == message
    assert outcome.attempts[0].latency_seconds >= 0
    assert outcome.raise_for_failure() is outcome


async def test_rejected_routes_to_next_candidate_with_error_context() -> None:
    candidates: dict[str, Receiver] = {
        "content-validator": _validator("content-validator", "xml_validation"),
        "backup-validator": _validator("backup-validator"),
    }
    outcome = await FAST.deliver(_message(), candidates)
    assert outcome.accepted_by == "backup-validator"
    first, second = outcome.attempts
    assert (first.status, second.status) == ("rejected", "accepted")
    assert first.reason is not None and "json_schema_validation" in first.reason
    assert outcome.message is not None
    assert outcome.message.to_agent == "backup-validator"
    error = outcome.message.context.error_context
    assert error is not None and error.failed_agent == "content-validator"
    assert error.error.startswith("rejected:") and error.attempted == ("content-validator",)


async def test_ack_timeout_routes_to_next_candidate() -> None:
    outcome = await HandoffProtocol(ack_timeout_seconds=0.02).deliver(
        _message(), {"content-validator": _never_answers, "backup-validator": _validator("backup-validator")}
    )
    assert [a.status for a in outcome.attempts] == ["timeout", "accepted"]
    assert outcome.attempts[0].reason == "no acknowledgement within 0.02 s"
    assert outcome.attempts[0].latency_seconds >= 0.015  # it waited for the acknowledgement first


async def test_ack_wait_never_exceeds_the_task_timeout() -> None:
    message = _message(context__constraints__timeout_seconds=0.01)
    outcome = await HandoffProtocol(ack_timeout_seconds=30).deliver(
        message, {"content-validator": _never_answers}
    )
    assert outcome.attempts[0].status == "timeout"
    assert outcome.attempts[0].latency_seconds < 1.0


async def test_receiver_errors_and_bad_acks_fall_back() -> None:
    async def wrong_id(message: HandoffMessage) -> HandoffAck:
        return HandoffAck(handoff_id="other", status="handoff_accepted", agent=message.to_agent)

    async def wrong_type(message: HandoffMessage) -> object:
        return {"status": "handoff_accepted"}

    async def raises_timeout(message: HandoffMessage) -> HandoffAck:
        raise TimeoutError("backend timed out")

    def sync_ok(message: HandoffMessage) -> HandoffAck:
        return HandoffAck.accept(message)

    outcome = await FAST.deliver(
        _message(),
        {
            "content-validator": _crashes,
            "b": wrong_id,
            "c": wrong_type,  # type: ignore[dict-item]
            "d": raises_timeout,
            "e": sync_ok,
        },
    )
    assert [a.status for a in outcome.attempts] == ["error", "error", "error", "error", "accepted"]
    reasons = [a.reason or "" for a in outcome.attempts]
    assert reasons[0] == "RuntimeError: disk full"
    assert "acknowledged handoff 'other'" in reasons[1]
    assert "expected a HandoffAck" in reasons[2]
    assert reasons[3] == "TimeoutError: backend timed out"
    assert outcome.accepted_by == "e"


async def test_ack_signed_by_another_agent_is_an_error() -> None:
    async def impostor(message: HandoffMessage) -> HandoffAck:
        return HandoffAck.accept(message, agent="someone-else")

    outcome = await FAST.deliver(_message(), {"content-validator": impostor})
    assert outcome.attempts[0].status == "error"
    assert not outcome.ok


async def test_escalates_when_all_reject() -> None:
    seen: list[HandoffMessage] = []

    async def human_queue(message: HandoffMessage) -> HandoffAck:
        seen.append(message)
        return HandoffAck.accept(message, reason="queued for review")

    protocol = HandoffProtocol(
        ack_timeout_seconds=0.05, escalation=human_queue, escalation_agent="human-review"
    )
    candidates: dict[str, Receiver] = {
        "content-validator": _validator("content-validator", "ocr"),
        "b": _never_answers,
        "c": _crashes,
    }
    outcome = await protocol.deliver(_message(), candidates)
    assert outcome.ok and outcome.escalated and outcome.accepted_by == "human-review"
    assert [(a.agent, a.status, a.escalation) for a in outcome.attempts] == [
        ("content-validator", "rejected", False),
        ("b", "timeout", False),
        ("c", "error", False),
        ("human-review", "accepted", True),
    ]
    (escalated,) = seen
    assert escalated.to_agent == "human-review"
    assert escalated.context.error_context is not None
    assert escalated.context.error_context.attempted == ("content-validator", "b", "c")


async def test_escalation_may_go_back_to_the_sender() -> None:
    async def orchestrator(message: HandoffMessage) -> HandoffAck:
        return HandoffAck.accept(message)

    protocol = HandoffProtocol(
        ack_timeout_seconds=0.05, escalation=orchestrator, escalation_agent="document-extractor"
    )
    outcome = await protocol.deliver(_message(), {"content-validator": _crashes})
    assert outcome.accepted_by == "document-extractor"


async def test_failed_escalation_and_no_escalation() -> None:
    async def busy(message: HandoffMessage) -> HandoffAck:
        return HandoffAck.reject(message, "no reviewers on shift")

    rejecting = {"content-validator": _validator("content-validator", "ocr")}
    outcome = await HandoffProtocol(ack_timeout_seconds=0.05, escalation=busy).deliver(_message(), rejecting)
    assert outcome.escalated and not outcome.ok and outcome.message is None
    assert outcome.attempts[-1].reason == "no reviewers on shift"

    outcome = await FAST.deliver(_message(), rejecting)
    assert not outcome.ok and not outcome.escalated and len(outcome.attempts) == 1
    with pytest.raises(HandoffFailed, match="accepted by no agent; tried content-validator \\(rejected"):
        outcome.raise_for_failure()


async def test_sender_is_never_a_fallback() -> None:
    called: list[str] = []

    async def sender(message: HandoffMessage) -> HandoffAck:
        called.append(message.to_agent)
        return HandoffAck.accept(message)

    outcome = await FAST.deliver(_message(), {"document-extractor": sender, "content-validator": _crashes})
    assert not outcome.ok and called == []
    assert [a.agent for a in outcome.attempts] == ["content-validator"]


async def test_target_must_be_a_candidate() -> None:
    with pytest.raises(UsageError, match="pass its receiver in candidates"):
        await FAST.deliver(_message(), {"someone": _crashes})


def test_protocol_options_are_checked() -> None:
    with pytest.raises(UsageError, match="ack_timeout_seconds"):
        HandoffProtocol(ack_timeout_seconds=0)
    with pytest.raises(UsageError, match="escalation_agent"):
        HandoffProtocol(escalation_agent=" ")


async def test_cancellation_is_not_swallowed() -> None:
    task = asyncio.create_task(
        HandoffProtocol(ack_timeout_seconds=10).deliver(
            _message(), {"content-validator": _never_answers, "b": _validator("b")}
        )
    )
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_capability_receiver_checks_constraints() -> None:
    message = _message(
        context__constraints__required_capabilities=["JSON schema validator", "pii_redaction"],
        context__constraints__timeout_seconds=5,
    )
    receiver = CapabilityReceiver("content-validator", frozenset({"json_schema_validation", "pii_redaction"}))
    assert receiver.rejection_reason(message) is None

    partial = CapabilityReceiver("content-validator", frozenset({"json_schema_validation"}))
    assert "lacks required capabilities ['pii_redaction']" in (partial.rejection_reason(message) or "")

    slow = CapabilityReceiver(
        "content-validator", frozenset({"json_schema_validation", "pii_redaction"}), min_timeout_seconds=30
    )
    assert slow.rejection_reason(message) == "needs at least 30 s but the handoff allows 5 s"

    elsewhere = CapabilityReceiver("other", frozenset({"json_schema_validation", "pii_redaction"}))
    assert "addressed to 'content-validator'" in (elsewhere.rejection_reason(message) or "")

    with pytest.raises(UsageError):
        CapabilityReceiver(" ", frozenset())


async def test_receiver_object_needs_only_acknowledge() -> None:
    class Minimal:
        async def acknowledge(self, message: HandoffMessage) -> HandoffAck:
            return HandoffAck.accept(message)

    outcome = await FAST.deliver(_message(), {"content-validator": Minimal()})  # type: ignore[dict-item]
    assert outcome.accepted_by == "content-validator"
