"""Any declared flow of the seven patterns as a CrewAI Flow whose agent turns are Crews (see the package docstring).

Everything a flow runs comes from the declared flow's builder arguments
(`ctx.args`: the user's agents, functions and rules); the turns (payloads,
updates, stop rules) are the pattern modules' own, called with `Context.ask`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Generic, TypeVar, cast

from crewai import Agent as CrewAgent
from crewai import Crew, Process, Task
from crewai.flow.flow import Flow, and_, listen, or_, router, start
from crewai.flow.flow import FlowState as CrewFlowState
from crewai.lite_agent_output import LiteAgentOutput
from crewai.llms.base_llm import BaseLLM
from crewai.tasks.task_output import TaskOutput
from langgraph.graph import END
from pydantic import BaseModel, Field

from adapters._common import FlowState, flow_builder, human_arbitrator, human_prompt, parse
from adapters.crewai._llm import ScriptedLLM
from patterns.errors import MalformedOutput, ModelError
from patterns.flows import debate, handoff, map_reduce, pipeline, refinement, routing, scatter_gather
from patterns.runtime import Agent, wire

__all__ = ["RESUMABLE", "Context", "FlowData", "build_flow"]

M = TypeVar("M", bound=BaseModel)

#: Patterns whose CrewAI flow is acyclic, so `Flow.from_checkpoint` can resume it (see the package docstring).
RESUMABLE = frozenset({"pipeline", "scatter_gather", "map_reduce", "routing"})

#: What every task asks for; the keys are named in the agent's instructions (its backstory).
EXPECTED_OUTPUT = "One JSON object with the keys your instructions name, and nothing else."


class FlowData(CrewFlowState):
    """The CrewAI flow state: the pattern's own state and the little a flow adds to route on.

    It is what CrewAI checkpoints, so a restored flow carries everything its steps read.
    """

    pattern: str = ""
    data: dict[str, Any] = Field(default_factory=dict)
    goto: str = ""  # handoff: the desk the last one handed the customer to
    round_tasks: list[dict[str, Any]] = Field(default_factory=list)  # debate: the round being argued


@dataclass
class Context(FlowState):
    """One flow run on CrewAI: the pattern state the steps read and update, and the model."""

    llm: BaseLLM = field(kw_only=True)
    data: FlowData | None = field(default=None, kw_only=True)

    def bind(self, data: FlowData, *, restored: bool = False) -> None:
        """Share the pattern state with CrewAI's flow state (taking it from there on a restore)."""
        self.data = data
        if restored:
            self.state = dict(data.data)
        else:
            data.pattern, data.data = self.pattern, self.state

    def apply(self, update: Any) -> None:
        super().apply(update)
        if self.data is not None:  # keep CrewAI's copy current: it is what a checkpoint holds
            self.data.data = self.state

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        with self.flow.recorder.step(name):
            yield

    async def ask(self, agent: Agent[M], payload: dict[str, Any], *, label: str | None = None) -> M:
        """One agent turn (the pattern's `Ask`): a Crew of one CrewAI Agent doing one Task.

        The reply is validated by the task's guardrail (the pattern's parse into
        `agent.output`), so CrewAI re-asks a malformed reply itself; once its retries
        are spent the original `MalformedOutput` is raised, not CrewAI's "failed
        guardrail validation".
        """
        who = label or agent.name

        async def once() -> M:
            validation = _Validation(agent.output, who)
            try:
                await self._crew(agent, payload, label, validation).akickoff()
            except Exception as exc:
                if validation.error is not None and not isinstance(exc, ModelError):
                    raise validation.error from None
                raise
            if validation.reply is None:  # pragma: no cover - CrewAI returns only after the guardrail passed
                raise RuntimeError(f"the CrewAI task of {who} ended without a validated reply")
            return validation.reply

        # The run's `AgentPolicies` wrap CrewAI's own retries (max_retry_limit, its 429 backoff).
        return await self.protected(agent, payload, label, once)

    def _crew(
        self, agent: Agent[Any], payload: dict[str, Any], label: str | None, validation: _Validation[Any]
    ) -> Crew:
        # CrewAI renders "You are {role}. {backstory}\nYour personal goal is: {goal}" as the
        # system message and the task description into the user message, so our system text
        # becomes role + backstory (split at any ". ", they join back the same) and our user
        # text (with its INPUT block) the description.
        system, user = wire.render(agent, payload, label=label)
        identity, _, instructions = system.partition(". ")
        who = label or agent.name
        verbose = bool(self.options.get("verbose", False))
        retries = (
            {"max_retry_limit": int(self.options["max_retry_limit"])}
            if "max_retry_limit" in self.options
            else {}
        )
        llm = self.client_for(agent, self.llm, ScriptedLLM)
        crew_agent = CrewAgent(
            role=identity.removeprefix("You are "),
            goal=f"Do your step of the {self.pattern} flow.",
            backstory=instructions,
            llm=llm,
            function_calling_llm=llm,
            allow_delegation=False,
            verbose=verbose,
            **retries,
        )
        task = Task(
            name=who,
            description=user,
            expected_output=EXPECTED_OUTPUT,
            agent=crew_agent,
            # A lambda: CrewAI checks a guardrail's return annotation at run time, and ours are strings.
            guardrail=lambda output: validation.check(output),
        )
        return Crew(
            name=f"{self.pattern}:{who}",
            agents=[crew_agent],
            tasks=[task],
            process=Process.sequential,
            verbose=verbose,
            memory=False,
            # Every llm slot set, so none can default to OpenAI. Not Crew.function_calling_llm:
            # it is deprecated, typed as CrewAI's LLM only (a BaseLLM is refused) and used for
            # tools, which these agents have none of; the agents' own slot is set above.
            manager_llm=self.llm,
            planning_llm=self.llm,
            chat_llm=self.llm,
        )


