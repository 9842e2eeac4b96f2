"""Guardrails: checks on a flow's input before it runs, and on its answer before it leaves.

`with_guardrails(flow, input=[...], output=[...])` wraps any pattern (a declared
flow, a preset or a compiled graph) as a nested graph between two nodes of its
own: `check_input -> <the flow> -> check_output`. Each check is a checkpointed
step: an input guardrail that trips stops the run before the flow's first model
call; an output guardrail that trips stops it before the answer is written to
`result`, where callers read it. Either way the run fails with
`GuardrailTripped`, naming the guardrail, the side and its reason: in
`RunResult.error` through `patterns.arun`, exit code 1 from `orch run`.

A guardrail is a plain function (sync or async) of the checked value, or an
agent asked with it; both answer a `Verdict` (`passed`, `reason`). Give a
function a name with `Guardrail("no_pii", fn)` when its `__name__` would not
say what tripped. The guardrails of a side run in the order given and the first
that trips stops the run, so list the cheap functions before the agents.

The wrapped graph takes the flow's own input and state schemas: call it as the
flow, read `result` as from the flow.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import RetryPolicy
from pydantic import BaseModel, ValidationError
from typing_extensions import TypedDict  # pydantic reads its schema on 3.11 (the server's /schemas)

from patterns.errors import OrchError, UsageError
from patterns.runtime._agent import DEFAULT_RETRY, Agent, AgentContext, Ask, PatternGraph, ask_in
from patterns.runtime._input import INPUT_NODE
from patterns.runtime._spec import PatternSpec

__all__ = [
    "CHECK_INPUT",
    "CHECK_OUTPUT",
    "Guardrail",
    "GuardrailTripped",
    "Verdict",
    "build_guardrails",
    "with_guardrails",
]

Side = Literal["input", "output"]
CHECK_INPUT, CHECK_OUTPUT = "check_input", "check_output"


class Verdict(BaseModel):
    """A guardrail's answer: whether the value passed, and if not, why."""

    passed: bool
    reason: str = ""


class GuardrailTripped(OrchError):
    """A guardrail refused a flow's input or answer: the run stops, naming it and its reason."""

    def __init__(self, guardrail: str, side: Side, reason: str) -> None:
        super().__init__(guardrail, side, reason)  # the args rebuild the error (copy, pickle)
        self.guardrail, self.side, self.reason = guardrail, side, reason

    def __str__(self) -> str:
        return f"{self.side} guardrail {self.guardrail!r} tripped: {self.reason}"


#: A check: an agent whose output has `passed` and `reason`, or a function (sync or
#: async) returning a `Verdict` or a dict of one.
Check = Agent[Any] | Callable[[dict[str, Any]], Any]


@dataclass(frozen=True, slots=True)
class Guardrail:
    """A named check: what a trip is reported as, and the agent or function that judges."""

    name: str
    check: Check

    def __post_init__(self) -> None:
        if not (isinstance(self.name, str) and self.name.replace("-", "_").isidentifier()):
            raise UsageError(f"a guardrail needs a name of letters, digits, _ and -, got {self.name!r}")
        if isinstance(self.check, Agent):
            if "passed" not in self.check.output.model_fields:
                raise UsageError(
                    f"guardrail {self.name!r}: agent {self.check.name!r} must answer a verdict "
                    f"(output=Verdict, or a model with passed and reason), not {self.check.output.__name__}"
                )
        elif not callable(self.check):
            raise UsageError(f"guardrail {self.name!r}: the check must be an Agent or a function")

    async def judge(self, value: dict[str, Any], ask: Ask) -> Verdict:
        """The check's verdict on `value`: the agent asked with it, or the function called on it."""
        if isinstance(self.check, Agent):
            reply: Any = await ask(self.check, value)
        else:
            reply = self.check(value)
            if inspect.isawaitable(reply):
                reply = await reply
        try:
            return Verdict.model_validate(reply.model_dump() if isinstance(reply, BaseModel) else reply)
        except ValidationError:
            raise UsageError(
                f"guardrail {self.name!r} must return a Verdict (passed, reason), not {reply!r}"
            ) from None


def as_guardrail(check: Guardrail | Check) -> Guardrail:
    """A check as a `Guardrail`, named by its agent or function (a lambda must be named)."""
    if isinstance(check, Guardrail):
        return check
    name = check.name if isinstance(check, Agent) else getattr(check, "__name__", "")
    if name == "<lambda>" or not name:
        raise UsageError("name this guardrail, to say what tripped: Guardrail('what_it_checks', fn)")
    return Guardrail(name, check)


async def check_side(side: Side, guardrails: Sequence[Guardrail], value: dict[str, Any], ask: Ask) -> None:
    """Run a side's guardrails in order on `value`; the first that trips raises `GuardrailTripped`."""
    for rail in guardrails:
        verdict = await rail.judge(value, ask)
        if not verdict.passed:
            raise GuardrailTripped(rail.name, side, verdict.reason.strip() or "no reason given")


class _Unchecked(TypedDict):
    """Where the flow's answer waits for the output guardrails: never in `result` until they pass."""

    unchecked_result: dict[str, Any]


def _plain(state: Any) -> dict[str, Any]:
    """The node's input as a dict: a flow whose input schema is a pydantic model is given one."""
    return state.model_dump(mode="json") if isinstance(state, BaseModel) else dict(state)


