"""The seven canonical flows as Semantic Kernel orchestrations (see the package docstring for the mapping)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from langgraph.graph import END
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

from adapters._common import flow_builder, parse
from adapters.semantic_kernel._agents import Context, Turn, TurnAgent, TurnFn
from adapters.semantic_kernel._managers import DebateManager, RefinementManager, RoutingManager
from patterns.errors import UsageError
from patterns.flows import debate as D
from patterns.flows import handoff as H
from patterns.flows import map_reduce as MR
from patterns.flows import pipeline as P
from patterns.flows import refinement as R
from patterns.flows import routing as RT
from patterns.flows import scatter_gather as SG
from patterns.presets import COUNCIL, PRODUCT_COPY, SUPPORT_DESKS, SUPPORT_ROUTES
from patterns.runtime import wire

__all__ = ["Orchestration", "build"]

Orchestration = OrchestrationBase[Any, Any]


# -- pipeline: SequentialOrchestration extract -> validate -> gate (transform | reject)


def _pipeline(ctx: Context) -> Orchestration:
    async def extract(turn: Turn) -> str:
        reply = await ctx.ask(turn, "extractor", P.extractor_payload(ctx.state), P.Extracted)
        ctx.apply(P.extractor_update(ctx.state, reply))
        return reply.model_dump_json()

    async def validate(turn: Turn) -> str:
        reply = await ctx.ask(turn, "validator", P.record_payload(ctx.state), P.Validation)
        ctx.apply(P.validator_update(ctx.state, reply))
        return reply.model_dump_json()

    async def gate(turn: Turn) -> str:
        # A sequence has no branches: its last member takes the branch `pipeline.gate` picks.
        branch = P.gate(ctx.state)
        with ctx.flow.recorder.step(branch):
            if branch == "transform":
                reply = await ctx.ask(turn, "transformer", P.record_payload(ctx.state), P.Record)
                ctx.apply(P.transformer_update(ctx.state, reply))
            else:
                ctx.apply(P.reject(ctx.state))
        return wire.canonical_json(ctx.state["result"])

    members: list[Agent] = [
        TurnAgent(ctx, "extract", extract),
        TurnAgent(ctx, "validate", validate),
        TurnAgent(
            ctx, "gate", gate, description="transform a valid record, reject an invalid one", record=False
        ),
    ]
    return SequentialOrchestration(members=members)


# -- scatter-gather: ConcurrentOrchestration of the sources; the merge is its output_transform


def _scatter_gather(ctx: Context) -> Orchestration:
    def researcher(task: SG.ResearchTask) -> TurnFn:
        name = task["source"]["name"]

        async def research(turn: Turn) -> str:
            try:
                with ctx.flow.recorder.step(name):
                    reply = await ctx.ask(
                        turn, "researcher", SG.researcher_payload(task), SG.SourceFindings, name=name
                    )
            except Exception as exc:  # a failed source is recorded; the quorum decides at the merge
                ctx.apply(SG.failure_update(task, exc))
                return f"{type(exc).__name__}: {exc}"
            ctx.apply(SG.researcher_update(task, reply))
            return reply.model_dump_json()

        return research

    async def aggregate(turn: Turn) -> str:
        merged = await ctx.ask(turn, "aggregator", SG.aggregator_payload(ctx.state), SG.Merged)
        ctx.apply(SG.aggregator_update(ctx.state, merged))
        return wire.canonical_json(ctx.state["result"])

    # Agent names are SK identifiers; a source's name (which may contain dots) names its step.
    sources: list[Agent] = [
        TurnAgent(ctx, f"research_{i + 1}", researcher(task), record=False)
        for i, task in enumerate(SG.research_tasks(ctx.state))
    ]
    return ConcurrentOrchestration(
        members=sources, output_transform=_fan_in(TurnAgent(ctx, "aggregate", aggregate))
    )


def _fan_in(agent: TurnAgent) -> Callable[[DefaultTypeAlias], Any]:
    """An `output_transform` that hands the collected results to `agent` (the merge or the reduce).

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
    # ConcurrentOrchestration starts every member at once; the bound is ours.
    bound = ctx.options.get("max_concurrency", ctx.state["max_concurrency"])
    if not isinstance(bound, int) or bound < 1:
        raise UsageError(f"max_concurrency must be a whole number of batches, at least 1; got {bound!r}")
    limit = asyncio.Semaphore(bound)

    def mapper(name: str, task: MR.BatchTask) -> TurnFn:
        async def map_batch(turn: Turn) -> str:
            async with limit:  # the step starts when the batch does, as a LangGraph task's would
                with ctx.flow.recorder.step(name):
                    reply = await ctx.ask(turn, "mapper", MR.mapper_payload(task), MR.MapReply)
                    ctx.apply(MR.mapper_update(task, reply))
            return reply.model_dump_json()

        return map_batch

    async def reduce(turn: Turn) -> str:
        reply = await ctx.ask(turn, "reducer", MR.reducer_payload(ctx.state), MR.MapReduceOutput)
        ctx.apply(MR.reducer_update(ctx.state, reply))
        return wire.canonical_json(ctx.state["result"])

    mappers: list[Agent] = []
    for task in MR.batch_tasks(ctx.state):
        name = f"map_batch_{task['batch'] + 1}"
        mappers.append(TurnAgent(ctx, name, mapper(name, task), record=False))
    return ConcurrentOrchestration(
        members=mappers, output_transform=_fan_in(TurnAgent(ctx, "reduce", reduce))
    )


