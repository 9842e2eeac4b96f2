"""Run any pattern by name with checkpoints, step records and usage: the common entry point.

`astream("pipeline", {...})` validates the input, opens the checkpointer named
by a URL, streams the graph and yields typed events as they happen (a step
started or finished, a node's state update, a model token, a node's own
progress written with LangGraph's `get_stream_writer`), then the `RunResult`.
Each agent's calls and tokens are counted where agents call models, in the
run's `AgentContext.usage`, from the usage each reply reports (so a real
provider is counted the same way as the scripted model). `arun` is `astream`
without the tokens, returning only the `RunResult`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, aclosing
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeAlias

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk
from langchain_core.runnables import RunnableConfig
from langgraph.channels.last_value import LastValue
from langgraph.errors import GraphDrained
from langgraph.runtime import RunControl
from langgraph.types import Command, Interrupt
from pydantic import BaseModel, ValidationError

from patterns.errors import UsageError
from patterns.observability import _hooks as telemetry
from patterns.resilience.policies import AgentPolicies
from patterns.runtime._agent import DEFAULT_RETRY, AgentContext, PatternGraph
from patterns.runtime._branches import Branches
from patterns.runtime._checkpoint import (
    DEFAULT_CHECKPOINT_URL,
    WriteReceipts,
    describe,
    open_checkpointer,
    thread_lock,
)
from patterns.runtime._input import INPUT_NODE
from patterns.runtime._result import RunResult, StepRecord
from patterns.runtime._spec import PatternSpec

__all__ = [
    "CustomEvent",
    "Durability",
    "ModelToken",
    "RunEvent",
    "StateUpdate",
    "StepEvent",
    "StepFinished",
    "StepStarted",
    "arun",
    "astream",
    "get_flow",
    "new_thread_id",
    "validate_input",
]

Durability = Literal["sync", "async", "exit"]
State = Mapping[str, Any]
StepStatus = Literal["ok", "error", "interrupted"]


@dataclass(frozen=True, slots=True)
class StepEvent:
    """Progress: a step started (`end is None`) or finished; what `on_step` receives.

    Times are seconds since the run started. `astream` yields its two kinds,
    `StepStarted` and `StepFinished`, which `on_step` receives too.
    """

    kind: ClassVar[str] = "step"

    pattern: str
    agent: str
    start: float
    end: float | None = None
    status: str = "running"


@dataclass(frozen=True, slots=True)
class StepStarted(StepEvent):
    """A step (one task of a node) started; `task_id` pairs it with its `StepFinished`."""

    kind: ClassVar[str] = "step_started"

    task_id: str = ""


@dataclass(frozen=True, slots=True)
class StepFinished(StepEvent):
    """A step finished (`status` ok, error or interrupted), reported once its writes are saved.

    With `durability="sync"` (the default) a step reported finished is in the
    checkpoint: a crash after it does not pay for it again.
    """

    kind: ClassVar[str] = "step_finished"

    task_id: str = ""
    error: str | None = None


@dataclass(frozen=True, slots=True)
class StateUpdate:
    """What a node wrote to the state (before the reducers merge it), `at` seconds into the run."""

    kind: ClassVar[str] = "update"

    pattern: str
    node: str
    update: Mapping[str, Any]
    at: float


@dataclass(frozen=True, slots=True)
class ModelToken:
    """A piece of a model's reply as it streams, from the call made in `node`."""

    kind: ClassVar[str] = "token"

    pattern: str
    node: str
    text: str
    at: float


@dataclass(frozen=True, slots=True)
class CustomEvent:
    """What a node wrote with `langgraph.config.get_stream_writer()`: its own progress, as it is."""

    kind: ClassVar[str] = "custom"

    pattern: str
    data: Any
    at: float


#: What `astream` yields before the `RunResult`; `event.kind` names each for logs and JSON lines.
RunEvent: TypeAlias = StepStarted | StepFinished | StateUpdate | ModelToken | CustomEvent


def new_thread_id(pattern: str) -> str:
    """A fresh thread id for a run of `pattern`, e.g. `debate-3f9a1c2b7d4e`."""
    return f"{pattern}-{uuid.uuid4().hex[:12]}"