@dataclass
class _Validation(Generic[M]):
    """A task's guardrail: the pattern's parse of the reply; CrewAI re-asks while it fails."""

    schema: type[M]
    agent: str
    reply: M | None = None
    error: MalformedOutput | None = None

    def check(self, output: TaskOutput | LiteAgentOutput) -> tuple[bool, Any]:
        try:
            self.reply = parse(output.raw, self.schema, agent=self.agent)
        except MalformedOutput as exc:
            self.error = exc
            return False, str(exc)
        return True, output.raw


class _Superstep:
    """The parallel branches of a fan-out: a failing branch re-raises only once its siblings are done.

    CrewAI gathers parallel flow methods without cancelling the others when one
    fails; waiting keeps every sibling's model call inside the run (and its
    completion in the checkpoint), as a LangGraph superstep does. Branches are
    counted as they enter, which they all do before any can fail: CrewAI starts
    them together and each reaches its first model call (a worker thread) first.
    """

    def __init__(self) -> None:
        self._running = 0
        self._idle = asyncio.Event()

    @asynccontextmanager
    async def branch(self) -> AsyncIterator[None]:
        self._running += 1
        self._idle.clear()
        try:
            yield
        except BaseException:
            self._leave()
            await self._idle.wait()
            raise
        self._leave()

    def _leave(self) -> None:
        self._running -= 1
        if self._running == 0:
            self._idle.set()


class _Arbitrator:
    """CrewAI's `InputProvider` for `Flow.ask`: the run's human arbitrator (`answer=` or `input_func=`)."""

    def __init__(self, answer: Callable[[str], str]) -> None:
        self._answer = answer

    def request_input(self, message: str, flow: Any, metadata: dict[str, Any] | None = None) -> str:
        return self._answer(message)


FlowClass = type[Flow[FlowData]]
#: A flow step: an async function of the flow (`self`); a generated one has its other arguments bound.
Step = Callable[[Flow[FlowData]], Awaitable[None]]

# Made once: every Flow[...] subscription creates a new class in CrewAI.
_BASE: FlowClass = Flow[FlowData]


def _flow_class(pattern: str, methods: dict[str, Any]) -> FlowClass:
    """A Flow class for this run: fan-outs have a step per branch, and steps close over the run."""
    shadowed = sorted(set(methods) & set(dir(_BASE)))
    if shadowed:  # e.g. pydantic's `validate`, or CrewAI's `ask`, `resume`, `state`
        raise RuntimeError(f"flow methods {shadowed} would shadow attributes of CrewAI's Flow")
    name = "".join(part.title() for part in pattern.split("_")) + "Flow"
    return type(name, (_BASE,), {"__module__": __name__, **methods})


