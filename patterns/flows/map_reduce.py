"""Map-reduce: one mapper agent over a collection in batches, then an associative reduce.

For homogeneous work over many items (sentiment of 1,000 reviews). Items are cut
into batches, each batch is one `Send` to the mapper (so one model call per
batch, not per item), and a per-run semaphore bounds how many call the model at
once. Each branch folds its batch into a partial aggregate; the reducer agent
combines the partials. The combine is associative and commutative, so batch size
and completion order cannot change the answer.

Thousands of batches: LangGraph's cost per task grows with the tasks of a
superstep (each finished task's writes are merged into a list of them all), so
`batches_per_task=k` sends one `map_batches` task per k batches, which runs
them concurrently in the same slots. A task is then the unit of checkpointing:
a crash redoes the unfinished tasks' batches, and a step record covers a task.

Each batch is asked with `call_branch`: on a run given `branches` (the
distributed workers' `--spread-branches`), batches are asked on other workers
and their replies kept by key, so a resumed map reuses the replies it got.
"""

from __future__ import annotations

import asyncio
import functools
import operator
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Annotated, Any, TypeVar

from langgraph.graph import END, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import RetryPolicy, Send
from pydantic import BaseModel, Field, field_validator
from typing_extensions import TypedDict  # pydantic reads its schema on 3.11 (the server's /schemas)

from patterns.errors import UsageError
from patterns.runtime._agent import DEFAULT_RETRY, Agent, AgentContext, Ask, PatternGraph, ask_in
from patterns.runtime._branches import call_branch
from patterns.runtime._input import add_input
from patterns.runtime._spec import PatternSpec

__all__ = [
    "SPEC",
    "BINS",
    "CombinedOutput",
    "MapReduceInput",
    "MapReduceOutput",
    "MapReply",
    "build_map_reduce",
    "combine_partials",
]

T = TypeVar("T")

#: An associative combine of two partials, for `build_map_reduce(combine=...)`.
Combine = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]

#: The sentiment histogram's bins, most negative first.
BINS = ("very_negative", "negative", "neutral", "positive", "very_positive")


class Item(BaseModel):
    id: str
    text: str


class MapReduceInput(BaseModel):
    items: list[Item] = Field(min_length=1)
    batch_size: int = Field(default=25, ge=1, le=1000)
    max_concurrency: int = Field(default=8, ge=1, le=1000, description="Batches in flight at once.")
    batches_per_task: int = Field(
        default=1,
        ge=1,
        le=1000,
        description="Batches one LangGraph task runs (and checkpoints) together; above 1 for thousands of batches.",
    )

    @field_validator("items")
    @classmethod
    def _unique_ids(cls, items: list[Item]) -> list[Item]:
        if len({i.id for i in items}) != len(items):
            raise ValueError("item ids must be unique")
        return items


class Scored(BaseModel):
    id: str
    score: float
    label: str


class MapReply(BaseModel):
    results: list[Scored]


class MapReduceOutput(BaseModel):
    count: int
    score_sum: float
    mean_sentiment: float
    histogram: dict[str, int]
    most_positive: tuple[str, float] | None
    most_negative: tuple[str, float] | None
    batches: int = 0


class CombinedOutput(BaseModel):
    """What the `combine=` shape gives: the partials folded in batch order."""

    value: Any
    batches: int


class MapReduceState(TypedDict, total=False):
    items: list[dict[str, Any]]
    batch_size: int
    max_concurrency: int
    batches_per_task: int
    partials: Annotated[list[dict[str, Any]], operator.add]
    result: dict[str, Any]


class BatchTask(TypedDict):
    batch: int
    items: list[dict[str, Any]]
    max_concurrency: int


class BatchGroup(TypedDict):
    """What one `map_batches` task runs: `batches_per_task` batches."""

    tasks: list[BatchTask]


def combine_partials(partials: list[dict[str, Any]]) -> dict[str, Any]:
    """The associative, commutative reduce: any grouping gives the same aggregate."""
    count = 0
    score_sum = 0.0
    histogram = dict.fromkeys(BINS, 0)
    best: list[Any] | None = None
    worst: list[Any] | None = None
    for partial in partials:
        count += int(partial["count"])
        score_sum += float(partial["score_sum"])
        for label, n in partial["histogram"].items():
            histogram[label] = histogram.get(label, 0) + int(n)
        # Ties break on the id so the extremes do not depend on arrival order.
        if partial.get("most_positive") and (best is None or _beats(partial["most_positive"], best, +1)):
            best = list(partial["most_positive"])
        if partial.get("most_negative") and (worst is None or _beats(partial["most_negative"], worst, -1)):
            worst = list(partial["most_negative"])
    score_sum = round(score_sum, 6)
    return {
        "count": count,
        "score_sum": score_sum,
        "mean_sentiment": round(score_sum / count, 4) if count else 0.0,
        "histogram": histogram,
        "most_positive": best,
        "most_negative": worst,
    }


