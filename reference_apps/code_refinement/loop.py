"""The refinement graph: generate -> critique (run the tests) -> generate | finish.

The structure and stop rules are those of `patterns.refinement`: the loop ends
when the score reaches the threshold, stops moving (converged), or hits the
iteration bound, checked in that order by the pattern's own `stop_reason`, and
the recursion limit comes from the bound. What differs is the critic: a node
of plain code that runs the candidate against the task's tests in the sandbox,
not a model's opinion. Every step is checkpointed, so an interrupted run
resumes where it stopped without regenerating or re-testing finished rounds.
"""

from __future__ import annotations

import operator
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypedDict, cast

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from patterns import DEFAULT_RETRY, open_checkpointer
from patterns.refinement import StopReason, recursion_limit, stop_reason
from pydantic import BaseModel, Field

from generators import CodeGenerator, GenerationRequest
from sandbox import Failure, SandboxLimits, Verdict, run_tests
from task import CodeTask

__all__ = ["DEFAULT_CHECKPOINT", "LoopSettings", "Outcome", "ThreadError", "Round", "build_graph", "refine"]

DEFAULT_CHECKPOINT = "sqlite:///.code_refinement/checkpoints.sqlite"


class LoopSettings(BaseModel):
    threshold: float = Field(default=1.0, ge=0.0, le=1.0)
    epsilon: float = Field(default=0.01, ge=0.0, le=1.0)
    max_iterations: int = Field(default=5, ge=1, le=50)
    timeout_s: float = Field(default=10.0, gt=0)
    memory_mb: int = Field(default=512, ge=64)


class Round(BaseModel):
    iteration: int
    score: float
    passed: int
    total: int
    status: str
    failures: list[Failure]
    duration_s: float


class Outcome(BaseModel):
    task: str
    thread_id: str
    best_code: str
    best_score: float
    scores: list[float]
    iterations: int
    stop_reason: StopReason
    isolation: str
    history: list[Round]


class RefineState(TypedDict, total=False):
    task: dict[str, Any]  # the settings; `stop_reason` reads threshold, epsilon, max_iterations
    code: str
    verdict: dict[str, Any]
    history: Annotated[list[dict[str, Any]], operator.add]
    candidates: Annotated[list[str], operator.add]
    result: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RefineContext:
    """Run-time context: kept out of checkpoints, so a resumed run may use another generator."""

    task: CodeTask
    generator: CodeGenerator


async def generate(state: RefineState, runtime: Runtime[RefineContext]) -> RefineState:
    verdict = state.get("verdict")
    request = GenerationRequest(
        task=runtime.context.task,
        iteration=len(state.get("history", [])) + 1,
        previous=state.get("code"),
        verdict=Verdict.model_validate(verdict) if verdict else None,
        tried=tuple(state.get("candidates", [])),
    )
    code = await runtime.context.generator.propose(request)
    return {"code": code, "candidates": [code]}


def critique(state: RefineState, runtime: Runtime[RefineContext]) -> RefineState:
    task, settings = runtime.context.task, state["task"]
    verdict = run_tests(
        state["code"],
        module=task.module,
        test_file=task.test_file,
        tests_source=task.tests_source,
        test_names=task.test_names,
        limits=SandboxLimits(timeout_s=settings["timeout_s"], memory_mb=settings["memory_mb"]),
    )
    entry = Round(iteration=len(state.get("history", [])) + 1, **verdict.model_dump(exclude={"isolation"}))
    return {"verdict": verdict.model_dump(), "history": [entry.model_dump()]}


def finish(state: RefineState) -> RefineState:
    history = state["history"]
    scores = [h["score"] for h in history]
    best = max(range(len(scores)), key=lambda i: (scores[i], -i))  # the earliest of the best
    return {
        "result": {
            "best_code": state["candidates"][best],
            "best_score": scores[best],
            "scores": scores,
            "iterations": len(history),
            "stop_reason": _stop(state) or "max_iterations",
            "isolation": state["verdict"]["isolation"],
            "history": history,
        }
    }


def _stop(state: RefineState) -> StopReason | None:
    # Same state keys as the pattern's loop, so its stop rules apply unchanged.
    return stop_reason(cast(Any, state))


def should_continue(state: RefineState) -> Literal["generate", "finish"]:
    return "finish" if _stop(state) else "generate"


def build_graph(*, checkpointer: Any = None) -> Any:
    graph = StateGraph(RefineState, context_schema=RefineContext)
    graph.add_node("generate", generate, retry_policy=DEFAULT_RETRY)  # a real model fails transiently
    graph.add_node("critique", critique)  # deterministic: a retry would only repeat the verdict
    graph.add_node("finish", finish)
    graph.add_edge(START, "generate")
    graph.add_edge("generate", "critique")
    graph.add_conditional_edges("critique", should_continue, ["generate", "finish"])
    graph.add_edge("finish", END)
    return graph.compile(checkpointer=checkpointer, name="code_refinement")


class ThreadError(ValueError):
    """The thread to start exists already, or the one to resume does not (or refines another task)."""


async def refine(
    task: CodeTask,
    generator: CodeGenerator,
    settings: LoopSettings | None = None,
    *,
    checkpoint: str = DEFAULT_CHECKPOINT,
    thread_id: str | None = None,
    resume: bool = False,
) -> Outcome:
    """Run the loop (or resume `thread_id`) and return the best candidate found."""
    if resume and not thread_id:
        raise ThreadError("resuming needs the thread id printed by the interrupted run (--thread ID)")
    thread_id = thread_id or f"refine-{uuid.uuid4().hex[:12]}"
    async with open_checkpointer(checkpoint) as saver:
        graph = build_graph(checkpointer=saver)
        config: dict[str, Any] = {"configurable": {"thread_id": thread_id}}
        snapshot = await graph.aget_state(config)
        if not resume and snapshot.created_at is not None:
            # Starting over on an existing thread would append to its history.
            raise ThreadError(
                f"thread {thread_id!r} exists already: add --resume to continue it, or pick a new --thread"
            )
        if resume:
            if snapshot.created_at is None:
                raise ThreadError(f"no run {thread_id!r} in {checkpoint}: start one without --resume")
            if snapshot.values["task"]["name"] != task.name:
                raise ThreadError(
                    f"thread {thread_id!r} refines task {snapshot.values['task']['name']!r}, "
                    f"not {task.name!r}: pass --task for that task"
                )
            bounds, graph_input = snapshot.values["task"], None
        else:
            bounds = {"name": task.name, **(settings or LoopSettings()).model_dump()}
            graph_input = {"task": bounds}
        config["recursion_limit"] = recursion_limit(int(bounds["max_iterations"]))
        context = RefineContext(task=task, generator=generator)
        state = await graph.ainvoke(graph_input, config, context=context, durability="sync")
    return Outcome(task=task.name, thread_id=thread_id, **state["result"])
