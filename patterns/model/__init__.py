"""The scripted chat model: deterministic agents, seeded latency and faults, accounting."""

from patterns.model.brain import ScriptedBrain
from patterns.model.chat_model import ScriptedChatModel
from patterns.model.faults import FaultPolicy, LatencyPolicy
from patterns.usage import AgentUsage, UsageLedger

__all__ = ["AgentUsage", "FaultPolicy", "LatencyPolicy", "ScriptedBrain", "ScriptedChatModel", "UsageLedger"]
