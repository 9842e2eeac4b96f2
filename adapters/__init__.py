"""Run a declared flow on LangGraph, AutoGen, CrewAI or Semantic Kernel: one entry point.

A flow is a preset by name or your own declaration (`SPEC.flow(...)` of a
pattern module: your agents, instructions, output schemas, routes, desks); each
framework runs it with its own constructs and returns the same `RunResult`.

```python
from adapters import run
from patterns.flows import routing

result = run("crewai", "debate")          # a preset: a RunResult, the type patterns.arun returns
flow = routing.SPEC.flow(router=triager, routes={"sales": seller, "support": helper})
result = run("autogen", flow, {"message": "How much is the team plan?"})
```

Frameworks are imported only when a flow runs on them (CrewAI alone takes
seconds to import), so `import adapters` stays cheap. A framework whose extra
is not installed gives a `UsageError` saying which extra to install.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
from typing import TYPE_CHECKING, Any, Protocol

from patterns.errors import UsageError

if TYPE_CHECKING:  # the runtime (LangGraph, LangChain) loads when a flow runs, not when `orch` starts
    from adapters._common import FlowRun
    from patterns.resilience import AgentPolicies
    from patterns.runtime import PatternSpec, RunResult
    from patterns.testing import ScriptedBrain

__all__ = ["FRAMEWORKS", "PORTABLE", "arun", "run"]

#: framework -> (module, import probe, pip extra)
FRAMEWORKS: dict[str, tuple[str, str, str]] = {
    "langgraph": ("adapters.langgraph", "langgraph", ""),
    "autogen": ("adapters.autogen", "autogen_agentchat", "autogen"),
    "crewai": ("adapters.crewai", "crewai", "crewai"),
    "semantic_kernel": ("adapters.semantic_kernel", "semantic_kernel", "sk"),
}


#: The patterns every framework adapter runs, any declared flow of them. The newer ones
#: (orchestrator, supervisor, tools, approval and guardrails) run on LangGraph only so far;
#: an adapter asked for one says which it runs.
PORTABLE = ("pipeline", "scatter_gather", "map_reduce", "refinement", "debate", "routing", "handoff")


class _Adapter(Protocol):
    async def run_flow(
        self, state: dict[str, Any], flow: FlowRun, *, base_url: str | None, **options: Any
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
    from adapters._common import disable_telemetry

    disable_telemetry()
    return importlib.import_module(module)  # type: ignore[return-value,unused-ignore]


async def arun(
    framework: str,
    flow: str | PatternSpec,
    input: Any = None,
    *,
    brain: ScriptedBrain | None = None,
    base_url: str | None = None,
    policies: AgentPolicies | None = None,
    **options: Any,
) -> RunResult:
    """Run `flow` (a preset's name or a declared flow) on `framework` with the scripted model.

    In-process, the framework talks to `brain` through its native model
    interface. With `base_url` (an `orch serve-model` endpoint serving the same
    brain) it talks through its own OpenAI client instead; usage is then read
    from that brain's ledger, so pass the server's brain.

    Args:
        framework: "langgraph", "autogen", "crewai" or "semantic_kernel".
        flow: A preset's name ("debate") or a declared flow (`routing.SPEC.flow(...)`).
        input: The flow's input; None runs a preset's sample.
        brain: The scripted model answering every agent (default: the presets' responders).
        base_url: An OpenAI-compatible endpoint serving `brain`, for the framework's own client.
        policies: The kit's protections (retry with budget and Retry-After, timeouts,
            breaker, bulkhead, cache, coalescing) around every agent's model call,
            through the framework's own model interface; None: the framework's own behaviour.
        **options: The adapter's own options (see each adapter's `OPTIONS`).

    Example:
        ```python
        brain = ScriptedBrain(responders={"triager": triage, "seller": sell, "helper": help_})
        result = await arun("semantic_kernel", flow, {"message": "..."}, brain=brain)
        ```
    """
    from adapters._common import FlowRun, flow_input
    from patterns.observability import _hooks as telemetry
    from patterns.runtime import get_flow
    from patterns.testing import ScriptedBrain

    spec = get_flow(flow)
    adapter = _load(framework)
    given = flow_input(spec, input)
    state = spec.initial_state(given)
    flow_run = FlowRun(framework, spec, brain or ScriptedBrain(), policies=policies, input=given)
    _own_models(framework, flow_run, base_url is not None)
    try:
        # The run's span is current while the framework runs, so its own spans (AutoGen's
        # runtime, SK's diagnostics) nest under ours when traces are exported.
        with telemetry.adapter_run(flow_run):
            final = await adapter.run_flow(state, flow_run, base_url=base_url, **options)
    except UsageError:
        raise
    except Exception as exc:  # a flow failure is a result to report, not a crash
        return flow_run.result(None, error=exc)
    return flow_run.result(final)


def _own_models(framework: str, flow_run: FlowRun, over_http: bool) -> None:
    """Check the agents declared with a model of their own before any model call, and count their calls.

    On LangGraph any chat model works (the runner counts it); on the other frameworks a
    scripted one gets a client of its own, and anything else, or any of them over HTTP
    (one endpoint for every agent), is refused rather than ignored.
    """
    own = [agent for agent in flow_run.spec.agents() if agent.model is not None]
    if framework != "langgraph" and over_http and own:
        raise UsageError(
            f"agent {own[0].name!r} has a model of its own: on {framework} via HTTP every agent uses the one "
            "endpoint (base_url=); run in-process, where it gets a client of its own, or on langgraph"
        )
    for agent in own:
        if framework != "langgraph" or hasattr(agent.model, "brain"):
            flow_run.brain_for(agent)


def run(framework: str, flow: str | PatternSpec, input: Any = None, **kwargs: Any) -> RunResult:
    """Synchronous `arun`."""
    return asyncio.run(arun(framework, flow, input, **kwargs))
