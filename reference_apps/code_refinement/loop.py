"""The refinement loop: `patterns.refinement.build_refinement` with the app's own generator and critic.

The generator is the app's `CodeGenerator` (scripted revisions or a real
model); the critic is a plain function, the sandboxed test run: it runs the
candidate against the task's tests and its verdict (score = tests passed /
tests total, the failures) is the critique. The pattern owns the rest: the
graph, the stop rules (threshold, converged, max iterations, in that order),
the best-not-last result and the recursion limit. Every step is checkpointed,
so an interrupted run resumes where it stopped without regenerating or
re-testing finished rounds.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from patterns import DEFAULT_RETRY, open_checkpointer
from patterns.flows.refinement import StopReason, Turn, build_refinement, recursion_limit
from patterns.runtime import PatternGraph
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
    # The sandbox's bounds (SandboxLimits checks them again); NaN and infinities are refused.
    timeout_s: float = Field(default=10.0, ge=1, le=600, allow_inf_nan=False)
    memory_mb: int = Field(default=512, ge=64, le=8192)


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


def build_graph(task: CodeTask, generator: CodeGenerator, *, checkpointer: Any = None) -> PatternGraph:
    """The loop for one run. `task` and `generator` are bound here, never checkpointed,
    so a resumed run may use another generator (a real model after the scripted one)."""

    async def propose(turn: Turn) -> str:
        feedback = turn.feedback
        request = GenerationRequest(
            task=task,
            iteration=turn.iteration,
            previous=turn.draft,
            verdict=Verdict.model_validate(feedback) if feedback else None,
            tried=turn.drafts,
        )
        return await generator.propose(request)

    async def test_run(turn: Turn) -> Verdict:
        # The critic: the candidate against the task's tests, in the sandbox (in a thread: it blocks).
        limits = SandboxLimits(timeout_s=turn.brief["timeout_s"], memory_mb=turn.brief["memory_mb"])
        return await asyncio.to_thread(
            run_tests,
            turn.draft,
            module=task.module,
            test_file=task.test_file,
            tests_source=task.tests_source,
            test_names=task.test_names,
            limits=limits,
        )

    return build_refinement(
        generator=propose,
        critic=test_run,
        score="score",
        history_fields=("passed", "total", "status", "failures", "duration_s"),
        checkpointer=checkpointer,
        # Retries transient model failures only; the sandbox reports a misbehaving candidate in
        # its verdict and raises nothing transient, so the deterministic critic is never retried.
        retry_policy=DEFAULT_RETRY,
        name="code_refinement",
    )


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
        graph = build_graph(task, generator, checkpointer=saver)
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
            # The stop rules, plus the brief the critic reads: the task's name and the sandbox limits.
            bounds = {"name": task.name, **(settings or LoopSettings()).model_dump()}
            graph_input = {"task": bounds}
        config["recursion_limit"] = recursion_limit(int(bounds["max_iterations"]))
        state = await graph.ainvoke(graph_input, config, durability="sync")
    result = state["result"]
    return Outcome(
        task=task.name,
        thread_id=thread_id,
        best_code=result["best_draft"],
        best_score=result["best_score"],
        scores=result["scores"],
        iterations=result["iterations"],
        stop_reason=result["stop_reason"],
        isolation=state["critique"]["isolation"],  # the latest verdict's
        history=result["history"],
    )
