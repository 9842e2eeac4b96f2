"""Any declared flow of the seven patterns as an AutoGen team (see the package docstring for the mapping).

A team is built from the declared flow alone: its builder's arguments
(`ctx.args`: the agents, functions and rules the user declared) and the pattern
module's shared turns (payloads, updates, stop rules), so nothing here knows a
preset. Node names are AutoGen's (distinct identifiers); step records are named
as LangGraph names its steps, so `result.steps` reads the same on both.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, TypeVar

from autogen_agentchat.agents import BaseChatAgent, UserProxyAgent
from autogen_agentchat.base import ChatAgent, Handoff, Response, Team
from autogen_agentchat.conditions import TextMessageTermination
from autogen_agentchat.messages import BaseChatMessage, HandoffMessage, TextMessage
from autogen_agentchat.teams import DiGraphBuilder, GraphFlow, Swarm
from autogen_core import CancellationToken
from autogen_core.models import ChatCompletionClient, CreateResult, LLMMessage, SystemMessage, UserMessage
from autogen_core.tools import Tool
from langgraph.graph import END
from pydantic import BaseModel

from adapters._common import FlowState, flow_builder, human_arbitrator, parse
from adapters.autogen._client import ScriptedChatCompletionClient
from patterns.errors import UsageError
from patterns.flows import debate, handoff, map_reduce, pipeline, refinement, routing, scatter_gather
from patterns.runtime import Agent, wire

__all__ = ["Context", "build_team", "quiet_agent_errors", "start_message"]

OutputT = TypeVar("OutputT", bound=BaseModel)
Update = Mapping[str, Any]


@dataclass
class Context(FlowState):
    """One flow run on AutoGen: the flow state every agent reads and updates, and the model client."""

    client: ChatCompletionClient = field(kw_only=True)

    async def complete(
        self,
        agent: Agent[Any],
        payload: dict[str, Any],
        *,
        label: str | None = None,
        tools: Sequence[Tool] = (),
    ) -> CreateResult:
        """One model call with exactly the two messages `wire.render` makes of the agent and payload."""
        system, user = wire.render(agent, payload, label=label)
        messages: list[LLMMessage] = [SystemMessage(content=system), UserMessage(content=user, source="user")]
        client = self.client_for(agent, self.client, ScriptedChatCompletionClient)
        return await client.create(messages, tools=list(tools))

    async def ask(
        self, agent: Agent[OutputT], payload: dict[str, Any], *, label: str | None = None
    ) -> OutputT:
        """The patterns' `Ask` on AutoGen: one call, the reply validated into `agent.output`.

        Under the run's `AgentPolicies`, if any: a malformed reply is retried like a fault.
        """

        async def once() -> OutputT:
            result = await self.complete(agent, payload, label=label)
            return parse(str(result.content), agent.output, agent=label or agent.name)

        return await self.protected(agent, payload, label, once)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an agent's turn says: its message text and, for the graph, where to go next."""

    content: str
    next: str | None = None
    handoff: bool = False


Turn = Callable[[Sequence[BaseChatMessage]], Awaitable[Outcome]]


class TurnAgent(BaseChatAgent):
    """An AutoGen agent running one pattern turn: payload from the state, model call, update.

    The decision a pattern makes after the turn travels in the message's
    `metadata["next"]` (read by the graph's conditional edges) or, for handoffs,
    as a native `HandoffMessage`. The turn is recorded as step `step` (default:
    the node's name); `record=False` for a turn that records itself.
    """

    def __init__(
        self, ctx: Context, name: str, turn: Turn, *, record: bool = True, step: str | None = None
    ) -> None:
        if not name.isidentifier():  # AutoGen's rule for agent names; a declared name becomes one
            raise UsageError(
                f"AutoGen names its agents by Python identifiers, and {name!r} of this {ctx.pattern} "
                "flow is not one: rename it (letters, digits and '_')"
            )
        super().__init__(name, description=f"{ctx.pattern} step {name}")
        self._ctx, self._turn = ctx, turn
        self._step = (step or name) if record else None

    @property
    def produced_message_types(self) -> Sequence[type[BaseChatMessage]]:
        return (TextMessage, HandoffMessage)

    async def on_messages(
        self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken
    ) -> Response:
        try:
            if self._step is not None:
                with self._ctx.flow.recorder.step(self._step):
                    outcome = await self._turn(messages)
            else:
                outcome = await self._turn(messages)
        except Exception as exc:
            self._ctx.fail(exc)
            exc.add_note(REPORTED)  # the run reports it; `quiet_agent_errors` keeps AutoGen from logging it
            raise
        if outcome.handoff and outcome.next:
            return Response(
                chat_message=HandoffMessage(source=self.name, target=outcome.next, content=outcome.content)
            )
        metadata = {"next": outcome.next} if outcome.next else {}
        return Response(
            chat_message=TextMessage(source=self.name, content=outcome.content, metadata=metadata)
        )

    async def on_reset(self, cancellation_token: CancellationToken) -> None:
        return None


