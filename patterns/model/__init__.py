"""The scripted chat model: deterministic agents, seeded latency and faults, accounting."""

from patterns.model.accounting import AgentUsage, UsageLedger
from patterns.model.brain import ScriptedBrain
from patterns.model.chat_model import ScriptedChatModel
from patterns.model.faults import FaultPolicy, LatencyPolicy

__all__ = ["AgentUsage", "FaultPolicy", "LatencyPolicy", "ScriptedBrain", "ScriptedChatModel", "UsageLedger"]
