"""Scatter-gather: one question fanned out to N source agents, merged by an aggregator.

For research over independent sources. Each source runs as its own `Send`
branch, in parallel, with its own retries; a source that still fails is
recorded by the node's error handler instead of failing the flow. The flow
succeeds while at least `quorum` sources answered, and reports which did not.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, TypedDict

from langgraph.errors import NodeError
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command, RetryPolicy, Send
from pydantic import BaseModel, Field, model_validator

from patterns.agents import DEFAULT_RETRY, Agent, AgentContext, PatternGraph, call_agent
from patterns.errors import OrchError

__all__ = [
    "Merged",
    "QuorumNotMet",
    "SourceFindings",
    "ScatterGatherInput",
    "ScatterGatherOutput",
    "build_scatter_gather",
]


class QuorumNotMet(OrchError):
    """Too few sources answered. Per-source results stay in the checkpoint."""


class Source(BaseModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    documents: list[str]


class ScatterGatherInput(BaseModel):
    question: str = Field(min_length=1)
    sources: list[Source] = Field(min_length=1)
    quorum: int | None = Field(default=None, ge=1, description="Successes needed; default: a majority.")

    @model_validator(mode="after")
    def _check(self) -> ScatterGatherInput:
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError("source names must be unique")
        if self.quorum is not None and self.quorum > len(self.sources):
            raise ValueError(f"quorum {self.quorum} exceeds the number of sources ({len(self.sources)})")
        return self


class Finding(BaseModel):
    text: str
    score: float


class SourceFindings(BaseModel):
    findings: list[Finding]


class MergedFinding(BaseModel):
    text: str
    sources: list[str]
    score: float


class Merged(BaseModel):
    findings: list[MergedFinding]
    summary: str


class SourceFailure(BaseModel):
    source: str
    error: str


class ScatterGatherOutput(BaseModel):
    question: str
    quorum: int
    quorum_met: bool
    sources_ok: list[str]
    sources_failed: list[SourceFailure]
    findings: list[MergedFinding]
    summary: str


class ScatterGatherState(TypedDict, total=False):
    question: str
    sources: list[dict[str, Any]]
    quorum: int | None
    results: Annotated[list[dict[str, Any]], operator.add]
    failures: Annotated[list[dict[str, Any]], operator.add]
    result: dict[str, Any]


class ResearchTask(TypedDict):
    question: str
    source: dict[str, Any]


# -- agent turns (payloads and updates, shared with the adapters) -----------


def research_tasks(state: ScatterGatherState) -> list[ResearchTask]:
    return [{"question": state["question"], "source": source} for source in state["sources"]]


def researcher_payload(task: ResearchTask) -> dict[str, Any]:
    source = task["source"]
    return {"question": task["question"], "source": source["name"], "documents": source["documents"]}


def researcher_update(task: ResearchTask, reply: SourceFindings) -> ScatterGatherState:
    return {"results": [{"source": task["source"]["name"], "findings": reply.model_dump()["findings"]}]}


def failure_update(task: ResearchTask, error: BaseException) -> ScatterGatherState:
    return {"failures": [{"source": task["source"]["name"], "error": f"{type(error).__name__}: {error}"}]}


def aggregator_payload(state: ScatterGatherState) -> dict[str, Any]:
    """The merge request, or `QuorumNotMet` naming every failed source."""
    quorum = _quorum(state)
    results = _sorted(state.get("results", []))
    if len(results) < quorum:
        failed = "; ".join(f"{f['source']} ({f['error']})" for f in _sorted(state.get("failures", [])))
        raise QuorumNotMet(
            f"{len(results)} of {len(state['sources'])} sources answered, quorum is {quorum}; failed: {failed}"
        )
    return {"question": state["question"], "results": results}


def aggregator_update(state: ScatterGatherState, merged: Merged) -> ScatterGatherState:
    results, failures = _sorted(state.get("results", [])), _sorted(state.get("failures", []))
    output = ScatterGatherOutput(
        question=state["question"],
        quorum=_quorum(state),
        quorum_met=len(results) >= _quorum(state),
        sources_ok=[r["source"] for r in results],
        sources_failed=[SourceFailure(**f) for f in failures],
        findings=merged.findings,
        summary=merged.summary,
    )
    return {"result": output.model_dump()}


def _quorum(state: ScatterGatherState) -> int:
    return state.get("quorum") or len(state["sources"]) // 2 + 1


def _sorted(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Branches finish in any order; sort so the aggregator's prompt is the same every run.
    return sorted(entries, key=lambda entry: entry["source"])


# -- nodes -------------------------------------------------------------------


def record_failure(state: ResearchTask, error: NodeError) -> Command[Literal["aggregate"]]:
    """Runs once a source has exhausted its retries: keep the reason, carry on to the merge.

    The explicit `goto` matters when every source fails: no successful branch
    would then trigger `aggregate`, which is what reports the missing quorum.
    """
    return Command(goto="aggregate", update=failure_update(state, error.error))


# -- edges -------------------------------------------------------------------


def scatter(state: ScatterGatherState) -> list[Send]:
    return [Send("research", task) for task in research_tasks(state)]


# -- builder -----------------------------------------------------------------


def build_scatter_gather(
    *,
    researcher: Agent[SourceFindings],
    aggregator: Agent[Merged],
    checkpointer: Any = None,
    retry_policy: RetryPolicy | None = DEFAULT_RETRY,
) -> PatternGraph:
    """START -> research x N (parallel, one per source) -> aggregate.

    Args:
        researcher: Asked once per source of the input, labelled with the source's name.
        aggregator: Merges the findings of the sources that answered.
        checkpointer: A LangGraph checkpointer; each source's findings are saved as they arrive.
        retry_policy: The node retry for model calls; None when `AgentPolicies.retry` retries.

    Example:
        ```python
        graph = build_scatter_gather(researcher=my_researcher, aggregator=my_aggregator)
        ```
    """

    async def research(state: ResearchTask, runtime: Runtime[AgentContext]) -> ScatterGatherState:
        label = state["source"]["name"]
        reply = await call_agent(runtime.context, researcher, researcher_payload(state), label=label)
        return researcher_update(state, reply)

    async def aggregate(state: ScatterGatherState, runtime: Runtime[AgentContext]) -> ScatterGatherState:
        merged = await call_agent(runtime.context, aggregator, aggregator_payload(state))
        return aggregator_update(state, merged)

    graph = StateGraph(ScatterGatherState, context_schema=AgentContext)
    graph.add_node(
        "research",
        research,
        input_schema=ResearchTask,
        retry_policy=retry_policy,
        error_handler=record_failure,
    )
    graph.add_node("aggregate", aggregate, retry_policy=retry_policy)
    graph.add_conditional_edges(START, scatter, ["research"])
    graph.add_edge("research", "aggregate")
    graph.add_edge("aggregate", END)
    return graph.compile(checkpointer=checkpointer, name="scatter_gather")