def build_guardrails(
    *,
    flow: PatternSpec | PatternGraph,
    input: Sequence[Guardrail | Check] = (),
    output: Sequence[Guardrail | Check] = (),
    checkpointer: Any = None,
    retry_policy: RetryPolicy | None = DEFAULT_RETRY,
    name: str | None = None,
) -> PatternGraph:
    """check_input -> the flow (nested) -> check_output, as a compiled graph.

    Args:
        flow: A declared flow or preset, or a compiled pattern built without a
            checkpointer: it saves its steps in this graph's, under its node's
            namespace, so a run paused or stopped inside it resumes inside it.
        input: Guardrails given the flow's input (its state keys, as the flow is
            invoked), before it runs.
        output: Guardrails given the flow's `result`, before it is written to this
            graph's `result`.
        checkpointer: A LangGraph checkpointer; each check is saved as it passes.
        retry_policy: The node retry for agent guardrails (and the flow's, when it is
            declared); None when `AgentPolicies.retry` retries.
        name: The graph's name (default: `guarded_<flow name>`).
    """
    inner = flow.compile(retry_policy=retry_policy) if isinstance(flow, PatternSpec) else flow
    if not isinstance(inner, CompiledStateGraph) or "result" not in inner.builder.channels:
        raise UsageError(
            f"with_guardrails wraps a pattern (a declared flow or a compiled graph with a result), not {flow!r}"
        )
    if isinstance(inner.checkpointer, BaseCheckpointSaver):
        raise UsageError(
            "with_guardrails wraps a graph built without a checkpointer: it saves its steps in the guarded "
            "graph's (with_guardrails(graph, ..., checkpointer=saver))"
        )
    before, after = [as_guardrail(c) for c in input], [as_guardrail(c) for c in output]
    names = [rail.name for rail in (*before, *after)]
    if not names:
        raise UsageError("with_guardrails needs at least one guardrail: input=[...] or output=[...]")
    if len(set(names)) != len(names):
        raise UsageError(f"guardrail names must be distinct, to say which one tripped: {names}")
    step = inner.name or "flow"
    if step in (CHECK_INPUT, CHECK_OUTPUT, INPUT_NODE):
        raise UsageError(f"the wrapped flow's name {step!r} is one of the guardrails' nodes: rename it")
    builder = inner.builder

    async def check_input(state: Any, runtime: Runtime[AgentContext]) -> dict[str, Any]:
        await check_side("input", before, _plain(state), ask_in(runtime.context))
        return {}

    async def run(state: Any, runtime: Runtime[AgentContext]) -> dict[str, Any]:
        # Called from this node, not added as one: the flow keeps its own state (its keys
        # and reducers) and, built without a checkpointer, saves its steps in ours, so a
        # run resumed here (after an interrupt inside the flow) resumes inside it.
        answer = (await inner.ainvoke(_plain(state), context=runtime.context))["result"]
        return {"unchecked_result": answer} if after else {"result": answer}

    async def check_output(state: _Unchecked, runtime: Runtime[AgentContext]) -> dict[str, Any]:
        await check_side("output", after, state["unchecked_result"], ask_in(runtime.context))
        return {"result": state["unchecked_result"]}

    graph = StateGraph(builder.state_schema, input_schema=builder.input_schema, context_schema=AgentContext)
    # The flow retries its own model calls; retrying it whole would repeat them.
    graph.add_node(step, run, input_schema=builder.input_schema)
    first = step
    if before:
        graph.add_node(CHECK_INPUT, check_input, input_schema=builder.input_schema, retry_policy=retry_policy)
        graph.add_edge(CHECK_INPUT, step)
        first = CHECK_INPUT
    graph.add_edge(START, first)
    if after:
        graph.add_node(CHECK_OUTPUT, check_output, input_schema=_Unchecked, retry_policy=retry_policy)
        graph.add_edge(step, CHECK_OUTPUT)
        graph.add_edge(CHECK_OUTPUT, END)
    else:
        graph.add_edge(step, END)
    return graph.compile(checkpointer=checkpointer, name=name or f"guarded_{step}")


@overload
def with_guardrails(
    flow: PatternSpec,
    *,
    input: Sequence[Guardrail | Check] = (),
    output: Sequence[Guardrail | Check] = (),
    name: str | None = None,
) -> PatternSpec: ...


@overload
def with_guardrails(
    flow: PatternGraph,
    *,
    input: Sequence[Guardrail | Check] = (),
    output: Sequence[Guardrail | Check] = (),
    name: str | None = None,
    checkpointer: Any = None,
) -> PatternGraph: ...


def with_guardrails(
    flow: PatternSpec | PatternGraph,
    *,
    input: Sequence[Guardrail | Check] = (),
    output: Sequence[Guardrail | Check] = (),
    name: str | None = None,
    checkpointer: Any = None,
) -> PatternSpec | PatternGraph:
    """The flow with input and output guardrails: a declared flow for a declared flow, a graph for a graph.

    A declared flow (or preset) keeps its input, output, sample and bounds, so
    `patterns.arun(guarded, ...)` runs it as the flow, under its own name
    (default `guarded_<name>`: a thread of the flow is not resumed as the guarded one).

    Example:
        ```python
        flow = with_guardrails(pipeline.SPEC.flow(stages=[drafter, publisher]), input=[no_pii], output=[reviewer])
        result = await patterns.arun(flow, {"input": {"brief": text}}, model=model, checkpoint="memory")
        ```
    """
    if not isinstance(flow, PatternSpec):
        return build_guardrails(flow=flow, input=input, output=output, checkpointer=checkpointer, name=name)
    if checkpointer is not None:
        raise UsageError("a declared flow's checkpointer belongs to a run: pass it to compile() or arun")
    named = name or f"guarded_{flow.name}"
    guarded = dataclasses.replace(
        flow,
        name=named,
        summary=f"{flow.summary}, with guardrails",
        build=build_guardrails,
        args={"flow": flow, "input": tuple(input), "output": tuple(output), "name": named},
    )
    guarded.compile()  # the checks (names, agents, the flow) at declaration, as `SPEC.flow` does
    return guarded
