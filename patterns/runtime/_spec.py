"""`PatternSpec`: what the runner, the CLI, the adapters and the benchmarks know about a pattern.

Each flow module declares one `SPEC`; each preset derives its own with
`SPEC.preset(...)`, and the registry `patterns.presets.PATTERNS` lists the
presets. Nothing else keeps a per-pattern table, so a new pattern is its flow
module, its preset module and one line in the registry.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from patterns.runtime._agent import PatternGraph

__all__ = ["PatternSpec", "State"]

State = Mapping[str, Any]


def _fields(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")


def _default_bound(_state: State) -> int:
    return 10


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
        INVOICES = SPEC.preset(invoice_pipeline, summary="an invoice", sample={...})
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
    sample: Mapping[str, Any] | None = None

    def preset(
        self,
        build: Callable[..., PatternGraph],
        *,
        summary: str,
        sample: Mapping[str, Any],
        input_model: type[BaseModel] | None = None,
    ) -> PatternSpec:
        """The same pattern with its agents chosen: `build` takes only the checkpointer and retry policy."""
        return dataclasses.replace(
            self, build=build, summary=summary, sample=sample, input_model=input_model or self.input_model
        )
