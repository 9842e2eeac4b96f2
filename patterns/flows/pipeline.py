"""Sequential pipeline: stages where each needs the previous one's output, with a gate.

Each stage is a node, so a checkpoint after each one lets an interrupted run
resume at the stage it had reached. The gate checks the output of the stage
before the last one; a rejected run stops there with the gate's reasons, and the
last stage never runs. Two shapes, one builder: `stages=[...]` (agents or async
functions, each given the previous stage's output) with an optional `gate=`; or
the invoice shape, `extractor=`, `validator=` (the gate), `transformer=`.
"""

from __future__ import annotations

import inspect
import operator
from collections.abc import Awaitable, Callable, Mapping, Sequence
from itertools import pairwise
from typing import Annotated, Any, Literal

from langgraph.graph import END, StateGraph
from langgraph.pregel import Pregel
from langgraph.runtime import Runtime
from langgraph.types import RetryPolicy
from pydantic import BaseModel, Field
from typing_extensions import TypedDict  # pydantic reads its schema on 3.11 (the server's /schemas)

from patterns.errors import UsageError
from patterns.runtime._agent import DEFAULT_RETRY, Agent, AgentContext, Ask, PatternGraph, ask_in, call_agent
from patterns.runtime._input import INPUT_NODE, PayloadInput, add_input, takes_payload
from patterns.runtime._spec import PatternSpec

__all__ = [
    "SPEC",
    "Extracted",
    "PipelineInput",
    "PipelineOutput",
    "Record",
    "StagesOutput",
    "Validation",
    "build_pipeline",
]


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


#: A stage: an agent asked with the previous output, an async function of it, or
#: another compiled pattern given it as its input (a nested flow; its `result` is the output).
Stage = Agent[Any] | Callable[[dict[str, Any]], Awaitable[dict[str, Any]]] | PatternGraph
#: A gate: an agent or a function (sync or async) whose reply has `valid` and `reasons`.
Gate = Agent[Any] | Callable[[dict[str, Any]], Any]


class StagesOutput(BaseModel):
    """A staged pipeline's result: the last output, every stage's output, and the gate's reasons."""

    status: Literal["completed", "rejected"]
    output: dict[str, Any]
    outputs: dict[str, dict[str, Any]]
    reasons: list[str] = []


class StagesState(TypedDict, total=False):
    input: dict[str, Any]
    last: dict[str, Any]
    outputs: Annotated[dict[str, dict[str, Any]], operator.or_]
    result: dict[str, Any]


def build_pipeline(
    *,
    stages: Sequence[Stage] | None = None,
    gate: Gate | None = None,
    extractor: Agent[Extracted] | None = None,
    validator: Agent[Validation] | None = None,
    transformer: Agent[Record] | None = None,
    checkpointer: Any = None,
    retry_policy: RetryPolicy | None = DEFAULT_RETRY,
) -> PatternGraph:
    """stage -> ... -> [gate] -> last stage; or extract -> validate -> (transform | reject).

    Args:
        stages: Agents, async functions or compiled patterns (built without a
            checkpointer), run in order; the first is given the run's
            `{"input": {...}}` input, each next one the previous output (a dict).
            A nested pattern's `result` is its stage's output.
        gate: Checks the output of the stage before the last (an agent, or a
            function returning an object or dict with `valid` and `reasons`);
            `valid=False` stops the run, `status="rejected"`, with the reasons.
        extractor: Reads the document into an `Extracted` record.
        validator: Checks the record; `valid=False` stops the run with its `reasons`.
        transformer: Normalises a valid record into the final `Record`.
        checkpointer: A LangGraph checkpointer; each stage is saved as it finishes.
        retry_policy: The node retry for model calls; None when `AgentPolicies.retry` retries.

    Example:
        ```python
        graph = build_pipeline(stages=[drafter, editor, publisher], gate=fact_checker)
        state = await graph.ainvoke({"input": {"brief": text}}, context=AgentContext(model=resolve_model()))
        ```
    """
    if stages is not None:
        if extractor or validator or transformer:
            raise UsageError(
                "build_pipeline takes stages=[...] or extractor=, validator=, transformer=, not both"
            )
        return _build_stages(list(stages), gate, checkpointer, retry_policy)
    if extractor is None or validator is None or transformer is None or gate is not None:
        raise UsageError(
            "build_pipeline needs stages=[...] (and gate=), or extractor=, validator= and transformer="
        )
    invoice: tuple[Agent[Extracted], Agent[Validation], Agent[Record]] = (extractor, validator, transformer)
    return _build_invoice(*invoice, checkpointer, retry_policy)


def _build_invoice(
    extractor: Agent[Extracted],
    validator: Agent[Validation],
    transformer: Agent[Record],
    checkpointer: Any,
    retry_policy: RetryPolicy | None,
) -> PatternGraph:
    """extract -> validate -> (transform | reject): the validator as the gate."""

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
    graph.add_edge(add_input(graph, PipelineInput), "extract")
    graph.add_edge("extract", "validate")
    graph.add_conditional_edges("validate", gate, ["transform", "reject"])
    graph.add_edge("transform", END)
    graph.add_edge("reject", END)
    return graph.compile(checkpointer=checkpointer, name="pipeline")


def stage_name(stage: Stage) -> str:
    """A stage's node name: the agent's or the nested pattern's name, or the function's."""
    if isinstance(stage, Agent | Pregel):
        return stage.name or ""
    return getattr(stage, "__name__", "")


# -- the staged shape's turns (shared with the adapters) -----------------------


