"""What every framework adapter shares: the scripted brain, step records, results, offline hygiene.

An adapter runs a pattern's agent turns with its framework's own constructs,
but the turns themselves (payloads, reply schemas, state updates) come from the
pattern modules in `patterns/`, so the flows mean the same on every framework.
This module holds the rest that would otherwise be written once per adapter.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from patterns.errors import UsageError
from patterns.flows.debate import human_question, human_update
from patterns.observability import _hooks as telemetry
from patterns.observability._pricing import SCRIPTED_MODEL, active_pricing
from patterns.resilience.policies import AgentPolicies, protected_call
from patterns.runtime import (
    Agent,
    AgentUsage,
    PatternSpec,
    RunResult,
    StepRecord,
    apply_update,
    get_flow,
    parse_reply,
    validate_input,
    wire,
)
from patterns.testing import Reply, ScriptedBrain

T = TypeVar("T", bound=BaseModel)
B = TypeVar("B")
R = TypeVar("R")
D = TypeVar("D")
C = TypeVar("C")

__all__ = [
    "FlowRun",
    "FlowState",
    "StepRecorder",
    "check_options",
    "disable_telemetry",
    "flow_builder",
    "human_arbitrator",
    "human_prompt",
    "flow_input",
    "initial_state",
    "parse",
    "quiet_framework_logs",
    "scripted_reply",
]

#: Environment every framework reads before import to stay offline and quiet.
_OFFLINE_ENV = {
    "CREWAI_DISABLE_TELEMETRY": "true",
    "CREWAI_DISABLE_TRACKING": "true",
    "CREWAI_TRACING_ENABLED": "false",
    "CREWAI_TESTING": "true",
    # CrewAI 1.15's verbose console asks PyPI whether a newer crewai exists (crewai_core.version).
    "CREWAI_DISABLE_VERSION_CHECK": "true",
    "OTEL_SDK_DISABLED": "true",
    "SEMANTICKERNEL_TELEMETRY_ENABLED": "false",
    # Semantic Kernel 1.45 reads these three (at import, and from a .env in the working
    # directory): the user-agent/version headers, and OpenTelemetry model diagnostics.
    "AZURE_TELEMETRY_DISABLED": "true",
    "SEMANTICKERNEL_EXPERIMENTAL_GENAI_ENABLE_OTEL_DIAGNOSTICS": "false",
    "SEMANTICKERNEL_EXPERIMENTAL_GENAI_ENABLE_OTEL_DIAGNOSTICS_SENSITIVE": "false",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "ANONYMIZED_TELEMETRY": "False",
}


def disable_telemetry() -> None:
    """Turn off every framework's telemetry and tracing; call before importing a framework."""
    for key, value in _OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


def quiet_framework_logs(*loggers: str) -> None:
    """Give a framework's loggers a `NullHandler`, so its ERROR records of agent errors stay quiet.

    Frameworks log each agent error before the run reports it as its result; with
    no handler of their own, Python's last-resort handler prints every one to
    stderr. An application that configures logging still receives them.
    """
    for name in loggers:
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())


@dataclass
class StepRecorder:
    """Collects one `StepRecord` per agent call, timed from the start of the run."""

    started: float = field(default_factory=time.perf_counter)
    steps: list[StepRecord] = field(default_factory=list)

    @contextmanager
    def step(self, agent: str) -> Iterator[None]:
        start = time.perf_counter() - self.started
        try:
            yield
        except BaseException as exc:
            end = time.perf_counter() - self.started
            self.steps.append(
                StepRecord(
                    agent=agent,
                    start=round(start, 6),
                    end=round(end, 6),
                    status="error",
                    error=f"{type(exc).__name__}: {exc}",
                )
            )
            raise
        end = time.perf_counter() - self.started
        self.steps.append(StepRecord(agent=agent, start=round(start, 6), end=round(end, 6), status="ok"))


def check_options(framework: str, options: Mapping[str, Any], accepted: frozenset[str]) -> None:
    """Refuse options the adapter would otherwise ignore: a typo must not pass as a default."""
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise UsageError(
            f"the {framework} adapter does not take {', '.join(unknown)}; it takes {', '.join(sorted(accepted))}"
        )


def scripted_reply(
    brain: ScriptedBrain, messages: Sequence[Mapping[str, Any]], *, tools: Any = None, tool_choice: Any = None
) -> tuple[float, Reply | Exception]:
    """Plan and answer one call on the brain: (delay to wait first, reply or the injected error).

    Bridges wait the delay their own way (sync or async) and then return the
    reply or raise the error; everything else about a call lives in the brain.
    """
    plan = brain.plan(messages)
    try:
        return plan.delay, brain.finish(plan, messages, tools=tools, tool_choice=tool_choice)
    except Exception as exc:  # the injected fault, raised after the delay by the caller
        return plan.delay, exc


