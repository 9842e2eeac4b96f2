"""Factories for valid handoff messages, so each test states only what it changes."""

from __future__ import annotations

import copy
from typing import Any

from patterns.coordination import HandoffMessage

# The example message of BRIEF, "Handoff Message Format", with its elisions filled in.
BRIEF_EXAMPLE: dict[str, Any] = {
    "from_agent": "document-extractor",
    "to_agent": "content-validator",
    "handoff_timestamp": "2026-02-08T10:30:00Z",
    "context": {
        "conversation_history": [
            {"role": "user", "content": "Please process invoice 42."},
            {"role": "assistant", "content": "Extracted 7 fields.", "name": "document-extractor"},
        ],
        "current_state": "extraction_complete",
        "task_description": "Validate extracted content against schema",
        "constraints": {"timeout_seconds": 60, "max_retries": 3},
    },
    "artifacts": [
        {
            "type": "extracted_document",
            "format": "json",
            "content": {"invoice": 42, "total": 99.5, "lines": [{"sku": "A1", "qty": 2}]},
        }
    ],
    "metadata": {
        "session_id": "sess_123",
        "user_id": "user_456",
        "confidence_score": 0.92,
        "tokens_used": 1500,
    },
}


def brief_dict(**overrides: Any) -> dict[str, Any]:
    """A deep copy of the BRIEF example; `a__b=value` sets data["a"]["b"]."""
    data = copy.deepcopy(BRIEF_EXAMPLE)
    for key, value in overrides.items():
        *parents, leaf = key.split("__")
        target = data
        for part in parents:
            target = target[part]
        target[leaf] = value
    return data


def make_message(**overrides: Any) -> HandoffMessage:
    return HandoffMessage.model_validate(brief_dict(**overrides))
