"""Validation of handoff messages and acknowledgements at the boundary."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from patterns.coordination import HandoffAck, HandoffMessage, InvalidHandoff, parse_handoff
from patterns.errors import OrchError, UsageError

from ._builders import BRIEF_EXAMPLE, brief_dict, make_message


def _paths(exc: InvalidHandoff) -> set[str]:
    return {path for path, _ in exc.problems}


def test_brief_example_parses_from_json_text() -> None:
    message = parse_handoff(json.dumps(BRIEF_EXAMPLE))
    assert message.from_agent == "document-extractor"
    assert message.handoff_timestamp == datetime(2026, 2, 8, 10, 30, tzinfo=UTC)
    assert message.context.constraints.timeout_seconds == 60
    assert message.context.constraints.max_retries == 3
    assert message.artifacts[0].content == BRIEF_EXAMPLE["artifacts"][0]["content"]
    assert message.metadata.confidence_score == pytest.approx(0.92)
    assert message.handoff_id  # generated when the sender gives none


def test_missing_field_is_named() -> None:
    data = brief_dict()
    del data["context"]
    del data["metadata"]["session_id"]
    with pytest.raises(InvalidHandoff) as info:
        parse_handoff(json.dumps(data))
    assert _paths(info.value) == {"context", "metadata.session_id"}
    text = str(info.value)
    assert "\n" not in text
    assert "2 problems" in text and "context: Field required" in text and "resend" in text
    assert isinstance(info.value, OrchError)


def test_model_validate_json_lists_fields_at_fault() -> None:
    data = brief_dict(metadata__confidence_score=1.2, metadata__tokens_used=-1)
    with pytest.raises(ValidationError) as info:
        HandoffMessage.model_validate_json(json.dumps(data))
    locs = {".".join(map(str, e["loc"])) for e in info.value.errors()}
    assert locs == {"metadata.confidence_score", "metadata.tokens_used"}


@pytest.mark.parametrize("score", [-0.01, 1.01, "0.5", None, True])
def test_confidence_out_of_range_or_wrong_type(score: object) -> None:
    with pytest.raises(InvalidHandoff) as info:
        parse_handoff(brief_dict(metadata__confidence_score=score))
    assert _paths(info.value) == {"metadata.confidence_score"}


def test_naive_timestamp_is_rejected() -> None:
    with pytest.raises(InvalidHandoff) as info:
        parse_handoff(json.dumps(brief_dict(handoff_timestamp="2026-02-08T10:30:00")))
    assert _paths(info.value) == {"handoff_timestamp"}
    assert "timezone" in str(info.value)


def test_naive_datetime_object_is_rejected() -> None:
    with pytest.raises(InvalidHandoff):
        parse_handoff(brief_dict(handoff_timestamp=datetime(2026, 2, 8, 10, 30)))


def test_numeric_timestamp_is_rejected() -> None:
    with pytest.raises(InvalidHandoff) as info:
        parse_handoff(json.dumps(brief_dict(handoff_timestamp=1770546600)))
    assert "ISO 8601" in str(info.value)


def test_offset_timestamp_is_normalised_to_utc() -> None:
    message = parse_handoff(json.dumps(brief_dict(handoff_timestamp="2026-02-08T12:30:00+02:00")))
    assert message.handoff_timestamp == datetime(2026, 2, 8, 10, 30, tzinfo=UTC)
    assert message.handoff_timestamp.tzinfo is UTC
    assert '"handoff_timestamp":"2026-02-08T10:30:00Z"' in message.model_dump_json()


@pytest.mark.parametrize(
    ("override", "path"),
    [
        ({"metadata__tokens_used": "1500"}, "metadata.tokens_used"),
        ({"metadata__tokens_used": 1.5}, "metadata.tokens_used"),
        ({"context__constraints__timeout_seconds": 0}, "context.constraints.timeout_seconds"),
        ({"context__constraints__max_retries": -1}, "context.constraints.max_retries"),
        ({"context__task_description": ""}, "context.task_description"),
        ({"to_agent": "   "}, "to_agent"),
        (
            {"context__conversation_history": [{"role": "robot", "content": "x"}]},
            "context.conversation_history.0.role",
        ),
        ({"artifacts": [{"type": "doc", "content": {}}]}, "artifacts.0.format"),
        ({"surprise": 1}, "surprise"),
        ({"context__note": "x"}, "context.note"),
    ],
)
def test_field_level_errors(override: dict[str, object], path: str) -> None:
    with pytest.raises(InvalidHandoff) as info:
        parse_handoff(json.dumps(brief_dict(**override)))
    assert _paths(info.value) == {path}


def test_open_sections_keep_extra_json_fields() -> None:
    message = make_message(
        metadata__preferences={"language": "en"},
        context__constraints__max_cost_usd=0.5,
    )
    assert message.metadata.model_extra == {"preferences": {"language": "en"}}
    assert message.context.constraints.model_extra == {"max_cost_usd": 0.5}
    assert parse_handoff(message.model_dump_json()) == message


def test_json_round_trip() -> None:
    message = make_message(
        context__error_context={"failed_agent": "ocr", "error": "timeout: 30 s", "attempted": ["ocr"]},
        context__constraints__required_capabilities=["json_schema_validation"],
    )
    text = message.model_dump_json()
    again = parse_handoff(text)
    assert again == message
    assert again.model_dump_json() == text
    assert json.loads(text)["handoff_timestamp"] == "2026-02-08T10:30:00Z"


def test_invalid_json_text() -> None:
    with pytest.raises(InvalidHandoff) as info:
        parse_handoff('{"from_agent": ')
    assert _paths(info.value) == {"<message>"}


def test_parse_rejects_other_types() -> None:
    with pytest.raises(UsageError, match="JSON text or a mapping"):
        parse_handoff(42)  # type: ignore[arg-type]


def test_messages_are_frozen() -> None:
    message = make_message()
    with pytest.raises(ValidationError):
        message.to_agent = "someone-else"


def test_ack_rejection_needs_a_reason() -> None:
    message = make_message()
    with pytest.raises(ValidationError, match="needs a reason"):
        HandoffAck(handoff_id=message.handoff_id, status="handoff_rejected", agent="content-validator")
    ack = HandoffAck.reject(message, "schema unknown")
    assert (ack.status, ack.agent, ack.reason) == ("handoff_rejected", "content-validator", "schema unknown")
    assert ack.at.tzinfo is not None


def test_ack_status_is_closed() -> None:
    with pytest.raises(ValidationError):
        HandoffAck(handoff_id="h1", status="maybe", agent="a")  # type: ignore[arg-type]
    assert HandoffAck.accept(make_message(), agent="x").status == "handoff_accepted"