def parse(text_or_message: Any, schema: type[T], *, agent: str) -> T:
    """Validate an agent's reply (text or a message object with `.content`) against `schema`."""
    message = text_or_message if hasattr(text_or_message, "content") else _Text(str(text_or_message))
    return parse_reply(message, schema, agent=agent)


@dataclass(frozen=True, slots=True)
class _Text:
    content: str
    tool_calls: tuple[()] = ()


def flow_builder(framework: str, builders: Mapping[str, B], pattern: str) -> B:
    """The adapter's builder for a flow of `pattern`, or a `UsageError` naming the patterns it does run."""
    try:
        return builders[pattern]
    except KeyError:
        raise UsageError(
            f"the {framework} adapter has no flow for pattern {pattern!r}; it runs: {', '.join(builders)}"
        ) from None


def flow_input(flow: str | PatternSpec, data: Any) -> BaseModel:
    """A flow's validated input: `data`, or its sample when None."""
    spec = get_flow(flow)
    if data is None and spec.sample is None:
        raise UsageError(f"this {spec.name} flow has no sample input: pass its input")
    return validate_input(spec, spec.sample if data is None else data)


def initial_state(flow: str | PatternSpec, data: Any) -> dict[str, Any]:
    """The validated initial state of a flow (a preset by name, or declared), as the LangGraph runner builds it."""
    return get_flow(flow).initial_state(flow_input(flow, data))


def human_prompt(state: Mapping[str, Any]) -> str:
    """What a framework shows the human arbitrator: what LangGraph's `interrupt` carries, as text."""
    question = human_question(state)  # type: ignore[arg-type]
    ask = question.pop("ask")
    return f"{ask}\n{wire.canonical_json(question)}"


def human_arbitrator(
    framework: str, state: Mapping[str, Any], options: Mapping[str, Any]
) -> Callable[[str], str]:
    """The human arbitrator of a debate, from the run's `answer=` or `input_func=`: one check for every adapter.

    An `answer=` is checked against the question before the run starts (an
    option, or text for an open question), so a wrong one is a `UsageError` and
    no model is called; `input_func(prompt)` answers when the framework asks.
    """
    answer, input_func = options.get("answer"), options.get("input_func")
    if input_func is not None:
        return lambda prompt: str(input_func(prompt))
    if answer is None:
        raise UsageError(
            f"debate with arbitration='human' on {framework} needs the arbitrator's choice: pass "
            "answer='OPTION' (orch: --answer OPTION) or input_func=callable(prompt) -> str"
        )
    try:
        human_update(state, answer)  # type: ignore[arg-type]  # the pattern's own check of a ruling
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return lambda _prompt: str(answer)


@dataclass
class FlowRun:
    """One adapter run of a declared flow: its policies, and timing, steps and usage from the brain's ledger."""

    framework: str
    spec: PatternSpec
    brain: ScriptedBrain
    policies: AgentPolicies | None = None
    recorder: StepRecorder = field(default_factory=StepRecorder)
    #: The run's input as `adapters.arun` validated it (None: read it from the state).
    input: BaseModel | None = None

    def __post_init__(self) -> None:
        self._before = self.brain.ledger.snapshot()
        self._own: dict[int, tuple[ScriptedBrain, dict[str, AgentUsage]]] = {}

    @property
    def pattern(self) -> str:
        return self.spec.name

    def brain_for(self, agent: Agent[Any]) -> ScriptedBrain:
        """The brain answering `agent`: the run's, or that of the scripted model it was declared with.

        Each framework then gives the agent a client of its own over that brain; its
        calls are counted in the result with everyone else's.
        """
        model = agent.model
        if model is None:
            return self.brain
        brain = getattr(model, "brain", None)
        if not isinstance(brain, ScriptedBrain):
            raise UsageError(
                f"agent {agent.name!r} has a model of its own ({type(model).__name__}): on {self.framework} an "
                "agent's own model must be a ScriptedChatModel; a real model per agent runs on LangGraph"
            )
        if brain is not self.brain and id(brain) not in self._own:
            self._own[id(brain)] = (brain, brain.ledger.snapshot())
        return brain

    def _usage(self) -> dict[str, AgentUsage]:
        usage = _delta(self._before, self.brain.ledger.snapshot())
        for brain, before in self._own.values():
            for agent, more in _delta(before, brain.ledger.snapshot()).items():
                usage[agent] = usage[agent] + more if agent in usage else more
        return usage

    def result(self, state: Mapping[str, Any] | None, *, error: BaseException | None = None) -> RunResult:
        usage = self._usage()
        status: Literal["completed", "failed"] = "completed"
        output = None
        message = None
        if error is not None:
            status, message = "failed", f"{type(error).__name__}: {error}"
        elif state is None or "result" not in state:
            status, message = "failed", "the flow ended without producing a result"
        else:
            output = self.spec.output_model.model_validate(state["result"]).model_dump(mode="json")
        prompt_tokens = sum(u.prompt_tokens for u in usage.values())
        completion_tokens = sum(u.completion_tokens for u in usage.values())
        result = RunResult(
            framework=self.framework,
            pattern=self.pattern,
            status=status,
            output=output,
            error=message,
            steps=sorted(self.recorder.steps, key=lambda s: (s.start, s.agent)),
            calls=sum(u.calls for u in usage.values()),
            failed_calls=sum(u.failures for u in usage.values()),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            usage=usage,
            # Every adapter answers from the scripted brain: priced as the scripted model.
            cost_usd=active_pricing().cost(SCRIPTED_MODEL, prompt_tokens, completion_tokens),
            wall_time_s=round(time.perf_counter() - self.recorder.started, 6),
        )
        return telemetry.adapter_finished(self, result)


