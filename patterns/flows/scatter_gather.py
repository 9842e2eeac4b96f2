"""Scatter-gather: one input fanned out to N agents in parallel, then gathered.

Two shapes, one builder. One agent over the input's items (`researcher=` over
`sources`, merged by `aggregator=`): research over independent sources. Or N
different agents on the same input (`workers=[...]`, a panel of experts, each
with its own instructions and model), gathered by `merge=` (a function, an
agent, or None for each worker's answer by name). Each branch is its own `Send`,
in parallel, with its own retries; a branch that still fails is recorded by the
node's error handler instead of failing the flow. The flow succeeds while at
least `quorum` branches answered, and reports which did not.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from langgraph.errors import NodeError
from langgraph.graph import END, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command, RetryPolicy, Send
from pydantic import BaseModel, Field, model_validator
from typing_extensions import TypedDict  # pydantic reads its schema on 3.11 (the server's /schemas)

from patterns.errors import OrchError, UsageError
from patterns.runtime._agent import DEFAULT_RETRY, Agent, AgentContext, Ask, PatternGraph, ask_in, call_agent
from patterns.runtime._input import PayloadInput, add_input
from patterns.runtime._spec import PatternSpec

__all__ = [
    "SPEC",
    "Merged",
    "Panel",
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
    return {"failures": [_failure(task["source"]["name"], error)]}


def _failure(branch: str, error: BaseException) -> dict[str, str]:
    return {"source": branch, "error": f"{type(error).__name__}: {error}"}


def _failed(failures: list[dict[str, Any]]) -> str:
    """The failed branches and why, for a `QuorumNotMet` message."""
    return "; ".join(f"{f['source']} ({f['error']})" for f in failures)


def aggregator_payload(state: ScatterGatherState) -> dict[str, Any]:
    """The merge request, or `QuorumNotMet` naming every failed source."""
    quorum = _quorum(state)
    results = _sorted(state.get("results", []))
    if len(results) < quorum:
        failed = _failed(_sorted(state.get("failures", [])))
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


class PanelOutput(BaseModel):
    """What a panel of workers gives: each answer by worker name, the failures, and the merge."""

    answers: dict[str, dict[str, Any]]
    failed: list[SourceFailure]
    quorum: int
    merged: dict[str, Any] | None = None


class PanelState(TypedDict, total=False):
    input: dict[str, Any]
    answers: Annotated[list[dict[str, Any]], operator.add]
    failures: Annotated[list[dict[str, Any]], operator.add]
    result: dict[str, Any]


class PanelTask(TypedDict):
    input: dict[str, Any]
    worker: str


#: How a panel's answers are gathered: a function of the answers by worker name, or an agent.
Merge = Callable[[dict[str, dict[str, Any]]], dict[str, Any]] | Agent[Any] | None


@dataclass(frozen=True, slots=True)
class Panel:
    """A declared panel of workers: the `workers=` shape of `build_scatter_gather`, checked.

    Its turns (the tasks, each answer or failure, the gather) are shared with the adapters.
    """

    workers: tuple[Agent[Any], ...]
    merge: Merge = None
    quorum: int | None = None

    def __post_init__(self) -> None:
        if not self.workers or len(self.by_name) != len(self.workers):
            raise UsageError("workers must be one or more agents with different names")
        if not 1 <= self.need <= len(self.workers):
            raise UsageError(
                f"quorum {self.need} must be between 1 and the number of workers ({len(self.workers)})"
            )

    @property
    def by_name(self) -> dict[str, Agent[Any]]:
        return {w.name: w for w in self.workers}

    @property
    def need(self) -> int:
        return self.quorum or len(self.workers) // 2 + 1

    def tasks(self, state: PanelState) -> list[PanelTask]:
        return [{"input": state["input"], "worker": w.name} for w in self.workers]

    def answer_update(self, task: PanelTask, reply: BaseModel) -> PanelState:
        return {"answers": [{"worker": task["worker"], "answer": reply.model_dump(mode="json")}]}

    def failure_update(self, task: PanelTask, error: BaseException) -> PanelState:
        return {"failures": [_failure(task["worker"], error)]}

    def answers(self, state: PanelState) -> dict[str, dict[str, Any]]:
        """The answers by worker name, or `QuorumNotMet` naming every failed worker."""
        answers = {
            a["worker"]: a["answer"] for a in sorted(state.get("answers", []), key=lambda a: a["worker"])
        }
        if len(answers) < self.need:
            failed = _failed(_sorted(state.get("failures", [])))
            raise QuorumNotMet(
                f"{len(answers)} of {len(self.workers)} workers answered, quorum is {self.need}; failed: {failed}"
            )
        return answers

    def merge_payload(self, state: PanelState, answers: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """What a merging agent is asked."""
        return {"input": state["input"], "answers": answers}

    async def gather(self, state: PanelState, ask: Ask) -> PanelState:
        """The gather turn: the answers (or `QuorumNotMet`), merged by the agent or function, as the result."""
        answers = self.answers(state)
        merged = None
        if isinstance(self.merge, Agent):
            merged = await ask(self.merge, self.merge_payload(state, answers))
        return self.result_update(state, answers, merged)

    def result_update(
        self, state: PanelState, answers: dict[str, dict[str, Any]], merged: BaseModel | None = None
    ) -> PanelState:
        """The result; `merged` is the merging agent's reply (a function merge runs here)."""
        value = merged.model_dump(mode="json") if merged is not None else None
        if self.merge is not None and not isinstance(self.merge, Agent):
            value = self.merge(answers)
        failed = [SourceFailure(**f) for f in _sorted(state.get("failures", []))]
        output = PanelOutput(answers=answers, failed=failed, quorum=self.need, merged=value)
        return {"result": output.model_dump(mode="json")}