def _to(method: str) -> str:
    """The router label that sends control to `method` (labels must differ from method names)."""
    return f"to_{method}"


def _method(name: str, body: Step) -> Step:
    """A flow method `name` running `body` (a `partial`), with `self` its only parameter.

    CrewAI passes a trigger's output to any parameter but `self`, and a partial's
    bound arguments (or a closure's defaults) are still parameters.
    """

    async def method(self: Flow[FlowData]) -> None:
        await body(self)

    method.__name__ = method.__qualname__ = name
    return method


def _methods(kind: str, bodies: Sequence[Step]) -> dict[str, Step]:
    """One flow method per body, `{kind}_1`, `{kind}_2`, ...

    Not named after the user's source, worker, debater, stage, route or desk: those
    need not be identifiers, and could be a CrewAI `Flow` attribute or one of our
    methods. Step records carry the user's names.
    """
    return {f"{kind}_{n}": _method(f"{kind}_{n}", body) for n, body in enumerate(bodies, 1)}


# -- pipeline, invoice shape: extract -> validate -> router gate -> transform | reject


def _pipeline(ctx: Context) -> FlowClass:
    return _invoice(ctx) if ctx.args.get("stages") is None else _stages(ctx)


def _invoice(ctx: Context) -> FlowClass:
    args = ctx.arguments
    extractor, validator, transformer = args["extractor"], args["validator"], args["transformer"]

    @start()
    async def extract(self: Flow[FlowData]) -> None:
        with ctx.step("extract"):
            reply = await ctx.ask(extractor, pipeline.extractor_payload(ctx.state))
            ctx.apply(pipeline.extractor_update(ctx.state, reply))

    @listen(extract)
    async def validate_record(self: Flow[FlowData]) -> None:  # not `validate`: pydantic's, on every Flow
        with ctx.step("validate"):
            reply = await ctx.ask(validator, pipeline.record_payload(ctx.state))
            ctx.apply(pipeline.validator_update(ctx.state, reply))

    @router(validate_record, emit=[_to("transform"), _to("reject")])
    def gate(self: Flow[FlowData]) -> str:
        return _to(pipeline.gate(ctx.state))

    @listen(_to("transform"))
    async def transform(self: Flow[FlowData]) -> None:
        with ctx.step("transform"):
            reply = await ctx.ask(transformer, pipeline.record_payload(ctx.state))
            ctx.apply(pipeline.transformer_update(ctx.state, reply))

    @listen(_to("reject"))
    def reject(self: Flow[FlowData]) -> None:
        with ctx.step("reject"):
            ctx.apply(pipeline.reject(ctx.state))

    methods = {
        "extract": extract,
        "validate_record": validate_record,
        "gate": gate,
        "transform": transform,
        "reject": reject,
    }
    return _flow_class("pipeline", methods)


# -- pipeline, stages shape: stage_1 -> ... -> [gate -> router passed ->] last stage -> finish


def _stages(ctx: Context) -> FlowClass:
    args = ctx.arguments
    checker = args["gate"]

    async def run_stage(self: Flow[FlowData], stage: pipeline.Stage, name: str) -> None:
        with ctx.step(name):
            ctx.apply(await pipeline.stage_turn(stage, name, ctx.state, ctx.ask))

    stages = _methods(
        "stage",
        [partial(run_stage, stage=stage, name=pipeline.stage_name(stage)) for stage in args["stages"]],
    )
    *before, last = stages
    methods: dict[str, Any] = {}
    previous: str | None = None  # the step the next one follows; None: the next one starts the flow

    def after(step: str | None) -> Any:
        return start() if step is None else listen(step)

    for name in before:
        methods[name], previous = after(previous)(stages[name]), name
    if checker is not None:  # it checks the output of the stage before the last (or the input)

        async def gate(self: Flow[FlowData]) -> None:
            with ctx.step("gate"):
                ctx.apply(await pipeline.gate_turn(checker, ctx.state, ctx.ask))

        @router("gate", emit=[_to(last), "rejected"])
        def passed(self: Flow[FlowData]) -> str:
            return "rejected" if "result" in ctx.state else _to(last)  # a rejection wrote the result

        methods |= {"gate": after(previous)(gate), "passed": passed}
        previous = _to(last)
    methods[last] = after(previous)(stages[last])

    @listen(last)
    def finish(self: Flow[FlowData]) -> None:
        with ctx.step("finish"):
            ctx.apply(pipeline.finish_stages(ctx.state))

    return _flow_class("pipeline", {**methods, "finish": finish})


