"""Orchestrator-workers: a planner splits the task at run time, workers do the parts, a synthesizer combines them.

For work whose parts are only known once the task is read. The planner agent
replies with the plan: a list of subtasks, each naming the worker (an agent, by
name) that does it and what that worker is given. Each subtask is one `Send` to
its worker, in parallel, at most `max_concurrency` asking a model at once, each
with its own retries; the synthesizer combines the results.

The plan is checked as the planner's reply is parsed: a plan that names a worker
the flow does not have, is empty, or has more than `max_subtasks` subtasks is
`MalformedOutput`, which the node retry treats like any reply it cannot use: the
planner is asked again, and the run fails naming the fault once the retries are
spent. A saved plan is never asked for again: a resumed run goes on from its
subtasks.

A subtask that still fails after its retries is recorded, and the flow goes on
while `quorum` subtasks succeeded (default: all of them). Below the quorum the run
stops with the failed subtasks queued again (LangGraph's `GraphDrained`, naming
them): resuming the thread asks only those again, the plan and the finished
subtasks kept, as many times as it takes.
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal, cast

from langgraph.errors import NodeError
from langgraph.graph import END, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command, RetryPolicy, Send
from pydantic import BaseModel, Field, create_model, model_validator
from typing_extensions import TypedDict  # pydantic reads its schema on 3.11 (the server's /schemas)

from patterns.errors import UsageError
from patterns.runtime._agent import DEFAULT_RETRY, Agent, AgentContext, Ask, PatternGraph, ask_in
from patterns.runtime._input import PayloadInput, add_input
from patterns.runtime._spec import PatternSpec

__all__ = [
    "SPEC",
    "Orchestrator",
    "OrchestratorInput",
    "OrchestratorOutput",
    "Plan",
    "Subtask",
    "SubtaskFailure",
    "build_orchestrator",
]


class OrchestratorInput(PayloadInput):
    """The task (`input`, shown to the planner and the synthesizer) and how many subtasks ask a model at once."""

    max_concurrency: int = Field(default=4, ge=1, le=100, description="Subtasks asking a model at once.")


class Subtask(BaseModel):
    worker: str = Field(description="The name of the worker agent that does it.")
    input: dict[str, Any] = Field(description="What the worker is given.")
    id: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_.-]+$", description="Default: `<worker>_<n>`, n from 1."
    )


class Plan(BaseModel):
    """The planner's reply. Subclass it to ask for more (a rationale): the subtasks are what runs."""

    subtasks: list[Subtask]


class SubtaskFailure(BaseModel):
    id: str
    worker: str
    error: str


class OrchestratorOutput(BaseModel):
    plan: list[Subtask]
    """The subtasks as they ran, each with its id."""
    results: dict[str, dict[str, Any]]
    """Each finished subtask's output, by id, in plan order."""
    failed: list[SubtaskFailure]
    quorum: int
    output: dict[str, Any]
    """The synthesizer's reply."""


class OrchestratorState(TypedDict, total=False):
    input: dict[str, Any]
    max_concurrency: int
    plan: list[dict[str, Any]]
    results: Annotated[list[dict[str, Any]], operator.add]
    failures: Annotated[list[dict[str, Any]], operator.add]
    result: dict[str, Any]


class SubtaskRun(TypedDict):
    subtask: dict[str, Any]
    max_concurrency: int


def numbered(subtasks: Sequence[Subtask]) -> list[Subtask]:
    """The subtasks with their ids: the planner's own, or `<worker>_<n>` counting that worker's subtasks."""
    count: Counter[str] = Counter()
    named = []
    for subtask in subtasks:
        count[subtask.worker] += 1
        named.append(
            subtask
            if subtask.id
            else subtask.model_copy(update={"id": f"{subtask.worker}_{count[subtask.worker]}"})
        )
    return named