def build_scatter_gather(
    *,
    researcher: Agent[SourceFindings] | None = None,
    aggregator: Agent[Merged] | None = None,
    workers: Sequence[Agent[Any]] | None = None,
    merge: Merge = None,
    quorum: int | None = None,
    checkpointer: Any = None,
    retry_policy: RetryPolicy | None = DEFAULT_RETRY,
) -> PatternGraph:
    """START -> one agent per source, or every worker, in parallel -> gather.

    Args:
        researcher: Asked once per source of the input (`ScatterGatherInput`),
            labelled with the source's name. With `aggregator`; not with `workers`.
        aggregator: Merges the findings of the sources that answered.
        workers: A panel: each agent is asked the same input (`{"input": {...}}`)
            with its own instructions and model; their names must differ.
        merge: For a panel: `fn(answers by worker name) -> dict`, or an agent asked
            with `{"input", "answers"}`; None returns the answers as they are.
        quorum: For a panel: answers needed (default: a majority of the workers);
            fewer is `QuorumNotMet`, naming every failed worker.
        checkpointer: A LangGraph checkpointer; each branch is saved as it finishes.
        retry_policy: The node retry for model calls; None when `AgentPolicies.retry` retries.

    Example:
        ```python
        graph = build_scatter_gather(workers=[economist, engineer, lawyer], merge=None)
        state = await graph.ainvoke({"input": {"question": "Should we build or buy?"}}, context=context)
        state["result"]["answers"]["lawyer"]
        ```
    """
    if workers is not None:
        if researcher is not None or aggregator is not None:
            raise UsageError(
                "build_scatter_gather takes workers=[...] or researcher= and aggregator=, not both"
            )
        return _build_panel(Panel(tuple(workers), merge, quorum), checkpointer, retry_policy)
    if researcher is None or aggregator is None:
        raise UsageError("build_scatter_gather needs workers=[Agent, ...], or researcher= and aggregator=")

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
    graph.add_conditional_edges(add_input(graph, ScatterGatherInput), scatter, ["research"])
    graph.add_edge("research", "aggregate")
    graph.add_edge("aggregate", END)
    return graph.compile(checkpointer=checkpointer, name="scatter_gather")


def _build_panel(panel: Panel, checkpointer: Any, retry_policy: RetryPolicy | None) -> PatternGraph:
    """START -> ask x workers (parallel) -> gather: the panel shape of `build_scatter_gather`."""

    async def ask(state: PanelTask, runtime: Runtime[AgentContext]) -> PanelState:
        return panel.answer_update(
            state, await call_agent(runtime.context, panel.by_name[state["worker"]], state["input"])
        )

    def record_failure(task: PanelTask, error: NodeError) -> Command[Literal["gather"]]:
        return Command(goto="gather", update=panel.failure_update(task, error.error))

    async def gather(state: PanelState, runtime: Runtime[AgentContext]) -> PanelState:
        return await panel.gather(state, ask_in(runtime.context))

    def fan_out(state: PanelState) -> list[Send]:
        return [Send("ask", task) for task in panel.tasks(state)]

    graph = StateGraph(PanelState, input_schema=PayloadInput, context_schema=AgentContext)
    graph.add_node(
        "ask", ask, input_schema=PanelTask, retry_policy=retry_policy, error_handler=record_failure
    )
    graph.add_node("gather", gather, retry_policy=retry_policy)
    graph.add_conditional_edges(add_input(graph, PayloadInput), fan_out, ["ask"])
    graph.add_edge("ask", "gather")
    graph.add_edge("gather", END)
    return graph.compile(checkpointer=checkpointer, name="scatter_gather")


def _shape(args: Mapping[str, Any]) -> dict[str, Any]:
    """A panel of workers takes `{"input": {...}}` and gives a `PanelOutput`."""
    if args.get("workers") is None:
        return {}
    return {"input_model": PayloadInput, "output_model": PanelOutput, "state_type": PanelState}


SPEC = PatternSpec(
    name="scatter_gather",
    summary="N workers in parallel on one input, merged, tolerating failures",
    input_model=ScatterGatherInput,
    output_model=ScatterGatherOutput,
    state_type=ScatterGatherState,
    build=build_scatter_gather,
    shape=_shape,
)
