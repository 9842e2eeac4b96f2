"""Any declared flow as a Semantic Kernel orchestration (see the package docstring for the mapping).

Each builder reads the flow's builder arguments (`ctx.args`: the user's agents,
functions and rules) and hands the pattern module's own turns, `turn(state, ask)`,
to `TurnAgent`s, as LangGraph's nodes do; what is SK's here is only who runs
when.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import Any

from langgraph.graph import END
from semantic_kernel import Kernel
from semantic_kernel.agents import (
    Agent,
    ConcurrentOrchestration,
    GroupChatOrchestration,
    HandoffOrchestration,
    OrchestrationHandoffs,
    SequentialOrchestration,
)
from semantic_kernel.agents.orchestration.handoffs import HANDOFF_PLUGIN_NAME
from semantic_kernel.agents.orchestration.orchestration_base import DefaultTypeAlias, OrchestrationBase
from semantic_kernel.contents import ChatMessageContent, FunctionCallContent
from semantic_kernel.contents.utils.author_role import AuthorRole

from adapters._common import flow_builder, human_arbitrator, parse
from adapters.semantic_kernel._agents import Context, TurnAgent, TurnFn, Update
from adapters.semantic_kernel._managers import DebateManager, RefinementManager, RoutingManager
from patterns.errors import UsageError
from patterns.flows import debate, handoff, map_reduce, pipeline, refinement, routing, scatter_gather
from patterns.runtime import Agent as PatternAgent
from patterns.runtime import Ask, wire

__all__ = ["Orchestration", "build"]

Orchestration = OrchestrationBase[Any, Any]


# -- pipeline: SequentialOrchestration of the stages; a sequence has no branches, so its last member
# -- takes the gate's branch


def _pipeline(ctx: Context) -> Orchestration:
    return _invoice(ctx) if ctx.arguments["stages"] is None else _stages(ctx)


def _invoice(ctx: Context) -> Orchestration:
    """extract -> validate -> gate, the last member running transform (a model call) or reject."""
    args = ctx.arguments
    extractor, validator, transformer = args["extractor"], args["validator"], args["transformer"]

    async def extract(state: Any, ask: Ask) -> Update:
        return pipeline.extractor_update(state, await ask(extractor, pipeline.extractor_payload(state)))

    async def validate(state: Any, ask: Ask) -> Update:
        return pipeline.validator_update(state, await ask(validator, pipeline.record_payload(state)))

    async def gate(state: Any, ask: Ask) -> Update:
        branch = pipeline.gate(state)
        with ctx.flow.recorder.step(branch):
            if branch == "reject":
                return pipeline.reject(state)
            return pipeline.transformer_update(state, await ask(transformer, pipeline.record_payload(state)))

    members: list[Agent] = [
        TurnAgent(ctx, "extract", extract, asks=extractor),
        TurnAgent(ctx, "validate", validate, asks=validator),
        TurnAgent(ctx, "gate", gate, asks=transformer, record=False),
    ]
    return SequentialOrchestration(members=members)


def _stages(ctx: Context) -> Orchestration:
    """stage -> ... -> [gate ->] the last stage and finish, which a rejection skips."""
    args = ctx.arguments
    stages = list(args["stages"])
    names = [pipeline.stage_name(stage) for stage in stages]
    pipeline.refuse_nested(stages, "Semantic Kernel")
    *before, (last, last_name) = zip(stages, names, strict=True)
    gate = args["gate"]

    async def last_then_finish(state: Any, ask: Ask) -> Update:
        if "result" in state:  # the gate rejected, with the result: the last stage never runs
            return None
        with ctx.flow.recorder.step(last_name):
            ctx.apply(await pipeline.stage_turn(last, last_name, state, ask))
        with ctx.flow.recorder.step("finish"):
            return pipeline.finish_stages(ctx.state)  # the state with the last stage's output

    members: list[Agent] = [
        TurnAgent(ctx, name, partial(pipeline.stage_turn, stage, name), asks=stage) for stage, name in before
    ]
    if gate is not None:
        members.append(TurnAgent(ctx, "gate", partial(pipeline.gate_turn, gate), asks=gate))
    members.append(TurnAgent(ctx, last_name, last_then_finish, asks=last, record=False))
    return SequentialOrchestration(members=members)


# -- scatter-gather: ConcurrentOrchestration of the branches; the gather is its output_transform


def _scatter_gather(ctx: Context) -> Orchestration:
    return _sources(ctx) if ctx.arguments["workers"] is None else _panel(ctx)


def _sources(ctx: Context) -> Orchestration:
    """One researcher branch per source of the input, then the aggregator."""
    args = ctx.arguments
    researcher, aggregator = args["researcher"], args["aggregator"]

    def research(task: scatter_gather.ResearchTask) -> TurnFn:
        async def run(_state: Any, ask: Ask) -> Update:
            reply = await ask(
                researcher, scatter_gather.researcher_payload(task), label=task["source"]["name"]
            )
            return scatter_gather.researcher_update(task, reply)

        return _branch(ctx, task["source"]["name"], run, partial(scatter_gather.failure_update, task))

    async def aggregate(state: Any, ask: Ask) -> Update:
        merged = await ask(aggregator, scatter_gather.aggregator_payload(state))
        return scatter_gather.aggregator_update(state, merged)

    # Agent names are SK identifiers; a source's name (which may contain dots) names its step.
    sources: list[Agent] = [
        TurnAgent(ctx, f"research_{i + 1}", research(task), asks=researcher, record=False)
        for i, task in enumerate(scatter_gather.research_tasks(ctx.state))
    ]
    gather = TurnAgent(ctx, "aggregate", aggregate, asks=aggregator)
    return ConcurrentOrchestration(members=sources, output_transform=_fan_in(gather))


def _panel(ctx: Context) -> Orchestration:
    """Every worker on the same input, each its own branch, then the panel's gather."""
    panel = ctx.declared(scatter_gather.Panel)

    def answer(task: scatter_gather.PanelTask) -> TurnFn:
        async def run(_state: Any, ask: Ask) -> Update:
            return panel.answer_update(task, await ask(panel.by_name[task["worker"]], task["input"]))

        return _branch(ctx, task["worker"], run, partial(panel.failure_update, task))

    workers: list[Agent] = [
        TurnAgent(ctx, task["worker"], answer(task), asks=panel.by_name[task["worker"]], record=False)
        for task in panel.tasks(ctx.state)
    ]
    gather = TurnAgent(ctx, "gather", panel.gather, asks=panel.merge)
    return ConcurrentOrchestration(members=workers, output_transform=_fan_in(gather))