# -- scatter-gather: one start method per branch (run in parallel), and_ fan-in to the merge


def _scatter_gather(ctx: Context) -> FlowClass:
    return _sources(ctx) if ctx.args.get("workers") is None else _panel(ctx)


def _sources(ctx: Context) -> FlowClass:
    """One researcher over the input's sources, labelled with each source's name, and the aggregator."""
    args = ctx.arguments
    researcher, aggregator = args["researcher"], args["aggregator"]

    async def research(self: Flow[FlowData], task: scatter_gather.ResearchTask) -> None:
        source = task["source"]["name"]
        try:
            with ctx.step(source):
                payload = scatter_gather.researcher_payload(task)
                reply = await ctx.ask(researcher, payload, label=source)
        except Exception as exc:  # a failed source is recorded; the quorum decides at the merge
            ctx.apply(scatter_gather.failure_update(task, exc))
            return
        ctx.apply(scatter_gather.researcher_update(task, reply))

    tasks = scatter_gather.research_tasks(ctx.state)
    branches = {
        name: start()(method)
        for name, method in _methods("research", [partial(research, task=task) for task in tasks]).items()
    }

    @listen(and_(*branches))
    async def aggregate(self: Flow[FlowData]) -> None:
        with ctx.step("aggregate"):
            merged = await ctx.ask(aggregator, scatter_gather.aggregator_payload(ctx.state))
            ctx.apply(scatter_gather.aggregator_update(ctx.state, merged))

    return _flow_class("scatter_gather", {**branches, "aggregate": aggregate})


def _panel(ctx: Context) -> FlowClass:
    """A panel of workers, each asked the same input, and the gather (the merge agent or function)."""
    panel = ctx.declared(scatter_gather.Panel)

    async def ask(self: Flow[FlowData], task: scatter_gather.PanelTask) -> None:
        worker = task["worker"]
        try:
            with ctx.step(worker):
                reply = await ctx.ask(panel.by_name[worker], task["input"])
        except Exception as exc:  # a failed worker is recorded; the quorum decides at the gather
            ctx.apply(panel.failure_update(task, exc))
            return
        ctx.apply(panel.answer_update(task, reply))

    tasks = panel.tasks(ctx.state)
    branches = {
        name: start()(method)
        for name, method in _methods("worker", [partial(ask, task=task) for task in tasks]).items()
    }

    @listen(and_(*branches))
    async def gather(self: Flow[FlowData]) -> None:
        with ctx.step("gather"):
            ctx.apply(await panel.gather(ctx.state, ctx.ask))

    return _flow_class("scatter_gather", {**branches, "gather": gather})


# -- map-reduce: one start method per batch, bounded by a semaphore, and_ fan-in to reduce


def _map_reduce(ctx: Context) -> FlowClass:
    args = ctx.arguments
    mapper, reducer, combine = args["mapper"], args["reducer"], args["combine"]
    slots = asyncio.Semaphore(int(ctx.options.get("max_concurrency") or ctx.state["max_concurrency"]))
    superstep = _Superstep()

    async def map_batch(self: Flow[FlowData], task: map_reduce.BatchTask, name: str) -> None:
        async with superstep.branch(), slots:
            with ctx.step(name):
                reply = await ctx.ask(mapper, map_reduce.mapper_payload(task))
            ctx.apply(map_reduce.batch_update(task, reply, combine))

    batches: dict[str, Any] = {}
    for task in map_reduce.batch_tasks(ctx.state):
        name = f"map_batch_{task['batch'] + 1}"  # the method and the step record: which batch
        batches[name] = start()(_method(name, partial(map_batch, task=task, name=name)))

    @listen(and_(*batches))
    async def reduce(self: Flow[FlowData]) -> None:
        with ctx.step("reduce"):
            ctx.apply(await map_reduce.reduce_turn(ctx.state, ctx.ask, reducer=reducer, combine=combine))

    return _flow_class("map_reduce", {**batches, "reduce": reduce})