def _beats(candidate: list[Any], incumbent: list[Any], sign: int) -> bool:
    (c_id, c_score), (i_id, i_score) = candidate, incumbent
    if c_score != i_score:
        return bool(sign * (c_score - i_score) > 0)
    return str(c_id) < str(i_id)


# -- agent turns (payloads and updates, shared with the adapters) -----------


def batch_tasks(state: MapReduceState) -> list[BatchTask]:
    items, size, limit = state["items"], state["batch_size"], state["max_concurrency"]
    return [
        {"batch": n, "items": items[i : i + size], "max_concurrency": limit}
        for n, i in enumerate(range(0, len(items), size))
    ]


def mapper_payload(task: BatchTask) -> dict[str, Any]:
    return {"items": task["items"]}


def mapper_update(task: BatchTask, reply: MapReply) -> MapReduceState:
    # Fold the batch with the same associative combine the reducer uses, one item at a time.
    partial = combine_partials(
        [
            {
                "count": 1,
                "score_sum": r.score,
                "histogram": {r.label: 1},
                "most_positive": [r.id, r.score],
                "most_negative": [r.id, r.score],
            }
            for r in reply.results
        ]
    )
    return {"partials": [{**partial, "batch": task["batch"]}]}


def batch_update(task: BatchTask, reply: BaseModel, combine: Combine | None) -> MapReduceState:
    """A batch's partial: the mapper's reply as it is (`combine=`), or folded from a `MapReply`."""
    if combine is not None:
        return {"partials": [{"batch": task["batch"], "value": reply.model_dump(mode="json")}]}
    return mapper_update(
        task, reply if isinstance(reply, MapReply) else MapReply.model_validate(reply.model_dump())
    )


async def reduce_turn(
    state: MapReduceState, ask: Ask, *, reducer: Agent[MapReduceOutput] | None, combine: Combine | None
) -> MapReduceState:
    """The reduce: the partials folded in batch order with `combine`, or the reducer agent asked."""
    if combine is not None:
        return combined_update(state, combine)
    if reducer is None:
        raise UsageError("build_map_reduce needs exactly one of combine=fn(a, b) or reducer=Agent")
    return reducer_update(state, await ask(reducer, reducer_payload(state)))


def combined_update(state: MapReduceState, combine: Combine) -> MapReduceState:
    partials = sorted(state.get("partials", []), key=lambda p: p["batch"])
    value = functools.reduce(combine, (p["value"] for p in partials))
    return {"result": CombinedOutput(value=value, batches=len(partials)).model_dump(mode="json")}


def reducer_payload(state: MapReduceState) -> dict[str, Any]:
    partials = sorted(state.get("partials", []), key=lambda p: p["batch"])
    return {"partials": [{k: v for k, v in p.items() if k != "batch"} for p in partials]}


def reducer_update(state: MapReduceState, reply: MapReduceOutput) -> MapReduceState:
    return {"result": reply.model_copy(update={"batches": len(state.get("partials", []))}).model_dump()}


# -- nodes -------------------------------------------------------------------


# -- edges -------------------------------------------------------------------


def fan_out(state: MapReduceState) -> list[Send]:
    tasks, per_task = batch_tasks(state), state.get("batches_per_task", 1)
    if per_task == 1:
        return [Send("map_batch", task) for task in tasks]
    return [Send("map_batches", {"tasks": tasks[i : i + per_task]}) for i in range(0, len(tasks), per_task)]


async def retried(policy: RetryPolicy | None, call: Callable[[], Awaitable[T]]) -> T:
    """`call()` retried as LangGraph retries a node under `policy`, for work inside one task."""
    interval, attempt = (policy.initial_interval, 1) if policy else (0.0, 1)
    while True:
        try:
            return await call()
        except Exception as exc:
            if policy is None or attempt >= policy.max_attempts or not _retries(policy, exc):
                raise
        attempt += 1
        await asyncio.sleep(
            min(interval, policy.max_interval) + (random.uniform(0, 1) if policy.jitter else 0)
        )
        interval *= policy.backoff_factor