def plan_problems(plan: Plan, workers: Sequence[str], max_subtasks: int) -> list[str]:
    """What makes a plan unusable, in words the planner can act on; empty for a good plan."""
    problems = []
    if not plan.subtasks:
        problems.append("the plan has no subtasks")
    if len(plan.subtasks) > max_subtasks:
        problems.append(f"the plan has {len(plan.subtasks)} subtasks, more than max_subtasks={max_subtasks}")
    unknown = sorted({s.worker for s in plan.subtasks} - set(workers))
    if unknown:
        problems.append(f"no worker is named {', '.join(unknown)}: the workers are {', '.join(workers)}")
    ids = Counter(s.id for s in numbered(plan.subtasks))
    repeated = sorted(str(i) for i, n in ids.items() if n > 1)
    if repeated:
        problems.append(f"subtask ids must differ: {', '.join(repeated)} repeated")
    return problems


def _checked_plan(output: type[Plan], workers: Sequence[str], max_subtasks: int) -> type[Plan]:
    """`output` with the plan's rules as a validator, so a bad plan fails where any bad reply fails.

    In the reply's parsing, not after it: a bad plan is then `MalformedOutput` for
    the node retry, for `AgentPolicies.retry` and on every framework alike.
    """

    def check(plan: Plan) -> Plan:
        problems = plan_problems(plan, workers, max_subtasks)
        if problems:
            raise ValueError("; ".join(problems))
        return plan

    rules: dict[str, Any] = {"_plan_rules": model_validator(mode="after")(check)}
    return cast(type[Plan], create_model(output.__name__, __base__=output, __validators__=rules))