def _branch(ctx: Context, step: str, turn: TurnFn, failure: Callable[[BaseException], Update]) -> TurnFn:
    """A branch recorded as its own step; its failure becomes `failure(error)`, for the quorum to judge.

    LangGraph's error handler does the same; SK would fail the whole orchestration.
    """

    async def run(state: Any, ask: Ask) -> Update:
        try:
            with ctx.flow.recorder.step(step):
                return await turn(state, ask)
        except Exception as exc:
            return failure(exc)

    return run


def _fan_in(agent: TurnAgent) -> Callable[[DefaultTypeAlias], Any]:
    """An `output_transform` that hands the collected results to `agent` (the gather or the reduce).

    An exception raised here would be swallowed by SK's collection actor and the
    orchestration would never finish; the agent has already recorded it on the
    flow state (`Context.fail`), which `run_flow` raises.
    """

    async def transform(_: DefaultTypeAlias) -> ChatMessageContent:
        try:
            return (await agent.get_response()).message
        except Exception as exc:
            return ChatMessageContent(role=AuthorRole.ASSISTANT, content=f"{type(exc).__name__}: {exc}")

    return transform


# -- map-reduce: ConcurrentOrchestration of one mapper per batch, bounded by a semaphore; reduce as output_transform


def _map_reduce(ctx: Context) -> Orchestration:
    args = ctx.arguments
    # ConcurrentOrchestration starts every member at once; the bound is ours.
    bound = ctx.options.get("max_concurrency", ctx.state["max_concurrency"])
    if not isinstance(bound, int) or bound < 1:
        raise UsageError(f"max_concurrency must be a whole number of batches, at least 1; got {bound!r}")
    limit = asyncio.Semaphore(bound)
    mapper, reducer, combine = args["mapper"], args["reducer"], args["combine"]

    def map_batch(name: str, task: map_reduce.BatchTask) -> TurnFn:
        async def run(_state: Any, ask: Ask) -> Update:
            async with limit:  # the step starts when the batch does, as a LangGraph task's would
                with ctx.flow.recorder.step(name):
                    reply = await ask(mapper, map_reduce.mapper_payload(task))
                    return map_reduce.batch_update(task, reply, combine)

        return run

    mappers: list[Agent] = []
    for task in map_reduce.batch_tasks(ctx.state):
        name = f"map_batch_{task['batch'] + 1}"
        mappers.append(TurnAgent(ctx, name, map_batch(name, task), asks=mapper, record=False))
    reduce = TurnAgent(
        ctx,
        "reduce",
        partial(map_reduce.reduce_turn, reducer=reducer, combine=combine),
        asks=reducer or combine,
    )
    return ConcurrentOrchestration(members=mappers, output_transform=_fan_in(reduce))