#: The note on an agent error that the run itself reports (as the flow's error).
REPORTED = "reported by the orchestration-patterns AutoGen adapter"


class _QuietAgentErrors(logging.Filter):
    """Drop AutoGen's tracebacks for agent errors the run reports itself.

    AutoGen's runtime logs every exception an agent raises, with its traceback,
    then once more per participant as "Unhandled message in agent container:
    GroupChatError" (the error event has no handler there), and, when parallel
    branches fail together, a `QueueShutDown` for messages reaching the graph
    manager after the team stopped. The run already returns the agent's error as
    its result, so on a terminal these are noise. Anything else passes through.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is None:
            return True
        if REPORTED in getattr(error, "__notes__", ()):
            return False
        if type(error).__name__ == "QueueShutDown":  # autogen_core's own (private) queue class
            return False
        return not (isinstance(error, ValueError) and "GroupChatError" in str(error))


def quiet_agent_errors() -> None:
    """Install the filter on AutoGen's runtime logger (once)."""
    logger = logging.getLogger("autogen_core")
    if not any(isinstance(f, _QuietAgentErrors) for f in logger.filters):
        logger.addFilter(_QuietAgentErrors())


def _when(target: str) -> Callable[[BaseChatMessage], bool]:
    def condition(message: BaseChatMessage) -> bool:
        return message.metadata.get("next") == target

    return condition


def _json(value: Any) -> str:
    return wire.canonical_json(value.model_dump() if isinstance(value, BaseModel) else value)


#: An edge by node names: (source, target, the `next` its condition waits for, or None).
Edge = tuple[str, str, str | None]


def _graph(
    nodes: Sequence[ChatAgent],
    edges: Sequence[Edge],
    *,
    entry: str | None = None,
    any_into: Sequence[str] = (),
    max_turns: int | None = None,
) -> GraphFlow:
    builder = DiGraphBuilder()
    for node in nodes:
        builder.add_node(node)
    for source, target, when in edges:
        builder.add_edge(
            source,
            target,
            condition=_when(when) if when else None,
            activation_condition="any" if target in any_into else "all",
        )
    if entry is not None:
        builder.set_entry_point(entry)
    return GraphFlow(participants=builder.get_participants(), graph=builder.build(), max_turns=max_turns)


def _fan_in(branches: Sequence[TurnAgent], gather: TurnAgent) -> GraphFlow:
    """Every branch a start node (run concurrently), all into `gather` (activation "all")."""
    return _graph([*branches, gather], [(branch.name, gather.name, None) for branch in branches])


def _branch(
    ctx: Context,
    step: str,
    answer: Callable[[], Awaitable[Update]],
    failure: Callable[[BaseException], Update],
) -> Turn:
    """A fan-out branch whose failure is recorded in the state, not raised: the quorum decides at the gather."""

    async def turn(_: Sequence[BaseChatMessage]) -> Outcome:
        try:
            with ctx.flow.recorder.step(step):
                update = await answer()
        except Exception as exc:
            ctx.apply(failure(exc))
            return Outcome(f"{type(exc).__name__}: {exc}")
        ctx.apply(update)
        return Outcome(_json(update))

    return turn


# -- pipeline: GraphFlow of the stages in order; the gate as conditional edges


def _pipeline(ctx: Context) -> Team:
    args = ctx.arguments
    if args["stages"] is not None:
        return _stages(ctx, list(args["stages"]), args["gate"])
    return _invoice(ctx, args["extractor"], args["validator"], args["transformer"])


