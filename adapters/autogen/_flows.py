"""The seven canonical flows as AutoGen teams (see the package docstring for the mapping)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
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

from adapters._common import FlowState, flow_builder, parse
from patterns.errors import UsageError
from patterns.flows import debate as D
from patterns.flows import handoff as H
from patterns.flows import map_reduce as MR
from patterns.flows import pipeline as P
from patterns.flows import refinement as R
from patterns.flows import routing as RT
from patterns.flows import scatter_gather as SG
from patterns.presets import (  # the presets run by role name until the adapters take declared flows
    AGENTS,
    COUNCIL,
    PRODUCT_COPY,
    SUPPORT_DESKS,
    SUPPORT_ROUTES,
)
from patterns.runtime import wire

__all__ = ["Context", "build_team", "quiet_agent_errors"]

M = TypeVar("M", bound=BaseModel)


@dataclass
class Context(FlowState):
    """One flow run on AutoGen: the flow state every agent reads and updates, and the model client."""

    client: ChatCompletionClient = field(kw_only=True)

    async def complete(
        self, role: str, payload: dict[str, Any], *, name: str | None = None, tools: Sequence[Tool] = ()
    ) -> CreateResult:
        """One model call with exactly the pattern's two rendered messages."""
        system, user = wire.render(AGENTS[role], payload, label=name)
        messages: list[LLMMessage] = [SystemMessage(content=system), UserMessage(content=user, source="user")]
        return await self.client.create(messages, tools=list(tools))

    async def ask(self, role: str, payload: dict[str, Any], schema: type[M], *, name: str | None = None) -> M:
        result = await self.complete(role, payload, name=name)
        return parse(str(result.content), schema, agent=name or role)


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
    as a native `HandoffMessage`.
    """

    def __init__(self, ctx: Context, name: str, turn: Turn, *, record: bool = True) -> None:
        super().__init__(name, description=f"{ctx.pattern} step {name}")
        self._ctx, self._turn, self._record = ctx, turn, record

    @property
    def produced_message_types(self) -> Sequence[type[BaseChatMessage]]:
        return (TextMessage, HandoffMessage)

    async def on_messages(
        self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken
    ) -> Response:
        try:
            if self._record:
                with self._ctx.flow.recorder.step(self.name):
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


def _graph(
    nodes: Sequence[ChatAgent],
    edges: Sequence[tuple[ChatAgent, ChatAgent, str | None]],
    *,
    entry: ChatAgent | None = None,
    any_into: Sequence[ChatAgent] = (),
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


# -- pipeline: GraphFlow extract -> validate -> (transform | reject), the gate as conditional edges


def _pipeline(ctx: Context) -> Team:
    async def extract(_: Sequence[BaseChatMessage]) -> Outcome:
        reply = await ctx.ask("extractor", P.extractor_payload(ctx.state), P.Extracted)
        ctx.apply(P.extractor_update(ctx.state, reply))
        return Outcome(_json(reply))

    async def validate(_: Sequence[BaseChatMessage]) -> Outcome:
        reply = await ctx.ask("validator", P.record_payload(ctx.state), P.Validation)
        ctx.apply(P.validator_update(ctx.state, reply))
        return Outcome(_json(reply), next=P.gate(ctx.state))

    async def transform(_: Sequence[BaseChatMessage]) -> Outcome:
        reply = await ctx.ask("transformer", P.record_payload(ctx.state), P.Record)
        ctx.apply(P.transformer_update(ctx.state, reply))
        return Outcome(_json(ctx.state["result"]))

    async def reject(_: Sequence[BaseChatMessage]) -> Outcome:
        ctx.apply(P.reject(ctx.state))
        return Outcome(_json(ctx.state["result"]))

    e, v, t, r = (TurnAgent(ctx, f.__name__, f) for f in (extract, validate, transform, reject))
    return _graph([e, v, t, r], [(e, v, None), (v, t, "transform"), (v, r, "reject")])


# -- scatter-gather: GraphFlow fan-out from N start nodes, fan-in with activation "all"


def _scatter_gather(ctx: Context) -> Team:
    def researcher(task: SG.ResearchTask) -> Turn:
        name = task["source"]["name"]

        async def research(_: Sequence[BaseChatMessage]) -> Outcome:
            try:
                with ctx.flow.recorder.step(name):
                    reply = await ctx.ask(
                        "researcher", SG.researcher_payload(task), SG.SourceFindings, name=name
                    )
            except Exception as exc:  # a failed source is recorded; the quorum decides at the merge
                ctx.apply(SG.failure_update(task, exc))
                return Outcome(f"{type(exc).__name__}: {exc}")
            ctx.apply(SG.researcher_update(task, reply))
            return Outcome(_json(reply))

        return research

    async def aggregate(_: Sequence[BaseChatMessage]) -> Outcome:
        merged = await ctx.ask("aggregator", SG.aggregator_payload(ctx.state), SG.Merged)
        ctx.apply(SG.aggregator_update(ctx.state, merged))
        return Outcome(_json(ctx.state["result"]))

    sources = [
        TurnAgent(ctx, f"research_{i + 1}", researcher(task), record=False)
        for i, task in enumerate(SG.research_tasks(ctx.state))
    ]
    merge = TurnAgent(ctx, "aggregate", aggregate)
    return _graph([*sources, merge], [(s, merge, None) for s in sources])


# -- map-reduce: GraphFlow fan-out over batches, fan-in with activation "all"; concurrency by semaphore


def _map_reduce(ctx: Context) -> Team:
    limit = asyncio.Semaphore(int(ctx.options.get("max_concurrency") or ctx.state["max_concurrency"]))

    def mapper(task: MR.BatchTask) -> Turn:
        async def map_batch(_: Sequence[BaseChatMessage]) -> Outcome:
            async with limit:
                reply = await ctx.ask("mapper", MR.mapper_payload(task), MR.MapReply)
            ctx.apply(MR.mapper_update(task, reply))
            return Outcome(_json(reply))

        return map_batch

    async def reduce(_: Sequence[BaseChatMessage]) -> Outcome:
        reply = await ctx.ask("reducer", MR.reducer_payload(ctx.state), MR.MapReduceOutput)
        ctx.apply(MR.reducer_update(ctx.state, reply))
        return Outcome(_json(ctx.state["result"]))

    mappers = [
        TurnAgent(ctx, f"map_batch_{task['batch'] + 1}", mapper(task)) for task in MR.batch_tasks(ctx.state)
    ]
    combine = TurnAgent(ctx, "reduce", reduce)
    return _graph([*mappers, combine], [(m, combine, None) for m in mappers])


# -- refinement: GraphFlow loop generate -> critique -> (generate | finish), bounded by max_turns


def _refinement(ctx: Context) -> Team:
    async def generate(_: Sequence[BaseChatMessage]) -> Outcome:
        reply = await ctx.ask("generator", PRODUCT_COPY.generator_payload(ctx.state), R.Draft)
        ctx.apply(PRODUCT_COPY.generator_update(reply))
        return Outcome(_json(reply))

    async def critique(_: Sequence[BaseChatMessage]) -> Outcome:
        reply = await ctx.ask("critic", PRODUCT_COPY.critic_payload(ctx.state), R.Critique)
        ctx.apply(PRODUCT_COPY.critic_update(ctx.state, reply))
        return Outcome(_json(reply), next=R.should_continue(ctx.state))

    async def finish(_: Sequence[BaseChatMessage]) -> Outcome:
        ctx.apply(R.finish(ctx.state))
        return Outcome(_json(ctx.state["result"]))

    g, c, f = (TurnAgent(ctx, fn.__name__, fn) for fn in (generate, critique, finish))
    bound = R.recursion_limit(int(ctx.state["task"]["max_iterations"]))
    return _graph([g, c, f], [(g, c, None), (c, g, "generate"), (c, f, "finish")], entry=g, max_turns=bound)


# -- debate: GraphFlow loop moderator -> debaters (parallel) -> moderator -> vote -> judge/human -> finish


def _debate(ctx: Context) -> Team:
    spec = ctx.state["task"]
    tasks: list[D.ArgueTask] = []  # the round being argued, fixed when the moderator opens it
    opened = [False]

    async def moderator(_: Sequence[BaseChatMessage]) -> Outcome:
        if opened[0]:
            ctx.apply(D.close_round(ctx.state))
        opened[0] = True
        sends = COUNCIL.next_round(ctx.state)
        if sends == "vote":
            return Outcome("vote", next="vote")
        tasks[:] = [send.arg for send in sends]
        return Outcome(f"round {ctx.state.get('round', 0) + 1}", next="argue")

    def debater(i: int) -> Turn:
        async def argue(_: Sequence[BaseChatMessage]) -> Outcome:
            task = tasks[i]
            name = D.debater_name(i)
            reply = await ctx.ask("debater", COUNCIL.debater_payload(task), D.Position, name=name)
            ctx.apply(COUNCIL.debater_update(task, reply))
            return Outcome(_json(reply))

        return argue

    async def vote(_: Sequence[BaseChatMessage]) -> Outcome:
        ctx.apply(D.vote(ctx.state))
        return Outcome(_json(ctx.state["vote"]), next=D.arbitrate(ctx.state))

    async def judge(_: Sequence[BaseChatMessage]) -> Outcome:
        ruling = await ctx.ask("judge", D.judge_payload(ctx.state), D.Ruling)
        ctx.apply(D.judge_update(ctx.state, ruling))
        return Outcome(_json(ruling))

    async def finish(messages: Sequence[BaseChatMessage]) -> Outcome:
        human = [m for m in messages if m.source == "ask_human"]
        if human:
            ctx.apply(D.human_update(ctx.state, human[-1].to_text().strip()))
        ctx.apply(D.finish(ctx.state))
        return Outcome(_json(ctx.state["result"]))

    mod = TurnAgent(ctx, "moderator", moderator)
    debaters = [TurnAgent(ctx, D.debater_name(i), debater(i)) for i in range(len(COUNCIL.names(spec)))]
    v, j, f = (TurnAgent(ctx, fn.__name__, fn) for fn in (vote, judge, finish))
    nodes: list[ChatAgent] = [mod, *debaters, v, j, f]
    edges: list[tuple[ChatAgent, ChatAgent, str | None]] = [
        *((mod, d, "argue") for d in debaters),
        *((d, mod, None) for d in debaters),
        (mod, v, "vote"),
        (v, f, "finish"),
        (v, j, "judge"),
        (j, f, None),
    ]
    if spec["arbitration"] == "human":
        human = _human(ctx)
        nodes.append(human)
        edges += [(v, human, "ask_human"), (human, f, None)]
    bound = D.recursion_limit(int(spec["rounds"]))
    return _graph(nodes, edges, entry=mod, any_into=[f], max_turns=bound)


def _human(ctx: Context) -> UserProxyAgent:
    """Human arbitration through AutoGen's `UserProxyAgent`: `answer=` or your own `input_func=`."""
    answer, input_func = ctx.options.get("answer"), ctx.options.get("input_func")
    if input_func is None and answer is None:
        raise UsageError(
            "debate with arbitration='human' on AutoGen needs the arbitrator's choice: pass answer='OPTION' (orch: --answer OPTION) "
            "or input_func=callable(prompt) -> str (it feeds AutoGen's UserProxyAgent)"
        )

    def ask(prompt: str) -> str:
        with ctx.flow.recorder.step("ask_human"):
            return str(input_func(prompt) if input_func is not None else answer)

    return UserProxyAgent("ask_human", description="the human arbitrator", input_func=ask)


