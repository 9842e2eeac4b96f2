"""Refinement loop: generator -> critic -> refine, until good enough, converged or out of turns.

For work that improves with feedback (a product description, a code fix). The
loop has three exits, checked after every critique in this order: the score
reached `threshold`; the score moved less than `epsilon` since the last round
(converged); `max_iterations` drafts were written. The best draft wins, not the
last. The recursion limit is derived from `max_iterations`, never left default.

The critic is the user's: an agent with its own output schema (a grade with
feedback, test results) or a plain function (run the tests, lint the code);
`score=` says how to read a number from its output.
"""

from __future__ import annotations

import inspect
import operator
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from langgraph.graph import END, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import RetryPolicy
from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict  # pydantic reads its schema on 3.11 (the server's /schemas)

from patterns.errors import UsageError
from patterns.runtime._agent import DEFAULT_RETRY, Agent, AgentContext, Ask, PatternGraph, ask_in
from patterns.runtime._input import add_input
from patterns.runtime._spec import PatternSpec

__all__ = [
    "SPEC",
    "Critique",
    "Draft",
    "Refinement",
    "RefinementInput",
    "RefinementOutput",
    "Turn",
    "build_refinement",
    "recursion_limit",
]

StopReason = Literal["threshold", "converged", "max_iterations"]
LOOP_SETTINGS = ("threshold", "epsilon", "max_iterations")


class RefinementInput(BaseModel):
    """The stop rules; every other field is the brief, shown to the generator and the critic.

    Subclass it to declare (and validate) a brief: `class Essay(RefinementInput): topic: str`.
    """

    model_config = ConfigDict(extra="allow")

    threshold: float = Field(default=0.95, ge=0.0, le=1.0, description="Stop once a score reaches it.")
    epsilon: float = Field(default=0.01, ge=0.0, le=1.0, description="Stop once a score moves less.")
    max_iterations: int = Field(default=5, ge=1, le=50, description="Stop after this many drafts.")


class Draft(BaseModel):
    draft: str


class Critique(BaseModel):
    """The preset critic's rubric. Your critic's output is any model with a score in it."""

    score: float = Field(ge=0.0, le=1.0)
    missing: list[str]
    word_count: int
    over_length: bool


class RefinementOutput(BaseModel):
    best_draft: Any
    best_score: float
    scores: list[float]
    iterations: int
    stop_reason: StopReason
    history: list[dict[str, Any]]
    """One entry per critique: `iteration`, `score`, and the critique's other fields."""


class RefinementState(TypedDict, total=False):
    task: dict[str, Any]
    draft: Any
    critique: dict[str, Any]
    history: Annotated[list[dict[str, Any]], operator.add]
    drafts: Annotated[list[Any], operator.add]
    result: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Turn:
    """What a generator or critic function is given; an agent is shown the same as JSON."""

    brief: dict[str, Any]
    """The run's input without the stop rules."""
    iteration: int
    """The draft being written (generator) or graded (critic), from 1."""
    draft: Any
    """The latest draft: None before the first; for the critic, the one to grade."""
    feedback: dict[str, Any] | None
    """The latest critique, or None before the first."""
    drafts: tuple[Any, ...]
    """Every draft so far, oldest first."""


#: Returns the next draft: any JSON value (text, code, a dict).
GeneratorFn = Callable[[Turn], Awaitable[Any]]
#: Returns the critique of `turn.draft` (a pydantic model or a dict), sync or async.
CriticFn = Callable[[Turn], Any]


@dataclass(frozen=True, slots=True)
class Refinement:
    """A declared refinement loop: the arguments of `build_refinement`, checked."""

    generator: Agent[Any] | GeneratorFn
    critic: Agent[Any] | CriticFn
    score: str | Callable[[dict[str, Any]], float] = "score"
    draft: str | None = "draft"
    critic_sees: tuple[str, ...] | None = None
    history_fields: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        gen, critic = self.generator, self.critic
        if not (isinstance(gen, Agent) or callable(gen)) or not (
            isinstance(critic, Agent) or callable(critic)
        ):
            raise UsageError("build_refinement needs generator= and critic=, each an Agent or a function")
        if isinstance(gen, Agent) and self.draft is not None and self.draft not in gen.output.model_fields:
            raise UsageError(
                f"the generator {gen.name!r} replies with {gen.output.__name__}, which has no "
                f"{self.draft!r} field: pass draft='<field>' (or draft=None for the whole reply)"
            )
        if (
            isinstance(critic, Agent)
            and isinstance(self.score, str)
            and self.score not in critic.output.model_fields
        ):
            raise UsageError(
                f"the critic {critic.name!r} replies with {critic.output.__name__}, which has no "
                f"{self.score!r} field: pass score='<field>' or score=<function of the critique>"
            )

    # -- the two turns (payloads and updates, shared with the adapters) --------

    def generator_turn(self, state: RefinementState) -> Turn:
        return _turn(state, len(state.get("drafts", [])) + 1)

    def critic_turn(self, state: RefinementState) -> Turn:
        return _turn(state, len(state.get("drafts", [])))

    def generator_payload(self, state: RefinementState) -> dict[str, Any]:
        turn = self.generator_turn(state)
        return {**turn.brief, "draft": turn.draft, "feedback": turn.feedback}

    def critic_payload(self, state: RefinementState) -> dict[str, Any]:
        brief = self.critic_turn(state).brief
        shown = brief if self.critic_sees is None else {k: brief[k] for k in self.critic_sees if k in brief}
        return {"draft": state["draft"], **shown}

    def generator_update(self, reply: Any) -> RefinementState:
        """`reply`: the generator agent's output model, or a generator function's draft."""
        if isinstance(reply, BaseModel):
            reply = reply.model_dump(mode="json") if self.draft is None else getattr(reply, self.draft)
        return {"draft": reply, "drafts": [reply]}

    def critic_update(self, state: RefinementState, reply: BaseModel | Mapping[str, Any]) -> RefinementState:
        critique = reply.model_dump(mode="json") if isinstance(reply, BaseModel) else dict(reply)
        score = self.read_score(critique)
        kept = self.history_fields or [k for k in critique if k != self.score]
        entry = {"iteration": len(state.get("history", [])) + 1, "score": score}
        entry |= {k: critique[k] for k in kept if k in critique}
        return {"critique": critique, "history": [entry]}

    async def generate(self, state: RefinementState, ask: Ask) -> RefinementState:
        """The generator's turn: the agent asked (or the function called), its draft the update."""
        if isinstance(self.generator, Agent):
            return self.generator_update(await ask(self.generator, self.generator_payload(state)))
        return self.generator_update(await self.generator(self.generator_turn(state)))

    async def critique(self, state: RefinementState, ask: Ask) -> RefinementState:
        """The critic's turn: the agent asked (or the function called, sync or async) on the draft."""
        if isinstance(self.critic, Agent):
            return self.critic_update(state, await ask(self.critic, self.critic_payload(state)))
        reply = self.critic(self.critic_turn(state))
        return self.critic_update(state, await reply if inspect.isawaitable(reply) else reply)

    def read_score(self, critique: dict[str, Any]) -> float:
        try:
            value = critique[self.score] if isinstance(self.score, str) else self.score(critique)
            return float(value)
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(
                f"no score in the critique {sorted(critique)}: pass score='<field>' "
                f"or score=<function of the critique> ({exc!r})"
            ) from exc