def _invoice(
    ctx: Context,
    extractor: Agent[pipeline.Extracted],
    validator: Agent[pipeline.Validation],
    transformer: Agent[pipeline.Record],
) -> Team:
    """extract -> validate -> (transform | reject): the validator is the gate."""

    async def extract(_: Sequence[BaseChatMessage]) -> Outcome:
        reply = await ctx.ask(extractor, pipeline.extractor_payload(ctx.state))
        ctx.apply(pipeline.extractor_update(ctx.state, reply))
        return Outcome(_json(reply))

    async def validate(_: Sequence[BaseChatMessage]) -> Outcome:
        reply = await ctx.ask(validator, pipeline.record_payload(ctx.state))
        ctx.apply(pipeline.validator_update(ctx.state, reply))
        return Outcome(_json(reply), next=pipeline.gate(ctx.state))

    async def transform(_: Sequence[BaseChatMessage]) -> Outcome:
        reply = await ctx.ask(transformer, pipeline.record_payload(ctx.state))
        ctx.apply(pipeline.transformer_update(ctx.state, reply))
        return Outcome(_json(ctx.state["result"]))

    async def reject(_: Sequence[BaseChatMessage]) -> Outcome:
        ctx.apply(pipeline.reject(ctx.state))
        return Outcome(_json(ctx.state["result"]))

    nodes = [TurnAgent(ctx, turn.__name__, turn) for turn in (extract, validate, transform, reject)]
    edges: list[Edge] = [
        ("extract", "validate", None),
        ("validate", "transform", "transform"),
        ("validate", "reject", "reject"),
    ]
    return _graph(nodes, edges)


def _stages(ctx: Context, stages: list[pipeline.Stage], gate: pipeline.Gate | None) -> Team:
    """stage_1 -> ... -> [gate ->] stage_n -> finish; a rejecting gate ends the flow with its result."""
    names = [pipeline.stage_name(stage) for stage in stages]
    pipeline.refuse_nested(stages, "AutoGen")
    before, last = names[:-1], names[-1]

    def run_stage(stage: pipeline.Stage, name: str) -> Turn:
        async def turn(_: Sequence[BaseChatMessage]) -> Outcome:
            ctx.apply(await pipeline.stage_turn(stage, name, ctx.state, ctx.ask))
            return Outcome(_json(ctx.state["last"]))

        return turn

    def check(gate: pipeline.Gate) -> Turn:
        async def turn(_: Sequence[BaseChatMessage]) -> Outcome:
            ctx.apply(await pipeline.gate_turn(gate, ctx.state, ctx.ask))
            if "result" in ctx.state:  # rejected: no edge is taken, so the last stage never runs
                return Outcome(_json(ctx.state["result"]))
            return Outcome("passed", next=last)

        return turn

    async def finish(_: Sequence[BaseChatMessage]) -> Outcome:
        ctx.apply(pipeline.finish_stages(ctx.state))
        return Outcome(_json(ctx.state["result"]))

    nodes = [TurnAgent(ctx, name, run_stage(stage, name)) for stage, name in zip(stages, names, strict=True)]
    nodes.append(TurnAgent(ctx, "finish", finish))
    if gate is None:
        edges: list[Edge] = [(here, there, None) for here, there in pairwise(names)]
    else:
        nodes.append(TurnAgent(ctx, "gate", check(gate)))
        edges = [(here, there, None) for here, there in pairwise([*before, "gate"])]
        edges.append(("gate", last, last))
    edges.append((last, "finish", None))
    return _graph(nodes, edges)


# -- scatter-gather: GraphFlow fan-out from N start nodes, fan-in with activation "all"


def _scatter_gather(ctx: Context) -> Team:
    args = ctx.arguments
    if args["workers"] is not None:
        return _panel(ctx, ctx.declared(scatter_gather.Panel))
    return _sources(ctx, args["researcher"], args["aggregator"])


def _sources(
    ctx: Context,
    researcher: Agent[scatter_gather.SourceFindings],
    aggregator: Agent[scatter_gather.Merged],
) -> Team:
    """research x sources (each labelled with its source's name) -> aggregate."""

    def research(task: scatter_gather.ResearchTask) -> Turn:
        async def answer() -> Update:
            payload = scatter_gather.researcher_payload(task)
            reply = await ctx.ask(researcher, payload, label=task["source"]["name"])
            return scatter_gather.researcher_update(task, reply)

        return _branch(ctx, "research", answer, lambda error: scatter_gather.failure_update(task, error))

    async def aggregate(_: Sequence[BaseChatMessage]) -> Outcome:
        merged = await ctx.ask(aggregator, scatter_gather.aggregator_payload(ctx.state))
        ctx.apply(scatter_gather.aggregator_update(ctx.state, merged))
        return Outcome(_json(ctx.state["result"]))

    branches = [
        TurnAgent(ctx, f"research_{i + 1}", research(task), record=False)
        for i, task in enumerate(scatter_gather.research_tasks(ctx.state))
    ]
    return _fan_in(branches, TurnAgent(ctx, "aggregate", aggregate))


