"""Multi-agent orchestration patterns on LangGraph, with durable checkpoints.

Five patterns (pipeline, scatter-gather, map-reduce, refinement loop, debate)
plus conditional routing and handoff, each a builder returning a compiled
graph; a deterministic scripted model to run them offline; one runner that
returns the same `RunResult` for every pattern. Nothing here imports AutoGen,
CrewAI or Semantic Kernel.

```python
import asyncio
from patterns import arun, resolve_model

result = asyncio.run(arun("pipeline", model=resolve_model(), checkpoint="memory"))
print(result.output)
```
"""

from patterns.agents import DEFAULT_RETRY, Agent, AgentContext, call_agent
from patterns.checkpoint import DEFAULT_CHECKPOINT_URL, open_checkpointer
from patterns.debate import build_debate
from patterns.errors import OrchError, UsageError
from patterns.handoff import build_handoff
from patterns.llm import resolve_model
from patterns.map_reduce import build_map_reduce
from patterns.model import FaultPolicy, LatencyPolicy, ScriptedBrain, ScriptedChatModel
from patterns.pipeline import build_pipeline
from patterns.refinement import build_refinement
from patterns.result import RunResult, StepRecord
from patterns.routing import build_routing
from patterns.runner import PATTERNS, arun
from patterns.scatter_gather import build_scatter_gather

__all__ = [
    "DEFAULT_CHECKPOINT_URL",
    "DEFAULT_RETRY",
    "PATTERNS",
    "Agent",
    "AgentContext",
    "FaultPolicy",
    "LatencyPolicy",
    "OrchError",
    "RunResult",
    "ScriptedBrain",
    "ScriptedChatModel",
    "StepRecord",
    "UsageError",
    "arun",
    "build_debate",
    "build_handoff",
    "build_map_reduce",
    "build_pipeline",
    "build_refinement",
    "build_routing",
    "build_scatter_gather",
    "call_agent",
    "open_checkpointer",
    "resolve_model",
]
