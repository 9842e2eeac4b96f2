"""`PatternSpec`: a pattern, and a declared flow of it (the pattern with its agents).

Each flow module declares one `SPEC`: the pattern's schemas and builder. A
declared flow is the same spec with the builder's arguments bound
(`SPEC.flow(stages=[...], gate=...)`): framework-neutral, it compiles to a
LangGraph graph (`flow.compile()`), runs with `patterns.arun(flow, ...)`, and
runs on AutoGen, CrewAI and Semantic Kernel with `adapters.run(framework, flow)`,
which read the same arguments. Presets are declared flows with a sample
(`SPEC.preset(...)`); the registry `patterns.presets.PATTERNS` lists them.
Nothing else keeps a per-pattern table, so a new pattern is its flow module,
its preset module and one line in the registry.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from patterns.errors import UsageError
from patterns.runtime._agent import DEFAULT_RETRY, Agent, PatternGraph

__all__ = ["PatternSpec", "State"]

State = Mapping[str, Any]


def _fields(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")


def _default_bound(_state: State) -> int:
    return 10


def _same_schemas(_args: Mapping[str, Any]) -> Mapping[str, Any]:
    return {}


_RUN_ARGS = frozenset({"checkpointer", "retry_policy"})


@dataclass(frozen=True, slots=True, kw_only=True)
class PatternSpec:
    """A pattern's schemas, its graph, its bounds and (for a preset) its sample input.

    Args:
        name: The pattern's name on the command line and in results.
        summary: One line for `orch list`.
        input_model: Validates a run's input; its defaults are the documented ones.
        output_model: Validates the flow's result.
        state_type: The graph's `TypedDict` state, whose reducers the adapters apply too.
        build: `build(checkpointer=..., retry_policy=...)` returns the compiled graph.
        initial_state: The graph's first state from a validated input.
        recursion_limit: LangGraph's step bound from the state (loops grow with their rounds).
        shape: The schemas (input_model, output_model, state_type, initial_state,
            recursion_limit) that differ for some builder arguments, e.g. a panel of
            workers instead of sources: `shape(args) -> {"output_model": ..., ...}`.
        args: A declared flow's builder arguments (agents and rules); empty for the pattern.
        sample: The input `orch run NAME` uses when given none; presets have one.

    Example:
        ```python
        SPEC = PatternSpec(
            name="pipeline",
            summary="stages in order, each given the previous one's output",
            input_model=PipelineInput,
            output_model=PipelineOutput,
            state_type=PipelineState,
            build=build_pipeline,
        )
        flow = SPEC.flow(stages=[drafter, editor], gate=fact_checker)
        graph = flow.compile(checkpointer=saver)
        ```
    """

    name: str
    summary: str
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    state_type: type
    build: Callable[..., PatternGraph]
    initial_state: Callable[[BaseModel], dict[str, Any]] = _fields
    recursion_limit: Callable[[State], int] = _default_bound
    shape: Callable[[Mapping[str, Any]], Mapping[str, Any]] = _same_schemas
    args: Mapping[str, Any] = field(default_factory=dict)
    sample: Mapping[str, Any] | None = None

    def flow(self, *, summary: str | None = None, **args: Any) -> PatternSpec:
        """Declare a flow of this pattern: the builder's arguments, checked now.

        Args:
            summary: One line describing the flow (default: the pattern's).
            **args: What the pattern's `build_<pattern>` takes, but the checkpointer
                and retry policy, which each run chooses.

        Example:
            ```python
            flow = pipeline.SPEC.flow(stages=[drafter, editor], gate=fact_checker)
            result = await patterns.arun(flow, {"input": {"brief": "..."}}, model=model)
            result = await adapters.arun("autogen", flow, {"input": {"brief": "..."}})
            ```
        """
        if self.args:
            raise UsageError(f"{self.name} is already a declared flow; declare yours from the pattern's SPEC")
        taken = sorted(_RUN_ARGS & set(args))
        try:
            inspect.signature(self.build).bind(**args)
        except TypeError as exc:
            raise UsageError(f"{self.name} flow: {exc}") from None
        if taken:
            raise UsageError(f"{self.name} flow: {', '.join(taken)} belong to a run: pass them to compile()")
        declared = dataclasses.replace(self, args=dict(args), summary=summary or self.summary)
        declared.compile()  # the builder's own checks (shapes, names, schemas), at declaration
        return dataclasses.replace(declared, **declared.shape(declared.args))

    def preset(
        self,
        *,
        summary: str,
        sample: Mapping[str, Any],
        input_model: type[BaseModel] | None = None,
        **args: Any,
    ) -> PatternSpec:
        """A declared flow with a sample input: what `orch run NAME` runs."""
        declared = self.flow(summary=summary, **args)
        return dataclasses.replace(declared, sample=sample, input_model=input_model or declared.input_model)

    def agents(self) -> list[Agent[Any]]:
        """Every `Agent` the declared flow's arguments name (stages, workers, routes, desks, ...)."""

        def found(value: Any) -> list[Agent[Any]]:
            if isinstance(value, Agent):
                return [value]
            if isinstance(value, Mapping):
                return [a for v in value.values() for a in found(v)]
            if isinstance(value, list | tuple):
                return [a for v in value for a in found(v)]
            return []

        return found(list(self.args.values()))

    def compile(self, *, checkpointer: Any = None, retry_policy: Any = DEFAULT_RETRY) -> PatternGraph:
        """The flow as a compiled LangGraph graph (`retry_policy=None` when `AgentPolicies` retry)."""
        return self.build(**self.args, checkpointer=checkpointer, retry_policy=retry_policy)