# -- refinement: GroupChatOrchestration generate <-> critique, the manager applying the stop rules


def _refinement(ctx: Context) -> Orchestration:
    async def generate(turn: Turn) -> str:
        reply = await ctx.ask(turn, "generator", PRODUCT_COPY.generator_payload(ctx.state), R.Draft)
        ctx.apply(PRODUCT_COPY.generator_update(reply))
        return reply.model_dump_json()

    async def critique(turn: Turn) -> str:
        reply = await ctx.ask(turn, "critic", PRODUCT_COPY.critic_payload(ctx.state), R.Critique)
        ctx.apply(PRODUCT_COPY.critic_update(ctx.state, reply))
        return reply.model_dump_json()

    members: list[Agent] = [TurnAgent(ctx, "generate", generate), TurnAgent(ctx, "critique", critique)]
    return GroupChatOrchestration(members=members, manager=RefinementManager(ctx))


# -- debate: GroupChatOrchestration of the debaters (and the judge), the manager running rounds and the vote


def _debate(ctx: Context) -> Orchestration:
    spec = ctx.state["task"]
    tasks: dict[str, D.ArgueTask] = {}  # the round being argued, fixed by the manager when it opens

    def debater(name: str) -> TurnFn:
        async def argue(turn: Turn) -> str:
            task = tasks[name]
            reply = await ctx.ask(turn, "debater", COUNCIL.debater_payload(task), D.Position, name=name)
            ctx.apply(COUNCIL.debater_update(task, reply))
            return reply.model_dump_json()

        return argue

    async def judge(turn: Turn) -> str:
        ruling = await ctx.ask(turn, "judge", D.judge_payload(ctx.state), D.Ruling)
        ctx.apply(D.judge_update(ctx.state, ruling))
        return ruling.model_dump_json()

    names = [D.debater_name(i) for i in range(len(COUNCIL.names(spec)))]
    members: list[Agent] = [
        TurnAgent(ctx, name, debater(name), description=f"debater {name}") for name in names
    ]
    if spec["arbitration"] == "judge":
        members.append(
            TurnAgent(ctx, "judge", judge, description="weighs all evidence when the vote is split")
        )
    manager = DebateManager(ctx, tasks, _arbitrator(ctx) if spec["arbitration"] == "human" else None)
    return GroupChatOrchestration(members=members, manager=manager)


def _arbitrator(ctx: Context) -> Callable[[str], Any]:
    """The human's choice for SK's `human_response_function`: `answer=` or your own `input_func=`."""
    answer, input_func = ctx.options.get("answer"), ctx.options.get("input_func")
    if input_func is None and answer is None:
        raise UsageError(
            "debate with arbitration='human' on Semantic Kernel needs the arbitrator's choice: pass "
            "answer='OPTION' (orch: --answer OPTION) or input_func=callable(prompt) -> str (it feeds the group chat manager's "
            "human_response_function; SK cannot pause a run and resume it later)"
        )
    if input_func is not None:
        chooser: Callable[[str], Any] = input_func
        return chooser
    return lambda _prompt: answer


# -- routing: GroupChatOrchestration of the router and the specialists, the manager picking the specialist


