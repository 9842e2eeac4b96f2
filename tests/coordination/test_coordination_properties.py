"""Property-based tests: round-trips, cover completeness, bounded delivery attempts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, Literal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patterns.coordination import (
    Artifact,
    CapabilityRegistry,
    ConversationTurn,
    ErrorContext,
    HandoffAck,
    HandoffConstraints,
    HandoffContext,
    HandoffMessage,
    HandoffMetadata,
    HandoffProtocol,
    HashingEmbedder,
    Receiver,
    canonical_capability,
    parse_handoff,
)

_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_names = st.text(st.characters(categories=["L", "N"], include_characters="-_."), min_size=1, max_size=12)
_text = st.text(max_size=40)
_nonempty = st.text(min_size=1, max_size=40)
_json: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)
_extras = st.dictionaries(st.sampled_from(["x_priority", "x_locale", "x_trace"]), _json, max_size=2)
_unit = st.floats(0.0, 1.0)

_turns = st.builds(
    ConversationTurn,
    role=st.sampled_from(["system", "user", "assistant", "tool"]),
    content=_text,
    name=st.none() | _names,
)
_constraints = st.builds(
    lambda extra, **kw: HandoffConstraints(**kw, **extra),
    _extras,
    timeout_seconds=st.floats(1e-3, 1e6),
    max_retries=st.integers(0, 10),
    required_capabilities=st.lists(_names, max_size=3).map(tuple),
    budget_tokens=st.none() | st.integers(0, 10**9),
    quality_threshold=st.none() | _unit,
)
_context = st.builds(
    HandoffContext,
    conversation_history=st.lists(_turns, max_size=4).map(tuple),
    current_state=_nonempty,
    task_description=_nonempty,
    constraints=_constraints,
    error_context=st.none()
    | st.builds(
        ErrorContext, failed_agent=_names, error=_nonempty, attempted=st.lists(_names, max_size=3).map(tuple)
    ),
)
_metadata = st.builds(
    lambda extra, **kw: HandoffMetadata(**kw, **extra),
    _extras,
    session_id=_names,
    user_id=st.none() | _names,
    confidence_score=_unit,
    tokens_used=st.integers(0, 10**9),
)
messages = st.builds(
    HandoffMessage,
    handoff_id=_names,
    from_agent=_names,
    to_agent=_names,
    handoff_timestamp=st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)),
    context=_context,
    artifacts=st.lists(st.builds(Artifact, type=_names, format=_names, content=_json), max_size=3).map(tuple),
    metadata=_metadata,
)


@_SETTINGS
@given(messages)
def test_json_round_trip_is_identity(message: HandoffMessage) -> None:
    text = message.model_dump_json()
    again = parse_handoff(text)
    assert again == message
    assert again.model_dump_json() == text
    assert parse_handoff(message.model_dump(mode="json")) == message


_VOCAB = ["json", "schema", "validation", "document", "extraction", "text", "summary", "format", "csv", "ocr"]
_cap_names = st.lists(st.sampled_from(_VOCAB), min_size=1, max_size=3).map("_".join)


@_SETTINGS
@given(
    team=st.dictionaries(st.sampled_from("abcdef"), st.sets(_cap_names, min_size=1, max_size=3), max_size=5),
    requirements=st.lists(_cap_names.map(lambda n: n.replace("_", " ")), max_size=6),
    min_score=st.floats(0.1, 0.95),
)
def test_composite_covers_every_coverable_requirement(
    team: dict[str, set[str]], requirements: list[str], min_score: float
) -> None:
    registry = CapabilityRegistry(embedder=HashingEmbedder())
    for agent, caps in team.items():
        unique = {canonical_capability(c): c for c in caps}
        registry.declare(agent, sorted(unique.values()))
    result = registry.match_composite(requirements, min_score=min_score)

    wanted = list(dict.fromkeys(requirements))
    for req in wanted:
        coverable = bool(registry.match_exact(req)) or bool(
            registry.match_semantic(req, top_k=10, min_score=min_score)
        )
        assert (req in result.assignments) == coverable
        assert (req in result.uncovered) == (not coverable)
    assert set(result.assignments) | set(result.uncovered) == set(wanted)
    assert len(set(result.agents)) == len(result.agents) <= len(wanted)
    assert {m.agent for m in result.assignments.values()} == set(result.agents)
    for req, match in result.assignments.items():
        if registry.match_exact(req):
            assert match.kind == "exact"
        else:
            assert match.kind == "semantic" and match.score >= min_score


Behaviour = Literal["accept", "reject", "hang", "crash"]
_behaviours = st.sampled_from(["accept", "reject", "hang", "crash"])


def _receiver(behaviour: Behaviour) -> Receiver:
    async def receive(message: HandoffMessage) -> HandoffAck:
        if behaviour == "hang":
            await asyncio.Event().wait()
        if behaviour == "crash":
            raise ValueError("boom")
        if behaviour == "reject":
            return HandoffAck.reject(message, "busy")
        return HandoffAck.accept(message)

    return receive


@settings(max_examples=40, deadline=None)
@given(
    message=messages,
    behaviours=st.lists(_behaviours, min_size=1, max_size=4),
    escalation=st.none() | _behaviours,
)
def test_attempts_are_bounded_and_first_acceptor_wins(
    message: HandoffMessage, behaviours: list[Behaviour], escalation: Behaviour | None
) -> None:
    names = [message.to_agent] + [f"fallback-{i}" for i in range(1, len(behaviours))]
    candidates = {name: _receiver(b) for name, b in zip(names, behaviours, strict=True)}
    protocol = HandoffProtocol(
        ack_timeout_seconds=0.002, escalation=None if escalation is None else _receiver(escalation)
    )
    outcome = asyncio.run(protocol.deliver(message, candidates))

    eligible = [n for n in names if n == message.to_agent or n != message.from_agent]
    assert len(outcome.attempts) <= len(candidates) + 1
    acceptors = [n for n, b in zip(names, behaviours, strict=True) if b == "accept" and n in eligible]
    if acceptors:
        assert outcome.accepted_by == acceptors[0] and not outcome.escalated
        assert [a.agent for a in outcome.attempts] == eligible[: eligible.index(acceptors[0]) + 1]
    else:
        assert outcome.escalated == (escalation is not None)
        assert outcome.ok == (escalation == "accept")
        assert len(outcome.attempts) == len(eligible) + (escalation is not None)
    assert sum(a.status == "accepted" for a in outcome.attempts) == int(outcome.ok)
    assert all(a.escalation == (i == len(eligible)) for i, a in enumerate(outcome.attempts))