def _panel(ctx: Context, panel: scatter_gather.Panel) -> Team:
    """ask x workers (each its own agent, on the same input) -> gather."""

    def ask(task: scatter_gather.PanelTask) -> Turn:
        async def answer() -> Update:
            reply = await ctx.ask(panel.by_name[task["worker"]], task["input"])
            return panel.answer_update(task, reply)

        return _branch(ctx, "ask", answer, lambda error: panel.failure_update(task, error))

    async def gather(_: Sequence[BaseChatMessage]) -> Outcome:
        ctx.apply(await panel.gather(ctx.state, ctx.ask))
        return Outcome(_json(ctx.state["result"]))

    branches = [
        TurnAgent(ctx, f"ask_{i + 1}", ask(task), record=False)
        for i, task in enumerate(panel.tasks(ctx.state))
    ]
    return _fan_in(branches, TurnAgent(ctx, "gather", gather))


# -- map-reduce: GraphFlow fan-out over batches, fan-in with activation "all"; concurrency by semaphore


def _map_reduce(ctx: Context) -> Team:
    args = ctx.arguments
    mapper, reducer, combine = args["mapper"], args["reducer"], args["combine"]
    limit = asyncio.Semaphore(int(ctx.options.get("max_concurrency") or ctx.state["max_concurrency"]))

    def map_batch(task: map_reduce.BatchTask) -> Turn:
        async def turn(_: Sequence[BaseChatMessage]) -> Outcome:
            async with limit:
                reply = await ctx.ask(mapper, map_reduce.mapper_payload(task))
            ctx.apply(map_reduce.batch_update(task, reply, combine))
            return Outcome(_json(reply))

        return turn

    async def reduce(_: Sequence[BaseChatMessage]) -> Outcome:
        ctx.apply(await map_reduce.reduce_turn(ctx.state, ctx.ask, reducer=reducer, combine=combine))
        return Outcome(_json(ctx.state["result"]))

    batches = [
        TurnAgent(ctx, f"map_batch_{task['batch'] + 1}", map_batch(task), step="map_batch")
        for task in map_reduce.batch_tasks(ctx.state)
    ]
    return _fan_in(batches, TurnAgent(ctx, "reduce", reduce))


# -- refinement: GraphFlow loop generate -> critique -> (generate | finish), bounded by max_turns


def _refinement(ctx: Context) -> Team:
    loop = ctx.declared(refinement.Refinement)

    async def generate(_: Sequence[BaseChatMessage]) -> Outcome:
        ctx.apply(await loop.generate(ctx.state, ctx.ask))
        return Outcome(_json(ctx.state["draft"]))

    async def critique(_: Sequence[BaseChatMessage]) -> Outcome:
        ctx.apply(await loop.critique(ctx.state, ctx.ask))
        return Outcome(_json(ctx.state["critique"]), next=refinement.should_continue(ctx.state))

    async def finish(_: Sequence[BaseChatMessage]) -> Outcome:
        ctx.apply(refinement.finish(ctx.state))
        return Outcome(_json(ctx.state["result"]))

    nodes = [TurnAgent(ctx, turn.__name__, turn) for turn in (generate, critique, finish)]
    edges: list[Edge] = [
        ("generate", "critique", None),
        ("critique", "generate", "generate"),
        ("critique", "finish", "finish"),
    ]
    return _graph(nodes, edges, entry="generate", max_turns=ctx.flow.spec.recursion_limit(ctx.state))


# -- debate: GraphFlow loop moderator -> debaters (parallel) -> moderator -> vote -> judge/human -> finish