def stage_payload(state: StagesState) -> dict[str, Any]:
    """What the next stage (and the gate) is given: the previous output, or the run's input."""
    return state.get("last", state["input"])


def stage_update(name: str, output: dict[str, Any]) -> StagesState:
    return {"last": output, "outputs": {name: output}}


def gate_update(state: StagesState, reply: Any) -> StagesState:
    """Passed: no update. Rejected: the result, with the gate's reasons (the last stage never runs)."""
    verdict = Validation.model_validate(reply.model_dump() if isinstance(reply, BaseModel) else reply)
    if verdict.valid:
        return {}
    output = StagesOutput(
        status="rejected",
        output=stage_payload(state),
        outputs=state.get("outputs", {}),
        reasons=verdict.reasons,
    )
    return {"result": output.model_dump(mode="json")}


def finish_stages(state: StagesState) -> StagesState:
    output = StagesOutput(status="completed", output=state["last"], outputs=state["outputs"])
    return {"result": output.model_dump(mode="json")}


def _nested(name: str, framework: str) -> UsageError:
    return UsageError(
        f"stage {name!r} is a compiled LangGraph pattern: nested patterns run on LangGraph only; "
        f"on {framework} make the stage an agent or an async function"
    )


def refuse_nested(stages: Sequence[Stage], framework: str) -> None:
    """A compiled LangGraph pattern as a stage runs on LangGraph only: the adapters refuse it up front.

    Checked when a framework builds the flow, so no stage before it has called a model.
    """
    nested = [stage_name(stage) for stage in stages if isinstance(stage, Pregel)]
    if nested:
        raise _nested(nested[0], framework)


async def stage_turn(stage: Stage, name: str, state: StagesState, ask: Ask) -> StagesState:
    """An agent or function stage's turn on the previous output (a nested pattern is LangGraph's own)."""
    payload = stage_payload(state)
    if isinstance(stage, Agent):
        return stage_update(name, (await ask(stage, payload)).model_dump(mode="json"))
    if isinstance(stage, Pregel):
        raise _nested(name, "this framework")
    return stage_update(name, dict(await stage(payload)))


async def gate_turn(gate: Gate, state: StagesState, ask: Ask) -> StagesState:
    """The gate's check of the stage before the last: an agent asked, or a function (sync or async)."""
    checked = stage_payload(state)
    if isinstance(gate, Agent):
        return gate_update(state, await ask(gate, checked))
    reply = gate(checked)
    return gate_update(state, await reply if inspect.isawaitable(reply) else reply)


def _build_stages(
    stages: list[Stage], gate: Gate | None, checkpointer: Any, retry_policy: RetryPolicy | None
) -> PatternGraph:
    """stage_1 -> ... -> [gate ->] stage_n -> finish; a rejecting gate ends the run with the result."""
    names = [stage_name(stage) for stage in stages]
    if not stages:
        raise UsageError("build_pipeline needs at least one stage: stages=[Agent(...) or an async function]")
    if len(set(names)) != len(names) or not all(names) or {"gate", "finish", INPUT_NODE} & set(names):
        raise UsageError(f"stage names must be distinct, and not gate, finish or {INPUT_NODE}: {names}")

    def node(stage: Stage, name: str) -> Any:
        async def run(state: StagesState, runtime: Runtime[AgentContext]) -> StagesState:
            if not isinstance(stage, Pregel):
                return await stage_turn(stage, name, state, ask_in(runtime.context))
            # Called from this node, not added as one: the nested flow keeps its own
            # state keys (its `result` cannot overwrite ours) and, built without a
            # checkpointer, saves its steps in this run's checkpointer under the
            # stage's namespace, so a resumed run resumes inside it.
            payload = stage_payload(state)
            given = {"input": payload} if takes_payload(stage) else payload
            return stage_update(name, (await stage.ainvoke(given, context=runtime.context))["result"])

        run.__name__ = name
        return run

    graph = StateGraph(StagesState, input_schema=PayloadInput, context_schema=AgentContext)
    for stage, name in zip(stages, names, strict=True):
        # A nested flow retries its own model calls; retrying it whole would repeat them.
        graph.add_node(
            name, node(stage, name), retry_policy=None if isinstance(stage, Pregel) else retry_policy
        )
    graph.add_node("finish", finish_stages)
    before, last = names[:-1], names[-1]
    for here, there in pairwise([add_input(graph, PayloadInput), *before]):
        graph.add_edge(here, there)
    guarded = before[-1] if before else INPUT_NODE
    if gate is None:
        graph.add_edge(guarded, last)
    else:

        def passed(state: StagesState) -> str:
            return END if "result" in state else last  # a rejection already wrote the result

        async def check(state: StagesState, runtime: Runtime[AgentContext]) -> StagesState:
            return await gate_turn(gate, state, ask_in(runtime.context))

        graph.add_node("gate", check, retry_policy=retry_policy)
        graph.add_edge(guarded, "gate")
        graph.add_conditional_edges("gate", passed, [last, END])
    graph.add_edge(last, "finish")
    graph.add_edge("finish", END)
    return graph.compile(checkpointer=checkpointer, name="pipeline")


def _shape(args: Mapping[str, Any]) -> dict[str, Any]:
    """Stages take `{"input": {...}}` and give a `StagesOutput`."""
    if args.get("stages") is None:
        return {}
    return {"input_model": PayloadInput, "output_model": StagesOutput, "state_type": StagesState}


SPEC = PatternSpec(
    name="pipeline",
    summary="stages in order, each given the previous one's output, with a gate",
    input_model=PipelineInput,
    output_model=PipelineOutput,
    state_type=PipelineState,
    build=build_pipeline,
    shape=_shape,
)