def get_flow(pattern: str | PatternSpec) -> PatternSpec:
    """A preset by name (a `UsageError` naming the presets if unknown), or the declared flow given."""
    if isinstance(pattern, PatternSpec):
        return pattern
    from patterns.presets import PATTERNS  # the presets are built from the flows, which import the runtime

    try:
        return PATTERNS[pattern]
    except KeyError:
        raise UsageError(f"unknown pattern {pattern!r}; choose one of: {', '.join(PATTERNS)}") from None


def validate_input(pattern: str | PatternSpec, data: Any) -> BaseModel:
    """The flow's input model, or a `UsageError` naming every field at fault."""
    spec = get_flow(pattern)
    try:
        return spec.input_model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}"
            for e in exc.errors(include_url=False)[:5]
        )
        more = f" (and {exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
        raise UsageError(f"invalid input for {spec.name}: {problems}{more}") from None


async def arun(
    pattern: str | PatternSpec,
    input: Any = None,
    *,
    model: BaseChatModel,
    checkpoint: str = DEFAULT_CHECKPOINT_URL,
    thread_id: str | None = None,
    resume: bool = False,
    resume_value: Any = None,
    durability: Durability = "sync",
    on_step: Callable[[StepEvent], None] | None = None,
    policies: AgentPolicies | None = None,
    control: RunControl | None = None,
    branches: Branches | None = None,
) -> RunResult:
    """Run (or resume) a preset by name, or your declared flow, and return its `RunResult`.

    `input=None` uses the preset's sample. `resume=True` continues `thread_id`
    from its last checkpoint; `resume_value` answers a pending `interrupt`.
    `on_step` is called as each step starts and finishes. `control` is a
    LangGraph `RunControl`: after `control.request_drain()` the run finishes the
    superstep under way, saves it and stops, with status "drained" (resume it to
    go on). `branches` asks a fan-out's branches elsewhere (`Branches`; the
    distributed workers' `--spread-branches`). This is `astream` without model
    tokens (models are called without streaming), keeping only its end.

    Example:
        ```python
        flow = pipeline.SPEC.flow(stages=[drafter, editor])
        result = await arun(flow, {"input": {"brief": "..."}}, model=resolve_model(), checkpoint="memory")
        ```
    """
    run = _stream(
        pattern,
        input,
        model=model,
        checkpoint=checkpoint,
        thread_id=thread_id,
        resume=resume,
        resume_value=resume_value,
        durability=durability,
        on_step=on_step,
        policies=policies,
        tokens=False,
        control=control,
        branches=branches,
        events=False,
    )
    async with aclosing(run):
        async for result in run:  # the one item: the RunResult
            if isinstance(result, RunResult):
                return result
    raise AssertionError("the run ended without a RunResult")  # pragma: no cover: it always yields one


def astream(
    pattern: str | PatternSpec,
    input: Any = None,
    *,
    model: BaseChatModel,
    checkpoint: str = DEFAULT_CHECKPOINT_URL,
    thread_id: str | None = None,
    resume: bool = False,
    resume_value: Any = None,
    durability: Durability = "sync",
    on_step: Callable[[StepEvent], None] | None = None,
    policies: AgentPolicies | None = None,
    tokens: bool = True,
    control: RunControl | None = None,
    branches: Branches | None = None,
) -> AsyncGenerator[RunEvent | RunResult, None]:
    """Run (or resume) a flow as `arun` does, yielding its events as they happen, then its `RunResult`.

    Takes `arun`'s arguments. Yields `StepStarted`, `StepFinished` (once the
    step's writes are saved), `StateUpdate`, `ModelToken` (unless `tokens=False`:
    with tokens, models that can stream are called streaming) and `CustomEvent`
    (what nodes write with `get_stream_writer()`); the last item is the
    `RunResult`, the one `arun` returns. Bad arguments raise `UsageError` at
    the first step of the iteration. Close it if you stop early, so the thread's
    lock and the checkpointer are released at once:

    Example:
        ```python
        from contextlib import aclosing

        async with aclosing(astream("debate", model=resolve_model(), checkpoint="memory")) as events:
            async for event in events:
                match event:
                    case StepFinished(agent=agent, status=status):
                        print(agent, status)
                    case ModelToken(text=text):
                        print(text, end="")
                    case RunResult():
                        print(event.status, event.output)
        ```
    """
    return _stream(
        pattern,
        input,
        model=model,
        checkpoint=checkpoint,
        thread_id=thread_id,
        resume=resume,
        resume_value=resume_value,
        durability=durability,
        on_step=on_step,
        policies=policies,
        tokens=tokens,
        control=control,
        branches=branches,
        events=True,
    )