def _debate(ctx: Context) -> Team:
    panel = ctx.declared(debate.Debate)
    spec = ctx.state["task"]
    tasks: list[debate.ArgueTask] = []  # the round being argued, fixed when the moderator opens it

    async def moderator(_: Sequence[BaseChatMessage]) -> Outcome:
        if tasks:  # a round was argued: close it, which LangGraph records as its close_round step
            with ctx.flow.recorder.step("close_round"):
                ctx.apply(debate.close_round(ctx.state))
        sends = panel.next_round(ctx.state)
        if sends == "vote":
            return Outcome("vote", next="vote")
        tasks[:] = [send.arg for send in sends]
        return Outcome(f"round {tasks[0]['round']}", next="argue")

    def argue(i: int) -> Turn:
        async def turn(_: Sequence[BaseChatMessage]) -> Outcome:
            task = tasks[i]
            reply = await ctx.ask(panel.agent(task), panel.debater_payload(task), label=panel.label(task))
            ctx.apply(panel.debater_update(task, reply))
            return Outcome(_json(reply))

        return turn

    async def vote(_: Sequence[BaseChatMessage]) -> Outcome:
        ctx.apply(debate.vote(ctx.state))
        return Outcome(_json(ctx.state["vote"]), next=debate.arbitrate(ctx.state))

    def judge(agent: Agent[debate.Ruling]) -> Turn:
        async def turn(_: Sequence[BaseChatMessage]) -> Outcome:
            ruling = await ctx.ask(agent, debate.judge_payload(ctx.state))
            ctx.apply(debate.judge_update(ctx.state, ruling))
            return Outcome(_json(ruling))

        return turn

    async def finish(messages: Sequence[BaseChatMessage]) -> Outcome:
        human = [m for m in messages if m.source == "ask_human"]
        if human:
            ctx.apply(debate.human_update(ctx.state, human[-1].to_text().strip()))
        ctx.apply(debate.finish(ctx.state))
        return Outcome(_json(ctx.state["result"]))

    # Debater nodes are numbered: the agents' own names could be any of this graph's other nodes.
    debaters = [debate.debater_name(i) for i in range(len(panel.names(spec)))]
    nodes: list[ChatAgent] = [
        TurnAgent(ctx, "moderator", moderator, record=False),
        *(TurnAgent(ctx, name, argue(i), step="argue") for i, name in enumerate(debaters)),
        TurnAgent(ctx, "vote", vote),
        TurnAgent(ctx, "finish", finish),
    ]
    edges: list[Edge] = [
        *(("moderator", name, "argue") for name in debaters),
        *((name, "moderator", None) for name in debaters),
        ("moderator", "vote", "vote"),
        ("vote", "finish", "finish"),
    ]
    if panel.judge is not None:  # without one, arbitration="judge" is refused before round 1
        nodes.append(TurnAgent(ctx, "judge", judge(panel.judge)))
        edges += [("vote", "judge", "judge"), ("judge", "finish", None)]
    if spec["arbitration"] == "human":
        nodes.append(_human(ctx))
        edges += [("vote", "ask_human", "ask_human"), ("ask_human", "finish", None)]
    bound = ctx.flow.spec.recursion_limit(ctx.state)
    return _graph(nodes, edges, entry="moderator", any_into=["finish"], max_turns=bound)


def _human(ctx: Context) -> UserProxyAgent:
    """Human arbitration through AutoGen's `UserProxyAgent`, answered by `answer=` or `input_func=`.

    `human_arbitrator` checks an `answer=` now, so a wrong one calls no model.
    """
    arbitrator = human_arbitrator("AutoGen", ctx.state, ctx.options)

    def ask(prompt: str) -> str:
        with ctx.flow.recorder.step("ask_human"):
            return arbitrator(prompt)

    return UserProxyAgent("ask_human", description="the human arbitrator", input_func=ask)


# -- routing: GraphFlow classify -> one node per route, by conditional edges


