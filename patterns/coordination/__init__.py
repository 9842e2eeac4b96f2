"""Agent coordination: handoff protocol and capability registry (BRIEF, "Agent Handoff Protocol Design").

Importing this package is cheap: the semantic embedder loads torch and the model only
when first asked to embed.
"""

from patterns.coordination.capabilities import (
    Capability,
    CapabilityMatch,
    CapabilityRegistry,
    CompositeMatch,
    Embedder,
    EmbedderUnavailable,
    HashingEmbedder,
    MiniLMEmbedder,
    canonical_capability,
)
from patterns.coordination.protocol import (
    AckStatus,
    Artifact,
    AttemptStatus,
    CapabilityReceiver,
    ConversationTurn,
    ErrorContext,
    HandoffAck,
    HandoffAttempt,
    HandoffConstraints,
    HandoffContext,
    HandoffFailed,
    HandoffMessage,
    HandoffMetadata,
    HandoffOutcome,
    HandoffProtocol,
    HandoffReceiver,
    InvalidHandoff,
    Receiver,
    parse_handoff,
)

__all__ = [
    "AckStatus",
    "Artifact",
    "AttemptStatus",
    "Capability",
    "CapabilityMatch",
    "CapabilityReceiver",
    "CapabilityRegistry",
    "CompositeMatch",
    "ConversationTurn",
    "Embedder",
    "EmbedderUnavailable",
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
    "HashingEmbedder",
    "InvalidHandoff",
    "MiniLMEmbedder",
    "Receiver",
    "canonical_capability",
    "parse_handoff",
]