async def _stream(
    pattern: str | PatternSpec,
    input: Any,
    *,
    model: BaseChatModel,
    checkpoint: str,
    thread_id: str | None,
    resume: bool,
    resume_value: Any,
    durability: Durability,
    on_step: Callable[[StepEvent], None] | None,
    policies: AgentPolicies | None,
    tokens: bool,
    control: RunControl | None,
    branches: Branches | None,
    events: bool,
) -> AsyncGenerator[RunEvent | RunResult, None]:
    """The run `astream` streams, yielding its events if `events`, and then its `RunResult`.

    Without `events` (`arun`), only the step records (for `on_step` and the result)
    and the ending are read from LangGraph's stream, with no event made for the rest.
    """
    spec = get_flow(pattern)
    pattern = spec.name
    if resume and not thread_id:
        raise UsageError("resuming needs the thread id of the run to resume (--thread ID)")
    if durability not in ("sync", "async", "exit"):
        raise UsageError(f"durability must be sync, async or exit, not {durability!r}")
    state_in = None if resume else spec.initial_state(validate_input(spec, _input(spec, input)))
    thread_id = thread_id or new_thread_id(pattern)
    started = time.perf_counter()
    # With policies that retry, LangGraph's node retry would multiply the attempts.
    own_retry = policies is not None and policies.retry is not None
    observed = telemetry.flow(
        "langgraph", pattern, thread_id, resumed=resume, node_retry=None if own_retry else DEFAULT_RETRY
    )

    async with observed, AsyncExitStack() as scope:
        graph = _compiled(spec, own_retry)
        # In memory nothing outlives the run, so a new run needs no checkpointer at all (nor the
        # thread's lock, which guards nothing there) when the stream shows how it ends: LangGraph
        # reports a pause in the stream too, and there would be nothing to resume it from anyway.
        # Otherwise in memory: saved once, at the end.
        in_memory = checkpoint == "memory"
        readable = _Ending.readable(graph)
        checkpointed = not (in_memory and not resume and readable)
        receipts = None
        if checkpointed:
            held = await scope.enter_async_context(thread_lock(checkpoint, thread_id))
            # On PostgreSQL, through the lock's connection.
            saver = await scope.enter_async_context(open_checkpointer(checkpoint, held))
            graph = graph.copy({"checkpointer": saver})
            receipts = None if in_memory else WriteReceipts(saver)
            observed.watch(saver, checkpoint)
        config: RunnableConfig = {
            "configurable": {"thread_id": thread_id},
            "metadata": {"pattern": pattern},  # saved with every checkpoint: a resume checks it
        }
        if resume:
            snapshot = await graph.aget_state(config)
            saved_pattern = snapshot.metadata.get("pattern") if snapshot.metadata else None
            if snapshot.created_at is None:
                raise UsageError(
                    f"no checkpoint for thread {thread_id!r} in {describe(checkpoint)}; "
                    "run without --resume to start it"
                )
            if saved_pattern not in (None, pattern):
                raise UsageError(
                    f"thread {thread_id!r} holds a {saved_pattern} run, not {pattern}: "
                    f"resume it with `orch run {saved_pattern} --resume --thread {thread_id}`"
                )
            values: State = snapshot.values
            # Tasks with saved results LangGraph reuses instead of running them again (one cut
            # off by a cancellation may have an error saved beside its result: still reused).
            saved_before = frozenset(
                t.id for t in snapshot.tasks if t.result is not None and not t.interrupts
            )
            if resume_value is not None:
                _check_answer(thread_id, snapshot.interrupts, resume_value)
            graph_input: Any = Command(resume=resume_value) if resume_value is not None else None
        else:
            # A fresh thread is the common case: one read of its latest checkpoint, no state rebuilt.
            if checkpointed and await saver.aget_tuple(config) is not None:
                # A new input on a used thread would be folded into the old state by its reducers.
                snapshot = await graph.aget_state(config)
                saved_pattern = snapshot.metadata.get("pattern") if snapshot.metadata else None
                what = "finished" if not snapshot.next else "paused, not finished"
                raise UsageError(
                    f"thread {thread_id!r} already holds a {saved_pattern or 'previous'} run ({what}) in "
                    f"{describe(checkpoint)}: continue it with --resume, or start anew with another --thread"
                )
            values, graph_input, saved_before = state_in or {}, state_in, frozenset()
        config["recursion_limit"] = spec.recursion_limit(values)

        error: str | None = None
        steps = _Steps(pattern, started, saved_before, report=events or on_step is not None)
        modes: list[Any] = ["tasks", "updates"]
        if events:
            modes += ["custom", *(["messages"] if tokens else [])]
        elif on_step is not None or not in_memory:
            # No node's own writes are read here, but asking for them has LangGraph run each task
            # of a superstep beside one that waits for the next chunk, streaming each as it comes.
            # `on_step` needs that: a step reported finished before the next superstep starts, so
            # that a drain it requests stops the run there. A saved run too: a task cut off by a
            # cancellation saves its `CancelledError` then. Otherwise LangGraph runs a superstep of
            # one task inline, as `graph.ainvoke` does (~10% of a run on a fast model), and its end
            # is read as the next superstep starts.
            modes.append("custom")
        context = AgentContext(model=model, policies=policies, branches=branches)  # counts the run's usage
        stream: Any = graph.astream(  # (mode, chunk) pairs, as several modes are asked for
            graph_input,
            config,
            context=context,
            stream_mode=modes,
            durability=("exit" if in_memory else durability) if checkpointed else None,
            control=control,
        )
        ending, drained = _Ending(), False
        try:
            async with aclosing(stream):
                async for mode, chunk in stream:
                    if mode == "tasks":
                        if "input" not in chunk and receipts is not None:
                            await receipts.saved(chunk["id"])  # a finished task: reported once saved
                        for step in steps.see(chunk):
                            if on_step is not None:
                                on_step(step)
                            if events:
                                yield step
                        continue
                    if mode == "updates":
                        ending.see(chunk)
                    if events:
                        for event in _events(mode, chunk, round(time.perf_counter() - started, 6), pattern):
                            yield event
        except UsageError:
            raise
        except GraphDrained as exc:
            if control is not None and control.drain_requested:
                drained = True  # stopped between supersteps, as `control` asked: saved, to resume
            else:  # a node's own (the orchestrator's below its quorum): a failure like any other
                error = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a flow failure is a result to report, not a crash
            error = f"{type(exc).__name__}: {exc}"
        status: Literal["completed", "interrupted", "failed", "drained"] = "completed"
        interrupt = result = None
        if drained:
            status = "drained"
        elif error:
            status = "failed"
        elif readable and ending.finished():
            result = ending.result  # the stream showed the end: no need to rebuild the state
        elif not checkpointed:  # the stream is all there is, and it shows the end
            if ending.interrupts:
                status, interrupt = "interrupted", ending.interrupts[0].value
            else:
                status, error = "failed", "the flow ended without producing a result"
        else:
            snapshot = await graph.aget_state(config)
            if snapshot.interrupts:
                status, interrupt = "interrupted", snapshot.interrupts[0].value
            elif snapshot.next:
                status, error = "failed", f"stopped before {', '.join(snapshot.next)}"
            elif "result" not in snapshot.values:
                status, error = "failed", "the flow ended without producing a result"
            else:
                result = snapshot.values["result"]

    usage = context.usage
    by_agent = usage.ledger.snapshot()
    yield observed.finish(
        RunResult(
            framework="langgraph",
            pattern=pattern,
            thread_id=thread_id,
            status=status,
            output=spec.output_model.model_validate(result).model_dump(mode="json")
            if result is not None
            else None,
            error=error,
            interrupt=interrupt,
            steps=steps.records(),
            calls=sum(u.calls for u in by_agent.values()),
            failed_calls=sum(u.failures for u in by_agent.values()),
            prompt_tokens=sum(u.prompt_tokens for u in by_agent.values()),
            completion_tokens=sum(u.completion_tokens for u in by_agent.values()),
            usage=by_agent,
            cost_usd=usage.cost_usd,
            wall_time_s=round(time.perf_counter() - started, 6),
            resumed=resume,
        )
    )