def _retries(policy: RetryPolicy, error: Exception) -> bool:
    retry_on = policy.retry_on  # as LangGraph reads it: an exception class, a sequence of them, or a test
    if isinstance(retry_on, Sequence):
        return isinstance(error, tuple(retry_on))
    if isinstance(retry_on, type):
        return isinstance(error, retry_on)
    return bool(retry_on(error))


# -- builder -----------------------------------------------------------------


def build_map_reduce(
    *,
    mapper: Agent[Any],
    reducer: Agent[MapReduceOutput] | None = None,
    combine: Combine | None = None,
    checkpointer: Any = None,
    retry_policy: RetryPolicy | None = DEFAULT_RETRY,
) -> PatternGraph:
    """START -> map_batch x ceil(N / batch_size) (max_concurrency at a time) -> reduce.

    Args:
        mapper: Asked once per batch with `{"items": [...]}`; its reply is the batch's partial.
        combine: `combine(a, b) -> partial`, associative (and, as batches finish in
            any order, commutative): the partials are folded in batch order, and the
            result is `{"value": ..., "batches": n}`. Not with `reducer`.
        reducer: The sentiment shape instead: the mapper replies `MapReply`, each batch
            folds into a partial with `combine_partials`, and this agent combines them.
        checkpointer: A LangGraph checkpointer; each batch is saved as it finishes.
        retry_policy: The node retry for model calls; None when `AgentPolicies.retry` retries.

    Example:
        ```python
        def add(a: dict, b: dict) -> dict:
            return {"tickets": a["tickets"] + b["tickets"], "urgent": a["urgent"] + b["urgent"]}

        graph = build_map_reduce(mapper=ticket_counter, combine=add)
        ```
    """
    if (reducer is None) == (combine is None):
        raise UsageError("build_map_reduce needs exactly one of combine=fn(a, b) or reducer=Agent")

    async def map_batch(state: BatchTask, runtime: Runtime[AgentContext]) -> MapReduceState:
        # Not LangGraph's `max_concurrency`: it gates checkpoint writes behind the same
        # semaphore as queued branches, so no finished batch would be saved until the
        # last wave started, and a crash would redo them all.
        async with runtime.context.slots("map_batch", state["max_concurrency"]):
            # On a run given `branches` (the distributed workers'), the batch may be asked elsewhere.
            reply = await call_branch(
                runtime.context, mapper, mapper_payload(state), branch=str(state["batch"])
            )
        return batch_update(state, reply, combine)

    async def map_batches(state: BatchGroup, runtime: Runtime[AgentContext]) -> MapReduceState:
        # Each batch is retried on its own (the node has no retry), so a transient failure of
        # one does not redo the others; the first to fail for good cancels the rest.
        async def one(task: BatchTask) -> MapReduceState:
            return await retried(retry_policy, lambda: map_batch(task, runtime))

        running = [asyncio.ensure_future(one(task)) for task in state["tasks"]]
        try:
            updates = await asyncio.gather(*running)
        except BaseException:
            for future in running:
                future.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            raise
        return {"partials": [p for update in updates for p in update["partials"]]}

    async def reduce(state: MapReduceState, runtime: Runtime[AgentContext]) -> MapReduceState:
        return await reduce_turn(state, ask_in(runtime.context), reducer=reducer, combine=combine)

    graph = StateGraph(MapReduceState, context_schema=AgentContext)
    graph.add_node("map_batch", map_batch, input_schema=BatchTask, retry_policy=retry_policy)
    graph.add_node("map_batches", map_batches, input_schema=BatchGroup)
    graph.add_node("reduce", reduce, retry_policy=retry_policy)
    graph.add_conditional_edges(add_input(graph, MapReduceInput), fan_out, ["map_batch", "map_batches"])
    graph.add_edge("map_batch", "reduce")
    graph.add_edge("map_batches", "reduce")
    graph.add_edge("reduce", END)
    return graph.compile(checkpointer=checkpointer, name="map_reduce")


def _shape(args: Mapping[str, Any]) -> dict[str, Any]:
    """The `combine=` shape gives a `CombinedOutput`."""
    return {"output_model": CombinedOutput} if args.get("combine") is not None else {}


SPEC = PatternSpec(
    name="map_reduce",
    summary="one agent over many items in batches, with bounded concurrency, then an associative combine",
    input_model=MapReduceInput,
    output_model=MapReduceOutput,
    state_type=MapReduceState,
    build=build_map_reduce,
    shape=_shape,
)
