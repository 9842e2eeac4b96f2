"""Multi-agent orchestration patterns on LangGraph, with durable checkpoints.

The package is laid out by role:

- `patterns.flows`: the patterns, one module each, every builder taking the user's agents;
- `patterns.runtime`: `Agent`, `call_agent`, checkpoints, `arun` and `RunResult`;
- `patterns.presets`: the canonical flows, built with those builders, and the registry;
- `patterns.testing`: the scripted model and its OpenAI-compatible server;
- `patterns.resilience`, `patterns.flow_control`, `patterns.coordination`: the toolkit;
- `patterns.cli`: the `orch` command.

This module re-exports what most users need. Nothing here imports AutoGen,
CrewAI or Semantic Kernel.

```python
import asyncio
from patterns import arun, resolve_model

result = asyncio.run(arun("pipeline", model=resolve_model(), checkpoint="memory"))
print(result.output)
```
"""

from patterns.errors import OrchError, UsageError
from patterns.flows import (
    Debate,
    Refinement,
    Turn,
    approval_step,
    as_tool,
    build_debate,
    build_handoff,
    build_map_reduce,
    build_orchestrator,
    build_pipeline,
    build_refinement,
    build_routing,
    build_scatter_gather,
    build_supervisor,
    build_tool_agent,
    with_guardrails,
)
from patterns.presets import PATTERNS
from patterns.resilience import AgentPolicies
from patterns.runtime import (
    DEFAULT_CHECKPOINT_URL,
    DEFAULT_RETRY,
    Agent,
    AgentContext,
    PatternSpec,
    RunResult,
    StepRecord,
    arun,
    call_agent,
    open_checkpointer,
    resolve_model,
)
from patterns.testing import FaultPolicy, LatencyPolicy, ScriptedBrain, ScriptedChatModel

__all__ = [
    "DEFAULT_CHECKPOINT_URL",
    "DEFAULT_RETRY",
    "PATTERNS",
    "Agent",
    "AgentContext",
    "AgentPolicies",
    "Debate",
    "FaultPolicy",
    "LatencyPolicy",
    "OrchError",
    "PatternSpec",
    "Refinement",
    "RunResult",
    "ScriptedBrain",
    "ScriptedChatModel",
    "StepRecord",
    "Turn",
    "UsageError",
    "arun",
    "approval_step",
    "as_tool",
    "build_debate",
    "build_handoff",
    "build_map_reduce",
    "build_orchestrator",
    "build_pipeline",
    "build_refinement",
    "build_routing",
    "build_scatter_gather",
    "build_supervisor",
    "build_tool_agent",
    "call_agent",
    "open_checkpointer",
    "resolve_model",
    "with_guardrails",
]