class _Ending:
    """What the "updates" stream showed of a run's end: its last `result` write, and any pause."""

    def __init__(self) -> None:
        self.result: Any = None
        self.wrote_result = False
        self.interrupts: list[Interrupt] = []

    def see(self, chunk: Mapping[str, Any]) -> None:
        for node, update in chunk.items():
            if node == "__interrupt__":
                self.interrupts.extend(update)
            elif isinstance(update, Mapping) and "result" in update:
                self.result, self.wrote_result = update["result"], True

    @staticmethod
    def readable(graph: PatternGraph) -> bool:
        """Whether the stream tells how a run of `graph` ends: `result` keeps the last value
        written (no reducer), and no node has a static breakpoint (which stops a run silently)."""
        return (
            isinstance(graph.channels.get("result"), LastValue)
            and not graph.interrupt_before_nodes
            and not graph.interrupt_after_nodes
        )

    def finished(self) -> bool:
        """Whether the run of a `readable` graph surely ended complete, with `result` as its
        state's: a stream that ended without an error or a pause ran every task, and its last
        write is the value."""
        return self.wrote_result and not self.interrupts


def _input(spec: PatternSpec, given: Any) -> Any:
    if given is not None:
        return given
    if spec.sample is None:
        raise UsageError(f"this {spec.name} flow has no sample input: pass its input")
    return spec.sample