def _routing(ctx: Context) -> Orchestration:
    async def classify(turn: Turn) -> str:
        reply = await ctx.ask(turn, "router", RT.router_payload(ctx.state), RT.Classification)
        ctx.apply(RT.router_update(ctx.state, reply, SUPPORT_ROUTES, "general"))
        return reply.model_dump_json()

    def specialist(speciality: str) -> TurnFn:
        async def answer(turn: Turn) -> str:
            payload = RT.specialist_payload(speciality, ctx.state)
            reply = await ctx.ask(turn, "specialist", payload, RT.Answer, name=speciality)
            ctx.apply(RT.specialist_update(speciality, ctx.state, reply))
            return wire.canonical_json(ctx.state["result"])

        return answer

    members: list[Agent] = [
        TurnAgent(ctx, "classify", classify, description="classifies the customer message")
    ]
    members += [TurnAgent(ctx, s, specialist(s), description=f"the {s} desk") for s in SUPPORT_ROUTES]
    return GroupChatOrchestration(members=members, manager=RoutingManager(ctx))


# -- handoff: HandoffOrchestration of the four desks; a desk's transfer_to_* call runs SK's Handoff function


def _handoff(ctx: Context) -> Orchestration:
    use_tools = bool(ctx.options.get("handoff_tools", True))
    handoffs = OrchestrationHandoffs()
    for source in SUPPORT_DESKS:
        targets = [d for d in SUPPORT_DESKS if d not in (source, "triage")]
        handoffs.add_many(source, {t: f"Transfer the customer to the {t} desk." for t in targets})

    def desk(name: str) -> TurnFn:
        async def handle(turn: Turn) -> str:
            if turn.kernel is None:
                raise RuntimeError(
                    "the handoff desks run inside SK's HandoffOrchestration, which passes its kernel"
                )
            tools = _transfer_tools(turn) if use_tools else None
            reply = await ctx.complete(
                turn, "support", H.desk_payload(name, ctx.state), name=name, tools=tools
            )
            goto, update = H.desk_update(
                name, ctx.state, _desk_reply(reply, name), SUPPORT_DESKS, "triage", "general"
            )
            ctx.apply(update)
            # SK's own Handoff functions move control: the actor's handoff target, or the end of the task.
            if goto == END:
                answer = ctx.state["result"]["answer"]
                await turn.kernel.invoke(
                    plugin_name=HANDOFF_PLUGIN_NAME, function_name="complete_task", task_summary=answer
                )
                return str(answer)
            transfer = f"{H.TRANSFER_PREFIX}{goto}"
            if transfer not in turn.kernel.plugins[HANDOFF_PLUGIN_NAME]:
                # LangGraph would run the desk again; SK's handoffs cannot target their source.
                raise RuntimeError(
                    f"the {name} desk handed off to itself, which SK's HandoffOrchestration cannot do"
                )
            await turn.kernel.invoke(plugin_name=HANDOFF_PLUGIN_NAME, function_name=transfer)
            return str(update["history"][-1]["content"])

        return handle

    members: list[Agent] = [
        TurnAgent(ctx, name, desk(name), description=f"the {name} desk") for name in SUPPORT_DESKS
    ]
    return HandoffOrchestration(members=members, handoffs=handoffs)


def _transfer_tools(turn: Turn) -> list[dict[str, Any]]:
    """The actor's own `transfer_to_<desk>` functions as OpenAI tools, under the pattern's names.

    SK would advertise them as `Handoff-transfer_to_<desk>` without parameters;
    the pattern's transfer carries a reason, so the tool asks for one.
    """
    assert turn.kernel is not None
    functions = turn.kernel.plugins[HANDOFF_PLUGIN_NAME].functions.values()
    return [
        {
            "type": "function",
            "function": {
                "name": f.name,
                "description": f.description or "",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "reason": {"type": "string", "description": "why the customer is transferred"}
                    },
                    "required": ["reason"],
                },
            },
        }
        for f in functions
        if f.name.startswith(H.TRANSFER_PREFIX)
    ]


def _desk_reply(reply: ChatMessageContent, desk: str) -> H.DeskReply:
    """The desk's reply: a `transfer_to_X` function call is a handoff to X with the call's reason."""
    calls = [item for item in reply.items if isinstance(item, FunctionCallContent)]
    if not calls:
        return parse(reply.content, H.DeskReply, agent=desk)
    call = calls[0]
    return H.reply_from_transfer(call.function_name, call.parse_arguments() or {})


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
    """The orchestration running `ctx.pattern` over `ctx.state`, and the task message that starts it."""
    task = (
        ctx.state["message"]
        if ctx.pattern == "handoff"
        else wire.canonical_json(ctx.state.get("task", ctx.state))
    )
    return flow_builder("Semantic Kernel", _BUILDERS, ctx.pattern)(ctx), task