def _delta(before: Mapping[str, AgentUsage], after: Mapping[str, AgentUsage]) -> dict[str, AgentUsage]:
    usage = {}
    for agent, now in after.items():
        then = before.get(agent, AgentUsage())
        diff = AgentUsage(
            calls=now.calls - then.calls,
            failures=now.failures - then.failures,
            prompt_tokens=now.prompt_tokens - then.prompt_tokens,
            completion_tokens=now.completion_tokens - then.completion_tokens,
        )
        if diff.calls or diff.failures:
            usage[agent] = diff
    return usage


@dataclass
class FlowState:
    """One flow run on a framework: the state its agent turns read and update, the flow, the options.

    Frameworks share messages between agents, not typed state; this is where the
    state lives instead, updated with the pattern's own reducers (as LangGraph does).
    The declared flow's builder arguments (its agents and rules) are `args`.
    """

    state: Any  # the flow's TypedDict state, as a plain dict
    flow: FlowRun
    options: Mapping[str, Any] = field(default_factory=dict)
    failure: BaseException | None = None  # the first agent error, re-raised once the framework stops
    _clients: dict[int, Any] = field(default_factory=dict, init=False, repr=False)

    @property
    def pattern(self) -> str:
        return self.flow.spec.name

    @property
    def args(self) -> Mapping[str, Any]:
        return self.flow.spec.args

    @property
    def arguments(self) -> dict[str, Any]:
        """The flow's builder arguments with the builder's own defaults for those not declared."""
        bound = inspect.signature(self.flow.spec.build).bind(**self.args)
        bound.apply_defaults()
        return dict(bound.arguments)

    def client_for(self, agent: Agent[Any], run_client: C, make: Callable[[ScriptedBrain], C]) -> C:
        """The framework client `agent` calls: the run's, or one `make`s over its own scripted model.

        An agent declared with a model of its own gets a client of its own, made once per run
        and shared by every agent on that model.
        """
        brain = self.flow.brain_for(agent)
        if brain is self.flow.brain:
            return run_client
        if id(brain) not in self._clients:
            self._clients[id(brain)] = make(brain)
        return self._clients[id(brain)]  # type: ignore[no-any-return]

    def declared(self, cls: type[D]) -> D:
        """The pattern's declared value (`Refinement`, `Debate`, `Panel`) built from the flow's arguments."""
        arguments = self.arguments
        values = {f.name: arguments[f.name] for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    def apply(self, update: Mapping[str, Any] | None) -> None:
        self.state = apply_update(self.flow.spec.state_type, self.state, update)

    async def protected(
        self, agent: Agent[Any], payload: dict[str, Any], label: str | None, call: Callable[[], Awaitable[R]]
    ) -> R:
        """`call()` (one model call through the framework, parsed) under the run's `AgentPolicies`, if any.

        The same composition LangGraph's `call_agent` applies (`protected_call`), keyed
        by the same names, so a flow has the same protection, and the same spans,
        metrics and log records (`patterns.observability`), on every framework.
        """
        who = label or agent.name
        observed = telemetry.adapter_call(self.flow, who, agent.name, description=agent.description)
        attempt = observed.attempts(call)
        with observed:
            if self.flow.policies is None:
                return await attempt()
            return await protected_call(self.flow.policies, who, agent.name, payload, attempt)

    def fail(self, error: BaseException) -> None:
        """Remember the first agent error: frameworks wrap it in their own exception types."""
        if self.failure is None:
            self.failure = error