# -- refinement: generate (a start re-entered by the router) -> critique -> router decide


def _refinement(ctx: Context) -> FlowClass:
    loop = ctx.declared(refinement.Refinement)

    @start(_to("generate"))
    async def generate(self: Flow[FlowData]) -> None:
        with ctx.step("generate"):
            ctx.apply(await loop.generate(ctx.state, ctx.ask))

    @listen(generate)
    async def critique(self: Flow[FlowData]) -> None:
        with ctx.step("critique"):
            ctx.apply(await loop.critique(ctx.state, ctx.ask))

    @router(critique, emit=[_to("generate"), _to("finish")])
    def decide(self: Flow[FlowData]) -> str:
        return _to(refinement.should_continue(ctx.state))

    @listen(_to("finish"))
    def finish(self: Flow[FlowData]) -> None:
        with ctx.step("finish"):
            ctx.apply(refinement.finish(ctx.state))

    methods = {"generate": generate, "critique": critique, "decide": decide, "finish": finish}
    return _flow_class("refinement", methods)


# -- debate: moderator (a start re-entered each round) -> debaters in parallel -> close_round
#    -> ... -> vote -> router arbitrate -> judge | ask_human (Flow.ask) | finish


def _debate(ctx: Context) -> FlowClass:
    panel = ctx.declared(debate.Debate)
    superstep = _Superstep()

    @start(_to("moderator"))
    def moderator(self: Flow[FlowData]) -> None:
        sends = panel.next_round(ctx.state)
        self.state.round_tasks = [] if sends == "vote" else [dict(send.arg) for send in sends]

    @router(moderator, emit=[_to("argue"), _to("vote")])
    def moderate(self: Flow[FlowData]) -> str:
        return _to("argue") if self.state.round_tasks else _to("vote")

    async def argue(self: Flow[FlowData], debater: int, name: str) -> None:
        task = cast(debate.ArgueTask, self.state.round_tasks[debater])
        async with superstep.branch():
            with ctx.step(name):
                payload = panel.debater_payload(task)
                reply = await ctx.ask(panel.agent(task), payload, label=panel.label(task))
            ctx.apply(panel.debater_update(task, reply))

    names = panel.names(ctx.state["task"])
    debaters = {
        method_name: listen(_to("argue"))(method)
        for method_name, method in _methods(
            "argue", [partial(argue, debater=i, name=name) for i, name in enumerate(names)]
        ).items()
    }

    @router(and_(*debaters), emit=[_to("moderator")])
    def close_round(self: Flow[FlowData]) -> str:
        with ctx.step("close_round"):
            ctx.apply(debate.close_round(ctx.state))
        return _to("moderator")

    @listen(_to("vote"))
    def vote(self: Flow[FlowData]) -> None:
        with ctx.step("vote"):
            ctx.apply(debate.vote(ctx.state))

    @router(vote, emit=[_to("finish"), _to("judge"), _to("ask_human")])
    def arbitrate(self: Flow[FlowData]) -> str:
        return _to(debate.arbitrate(ctx.state))

    @listen(_to("judge"))
    async def judge(self: Flow[FlowData]) -> None:
        assert panel.judge is not None  # the panel's own check before round 1
        with ctx.step("judge"):
            ruling = await ctx.ask(panel.judge, debate.judge_payload(ctx.state))
            ctx.apply(debate.judge_update(ctx.state, ruling))

    @listen(_to("ask_human"))
    def ask_human(self: Flow[FlowData]) -> None:  # sync: CrewAI runs it in a worker thread, ask() blocks
        with ctx.step("ask_human"):
            choice = self.ask(human_prompt(ctx.state))
            ctx.apply(debate.human_update(ctx.state, choice))

    @listen(or_(_to("finish"), judge, ask_human))
    def finish(self: Flow[FlowData]) -> None:
        with ctx.step("finish"):
            ctx.apply(debate.finish(ctx.state))

    methods = {
        "moderator": moderator,
        "moderate": moderate,
        **debaters,
        "close_round": close_round,
        "vote": vote,
        "arbitrate": arbitrate,
        "judge": judge,
        "ask_human": ask_human,
        "finish": finish,
    }
    return _flow_class("debate", methods)


# -- routing: classify -> router -> the route's agent (labelled with the route)