# -- refinement: GroupChatOrchestration generate <-> critique, the manager applying the stop rules


def _refinement(ctx: Context) -> Orchestration:
    flow = ctx.declared(refinement.Refinement)
    members: list[Agent] = [
        TurnAgent(ctx, "generate", flow.generate, asks=flow.generator),
        TurnAgent(ctx, "critique", flow.critique, asks=flow.critic),
    ]
    return GroupChatOrchestration(members=members, manager=RefinementManager(ctx))


# -- debate: GroupChatOrchestration of the debaters (and the judge), the manager running rounds and the vote


def _debate(ctx: Context) -> Orchestration:
    spec = ctx.state["task"]
    panel = ctx.declared(debate.Debate)
    names = panel.names(spec)
    tasks: dict[str, debate.ArgueTask] = {}  # the round being argued, fixed by the manager when it opens

    def argue(name: str) -> TurnFn:
        async def run(_state: Any, ask: Ask) -> Update:
            task = tasks[name]
            reply = await ask(panel.agent(task), panel.debater_payload(task), label=panel.label(task))
            return panel.debater_update(task, reply)

        return run

    async def judge(state: Any, ask: Ask) -> Update:
        assert panel.judge is not None  # checked before round 1, by `Debate.argue_tasks`
        return debate.judge_update(state, await ask(panel.judge, debate.judge_payload(state)))

    agents = panel.debaters or (panel.debater,) * len(names)
    members: list[Agent] = [
        TurnAgent(ctx, name, argue(name), asks=agent) for name, agent in zip(names, agents, strict=True)
    ]
    if spec["arbitration"] == "judge":
        if "judge" in names:  # LangGraph's judge is a node; in SK's group chat it is a member's name
            raise UsageError("a debater named 'judge' would speak as the judge on Semantic Kernel: rename it")
        members.append(TurnAgent(ctx, "judge", judge, asks=panel.judge))
    # `answer=` is checked now: a wrong one costs no model call.
    human = spec["arbitration"] == "human"
    arbitrator = human_arbitrator("Semantic Kernel", ctx.state, ctx.options) if human else None
    return GroupChatOrchestration(members=members, manager=DebateManager(ctx, panel, tasks, arbitrator))


# -- routing: GroupChatOrchestration of the router and one member per route, the manager picking the route


def _routing(ctx: Context) -> Orchestration:
    args = ctx.arguments
    router, routes = args["router"], args["routes"]
    default = routing.default_route(routes, args["default"])

    async def classify(state: Any, ask: Ask) -> Update:
        reply = await ask(router, routing.router_payload(state))
        return routing.router_update(state, reply, list(routes), default)

    def specialist(route: str) -> TurnFn:
        async def run(state: Any, ask: Ask) -> Update:
            reply = await ask(routes[route], routing.specialist_payload(route, state), label=route)
            return routing.specialist_update(route, state, reply)

        return run

    members: list[Agent] = [TurnAgent(ctx, "classify", classify, asks=router)]
    members += [TurnAgent(ctx, route, specialist(route), asks=agent) for route, agent in routes.items()]
    return GroupChatOrchestration(members=members, manager=RoutingManager(ctx))


# -- handoff: HandoffOrchestration of the desks; a desk's transfer_to_* call runs SK's Handoff function


