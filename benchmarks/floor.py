"""The floor: every canonical flow in plain asyncio, with no orchestration framework.

Each flow makes exactly the agent turns the LangGraph pattern makes, with the
same scripted brain: the prompt comes from `patterns.runtime.wire.render`, the reply
from `ScriptedBrain.plan`/`finish` (waiting the planned latency with
`asyncio.sleep`), it is validated by `patterns.runtime.parse_reply`, and state
moves through the pattern modules' own payload and update functions with
`patterns.state.apply_update`. Parallel branches are `asyncio.gather`, bounded
concurrency an `asyncio.Semaphore`. Transient failures are retried with the
same bounds as the patterns' `DEFAULT_RETRY` (attempts, backoff, cap; no
jitter). What is left is the same model work without a framework: the floor
every framework's overhead is reported against. The benchmark checks each
flow's output equals LangGraph's before it times anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from langgraph.graph import END
from pydantic import BaseModel

from adapters._common import FlowRun, initial_state, parse
from patterns.errors import is_transient
from patterns.flows import debate, handoff, map_reduce, pipeline, refinement, routing, scatter_gather
from patterns.presets import AGENTS, COUNCIL, PRODUCT_COPY, SUPPORT_DESKS, SUPPORT_ROUTES
from patterns.runtime import DEFAULT_RETRY, RunResult, apply_update, get_flow, wire
from patterns.testing import ScriptedBrain

__all__ = ["FLOORS", "FRAMEWORK", "arun_floor"]

#: The name the floor's results carry, next to the real frameworks.
FRAMEWORK = "asyncio"

T = TypeVar("T", bound=BaseModel)
#: Flow state: the pattern's TypedDict at run time, kept as `Any` so one helper serves all seven.
State = Any


class _Agents:
    """One agent call at a time, the way `patterns.runtime.call_agent` makes it, minus LangChain."""

    def __init__(self, flow: FlowRun) -> None:
        self.flow = flow
        self.brain = flow.brain

    async def call(
        self, role: str, payload: dict[str, Any], schema: type[T], *, name: str | None = None
    ) -> T:
        agent = name or role
        system, user = wire.render(AGENTS[role], payload, label=name)
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        policy = DEFAULT_RETRY
        with self.flow.recorder.step(agent):
            for attempt in range(1, policy.max_attempts + 1):
                plan = self.brain.plan(messages)
                if plan.delay:
                    await asyncio.sleep(plan.delay)
                try:
                    reply = self.brain.finish(plan, messages)
                    return parse(reply.content, schema, agent=agent)
                except Exception as exc:
                    if attempt == policy.max_attempts or not is_transient(exc):
                        raise
                    await asyncio.sleep(
                        min(
                            policy.max_interval,
                            policy.initial_interval * policy.backoff_factor ** (attempt - 1),
                        )
                    )
        raise AssertionError("unreachable")  # pragma: no cover


async def _pipeline(agents: _Agents, state: State) -> State:
    s = pipeline.PipelineState
    reply = await agents.call("extractor", pipeline.extractor_payload(state), pipeline.Extracted)
    state = apply_update(s, state, pipeline.extractor_update(state, reply))
    valid = await agents.call("validator", pipeline.record_payload(state), pipeline.Validation)
    state = apply_update(s, state, pipeline.validator_update(state, valid))
    if pipeline.gate(state) == "reject":
        return apply_update(s, state, pipeline.reject(state))
    record = await agents.call("transformer", pipeline.record_payload(state), pipeline.Record)
    return apply_update(s, state, pipeline.transformer_update(state, record))


async def _scatter_gather(agents: _Agents, state: State) -> State:
    sg = scatter_gather

    async def research(task: sg.ResearchTask) -> dict[str, Any]:
        payload = sg.researcher_payload(task)
        try:
            reply = await agents.call("researcher", payload, sg.SourceFindings, name=task["source"]["name"])
        except Exception as exc:  # a source that exhausted its retries is recorded, as the error handler does
            return dict(sg.failure_update(task, exc))
        return dict(sg.researcher_update(task, reply))

    updates = await asyncio.gather(*(research(t) for t in sg.research_tasks(state)))
    for update in updates:
        state = apply_update(sg.ScatterGatherState, state, update)
    merged = await agents.call("aggregator", sg.aggregator_payload(state), sg.Merged)
    return apply_update(sg.ScatterGatherState, state, sg.aggregator_update(state, merged))


async def _map_reduce(agents: _Agents, state: State) -> State:
    mr = map_reduce
    gate = asyncio.Semaphore(int(state["max_concurrency"]))

    async def map_batch(task: mr.BatchTask) -> dict[str, Any]:
        async with gate:
            reply = await agents.call("mapper", mr.mapper_payload(task), mr.MapReply)
        return dict(mr.mapper_update(task, reply))

    for update in await asyncio.gather(*(map_batch(t) for t in mr.batch_tasks(state))):
        state = apply_update(mr.MapReduceState, state, update)
    reply = await agents.call("reducer", mr.reducer_payload(state), mr.MapReduceOutput)
    return apply_update(mr.MapReduceState, state, mr.reducer_update(state, reply))


async def _refinement(agents: _Agents, state: State) -> State:
    rf, s = refinement, refinement.RefinementState
    while True:
        draft = await agents.call("generator", PRODUCT_COPY.generator_payload(state), rf.Draft)
        state = apply_update(s, state, PRODUCT_COPY.generator_update(draft))
        critique = await agents.call("critic", PRODUCT_COPY.critic_payload(state), rf.Critique)
        state = apply_update(s, state, PRODUCT_COPY.critic_update(state, critique))
        if rf.stop_reason(state):
            return apply_update(s, state, rf.finish(state))


async def _debate(agents: _Agents, state: State) -> State:
    db, s = debate, debate.DebateState

    async def argue(task: db.ArgueTask) -> dict[str, Any]:
        name = db.debater_name(task["debater"])
        reply = await agents.call("debater", COUNCIL.debater_payload(task), db.Position, name=name)
        return dict(COUNCIL.debater_update(task, reply))

    while state.get("round", 0) < state["task"]["rounds"]:
        for update in await asyncio.gather(*(argue(t) for t in COUNCIL.argue_tasks(state))):
            state = apply_update(s, state, update)
        state = apply_update(s, state, db.close_round(state))
    state = apply_update(s, state, db.vote(state))
    route = db.arbitrate(state)
    if route == "judge":
        ruling = await agents.call("judge", db.judge_payload(state), db.Ruling)
        state = apply_update(s, state, db.judge_update(state, ruling))
    elif route == "ask_human":
        raise NotImplementedError("the asyncio floor has no human-in-the-loop arbitration")
    return apply_update(s, state, db.finish(state))


async def _routing(agents: _Agents, state: State) -> State:
    rt, s = routing, routing.RoutingState
    reply = await agents.call("router", rt.router_payload(state), rt.Classification)
    state = apply_update(s, state, rt.router_update(state, reply, SUPPORT_ROUTES, "general"))
    speciality = rt.pick_specialist(state)
    payload = rt.specialist_payload(speciality, state)
    answer = await agents.call("specialist", payload, rt.Answer, name=speciality)
    return apply_update(s, state, rt.specialist_update(speciality, state, answer))


async def _handoff(agents: _Agents, state: State) -> State:
    hf, desk = handoff, "triage"
    while True:
        reply = await agents.call("support", hf.desk_payload(desk, state), hf.DeskReply, name=desk)
        goto, update = hf.desk_update(desk, state, reply, SUPPORT_DESKS, "triage", "general")
        state = apply_update(hf.HandoffState, state, update)
        if goto == END:
            return state
        desk = goto


FLOORS: dict[str, Callable[[_Agents, State], Awaitable[State]]] = {
    "pipeline": _pipeline,
    "scatter_gather": _scatter_gather,
    "map_reduce": _map_reduce,
    "refinement": _refinement,
    "debate": _debate,
    "routing": _routing,
    "handoff": _handoff,
}


async def arun_floor(pattern: str, input: Any = None, *, brain: ScriptedBrain | None = None) -> RunResult:
    """Run `pattern` in plain asyncio on `brain`; the same `RunResult` the adapters return."""
    state = initial_state(pattern, input)
    flow = FlowRun(FRAMEWORK, get_flow(pattern), brain or ScriptedBrain())
    try:
        final = await FLOORS[pattern](_Agents(flow), state)
    except Exception as exc:  # a flow failure is a result to report, as in the adapters
        return flow.result(None, error=exc)
    return flow.result(final)
