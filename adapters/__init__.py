"""Run the canonical flows on LangGraph, AutoGen, CrewAI or Semantic Kernel: one entry point.

```python
from adapters import run
result = run("crewai", "debate")          # a RunResult, the same type as patterns.arun returns
```

Frameworks are imported only when a flow runs on them (CrewAI alone takes
seconds to import), so `import adapters` stays cheap. A framework whose extra
is not installed gives a `UsageError` saying which extra to install.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
from typing import Any, Protocol

from adapters._common import FlowRun, disable_telemetry, initial_state
from patterns.errors import UsageError
from patterns.presets import PATTERNS
from patterns.runtime import RunResult
from patterns.testing import ScriptedBrain

__all__ = ["FRAMEWORKS", "arun", "run"]

#: framework -> (module, import probe, pip extra)
FRAMEWORKS: dict[str, tuple[str, str, str]] = {
    "langgraph": ("adapters.langgraph", "langgraph", ""),
    "autogen": ("adapters.autogen", "autogen_agentchat", "autogen"),
    "crewai": ("adapters.crewai", "crewai", "crewai"),
    "semantic_kernel": ("adapters.semantic_kernel", "semantic_kernel", "sk"),
}


class _Adapter(Protocol):
    async def run_flow(
        self, pattern: str, state: dict[str, Any], flow: FlowRun, *, base_url: str | None, **options: Any
    ) -> dict[str, Any]: ...


def _load(framework: str) -> _Adapter:
    try:
        module, probe, extra = FRAMEWORKS[framework]
    except KeyError:
        raise UsageError(f"unknown framework {framework!r}; choose one of: {', '.join(FRAMEWORKS)}") from None
    if importlib.util.find_spec(probe) is None:
        raise UsageError(
            f"the {framework} adapter needs its extra: pip install 'orchestration-patterns[{extra}]'"
        )
    disable_telemetry()
    return importlib.import_module(module)  # type: ignore[return-value,unused-ignore]


async def arun(
    framework: str,
    pattern: str,
    input: Any = None,
    *,
    brain: ScriptedBrain | None = None,
    base_url: str | None = None,
    **options: Any,
) -> RunResult:
    """Run `pattern` on `framework` with the scripted model.

    In-process, the framework talks to `brain` through its native model
    interface. With `base_url` (an `orch serve-model` endpoint serving the same
    brain) it talks through its own OpenAI client instead; usage is then read
    from that brain's ledger, so pass the server's brain.
    """
    if pattern not in PATTERNS:
        raise UsageError(f"unknown pattern {pattern!r}; choose one of: {', '.join(PATTERNS)}")
    adapter = _load(framework)
    state = initial_state(pattern, input)
    flow = FlowRun(framework, pattern, brain or ScriptedBrain())
    try:
        final = await adapter.run_flow(pattern, state, flow, base_url=base_url, **options)
    except UsageError:
        raise
    except Exception as exc:  # a flow failure is a result to report, not a crash
        return flow.result(None, error=exc)
    return flow.result(final)


def run(framework: str, pattern: str, input: Any = None, **kwargs: Any) -> RunResult:
    """Synchronous `arun`."""
    return asyncio.run(arun(framework, pattern, input, **kwargs))
