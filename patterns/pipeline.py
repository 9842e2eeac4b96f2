"""Sequential pipeline: extract -> validate -> transform, with a validation gate.

For document processing where each stage needs the previous stage's output.
Each stage is a node, so a checkpoint after each one lets an interrupted run
resume at the stage it had reached. Invalid records stop at the gate and come
back with the validator's reasons instead of being transformed.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import RetryPolicy
from pydantic import BaseModel, Field

from patterns.agents import DEFAULT_RETRY, Agent, AgentContext, PatternGraph, call_agent

__all__ = ["Extracted", "PipelineInput", "PipelineOutput", "Record", "Validation", "build_pipeline"]


class PipelineInput(BaseModel):
    document: str = Field(min_length=1, description="The raw invoice text.")


class LineItem(BaseModel):
    description: str
    quantity: int
    unit_price: float


class Extracted(BaseModel):
    invoice_id: str | None
    customer: str | None
    date: str | None
    currency: str | None
    items: list[LineItem]
    total: float | None


class Validation(BaseModel):
    valid: bool
    reasons: list[str]


class Record(BaseModel):
    invoice_id: str
    customer: str
    date: str | None
    currency: str
    items: list[dict[str, Any]]
    total_cents: int
    line_count: int


class PipelineOutput(BaseModel):
    status: Literal["transformed", "rejected"]
    record: dict[str, Any]
    reasons: list[str] = []


class PipelineState(TypedDict, total=False):
    document: str
    extracted: dict[str, Any]
    validation: dict[str, Any]
    result: dict[str, Any]


# -- agent turns (payloads and updates, shared with the adapters) -----------


def extractor_payload(state: PipelineState) -> dict[str, Any]:
    return {"document": state["document"]}


def extractor_update(state: PipelineState, reply: Extracted) -> PipelineState:
    return {"extracted": reply.model_dump()}


def record_payload(state: PipelineState) -> dict[str, Any]:
    """What the validator and the transformer are both given."""
    return {"record": state["extracted"]}


def validator_update(state: PipelineState, reply: Validation) -> PipelineState:
    return {"validation": reply.model_dump()}


def transformer_update(state: PipelineState, reply: Record) -> PipelineState:
    return {"result": PipelineOutput(status="transformed", record=reply.model_dump()).model_dump()}


# -- nodes -------------------------------------------------------------------


def reject(state: PipelineState) -> PipelineState:
    reasons = state["validation"]["reasons"]
    return {
        "result": PipelineOutput(status="rejected", record=state["extracted"], reasons=reasons).model_dump()
    }


# -- edges -------------------------------------------------------------------


def gate(state: PipelineState) -> Literal["transform", "reject"]:
    return "transform" if state["validation"]["valid"] else "reject"


# -- builder -----------------------------------------------------------------


def build_pipeline(
    *,
    extractor: Agent[Extracted],
    validator: Agent[Validation],
    transformer: Agent[Record],
    checkpointer: Any = None,
    retry_policy: RetryPolicy | None = DEFAULT_RETRY,
) -> PatternGraph:
    """extract -> validate -> (transform | reject): three agents, the validator as the gate.

    Args:
        extractor: Reads the document into an `Extracted` record.
        validator: Checks the record; `valid=False` stops the run with its `reasons`.
        transformer: Normalises a valid record into the final `Record`.
        checkpointer: A LangGraph checkpointer; each stage is saved as it finishes.
        retry_policy: The node retry for model calls; None when `AgentPolicies.retry` retries.

    Example:
        ```python
        graph = build_pipeline(extractor=my_extractor, validator=my_validator, transformer=my_transformer)
        state = await graph.ainvoke({"document": text}, context=AgentContext(model=resolve_model()))
        ```
    """

    async def extract(state: PipelineState, runtime: Runtime[AgentContext]) -> PipelineState:
        return extractor_update(state, await call_agent(runtime.context, extractor, extractor_payload(state)))

    async def validate(state: PipelineState, runtime: Runtime[AgentContext]) -> PipelineState:
        return validator_update(state, await call_agent(runtime.context, validator, record_payload(state)))

    async def transform(state: PipelineState, runtime: Runtime[AgentContext]) -> PipelineState:
        return transformer_update(
            state, await call_agent(runtime.context, transformer, record_payload(state))
        )

    graph = StateGraph(PipelineState, context_schema=AgentContext)
    graph.add_node("extract", extract, retry_policy=retry_policy)
    graph.add_node("validate", validate, retry_policy=retry_policy)
    graph.add_node("transform", transform, retry_policy=retry_policy)
    graph.add_node("reject", reject)
    graph.add_edge(START, "extract")
    graph.add_edge("extract", "validate")
    graph.add_conditional_edges("validate", gate, ["transform", "reject"])
    graph.add_edge("transform", END)
    graph.add_edge("reject", END)
    return graph.compile(checkpointer=checkpointer, name="pipeline")