def _routing(ctx: Context) -> FlowClass:
    args = ctx.arguments
    classifier, routes = args["router"], args["routes"]
    fallback = routing.default_route(routes, args["default"])

    @start()
    async def classify(self: Flow[FlowData]) -> None:
        with ctx.step("classify"):
            reply = await ctx.ask(classifier, routing.router_payload(ctx.state))
            ctx.apply(routing.router_update(ctx.state, reply, list(routes), fallback))

    async def answer(self: Flow[FlowData], route: str, agent: Agent[routing.Answer]) -> None:
        with ctx.step(route):
            payload = routing.specialist_payload(route, ctx.state)
            reply = await ctx.ask(agent, payload, label=route)
            ctx.apply(routing.specialist_update(route, ctx.state, reply))

    specialists = _methods(
        "route", [partial(answer, route=route, agent=agent) for route, agent in routes.items()]
    )
    method_of = dict(zip(routes, specialists, strict=True))

    @router(classify, emit=[_to(name) for name in specialists])
    def pick(self: Flow[FlowData]) -> str:
        return _to(method_of[routing.pick_specialist(ctx.state)])

    methods: dict[str, Any] = {"classify": classify, "pick": pick}
    for name, method in specialists.items():
        methods[name] = listen(_to(name))(method)
    return _flow_class("routing", methods)


# -- handoff: each desk a flow method; one router hands control to the desk the last one chose


def _handoff(ctx: Context) -> FlowClass:
    args = ctx.arguments
    desks = args["desks"]
    entry, fallback = handoff.entry_and_fallback(desks, args["entry"], args["fallback"])

    async def turn(self: Flow[FlowData], desk: str, agent: Agent[handoff.DeskReply]) -> None:
        with ctx.step(desk):
            reply = await ctx.ask(agent, handoff.desk_payload(desk, ctx.state), label=desk)
            goto, update = handoff.desk_update(desk, ctx.state, reply, list(desks), entry, fallback)
            ctx.apply(update)
            self.state.goto = goto

    staffed = _methods("desk", [partial(turn, desk=desk, agent=agent) for desk, agent in desks.items()])
    method_of = dict(zip(desks, staffed, strict=True))
    methods: dict[str, Any] = {}
    for desk, name in method_of.items():  # the entry desk starts; no desk hands back to it
        methods[name] = (start() if desk == entry else listen(_to(name)))(staffed[name])

    @router(or_(*methods), emit=[*(_to(method_of[d]) for d in desks if d != entry), "answered"])
    def hand_off(self: Flow[FlowData]) -> str:
        return "answered" if self.state.goto == END else _to(method_of[self.state.goto])

    return _flow_class("handoff", {**methods, "hand_off": hand_off})


_BUILDERS: dict[str, Callable[[Context], FlowClass]] = {
    "pipeline": _pipeline,
    "scatter_gather": _scatter_gather,
    "map_reduce": _map_reduce,
    "refinement": _refinement,
    "debate": _debate,
    "routing": _routing,
    "handoff": _handoff,
}


def build_flow(ctx: Context) -> tuple[FlowClass, dict[str, Any]]:
    """The CrewAI Flow class running the declared flow `ctx.flow.spec` over `ctx.state`, and the
    keyword arguments to make one.

    What would be a usage error mid-run is refused here, before any model call: a
    human arbitrator's `answer=` (or its absence), a nested LangGraph stage. Every
    flow gets CrewAI's `max_method_calls` (calls of any one method) from the
    pattern's own step bound, `PatternSpec.recursion_limit`: a hard stop under a
    loop's convergence test, never CrewAI's default of 100.
    """
    build = flow_builder("CrewAI", _BUILDERS, ctx.pattern)
    kwargs: dict[str, Any] = {"max_method_calls": ctx.flow.spec.recursion_limit(ctx.state)}
    if ctx.pattern == "debate" and ctx.state["task"]["arbitration"] == "human":
        kwargs["input_provider"] = _Arbitrator(human_arbitrator("CrewAI", ctx.state, ctx.options))
    if ctx.pattern == "pipeline":  # before the first stage calls a model
        pipeline.refuse_nested(ctx.arguments["stages"] or (), "CrewAI")
    return build(ctx), kwargs