# -- routing: GraphFlow classify -> (billing | technical | general) by conditional edges


def _routing(ctx: Context) -> Team:
    async def classify(_: Sequence[BaseChatMessage]) -> Outcome:
        reply = await ctx.ask("router", RT.router_payload(ctx.state), RT.Classification)
        ctx.apply(RT.router_update(ctx.state, reply, SUPPORT_ROUTES, "general"))
        return Outcome(_json(reply), next=RT.pick_specialist(ctx.state))

    def specialist(speciality: str) -> Turn:
        async def answer(_: Sequence[BaseChatMessage]) -> Outcome:
            payload = RT.specialist_payload(speciality, ctx.state)
            reply = await ctx.ask("specialist", payload, RT.Answer, name=speciality)
            ctx.apply(RT.specialist_update(speciality, ctx.state, reply))
            return Outcome(_json(ctx.state["result"]))

        return answer

    router = TurnAgent(ctx, "classify", classify)
    desks = [TurnAgent(ctx, s, specialist(s)) for s in SUPPORT_ROUTES]
    return _graph([router, *desks], [(router, d, d.name) for d in desks])


# -- handoff: Swarm; desks hand off with HandoffMessage, driven by the model's transfer_to_* calls


def _handoff(ctx: Context) -> Team:
    use_tools = bool(ctx.options.get("handoff_tools", True))

    def desk(name: str) -> Turn:
        others = tuple(d for d in SUPPORT_DESKS if d not in (name, "triage"))
        tools = [Handoff(target=o).handoff_tool for o in others] if use_tools else []

        async def turn(_: Sequence[BaseChatMessage]) -> Outcome:
            result = await ctx.complete("support", H.desk_payload(name, ctx.state), name=name, tools=tools)
            reply = _desk_reply(result, name)
            goto, update = H.desk_update(name, ctx.state, reply, SUPPORT_DESKS, "triage", "general")
            ctx.apply(update)
            if goto == END:
                return Outcome(ctx.state["result"]["answer"])
            return Outcome(update["history"][-1]["content"], next=goto, handoff=True)

        return turn

    desks: list[ChatAgent] = [TurnAgent(ctx, name, desk(name)) for name in SUPPORT_DESKS]
    bound = H.recursion_limit(int(ctx.state["max_handoffs"]))
    return Swarm(desks, termination_condition=TextMessageTermination(), max_turns=bound)


def _desk_reply(result: CreateResult, desk: str) -> H.DeskReply:
    """The desk's reply: a `transfer_to_X` function call is a handoff to X with the call's reason."""
    if isinstance(result.content, str):
        return parse(result.content, H.DeskReply, agent=desk)
    call = result.content[0]
    return H.reply_from_transfer(call.name, json.loads(call.arguments or "{}"))


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
    """The AutoGen team running `ctx.pattern` over `ctx.state`."""
    return flow_builder("AutoGen", _BUILDERS, ctx.pattern)(ctx)