@dataclass(frozen=True, slots=True)
class Orchestrator:
    """A declared orchestrator: the arguments of `build_orchestrator`, checked.

    Its turns (the plan, each subtask and its failure, the quorum, the synthesis)
    are shared with the adapters.
    """

    planner: Agent[Plan]
    workers: tuple[Agent[Any], ...]
    synthesizer: Agent[Any]
    max_subtasks: int = 8
    quorum: int | None = None
    checked_planner: Agent[Plan] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.planner, Agent) or not issubclass(self.planner.output, Plan):
            raise UsageError(
                "build_orchestrator needs planner=Agent(..., output=Plan) (or a subclass of Plan)"
            )
        if not isinstance(self.synthesizer, Agent):
            raise UsageError("build_orchestrator needs synthesizer=Agent(...): it combines the results")
        names = [w.name for w in self.workers if isinstance(w, Agent)]
        if not self.workers or len(names) != len(self.workers) or len(set(names)) != len(names):
            raise UsageError(f"workers must be one or more agents with different names, got {names}")
        if self.max_subtasks < 1:
            raise UsageError(f"max_subtasks must be at least 1, not {self.max_subtasks}")
        if self.quorum is not None and not 1 <= self.quorum <= self.max_subtasks:
            raise UsageError(f"quorum {self.quorum} must be between 1 and max_subtasks ({self.max_subtasks})")
        checked = _checked_plan(self.planner.output, names, self.max_subtasks)
        object.__setattr__(self, "checked_planner", replace(self.planner, output=checked))

    @property
    def by_name(self) -> dict[str, Agent[Any]]:
        return {w.name: w for w in self.workers}

    # -- agent turns (payloads and updates, shared with the adapters) ----------

    def planner_payload(self, state: OrchestratorState) -> dict[str, Any]:
        """The task, and the workers to choose from, each with what it is for."""
        workers = [{"name": w.name, "description": w.description or w.instructions} for w in self.workers]
        return {"input": state["input"], "workers": workers, "max_subtasks": self.max_subtasks}

    def plan_update(self, reply: Plan) -> OrchestratorState:
        return {"plan": [s.model_dump(mode="json") for s in numbered(reply.subtasks)]}

    async def plan(self, state: OrchestratorState, ask: Ask) -> OrchestratorState:
        """The planner's turn: the plan, checked as it is parsed, as the update."""
        return self.plan_update(await ask(self.checked_planner, self.planner_payload(state)))

    def runs(self, state: OrchestratorState) -> list[SubtaskRun]:
        """The subtasks still to do: none of them has a result yet, in plan order."""
        done = {r["id"] for r in state.get("results", [])}
        return [
            {"subtask": s, "max_concurrency": state["max_concurrency"]}
            for s in state["plan"]
            if s["id"] not in done
        ]

    def result_update(self, run: SubtaskRun, reply: BaseModel) -> OrchestratorState:
        return {"results": [{"id": run["subtask"]["id"], "output": reply.model_dump(mode="json")}]}

    def failure_update(self, run: SubtaskRun, error: BaseException) -> OrchestratorState:
        subtask, why = run["subtask"], f"{type(error).__name__}: {error}"
        return {"failures": [{"id": subtask["id"], "worker": subtask["worker"], "error": why}]}

    async def work(self, run: SubtaskRun, ask: Ask) -> OrchestratorState:
        """A worker's turn on one subtask: its agent asked with the subtask's input."""
        subtask = run["subtask"]
        return self.result_update(run, await ask(self.by_name[subtask["worker"]], subtask["input"]))

    def need(self, state: OrchestratorState) -> int:
        """Successes needed: the quorum, or every subtask (a plan of fewer subtasks needs them all)."""
        return min(self.quorum or len(state["plan"]), len(state["plan"]))

    def failed(self, state: OrchestratorState) -> list[dict[str, str]]:
        """The subtasks without a result, each with its latest failure, in plan order."""
        latest = {f["id"]: f for f in state.get("failures", [])}
        return [latest[r["subtask"]["id"]] for r in self.runs(state) if r["subtask"]["id"] in latest]

    def retries(self, state: OrchestratorState) -> list[SubtaskRun]:
        """With fewer successes than the quorum, the failed subtasks, to ask again; else none."""
        ok = len(state["plan"]) - len(self.runs(state))
        return self.runs(state) if ok < self.need(state) else []

    def unmet(self, state: OrchestratorState) -> str:
        """Why the run stops below the quorum, naming every failed subtask."""
        ok = len(state["plan"]) - len(self.runs(state))
        failed = "; ".join(f"{f['id']} ({f['error']})" for f in self.failed(state))
        return (
            f"{ok} of {len(state['plan'])} subtasks succeeded, quorum is {self.need(state)}; "
            f"failed: {failed}. Resume the thread to ask the failed subtasks again"
        )

    def synthesizer_payload(self, state: OrchestratorState) -> dict[str, Any]:
        """The task, each finished subtask with its output (in plan order), and the failed ones."""
        outputs = {r["id"]: r["output"] for r in state.get("results", [])}
        results = [{**s, "output": outputs[s["id"]]} for s in state["plan"] if s["id"] in outputs]
        return {"input": state["input"], "results": results, "failed": self.failed(state)}

    def synthesizer_update(self, state: OrchestratorState, reply: BaseModel) -> OrchestratorState:
        outputs = {r["id"]: r["output"] for r in state.get("results", [])}
        output = OrchestratorOutput(
            plan=[Subtask.model_validate(s) for s in state["plan"]],
            results={s["id"]: outputs[s["id"]] for s in state["plan"] if s["id"] in outputs},
            failed=[SubtaskFailure(**f) for f in self.failed(state)],
            quorum=self.need(state),
            output=reply.model_dump(mode="json"),
        )
        return {"result": output.model_dump(mode="json")}

    async def synthesize(self, state: OrchestratorState, ask: Ask) -> OrchestratorState:
        """The synthesizer's turn: the results combined, as the result."""
        return self.synthesizer_update(state, await ask(self.synthesizer, self.synthesizer_payload(state)))


# -- builder -----------------------------------------------------------------


