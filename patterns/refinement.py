"""Refinement loop: generator -> critic -> refine, until good enough, converged or out of turns.

For work that improves with feedback (a product description, a code fix). The
loop has three exits, checked after every critique in this order: the score
reached `threshold`; the score moved less than `epsilon` since the last round
(converged); `max_iterations` drafts were written. The best draft wins, not the
last. The recursion limit is derived from `max_iterations`, never left default.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import RetryPolicy
from pydantic import BaseModel, Field

from patterns.agents import DEFAULT_RETRY, Agent, AgentContext, PatternGraph, call_agent

__all__ = ["Critique", "Draft", "RefinementInput", "RefinementOutput", "build_refinement", "recursion_limit"]

StopReason = Literal["threshold", "converged", "max_iterations"]


class RefinementInput(BaseModel):
    topic: str = Field(min_length=1)
    required_points: list[str] = Field(min_length=1)
    max_words: int = Field(default=120, ge=5)
    threshold: float = Field(default=0.95, ge=0.0, le=1.0)
    epsilon: float = Field(default=0.01, ge=0.0, le=1.0)
    max_iterations: int = Field(default=5, ge=1, le=50)


class Draft(BaseModel):
    draft: str


class Critique(BaseModel):
    score: float = Field(ge=0.0, le=1.0)
    missing: list[str]
    word_count: int
    over_length: bool


class Iteration(BaseModel):
    iteration: int
    score: float
    missing: list[str]
    word_count: int


class RefinementOutput(BaseModel):
    best_draft: str
    best_score: float
    scores: list[float]
    iterations: int
    stop_reason: StopReason
    history: list[Iteration]


class RefinementState(TypedDict, total=False):
    task: dict[str, Any]
    draft: str
    critique: dict[str, Any]
    history: Annotated[list[dict[str, Any]], operator.add]
    drafts: Annotated[list[str], operator.add]
    result: dict[str, Any]


def recursion_limit(max_iterations: int) -> int:
    """Two nodes per iteration plus the final one, with headroom for retries of the edge logic."""
    return 2 * max_iterations + 4


# -- agent turns (payloads and updates, shared with the adapters) -----------


def generator_payload(state: RefinementState) -> dict[str, Any]:
    task = state["task"]
    return {
        "topic": task["topic"],
        "required_points": task["required_points"],
        "max_words": task["max_words"],
        "draft": state.get("draft"),
        "feedback": state.get("critique"),
    }


def generator_update(state: RefinementState, reply: Draft) -> RefinementState:
    return {"draft": reply.draft, "drafts": [reply.draft]}


def critic_payload(state: RefinementState) -> dict[str, Any]:
    task = state["task"]
    return {
        "draft": state["draft"],
        "required_points": task["required_points"],
        "max_words": task["max_words"],
    }


def critic_update(state: RefinementState, reply: Critique) -> RefinementState:
    entry = Iteration(
        iteration=len(state.get("history", [])) + 1,
        score=reply.score,
        missing=reply.missing,
        word_count=reply.word_count,
    )
    return {"critique": reply.model_dump(), "history": [entry.model_dump()]}


# -- nodes -------------------------------------------------------------------


def finish(state: RefinementState) -> RefinementState:
    history = [Iteration(**h) for h in state["history"]]
    scores = [h.score for h in history]
    best = max(range(len(scores)), key=lambda i: (scores[i], -i))  # earliest of the best
    output = RefinementOutput(
        best_draft=state["drafts"][best],
        best_score=scores[best],
        scores=scores,
        iterations=len(history),
        stop_reason=stop_reason(state) or "max_iterations",
        history=history,
    )
    return {"result": output.model_dump()}


# -- edges -------------------------------------------------------------------


def stop_reason(state: RefinementState) -> StopReason | None:
    """Why the loop stops after the latest critique, or None to go on."""
    task, history = state["task"], state["history"]
    score = history[-1]["score"]
    if score >= task["threshold"]:
        return "threshold"
    if len(history) > 1 and abs(score - history[-2]["score"]) < task["epsilon"]:
        return "converged"
    if len(history) >= task["max_iterations"]:
        return "max_iterations"
    return None


def should_continue(state: RefinementState) -> Literal["generate", "finish"]:
    return "finish" if stop_reason(state) else "generate"


# -- builder -----------------------------------------------------------------


def build_refinement(
    *,
    generator: Agent[Draft],
    critic: Agent[Critique],
    checkpointer: Any = None,
    retry_policy: RetryPolicy | None = DEFAULT_RETRY,
) -> PatternGraph:
    """generate -> critique -> (generate | finish); run with `recursion_limit(max_iterations)`.

    Args:
        generator: Writes the first draft, then revises it from the critic's feedback.
        critic: Scores each draft from 0 to 1 and says what is missing.
        checkpointer: A LangGraph checkpointer; each draft and critique is saved.
        retry_policy: The node retry for model calls; None when `AgentPolicies.retry` retries.

    Example:
        ```python
        graph = build_refinement(generator=my_writer, critic=my_editor)
        ```
    """

    async def generate(state: RefinementState, runtime: Runtime[AgentContext]) -> RefinementState:
        return generator_update(state, await call_agent(runtime.context, generator, generator_payload(state)))

    async def critique(state: RefinementState, runtime: Runtime[AgentContext]) -> RefinementState:
        return critic_update(state, await call_agent(runtime.context, critic, critic_payload(state)))

    graph = StateGraph(RefinementState, context_schema=AgentContext)
    graph.add_node("generate", generate, retry_policy=retry_policy)
    graph.add_node("critique", critique, retry_policy=retry_policy)
    graph.add_node("finish", finish)
    graph.add_edge(START, "generate")
    graph.add_edge("generate", "critique")
    graph.add_conditional_edges("critique", should_continue, ["generate", "finish"])
    graph.add_edge("finish", END)
    return graph.compile(checkpointer=checkpointer, name="refinement")