def _routing(ctx: Context) -> Team:
    args = ctx.arguments
    routes: Mapping[str, Agent[routing.Answer]] = args["routes"]
    names = list(routes)
    fallback = routing.default_route(routes, args["default"])

    async def classify(_: Sequence[BaseChatMessage]) -> Outcome:
        reply = await ctx.ask(args["router"], routing.router_payload(ctx.state))
        ctx.apply(routing.router_update(ctx.state, reply, names, fallback))
        return Outcome(_json(reply), next=routing.pick_specialist(ctx.state))

    def specialist(route: str, agent: Agent[routing.Answer]) -> Turn:
        async def answer(_: Sequence[BaseChatMessage]) -> Outcome:
            payload = routing.specialist_payload(route, ctx.state)
            reply = await ctx.ask(agent, payload, label=route)  # one agent may serve several routes
            ctx.apply(routing.specialist_update(route, ctx.state, reply))
            return Outcome(_json(ctx.state["result"]))

        return answer

    nodes = [TurnAgent(ctx, "classify", classify)]
    nodes += [TurnAgent(ctx, route, specialist(route, agent)) for route, agent in routes.items()]
    return _graph(nodes, [("classify", route, route) for route in names])


# -- handoff: Swarm; desks hand off with HandoffMessage, driven by the model's transfer_to_* calls


def _desks(ctx: Context) -> tuple[Mapping[str, Agent[handoff.DeskReply]], str, str]:
    """The desks, the entry desk and the fallback desk."""
    args = ctx.arguments
    return args["desks"], *handoff.entry_and_fallback(args["desks"], args["entry"], args["fallback"])


def _handoff(ctx: Context) -> Team:
    desks, entry, fallback = _desks(ctx)
    names = list(desks)
    use_tools = bool(ctx.options.get("handoff_tools", True))

    def desk(name: str, agent: Agent[handoff.DeskReply]) -> Turn:
        # As on LangGraph, a desk hands off to any other desk but the entry (never handed back to).
        targets = [d for d in names if d not in (name, entry)]
        tools = [_transfer_tool(target) for target in targets] if use_tools else []

        async def turn(_: Sequence[BaseChatMessage]) -> Outcome:
            payload = handoff.desk_payload(name, ctx.state)

            async def once() -> handoff.DeskReply:
                return _desk_reply(await ctx.complete(agent, payload, label=name, tools=tools), agent, name)

            reply = await ctx.protected(agent, payload, name, once)
            goto, update = handoff.desk_update(name, ctx.state, reply, names, entry, fallback)
            ctx.apply(update)
            if goto == END:
                return Outcome(ctx.state["result"]["answer"])
            return Outcome(update["history"][-1]["content"], next=goto, handoff=True)

        return turn

    # A Swarm's first participant speaks first: the entry desk.
    order = [entry, *(name for name in names if name != entry)]
    participants: list[ChatAgent] = [TurnAgent(ctx, name, desk(name, desks[name])) for name in order]
    bound = ctx.flow.spec.recursion_limit(ctx.state)
    return Swarm(participants, termination_condition=TextMessageTermination(), max_turns=bound)


def _transfer_tool(desk: str) -> Tool:
    """AutoGen's handoff tool to `desk`, named `transfer_to_<desk>` as the pattern reads it back.

    Named explicitly: AutoGen's default name lowercases the desk, which would then
    name no desk for `handoff.reply_from_transfer`.
    """
    return Handoff(target=desk, name=f"{handoff.TRANSFER_PREFIX}{desk}").handoff_tool


def _desk_reply(result: CreateResult, agent: Agent[handoff.DeskReply], desk: str) -> handoff.DeskReply:
    """The desk's reply: a `transfer_to_X` function call is a handoff to X with the call's reason."""
    if isinstance(result.content, str):
        return parse(result.content, agent.output, agent=desk)
    call = result.content[0]
    return handoff.reply_from_transfer(call.name, json.loads(call.arguments or "{}"))


_BUILDERS: dict[str, Callable[[Context], Team]] = {
    "pipeline": _pipeline,
    "scatter_gather": _scatter_gather,
    "map_reduce": _map_reduce,
    "refinement": _refinement,
    "debate": _debate,
    "routing": _routing,
    "handoff": _handoff,
}


def build_team(ctx: Context) -> Team:
    """The AutoGen team running the declared flow `ctx.flow.spec` over `ctx.state`."""
    return flow_builder("AutoGen", _BUILDERS, ctx.pattern)(ctx)


def start_message(ctx: Context) -> BaseChatMessage:
    """The task message that starts the team: the flow's input (the agents read the state).

    On a handoff flow the customer is handed to the entry desk.
    """
    if ctx.pattern == "handoff":
        _, entry, _ = _desks(ctx)
        return HandoffMessage(source="user", target=entry, content=ctx.state["message"])
    return TextMessage(source="user", content=wire.canonical_json(ctx.state.get("task", ctx.state)))