def _turn(state: RefinementState, iteration: int) -> Turn:
    return Turn(
        brief={k: v for k, v in state["task"].items() if k not in LOOP_SETTINGS},
        iteration=iteration,
        draft=state.get("draft"),
        feedback=state.get("critique"),
        drafts=tuple(state.get("drafts", [])),
    )


def recursion_limit(max_iterations: int) -> int:
    """Two nodes per iteration plus the final one, with headroom for retries of the edge logic."""
    return 2 * max_iterations + 4


# -- nodes -------------------------------------------------------------------


def finish(state: RefinementState) -> RefinementState:
    history = state["history"]
    scores = [h["score"] for h in history]
    best = max(range(len(scores)), key=lambda i: (scores[i], -i))  # earliest of the best
    output = RefinementOutput(
        best_draft=state["drafts"][best],
        best_score=scores[best],
        scores=scores,
        iterations=len(history),
        stop_reason=stop_reason(state) or "max_iterations",
        history=history,
    )
    return {"result": output.model_dump(mode="json")}


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
    generator: Agent[Any] | GeneratorFn,
    critic: Agent[Any] | CriticFn,
    score: str | Callable[[dict[str, Any]], float] = "score",
    draft: str | None = "draft",
    critic_sees: tuple[str, ...] | None = None,
    history_fields: tuple[str, ...] | None = None,
    checkpointer: Any = None,
    retry_policy: RetryPolicy | None = DEFAULT_RETRY,
    name: str = "refinement",
) -> PatternGraph:
    """generate -> critique -> (generate | finish); run with `recursion_limit(max_iterations)`.

    The input is `{"task": {...}}`: the stop rules of `RefinementInput` and the brief.

    Args:
        generator: Writes the first draft, then revises it; an agent shown the brief,
            its last `draft` and the critic's `feedback`, or an async function of a `Turn`.
        critic: Grades each draft: an agent with its own output schema, or a function
            (sync or async) of a `Turn` returning a model or a dict.
        score: The critique's field holding the score (0 to 1), or a function of the
            critique (a dict) returning it.
        draft: The generator output's field holding the draft; None keeps the whole reply.
        critic_sees: The brief's fields the critic agent is shown (default: all).
        history_fields: The critique's fields kept in the history (default: all).
        checkpointer: A LangGraph checkpointer; each draft and critique is saved.
        retry_policy: The node retry for model calls; None when `AgentPolicies.retry` retries.
        name: The compiled graph's name.

    Example:
        ```python
        class Grade(BaseModel):
            grade: int  # 0..10
            feedback: str

        editor = Agent("editor", "Grade the essay from 0 to 10; say what to fix.", output=Grade)
        graph = build_refinement(generator=writer, critic=editor, score=lambda c: c["grade"] / 10)
        ```
    """
    flow = Refinement(generator, critic, score, draft, critic_sees, history_fields)

    async def generate(state: RefinementState, runtime: Runtime[AgentContext]) -> RefinementState:
        return await flow.generate(state, ask_in(runtime.context))

    async def critique(state: RefinementState, runtime: Runtime[AgentContext]) -> RefinementState:
        return await flow.critique(state, ask_in(runtime.context))

    graph = StateGraph(RefinementState, context_schema=AgentContext)
    graph.add_node("generate", generate, retry_policy=retry_policy)
    graph.add_node("critique", critique, retry_policy=retry_policy)
    graph.add_node("finish", finish)
    graph.add_edge(add_input(graph, RefinementInput, key="task"), "generate")
    graph.add_edge("generate", "critique")
    graph.add_conditional_edges("critique", should_continue, ["generate", "finish"])
    graph.add_edge("finish", END)
    return graph.compile(checkpointer=checkpointer, name=name)


SPEC = PatternSpec(
    name="refinement",
    summary="generator -> critic loop until threshold, convergence or max iterations",
    input_model=RefinementInput,
    output_model=RefinementOutput,
    state_type=RefinementState,
    build=build_refinement,
    initial_state=lambda data: {"task": data.model_dump(mode="json")},
    recursion_limit=lambda state: recursion_limit(int(state["task"]["max_iterations"])),
)