def build_orchestrator(
    *,
    planner: Agent[Plan],
    workers: Sequence[Agent[Any]],
    synthesizer: Agent[Any],
    max_subtasks: int = 8,
    quorum: int | None = None,
    checkpointer: Any = None,
    retry_policy: RetryPolicy | None = DEFAULT_RETRY,
) -> PatternGraph:
    """plan -> one worker per subtask (parallel, `max_concurrency` at a time) -> gather -> synthesize.

    The input is `{"input": {...}, "max_concurrency": 4}` (`OrchestratorInput`).

    Args:
        planner: Asked with `{"input", "workers": [{name, description}], "max_subtasks"}`;
            replies with a `Plan` (or a subclass): subtasks, each `{worker, input, id?}`.
            A plan naming an unknown worker, empty or longer than `max_subtasks` is
            `MalformedOutput`: the node retry asks again.
        workers: The agents a plan may name; each is asked with its subtask's `input`
            (its description, else its instructions, tells the planner what it is for).
        synthesizer: Asked with `{"input", "results": [{id, worker, input, output}], "failed"}`;
            its reply is the result's `output`.
        max_subtasks: The most subtasks a plan may have.
        quorum: Subtasks that must succeed (default: all of the plan's; a plan of fewer
            needs them all). Below it the run stops with `GraphDrained`, naming the
            failed subtasks; resuming the thread asks only them again.
        checkpointer: A LangGraph checkpointer; the plan and each subtask are saved as they finish.
        retry_policy: The node retry for model calls; None when `AgentPolicies.retry` retries.

    Example:
        ```python
        graph = build_orchestrator(planner=editor, workers=[analyst, writer], synthesizer=publisher)
        state = await graph.ainvoke({"input": {"brief": "Q3 report"}}, config, context=context)
        state["result"]["plan"], state["result"]["output"]
        ```
    """
    flow = Orchestrator(planner, tuple(workers), synthesizer, max_subtasks, quorum)

    async def plan(state: OrchestratorState, runtime: Runtime[AgentContext]) -> OrchestratorState:
        return await flow.plan(state, ask_in(runtime.context))

    async def work(state: SubtaskRun, runtime: Runtime[AgentContext]) -> OrchestratorState:
        # A per-run semaphore, not LangGraph's `max_concurrency`, which would hold back
        # the saving of finished subtasks until the last one started (see map_reduce).
        async with runtime.context.slots("orchestrator.work", state["max_concurrency"]):
            return await flow.work(state, ask_in(runtime.context))

    def record_failure(run: SubtaskRun, error: NodeError) -> Command[Literal["gather"]]:
        """A subtask out of retries: keep why, and go on to the quorum check (even if every subtask failed)."""
        return Command(goto="gather", update=flow.failure_update(run, error.error))

    def gather(
        state: OrchestratorState, runtime: Runtime[AgentContext]
    ) -> Command[Literal["work", "synthesize"]]:
        retries = flow.retries(state)
        if not retries:
            return Command(goto="synthesize")
        # Below the quorum: queue the failed subtasks and stop before they run. Raising
        # instead would make this node the one a resume re-runs, on the same state, to
        # the same error; queued, a resume asks the failed subtasks again.
        assert runtime.control is not None  # LangGraph gives every run one
        runtime.control.request_drain(flow.unmet(state))
        return Command(goto=[Send("work", run) for run in retries])

    async def synthesize(state: OrchestratorState, runtime: Runtime[AgentContext]) -> OrchestratorState:
        return await flow.synthesize(state, ask_in(runtime.context))

    def dispatch(state: OrchestratorState) -> list[Send]:
        return [Send("work", run) for run in flow.runs(state)]

    graph = StateGraph(OrchestratorState, input_schema=OrchestratorInput, context_schema=AgentContext)
    graph.add_node("plan", plan, retry_policy=retry_policy)
    graph.add_node(
        "work", work, input_schema=SubtaskRun, retry_policy=retry_policy, error_handler=record_failure
    )
    graph.add_node("gather", gather, destinations=("work", "synthesize"))
    graph.add_node("synthesize", synthesize, retry_policy=retry_policy)
    graph.add_edge(add_input(graph, OrchestratorInput), "plan")
    graph.add_conditional_edges("plan", dispatch, ["work"])
    graph.add_edge("work", "gather")
    graph.add_edge("synthesize", END)
    return graph.compile(checkpointer=checkpointer, name="orchestrator")


# A run takes at most five supersteps (the drain ends it after one wave of
# subtasks), so the default recursion bound holds whatever the plan.
SPEC = PatternSpec(
    name="orchestrator",
    summary="a planner splits the task at run time, workers do the subtasks in parallel, a synthesizer combines",
    input_model=OrchestratorInput,
    output_model=OrchestratorOutput,
    state_type=OrchestratorState,
    build=build_orchestrator,
)