#: Compiled graphs by flow, reused by every run: compiling costs ~1.4 ms a run, a copy with the
#: run's saver ~0.02 ms. Keyed by identity (a declared flow holds unhashable arguments); holding
#: the flow keeps its id from being reused while it is kept. Bounded.
_GRAPHS: dict[tuple[int, bool], tuple[PatternSpec, PatternGraph]] = {}
_GRAPHS_KEPT = 128


def _compiled(spec: PatternSpec, own_retry: bool) -> PatternGraph:
    """`spec` compiled without a checkpointer (each run copies it with its own), once per flow.

    With policies that retry, the graph has no node retry: LangGraph's would multiply the attempts.
    """
    key = (id(spec), own_retry)
    kept = _GRAPHS.get(key)
    if kept is None:
        if len(_GRAPHS) >= _GRAPHS_KEPT:
            del _GRAPHS[next(iter(_GRAPHS))]
        kept = _GRAPHS[key] = (spec, spec.compile(**({"retry_policy": None} if own_retry else {})))
    return kept[1]


def _check_answer(thread_id: str, pending: Sequence[Interrupt], answer: Any) -> None:
    """Refuse an answer the waiting step cannot take, before it is written to the checkpoint.

    LangGraph stores a resume value in the thread for good: an answer the node
    then rejects would be replayed on every later resume. The waiting step says
    what it takes in its interrupt's value, so this check knows no pattern:
    `options`, the answers allowed (`[]`: any text), or `answer_schema`, a JSON
    schema the answer must match (its `examples` are shown with a refusal).
    """
    import json
    import re

    if not pending:
        raise UsageError(f"thread {thread_id!r} is not waiting for an answer; resume it without --answer")
    ask = pending[0].value
    options = ask.get("options") if isinstance(ask, Mapping) else None
    if options and answer not in options:
        raise UsageError(
            f"{answer!r} is not an option for thread {thread_id!r}; answer one of: {', '.join(map(str, options))}"
        )
    if options == [] and not (isinstance(answer, str) and answer.strip()):  # an open question
        raise UsageError(f"thread {thread_id!r} asks an open question: answer it with text, not {answer!r}")
    schema = ask.get("answer_schema") if isinstance(ask, Mapping) else None
    if not isinstance(schema, Mapping):
        return
    defs: Mapping[str, Any] = schema.get("$defs", {})
    # JSON's types as pydantic's strict JSON mode reads them (no bool as a number, no 1.0 as an integer).
    types: dict[str, tuple[str, Callable[[Any], bool]]] = {
        "boolean": ("true or false", lambda v: isinstance(v, bool)),
        "integer": ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
        "number": ("a number", lambda v: isinstance(v, int | float) and not isinstance(v, bool)),
        "string": ("text", lambda v: isinstance(v, str)),
        "array": ("a list", lambda v: isinstance(v, list)),
        "object": ("an object", lambda v: isinstance(v, Mapping)),
        "null": ("null", lambda v: v is None),
    }
    bounds: dict[str, tuple[str, Callable[[Any, Any], bool]]] = {
        "minimum": ("at least", lambda v, limit: v >= limit),
        "maximum": ("at most", lambda v, limit: v <= limit),
        "exclusiveMinimum": ("more than", lambda v, limit: v > limit),
        "exclusiveMaximum": ("less than", lambda v, limit: v < limit),
    }

    def resolve(rule: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in rule:  # pydantic's references are local: #/$defs/Name
            rule = defs.get(str(rule["$ref"]).rpartition("/")[2], {})
        return rule

    def wrong_type(value: Any, rules: Sequence[Mapping[str, Any]], where: str) -> str | None:
        """`value` fits none of the types the rules name (a rule naming none fits any)."""
        wanted: list[str] = []
        for rule in rules:
            named = [rule["type"]] if isinstance(rule.get("type"), str) else rule.get("type") or list(types)
            if any(types[w][1](value) for w in named if w in types):
                return None
            wanted += [types[w][0] for w in named if w in types and types[w][0] not in wanted]
        given = next((name for name, test in types.values() if test(value)), type(value).__name__)
        return f"{where} must be {' or '.join(wanted)}, not {given}"

    def mismatch(value: Any, rule: Mapping[str, Any], at: str) -> str | None:
        """The first way `value` breaks `rule`, in the keywords pydantic's JSON schemas use.

        Only what is surely wrong is refused: a keyword not read here is left to the
        waiting step, which validates the answer again and, if it must, asks again.
        """
        rule = resolve(rule)
        where, inside = at or "the answer", f"{at}." if at else ""
        if problem := wrong_type(value, [rule], where):
            return problem
        if "const" in rule and value != rule["const"]:
            return f"{where} must be {json.dumps(rule['const'])}, not {json.dumps(value, default=repr)}"
        if "enum" in rule and value not in rule["enum"]:
            return f"{where} must be one of: {', '.join(json.dumps(e) for e in rule['enum'])}"
        if isinstance(value, str):
            short, long = (
                len(value) < rule.get("minLength", 0),
                len(value) > rule.get("maxLength", len(value)),
            )
            try:
                unmatched = "pattern" in rule and not re.search(rule["pattern"], value)
            except re.error:  # a pattern in a dialect Python does not read: the step checks it
                unmatched = False
            if (short or unmatched) and not value.strip():
                return f"{where} must not be blank"
            if short or long:
                most = f"at least {rule['minLength']}" if short else f"at most {rule['maxLength']}"
                return f"{where} must have {most} characters, not {len(value)}"
            if unmatched:
                return f"{where} must match the pattern {rule['pattern']}"
        if types["number"][1](value):
            for bound, (words, holds) in bounds.items():
                if bound in rule and not holds(value, rule[bound]):
                    return f"{where} must be {words} {rule[bound]}, not {value}"
        if isinstance(value, list):
            few, many = len(value) < rule.get("minItems", 0), len(value) > rule.get("maxItems", len(value))
            if few or many:
                most = f"at least {rule['minItems']}" if few else f"at most {rule['maxItems']}"
                return f"{where} must have {most} items, not {len(value)}"
            for i, item in enumerate(value):
                if problem := mismatch(item, rule.get("items", {}), f"{at}[{i}]"):
                    return problem
        if isinstance(value, Mapping):
            if missing := [key for key in rule.get("required", []) if key not in value]:
                return f"{inside}{missing[0]} is missing"
            fields, others = rule.get("properties", {}), rule.get("additionalProperties", True)
            for key, item in value.items():
                if key not in fields and others is False:
                    return f"{inside}{key} is not expected here (only {', '.join(fields)})"
                sub = fields.get(key, others if isinstance(others, Mapping) else {})
                if problem := mismatch(item, sub, f"{inside}{key}"):
                    return problem
            if tagged := rule.get("discriminator"):  # name the tags, not every alternative's complaint
                tag, forms = tagged["propertyName"], tagged.get("mapping", {})
                if value.get(tag) not in forms:
                    got = json.dumps(value.get(tag), default=repr)
                    return f"{inside}{tag} must be one of: {', '.join(forms)}, not {got}"
                return mismatch(value, {"$ref": forms[value[tag]]}, at)
        alternatives = [resolve(r) for r in rule.get("anyOf") or rule.get("oneOf") or []]
        if alternatives and (problem := wrong_type(value, alternatives, where)):
            return problem
        problems = [mismatch(value, alternative, at) for alternative in alternatives]
        if problems and all(problems):
            return " or ".join(dict.fromkeys(str(p) for p in problems))
        return None

    if problem := mismatch(answer, schema, ""):
        examples = schema.get("examples") or []
        tag = schema.get("discriminator", {}).get("propertyName")
        if tag and isinstance(answer, Mapping):  # an example of the form the answer took, if any
            examples = [e for e in examples if e.get(tag) == answer.get(tag)] or examples
        example = json.dumps(examples[0]) if examples else ""
        like = f"; answer like {example}" if example and len(example) <= 160 else ""  # one line, to read
        raise UsageError(f"thread {thread_id!r} cannot take this answer: {problem}{like}")


class _Steps:
    """A run's step records, from LangGraph's "tasks" stream: a task's start opens its record
    (the input node's is no agent step: it calls no model), its result closes it.

    With `report`, each record opened or closed is reported by a `StepStarted` or `StepFinished`
    (a frozen dataclass costs ~1.5 us: without anyone to report to, none is made).
    """

    def __init__(self, pattern: str, started: float, saved_before: frozenset[str], *, report: bool) -> None:
        self.pattern, self.started, self.saved_before, self.report = pattern, started, saved_before, report
        #: By task id, in the order the tasks were first seen: (agent, start, end, status, error),
        #: made `StepRecord`s once, at the end of the run.
        self._records: dict[str, tuple[str, float, float, StepStatus, str | None]] = {}

    def see(self, chunk: Mapping[str, Any]) -> list[StepStarted | StepFinished]:
        """Record one "tasks" chunk; the events that report it."""
        name = str(chunk["name"]).removeprefix("__error_handler__")
        if name == INPUT_NODE:
            return []
        now = round(time.perf_counter() - self.started, 6)
        task_id = str(chunk["id"])
        if "input" not in chunk:
            return self._finish(task_id, name, now, chunk.get("error"), bool(chunk.get("interrupts")))
        self._records[task_id] = (name, now, now, "ok", None)
        opened: list[StepStarted | StepFinished] = (
            [StepStarted(self.pattern, name, now, task_id=task_id)] if self.report else []
        )
        if task_id not in self.saved_before:
            return opened
        # A task whose writes the interrupted run saved (it finished after its last step
        # report, or as it was stopped): LangGraph announces it but reuses its writes and
        # reports no end, so it is reported finished here, once, as it is resumed.
        return opened + self._finish(task_id, name, now, None, False)

    def _finish(
        self, task_id: str, name: str, now: float, raised: BaseException | None, interrupted: bool
    ) -> list[StepStarted | StepFinished]:
        start = self._records[task_id][1] if task_id in self._records else now
        status: StepStatus = "error" if raised else "interrupted" if interrupted else "ok"
        error = f"{type(raised).__name__}: {raised}" if raised else None
        self._records[task_id] = (name, start, now, status, error)
        if not self.report:
            return []
        return [StepFinished(self.pattern, name, start, now, status, task_id=task_id, error=error)]

    def records(self) -> list[StepRecord]:
        """The records by start, then agent (the tasks of a superstep start together)."""
        return [
            StepRecord(agent=agent, start=start, end=end, status=status, error=error)
            for agent, start, end, status, error in sorted(self._records.values(), key=lambda r: (r[1], r[0]))
        ]


def _events(mode: str, chunk: Any, now: float, pattern: str) -> list[RunEvent]:
    """The events of one LangGraph stream chunk of a mode other than "tasks"."""
    if mode == "updates":  # {node: update}; an interrupt is reported by the RunResult
        return [
            StateUpdate(pattern, node, update, now)
            for node, update in chunk.items()
            if node != INPUT_NODE and not node.startswith("__") and isinstance(update, Mapping)
        ]
    if mode == "messages":
        message, metadata = chunk
        if isinstance(message, AIMessageChunk) and isinstance(message.content, str) and message.content:
            return [ModelToken(pattern, str(metadata.get("langgraph_node", "")), message.content, now)]
        return []
    return [CustomEvent(pattern, chunk, now)]