def _handoff(ctx: Context) -> Orchestration:
    args = ctx.arguments
    desks: dict[str, PatternAgent[handoff.DeskReply]] = dict(args["desks"])
    names = list(desks)
    entry, fallback = handoff.entry_and_fallback(desks, args["entry"], args["fallback"])
    use_tools = bool(ctx.options.get("handoff_tools", True))
    handoffs = OrchestrationHandoffs()
    for source in names:  # the entry desk is never handed back to
        targets = [d for d in names if d not in (source, entry)]
        handoffs.add_many(source, {t: f"Transfer the conversation to the {t} desk." for t in targets})

    def desk(name: str) -> TurnFn:
        agent = desks[name]

        async def run(state: Any, _ask: Ask) -> Update:
            kernel = ctx.turn.kernel
            if kernel is None:
                raise RuntimeError(
                    "the handoff desks run inside SK's HandoffOrchestration, which passes its kernel"
                )
            tools = _transfer_tools(kernel) if use_tools else None
            payload = handoff.desk_payload(name, state)

            async def once() -> handoff.DeskReply:
                return _desk_reply(await ctx.complete(agent, payload, label=name, tools=tools), agent, name)

            reply = await ctx.protected(agent, payload, name, once)
            goto, update = handoff.desk_update(name, state, reply, names, entry, fallback)
            ctx.apply(update)  # before control moves: the next desk, or the result, reads it
            # SK's own Handoff functions move control: the actor's handoff target, or the end of the task.
            if goto == END:
                answer = ctx.state["result"]["answer"]
                await kernel.invoke(
                    plugin_name=HANDOFF_PLUGIN_NAME, function_name="complete_task", task_summary=answer
                )
                return None
            transfer = f"{handoff.TRANSFER_PREFIX}{goto}"
            if transfer not in kernel.plugins[HANDOFF_PLUGIN_NAME]:
                # LangGraph would run the desk again; SK's handoffs cannot target their source.
                raise RuntimeError(
                    f"the {name} desk handed off to itself, which SK's HandoffOrchestration cannot do"
                )
            await kernel.invoke(plugin_name=HANDOFF_PLUGIN_NAME, function_name=transfer)
            return None

        return run

    # SK's HandoffOrchestration starts at its first member.
    members: list[Agent] = [
        TurnAgent(ctx, name, desk(name), asks=desks[name]) for name in sorted(names, key=lambda d: d != entry)
    ]
    return HandoffOrchestration(members=members, handoffs=handoffs)


def _transfer_tools(kernel: Kernel) -> list[dict[str, Any]]:
    """The actor's own `transfer_to_<desk>` functions as OpenAI tools, under the pattern's names.

    SK would advertise them as `Handoff-transfer_to_<desk>` without parameters;
    the pattern's transfer carries a reason, so the tool asks for one.
    """
    functions = kernel.plugins[HANDOFF_PLUGIN_NAME].functions.values()
    return [
        {
            "type": "function",
            "function": {
                "name": f.name,
                "description": f.description or "",
                "parameters": {
                    "type": "object",
                    "properties": {"reason": {"type": "string", "description": "why the conversation moves"}},
                    "required": ["reason"],
                },
            },
        }
        for f in functions
        if f.name.startswith(handoff.TRANSFER_PREFIX)
    ]


def _desk_reply(
    reply: ChatMessageContent, agent: PatternAgent[handoff.DeskReply], desk: str
) -> handoff.DeskReply:
    """The desk's reply: a `transfer_to_X` function call is a handoff to X with the call's reason."""
    calls = [item for item in reply.items if isinstance(item, FunctionCallContent)]
    if not calls:
        return parse(reply.content, agent.output, agent=desk)
    call = calls[0]
    return handoff.reply_from_transfer(call.function_name, call.parse_arguments() or {})


_BUILDERS: dict[str, Callable[[Context], Orchestration]] = {
    "pipeline": _pipeline,
    "scatter_gather": _scatter_gather,
    "map_reduce": _map_reduce,
    "refinement": _refinement,
    "debate": _debate,
    "routing": _routing,
    "handoff": _handoff,
}


def build(ctx: Context) -> tuple[Orchestration, str]:
    """The orchestration running the flow over `ctx.state`, and the task message that starts it."""
    task = (
        ctx.state["message"]
        if ctx.pattern == "handoff"
        else wire.canonical_json(ctx.state.get("task", ctx.state))
    )
    return flow_builder("Semantic Kernel", _BUILDERS, ctx.pattern)(ctx), task
