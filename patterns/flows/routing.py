"""Conditional routing: a router agent classifies, a conditional edge picks the route's agent.

For inputs that need different handling by kind. The caller names the routes
and the agent behind each; the route is an explicit, testable decision recorded
in the output, and a route the graph does not know falls back to `default`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import RetryPolicy
from pydantic import BaseModel, Field
from typing_extensions import TypedDict  # pydantic reads its schema on 3.11 (the server's /schemas)

from patterns.errors import UsageError
from patterns.runtime._agent import DEFAULT_RETRY, Agent, AgentContext, PatternGraph, call_agent
from patterns.runtime._input import INPUT_NODE, add_input
from patterns.runtime._spec import PatternSpec

__all__ = ["SPEC", "Answer", "Classification", "RoutingInput", "RoutingOutput", "build_routing"]


class RoutingInput(BaseModel):
    message: str = Field(min_length=1)


class Classification(BaseModel):
    route: str
    confidence: float = Field(ge=0.0, le=1.0)


class Answer(BaseModel):
    answer: str


class RoutingOutput(BaseModel):
    route: str
    confidence: float
    handled_by: str
    answer: str


class RoutingState(TypedDict, total=False):
    message: str
    route: str
    confidence: float
    result: dict[str, Any]


# -- agent turns (payloads and updates, shared with the adapters) -----------


def router_payload(state: RoutingState) -> dict[str, Any]:
    return {"message": state["message"]}


def router_update(
    state: RoutingState, reply: Classification, routes: Sequence[str], default: str
) -> RoutingState:
    route = reply.route if reply.route in routes else default
    return {"route": route, "confidence": reply.confidence}


def specialist_payload(speciality: str, state: RoutingState) -> dict[str, Any]:
    return {"speciality": speciality, "message": state["message"]}


def specialist_update(speciality: str, state: RoutingState, reply: Answer) -> RoutingState:
    output = RoutingOutput(
        route=speciality, confidence=state["confidence"], handled_by=speciality, answer=reply.answer
    )
    return {"result": output.model_dump()}


def default_route(routes: Mapping[str, Any], default: str | None) -> str:
    """Where a route the flow does not know goes: `default`, or the last route."""
    names = list(routes)
    fallback = names[-1] if default is None else default
    if fallback not in routes:
        raise UsageError(f"default route {fallback!r} is not one of the routes: {', '.join(names)}")
    return fallback


# -- nodes -------------------------------------------------------------------


def _specialist(speciality: str, agent: Agent[Answer]) -> Any:
    async def answer(state: RoutingState, runtime: Runtime[AgentContext]) -> RoutingState:
        payload = specialist_payload(speciality, state)
        reply = await call_agent(runtime.context, agent, payload, label=speciality)
        return specialist_update(speciality, state, reply)

    answer.__name__ = speciality
    return answer


# -- edges -------------------------------------------------------------------


def pick_specialist(state: RoutingState) -> str:
    return state["route"]


# -- builder -----------------------------------------------------------------


def build_routing(
    *,
    router: Agent[Classification],
    routes: Mapping[str, Agent[Answer]],
    default: str | None = None,
    checkpointer: Any = None,
    retry_policy: RetryPolicy | None = DEFAULT_RETRY,
) -> PatternGraph:
    """classify -> one of `routes` (its agent answers, labelled with the route's name).

    Args:
        router: Classifies the message; its `route` must name one of `routes`. Tell
            it the route names in its instructions.
        routes: Route name -> the agent that answers on that route (one agent may
            serve several routes: it is told the route as `speciality`).
        default: Where a route the graph does not know goes; default: the last route.
        checkpointer: A LangGraph checkpointer.
        retry_policy: The node retry for model calls; None when `AgentPolicies.retry` retries.

    Example:
        ```python
        graph = build_routing(router=triager, routes={"sales": seller, "support": helper}, default="support")
        ```
    """
    names = list(routes)
    if not names:
        raise UsageError("build_routing needs at least one route: routes={'name': Agent(...)}")
    bad = [n for n in names if n in ("classify", INPUT_NODE, START, END) or not n.replace("_", "").isalnum()]
    if bad:
        raise UsageError(
            f"route names must be identifiers other than classify and {INPUT_NODE}: {', '.join(map(repr, bad))}"
        )
    fallback = default_route(routes, default)

    async def classify(state: RoutingState, runtime: Runtime[AgentContext]) -> RoutingState:
        reply = await call_agent(runtime.context, router, router_payload(state))
        return router_update(state, reply, names, fallback)

    graph = StateGraph(RoutingState, context_schema=AgentContext)
    graph.add_node("classify", classify, retry_policy=retry_policy)
    for name, agent in routes.items():
        graph.add_node(name, _specialist(name, agent), retry_policy=retry_policy)
        graph.add_edge(name, END)
    graph.add_edge(add_input(graph, RoutingInput), "classify")
    graph.add_conditional_edges("classify", pick_specialist, names)
    return graph.compile(checkpointer=checkpointer, name="routing")


SPEC = PatternSpec(
    name="routing",
    summary="classify a message, send it to the route that handles it",
    input_model=RoutingInput,
    output_model=RoutingOutput,
    state_type=RoutingState,
    build=build_routing,
    recursion_limit=lambda _state: 6,
)
