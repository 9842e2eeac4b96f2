"""The seven canonical flows as CrewAI Flows whose agent turns are Crews (see the package docstring)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

from crewai import Agent, Crew, Process, Task
from crewai.flow.flow import Flow, and_, listen, or_, router, start
from crewai.flow.flow import FlowState as CrewFlowState
from crewai.lite_agent_output import LiteAgentOutput
from crewai.llms.base_llm import BaseLLM
from crewai.tasks.task_output import TaskOutput
from langgraph.graph import END
from pydantic import BaseModel, Field

from adapters._common import FlowState, flow_builder, parse
from patterns.errors import MalformedOutput, ModelError, UsageError
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
    PATTERNS,
    PRODUCT_COPY,
    SUPPORT_DESKS,
    SUPPORT_ROUTES,
)
from patterns.runtime import wire

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
    goto: str = ""  # handoff: where the last desk sent the customer
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
    def step(self, agent: str) -> Iterator[None]:
        with self.flow.recorder.step(agent):
            yield

    async def ask(self, role: str, payload: dict[str, Any], schema: type[M], *, name: str | None = None) -> M:
        """One agent turn: a Crew of one Agent doing one Task, prompted with the pattern's two messages.

        The reply is validated by the task's guardrail (the pattern's parse), so CrewAI
        re-asks a malformed reply itself; once its retries are spent the original
        `MalformedOutput` is raised, not CrewAI's "failed guardrail validation".
        """
        validation = _Validation(schema, name or role)
        crew = self._crew(role, payload, name, validation)
        try:
            await crew.akickoff()
        except Exception as exc:
            if validation.error is not None and not isinstance(exc, ModelError):
                raise validation.error from None
            raise
        if validation.reply is None:  # pragma: no cover - CrewAI returns only after the guardrail passed
            raise RuntimeError(f"the CrewAI task of {name or role} ended without a validated reply")
        return validation.reply

    def _crew(
        self, role: str, payload: dict[str, Any], name: str | None, validation: _Validation[Any]
    ) -> Crew:
        # CrewAI renders "You are {role}. {backstory}\nYour personal goal is: {goal}" as the
        # system message and the task description into the user message, so our system text
        # becomes role + backstory and our user text (with its INPUT block) the description.
        system, user = wire.render(AGENTS[role], payload, label=name)
        identity, _, instructions = system.partition(". ")
        verbose = bool(self.options.get("verbose", False))
        retries = (
            {"max_retry_limit": int(self.options["max_retry_limit"])}
            if "max_retry_limit" in self.options
            else {}
        )
        agent = Agent(
            role=identity.removeprefix("You are "),
            goal=f"Do your step of the {self.pattern} flow.",
            backstory=instructions,
            llm=self.llm,
            function_calling_llm=self.llm,
            allow_delegation=False,
            verbose=verbose,
            **retries,
        )
        task = Task(
            name=name or role,
            description=user,
            expected_output=EXPECTED_OUTPUT,
            agent=agent,
            # A lambda: CrewAI checks a guardrail's return annotation at run time, and ours are strings.
            guardrail=lambda output: validation.check(output),
        )
        return Crew(
            name=f"{self.pattern}:{name or role}",
            agents=[agent],
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
    """CrewAI's `InputProvider` for `Flow.ask`: the human's choice from `answer=` or `input_func=`."""

    def __init__(self, answer: Any, input_func: Callable[[str], Any] | None) -> None:
        self._answer, self._input_func = answer, input_func

    def request_input(self, message: str, flow: Any, metadata: dict[str, Any] | None = None) -> str:
        return str(self._input_func(message) if self._input_func is not None else self._answer)


def _to(node: str) -> str:
    """The router label that sends control to `node` (labels must differ from method names)."""
    return f"to_{node}"


def _named(name: str, method: Any) -> Any:
    method.__name__ = method.__qualname__ = name
    return method


FlowClass = type[Flow[FlowData]]

# Made once: every Flow[...] subscription creates a new class in CrewAI.
_BASE: FlowClass = Flow[FlowData]


def _flow_class(pattern: str, methods: dict[str, Any]) -> FlowClass:
    """A Flow class for this run: fan-outs have a step per source or batch, and steps close over the run."""
    name = "".join(part.title() for part in pattern.split("_")) + "Flow"
    return type(name, (_BASE,), {"__module__": __name__, **methods})


# -- pipeline: extract -> validate -> router gate -> transform | reject


def _pipeline(ctx: Context) -> FlowClass:
    @start()
    async def extract(self: Flow[FlowData]) -> None:
        with ctx.step("extract"):
            reply = await ctx.ask("extractor", P.extractor_payload(ctx.state), P.Extracted)
            ctx.apply(P.extractor_update(ctx.state, reply))

    @listen(extract)
    async def validate(self: Flow[FlowData]) -> None:
        with ctx.step("validate"):
            reply = await ctx.ask("validator", P.record_payload(ctx.state), P.Validation)
            ctx.apply(P.validator_update(ctx.state, reply))

    @router(validate, emit=[_to("transform"), _to("reject")])
    def gate(self: Flow[FlowData]) -> str:
        return _to(P.gate(ctx.state))

    @listen(_to("transform"))
    async def transform(self: Flow[FlowData]) -> None:
        with ctx.step("transform"):
            reply = await ctx.ask("transformer", P.record_payload(ctx.state), P.Record)
            ctx.apply(P.transformer_update(ctx.state, reply))

    @listen(_to("reject"))
    def reject(self: Flow[FlowData]) -> None:
        with ctx.step("reject"):
            ctx.apply(P.reject(ctx.state))

    methods = {
        "extract": extract,
        "validate": validate,
        "gate": gate,
        "transform": transform,
        "reject": reject,
    }
    return _flow_class("pipeline", methods)


# -- scatter-gather: one start method per source (run in parallel), and_ fan-in to aggregate


def _scatter_gather(ctx: Context) -> FlowClass:
    methods: dict[str, Any] = {}
    for i, task in enumerate(SG.research_tasks(ctx.state)):

        async def research(self: Flow[FlowData], task: SG.ResearchTask = task) -> None:
            source = task["source"]["name"]
            try:
                with ctx.step(source):
                    payload = SG.researcher_payload(task)
                    reply = await ctx.ask("researcher", payload, SG.SourceFindings, name=source)
            except Exception as exc:  # a failed source is recorded; the quorum decides at the merge
                ctx.apply(SG.failure_update(task, exc))
                return
            ctx.apply(SG.researcher_update(task, reply))

        name = f"research_{i + 1}"  # CrewAI method names must be identifiers; source names need not be
        methods[name] = start()(_named(name, _no_trigger(research)))

    @listen(and_(*methods))
    async def aggregate(self: Flow[FlowData]) -> None:
        with ctx.step("aggregate"):
            merged = await ctx.ask("aggregator", SG.aggregator_payload(ctx.state), SG.Merged)
            ctx.apply(SG.aggregator_update(ctx.state, merged))

    return _flow_class("scatter_gather", {**methods, "aggregate": aggregate})


def _no_trigger(method: Callable[..., Any]) -> Callable[..., Any]:
    """Hide a closure's bound defaults: CrewAI passes the trigger's output to any extra parameter."""

    async def run(self: Flow[FlowData]) -> None:
        await method(self)

    return run


# -- map-reduce: one start method per batch, bounded by a semaphore, and_ fan-in to reduce


def _map_reduce(ctx: Context) -> FlowClass:
    tasks = MR.batch_tasks(ctx.state)
    slots = asyncio.Semaphore(int(ctx.options.get("max_concurrency") or ctx.state["max_concurrency"]))
    superstep = _Superstep()
    methods: dict[str, Any] = {}
    for task in tasks:
        name = f"map_batch_{task['batch'] + 1}"

        async def map_batch(self: Flow[FlowData], task: MR.BatchTask = task, name: str = name) -> None:
            async with superstep.branch(), slots:
                with ctx.step(name):
                    reply = await ctx.ask("mapper", MR.mapper_payload(task), MR.MapReply)
                ctx.apply(MR.mapper_update(task, reply))

        methods[name] = start()(_named(name, _no_trigger(map_batch)))

    @listen(and_(*methods))
    async def reduce(self: Flow[FlowData]) -> None:
        with ctx.step("reduce"):
            reply = await ctx.ask("reducer", MR.reducer_payload(ctx.state), MR.MapReduceOutput)
            ctx.apply(MR.reducer_update(ctx.state, reply))

    return _flow_class("map_reduce", {**methods, "reduce": reduce})


# -- refinement: generate (a start re-entered by the router) -> critique -> router decide


def _refinement(ctx: Context) -> FlowClass:
    @start(_to("generate"))
    async def generate(self: Flow[FlowData]) -> None:
        with ctx.step("generate"):
            reply = await ctx.ask("generator", PRODUCT_COPY.generator_payload(ctx.state), R.Draft)
            ctx.apply(PRODUCT_COPY.generator_update(reply))

    @listen(generate)
    async def critique(self: Flow[FlowData]) -> None:
        with ctx.step("critique"):
            reply = await ctx.ask("critic", PRODUCT_COPY.critic_payload(ctx.state), R.Critique)
            ctx.apply(PRODUCT_COPY.critic_update(ctx.state, reply))

    @router(critique, emit=[_to("generate"), _to("finish")])
    def decide(self: Flow[FlowData]) -> str:
        return _to(R.should_continue(ctx.state))

    @listen(_to("finish"))
    def finish(self: Flow[FlowData]) -> None:
        with ctx.step("finish"):
            ctx.apply(R.finish(ctx.state))

    methods = {"generate": generate, "critique": critique, "decide": decide, "finish": finish}
    return _flow_class("refinement", methods)


# -- debate: moderator (a start re-entered each round) -> debaters in parallel -> close_round
#    -> ... -> vote -> router arbitrate -> judge | ask_human (Flow.ask) | finish


def _debate(ctx: Context) -> FlowClass:
    spec = ctx.state["task"]
    superstep = _Superstep()

    @start(_to("moderator"))
    def moderator(self: Flow[FlowData]) -> None:
        sends = COUNCIL.next_round(ctx.state)
        self.state.round_tasks = [] if sends == "vote" else [dict(send.arg) for send in sends]

    @router(moderator, emit=[_to("argue"), _to("vote")])
    def moderate(self: Flow[FlowData]) -> str:
        return _to("argue") if self.state.round_tasks else _to("vote")

    debaters: dict[str, Any] = {}
    for i in range(len(COUNCIL.names(spec))):
        name = D.debater_name(i)

        async def argue(self: Flow[FlowData], i: int = i, name: str = name) -> None:
            task = cast(D.ArgueTask, self.state.round_tasks[i])
            async with superstep.branch():
                with ctx.step(name):
                    reply = await ctx.ask("debater", COUNCIL.debater_payload(task), D.Position, name=name)
                ctx.apply(COUNCIL.debater_update(task, reply))

        debaters[name] = listen(_to("argue"))(_named(name, _no_trigger(argue)))

    @router(and_(*debaters), emit=[_to("moderator")])
    def close_round(self: Flow[FlowData]) -> str:
        ctx.apply(D.close_round(ctx.state))
        return _to("moderator")

    @listen(_to("vote"))
    def vote(self: Flow[FlowData]) -> None:
        with ctx.step("vote"):
            ctx.apply(D.vote(ctx.state))

    @router(vote, emit=[_to("finish"), _to("judge"), _to("ask_human")])
    def arbitrate(self: Flow[FlowData]) -> str:
        return _to(D.arbitrate(ctx.state))

    @listen(_to("judge"))
    async def judge(self: Flow[FlowData]) -> None:
        with ctx.step("judge"):
            ruling = await ctx.ask("judge", D.judge_payload(ctx.state), D.Ruling)
            ctx.apply(D.judge_update(ctx.state, ruling))

    @listen(_to("ask_human"))
    def ask_human(self: Flow[FlowData]) -> None:  # sync: CrewAI runs it in a worker thread, ask() blocks
        with ctx.step("ask_human"):
            choice = self.ask(_human_question(ctx.state))
            ctx.apply(D.human_update(ctx.state, choice))

    @listen(or_(_to("finish"), judge, ask_human))
    def finish(self: Flow[FlowData]) -> None:
        with ctx.step("finish"):
            ctx.apply(D.finish(ctx.state))

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


def _arbitrator(ctx: Context) -> _Arbitrator:
    answer, input_func = ctx.options.get("answer"), ctx.options.get("input_func")
    if answer is None and input_func is None:
        raise UsageError(
            "debate with arbitration='human' on CrewAI needs the arbitrator's choice: pass answer='OPTION' (orch: --answer OPTION) "
            "or input_func=callable(question) -> str (it answers the flow's Flow.ask)"
        )
    options = ctx.state["task"]["options"]
    if input_func is None and answer not in options:
        raise UsageError(f"answer {answer!r} is not an option; choose one of: {', '.join(options)}")
    return _Arbitrator(answer, input_func)


def _human_question(state: D.DebateState) -> str:
    spec = state["task"]
    ask = {"question": spec["question"], "options": spec["options"], "vote": state["vote"]}
    return f"The debaters did not agree. Reply with one of the options.\n{wire.canonical_json(ask)}"


# -- routing: classify -> router -> billing | technical | general


def _routing(ctx: Context) -> FlowClass:
    @start()
    async def classify(self: Flow[FlowData]) -> None:
        with ctx.step("classify"):
            reply = await ctx.ask("router", RT.router_payload(ctx.state), RT.Classification)
            ctx.apply(RT.router_update(ctx.state, reply, SUPPORT_ROUTES, "general"))

    @router(classify, emit=[_to(s) for s in SUPPORT_ROUTES])
    def route(self: Flow[FlowData]) -> str:
        return _to(RT.pick_specialist(ctx.state))

    methods: dict[str, Any] = {"classify": classify, "route": route}
    for speciality in SUPPORT_ROUTES:

        async def answer(self: Flow[FlowData], speciality: str = speciality) -> None:
            with ctx.step(speciality):
                payload = RT.specialist_payload(speciality, ctx.state)
                reply = await ctx.ask("specialist", payload, RT.Answer, name=speciality)
                ctx.apply(RT.specialist_update(speciality, ctx.state, reply))

        methods[speciality] = listen(_to(speciality))(_named(speciality, _no_trigger(answer)))
    return _flow_class("routing", methods)


# -- handoff: each desk a flow method; one router hands control to the desk the last one chose


def _handoff(ctx: Context) -> FlowClass:
    methods: dict[str, Any] = {}
    for desk in SUPPORT_DESKS:

        async def turn(self: Flow[FlowData], desk: str = desk) -> None:
            with ctx.step(desk):
                reply = await ctx.ask("support", H.desk_payload(desk, ctx.state), H.DeskReply, name=desk)
                goto, update = H.desk_update(desk, ctx.state, reply, SUPPORT_DESKS, "triage", "general")
                ctx.apply(update)
                self.state.goto = goto

        trigger = start() if desk == "triage" else listen(_to(desk))
        methods[desk] = trigger(_named(desk, _no_trigger(turn)))

    @router(or_(*methods), emit=[*(_to(d) for d in SUPPORT_DESKS if d != "triage"), "answered"])
    def hand_off(self: Flow[FlowData]) -> str:
        return "answered" if self.state.goto == END else _to(self.state.goto)

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
    """The CrewAI Flow class running `ctx.pattern` over `ctx.state`, and the keyword arguments to make one.

    Every flow gets CrewAI's `max_method_calls` (calls of any one method) from
    the pattern's own step bound, `PatternSpec.recursion_limit`: a hard stop
    under a loop's convergence test, never CrewAI's default of 100.
    """
    kwargs: dict[str, Any] = {}
    if ctx.pattern == "debate" and ctx.state["task"]["arbitration"] == "human":
        kwargs["input_provider"] = _arbitrator(ctx)  # checked first: a missing answer is a usage error
    cls = flow_builder("CrewAI", _BUILDERS, ctx.pattern)(ctx)
    kwargs["max_method_calls"] = PATTERNS[ctx.pattern].recursion_limit(ctx.state)
    return cls, kwargs
