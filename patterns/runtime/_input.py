"""The first node of every pattern graph: the input, validated, with its documented defaults.

LangGraph's `input_schema=` only shapes the graph's JSON schema: a dict passed
to `graph.ainvoke`, to a parent graph's subgraph node or over the server's API
reaches the nodes as given, missing defaults and all. So each builder starts
its graph with this node, and a graph is correct however it is called, not
only through `arun`. It costs one superstep that calls no model.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import START, StateGraph
from langgraph.pregel import Pregel
from pydantic import BaseModel, ValidationError

from patterns.errors import UsageError

__all__ = ["INPUT_NODE", "PayloadInput", "add_input", "takes_payload"]

INPUT_NODE = "validate_input"


class PayloadInput(BaseModel):
    """The input of a flow over the user's own agents: `{"input": {...}}`, passed to the first agent."""

    input: dict[str, Any]


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "input"
    return f"{where}: {error['msg']}"


def add_input(
    graph: StateGraph[Any, Any, Any, Any], model: type[BaseModel], *, key: str | None = None
) -> str:
    """Add the input node after `START` and return its name, for the builder's next edge.

    Args:
        graph: The pattern's graph, before its other edges from `START`.
        model: The pattern's input model.
        key: The state key holding the input (`"task"`), or `None` when the
            input's fields are the state's own top-level keys.
    """
    fields = list(model.model_fields)

    def validate_input(state: Any) -> dict[str, Any]:
        given = state.get(key) if key else {name: state[name] for name in fields if name in state}
        try:
            data = model.model_validate(given or {}).model_dump(mode="json")
        except ValidationError as exc:
            raise UsageError(f"invalid {model.__name__}: {_first_error(exc)}") from None
        # Top-level keys may carry reducers: write back only what was missing.
        return {key: data} if key else {name: value for name, value in data.items() if name not in state}

    graph.add_node(INPUT_NODE, validate_input)
    graph.add_edge(START, INPUT_NODE)
    return INPUT_NODE


def takes_payload(graph: Pregel[Any, Any, Any, Any]) -> bool:
    """Whether a compiled pattern runs the user's agents on `{"input": {...}}` (stages, workers)."""
    builder = getattr(graph, "builder", None)
    return getattr(builder, "input_schema", None) is PayloadInput
