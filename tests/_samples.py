"""Inputs several test modules share, beyond the patterns' own samples."""

from __future__ import annotations

from typing import Any

#: A debate the evidence cannot decide (one claim each, equal weights): a human must.
SPLIT_VOTE: dict[str, Any] = {
    "question": "Which queue should the billing service use?",
    "options": ["kafka", "rabbitmq"],
    "evidence": [
        {"claim": "Kafka keeps a replayable log of every event", "supports": "kafka", "weight": 1},
        {"claim": "RabbitMQ routes messages flexibly per consumer", "supports": "rabbitmq", "weight": 1},
    ],
    "debaters": 2,
    "rounds": 1,
    "voting": "majority",
    "arbitration": "human",
}


def _unattended() -> list[str]:
    from patterns.presets import PATTERNS

    return [name for name in PATTERNS if name not in PAUSES_FOR_A_PERSON]


#: Presets whose sample stops for a person's answer by design (`orch run approval` exits 3);
#: their own tests resume them. Tests that run every preset to its end take the others.
PAUSES_FOR_A_PERSON = frozenset({"approval"})
#: Every preset that runs to its end unattended.
UNATTENDED: list[str] = _unattended()
