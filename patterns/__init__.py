"""Multi-agent orchestration patterns on LangGraph, with durable checkpoints.

The package is laid out by role:

- `patterns.flows`: the patterns, one module each, every builder taking the user's agents;
- `patterns.runtime`: `Agent`, `call_agent`, checkpoints, `arun` and `RunResult`;
- `patterns.presets`: the canonical flows, built with those builders, and the registry;
- `patterns.testing`: the scripted model and its OpenAI-compatible server;
- `patterns.resilience`, `patterns.flow_control`, `patterns.coordination`: the toolkit;
- `patterns.cli`: the `orch` command.

This module re-exports what most users need. Nothing here imports AutoGen,
CrewAI or Semantic Kernel, and nothing is imported until it is used (PEP 562):
`import patterns` (and so `orch --help`) does not load LangGraph; `patterns.arun`
does, the first time it is looked up.

```python
import asyncio
from patterns import arun, resolve_model

result = asyncio.run(arun("pipeline", model=resolve_model(), checkpoint="memory"))
print(result.output)
```
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers and IDEs read; at run time `__getattr__` imports on first use
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
        CustomEvent,
        ModelToken,
        PatternSpec,
        RunEvent,
        RunResult,
        StateUpdate,
        StepEvent,
        StepFinished,
        StepRecord,
        StepStarted,
        arun,
        astream,
        call_agent,
        open_checkpointer,
        resolve_model,
    )
    from patterns.testing import FaultPolicy, LatencyPolicy, ScriptedBrain, ScriptedChatModel

#: Where each export lives; `tests/test_time_travel.py` checks it against `__all__` and the modules.
_HOMES = {
    "patterns.errors": ("OrchError", "UsageError"),
    "patterns.flows": (
        "Debate",
        "Refinement",
        "Turn",
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
        "with_guardrails",
    ),
    "patterns.presets": ("PATTERNS",),
    "patterns.resilience": ("AgentPolicies",),
    "patterns.runtime": (
        "DEFAULT_CHECKPOINT_URL",
        "DEFAULT_RETRY",
        "Agent",
        "AgentContext",
        "CustomEvent",
        "ModelToken",
        "PatternSpec",
        "RunEvent",
        "RunResult",
        "StateUpdate",
        "StepEvent",
        "StepFinished",
        "StepRecord",
        "StepStarted",
        "arun",
        "astream",
        "call_agent",
        "open_checkpointer",
        "resolve_model",
    ),
    "patterns.testing": ("FaultPolicy", "LatencyPolicy", "ScriptedBrain", "ScriptedChatModel"),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "DEFAULT_CHECKPOINT_URL",
    "DEFAULT_RETRY",
    "PATTERNS",
    "Agent",
    "AgentContext",
    "AgentPolicies",
    "CustomEvent",
    "Debate",
    "FaultPolicy",
    "LatencyPolicy",
    "ModelToken",
    "OrchError",
    "PatternSpec",
    "Refinement",
    "RunEvent",
    "RunResult",
    "ScriptedBrain",
    "ScriptedChatModel",
    "StateUpdate",
    "StepEvent",
    "StepFinished",
    "StepRecord",
    "StepStarted",
    "Turn",
    "UsageError",
    "arun",
    "approval_step",
    "as_tool",
    "astream",
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


def __getattr__(name: str) -> Any:
    """Import an export on first use, and keep it (later look-ups do not come here)."""
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'patterns' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
