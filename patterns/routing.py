"""Conditional routing: a router agent classifies, a conditional edge picks the specialist.

For inputs that need different handling by kind (billing, technical, anything
else). The route is an explicit, testable decision recorded in the output; a
route the graph does not know falls back to the general desk.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict, get_args

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import RetryPolicy
from pydantic import BaseModel, Field

from patterns.agents import DEFAULT_RETRY, Agent, AgentContext, PatternGraph, call_agent

__all__ = ["SPECIALISTS", "Answer", "Classification", "RoutingInput", "RoutingOutput", "build_routing"]

Route = Literal["billing", "technical", "general"]
SPECIALISTS: tuple[Route, ...] = get_args(Route)


class RoutingInput(BaseModel):
    message: str = Field(min_length=1)


class Classification(BaseModel):
    route: str
    confidence: float = Field(ge=0.0, le=1.0)


class Answer(BaseModel):
    answer: str


class RoutingOutput(BaseModel):
    route: Route
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


def router_update(state: RoutingState, reply: Classification) -> RoutingState:
    route = reply.route if reply.route in SPECIALISTS else "general"
    return {"route": route, "confidence": reply.confidence}


def specialist_payload(speciality: Route, state: RoutingState) -> dict[str, Any]:
    return {"speciality": speciality, "message": state["message"]}


def specialist_update(speciality: Route, state: RoutingState, reply: Answer) -> RoutingState:
    output = RoutingOutput(
        route=speciality, confidence=state["confidence"], handled_by=speciality, answer=reply.answer
    )
    return {"result": output.model_dump()}


# -- nodes -------------------------------------------------------------------


def _specialist(speciality: Route, agent: Agent[Answer]) -> Any:
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
    specialist: Agent[Answer],
    checkpointer: Any = None,
    retry_policy: RetryPolicy | None = DEFAULT_RETRY,
) -> PatternGraph:
    """classify -> (billing | technical | general).

    Args:
        router: Classifies the message into a route; an unknown route goes to general.
        specialist: Answers within a speciality, labelled with the route's name.
        checkpointer: A LangGraph checkpointer.
        retry_policy: The node retry for model calls; None when `AgentPolicies.retry` retries.

    Example:
        ```python
        graph = build_routing(router=my_router, specialist=my_specialist)
        ```
    """

    async def classify(state: RoutingState, runtime: Runtime[AgentContext]) -> RoutingState:
        return router_update(state, await call_agent(runtime.context, router, router_payload(state)))

    graph = StateGraph(RoutingState, context_schema=AgentContext, input_schema=RoutingInput)
    graph.add_node("classify", classify, retry_policy=retry_policy)
    for speciality in get_args(Route):
        graph.add_node(speciality, _specialist(speciality, specialist), retry_policy=retry_policy)
        graph.add_edge(speciality, END)
    graph.add_edge(START, "classify")
    graph.add_conditional_edges("classify", pick_specialist, list(SPECIALISTS))
    return graph.compile(checkpointer=checkpointer, name="routing")
