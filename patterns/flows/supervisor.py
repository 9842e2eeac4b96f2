"""Supervisor (group chat): a manager picks who speaks next, turn by turn, until the chat is done.

For work a team does by talking it through. Members take turns on one shared
transcript, each shown the task, the transcript and the last reply. Who speaks
next is decided before every turn by one of three: a manager agent (it replies
with a member's name, or "done"), a function of the chat so far (`select=`), or,
with neither, round-robin in the members' order. The chat ends at the first of:
`max_turns` turns (from the input), a "done" decision, or `until(chat)` holding
after a turn. Round-robin refinement (each member improves the last draft, in
order, until it is good enough) is the round-robin configuration with `until`.

Hierarchical teams: a member may itself be a compiled pattern, another team for
one. It is called from its member's node (not merged into this graph), given the
member's payload as its input; its `result` is the member's reply, and, built
without a checkpointer, it saves its steps in this run's checkpointer under the
member's namespace, so a run killed inside it resumes inside it.

Every turn is two supersteps, the pick and the member's reply, each saved: a
resumed run goes on from the last saved turn, and a saved pick is never asked
for again. The recursion limit is derived from `max_turns`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal, cast

from langgraph.graph import END, StateGraph
from langgraph.pregel import Pregel
from langgraph.runtime import Runtime
from langgraph.types import RetryPolicy
from pydantic import BaseModel, Field, create_model, model_validator
from typing_extensions import TypedDict  # pydantic reads its schema on 3.11 (the server's /schemas)

from patterns.errors import UsageError
from patterns.runtime._agent import DEFAULT_RETRY, Agent, AgentContext, Ask, PatternGraph, ask_in
from patterns.runtime._input import INPUT_NODE, PayloadInput, add_input
from patterns.runtime._spec import PatternSpec

__all__ = [
    "DONE",
    "SPEC",
    "Chat",
    "Decision",
    "Message",
    "Supervisor",
    "SupervisorInput",
    "SupervisorOutput",
    "build_supervisor",
    "recursion_limit",
]

#: What the manager (or `select`) answers to end the chat.
DONE = "done"

StopReason = Literal["done", "until", "max_turns"]


class SupervisorInput(PayloadInput):
    """The task (`input`, shown to every member and the manager) and the most turns the chat may take."""

    max_turns: int = Field(default=6, ge=1, le=50, description="The most member turns.")


class Decision(BaseModel):
    """The manager's reply: who speaks next (a member's name, or "done") and why."""

    next: str
    reason: str = ""


class Message(BaseModel):
    turn: int
    speaker: str
    reason: str | None
    """Why the manager gave the speaker the turn; None when picked by round-robin or `select`."""
    output: dict[str, Any]


class SupervisorOutput(BaseModel):
    final: dict[str, Any] | None
    """The last reply, or None if the chat ended before anyone spoke."""
    final_speaker: str | None
    speakers: list[str]
    turns: int
    stop_reason: StopReason
    transcript: list[Message]


class SupervisorState(TypedDict, total=False):
    input: dict[str, Any]
    max_turns: int
    pick: dict[str, Any]
    transcript: Annotated[list[dict[str, Any]], operator.add]
    result: dict[str, Any]


def recursion_limit(max_turns: int) -> int:
    """Two supersteps per turn (the pick, the reply), the input, the last pick and the finish, with headroom."""
    return 2 * max_turns + 4


@dataclass(frozen=True, slots=True)
class Chat:
    """The chat so far: what `select` and `until` are given."""

    input: dict[str, Any]
    transcript: tuple[dict[str, Any], ...]
    """Every reply so far, oldest first: `turn`, `speaker`, `reason`, `output`."""
    members: tuple[str, ...]
    max_turns: int

    @property
    def turns(self) -> int:
        return len(self.transcript)

    @property
    def last(self) -> dict[str, Any] | None:
        """The last reply, or None before the first."""
        return self.transcript[-1]["output"] if self.transcript else None

    @property
    def last_speaker(self) -> str | None:
        return self.transcript[-1]["speaker"] if self.transcript else None


#: A member: an agent, or a compiled pattern (built without a checkpointer) given the member's payload.
Member = Agent[Any] | PatternGraph
#: Picks the next speaker from the chat: a member's name, or "done".
Select = Callable[[Chat], str]
#: Ends the chat when it holds after a turn.
Until = Callable[[Chat], bool]

_RESERVED = frozenset({"manage", "finish", DONE, INPUT_NODE})


def member_name(member: Member) -> str:
    return member.name or ""


def _takes_payload(graph: Pregel[Any, Any, Any, Any]) -> bool:
    """Whether a nested pattern's input is `{"input": {...}}` (plus its own settings)."""
    schema = getattr(getattr(graph, "builder", None), "input_schema", None)
    return isinstance(schema, type) and issubclass(schema, PayloadInput)


def _checked_decision(output: type[Decision], names: Sequence[str]) -> type[Decision]:
    """`output` with the members as a rule, so a pick of no member fails where any bad reply fails.

    A reply naming no member is then `MalformedOutput`, asked again by the node
    retry, by `AgentPolicies.retry` and on every framework alike.
    """

    def check(decision: Decision) -> Decision:
        if decision.next not in (*names, DONE):
            raise ValueError(f"next is {decision.next!r}: name a member ({', '.join(names)}) or {DONE!r}")
        return decision

    rules: dict[str, Any] = {"_members_only": model_validator(mode="after")(check)}
    return cast(type[Decision], create_model(output.__name__, __base__=output, __validators__=rules))


@dataclass(frozen=True, slots=True)
class Supervisor:
    """A declared team: the arguments of `build_supervisor`, checked.

    Its turns (the pick, each reply, the result) are shared with the adapters.
    """

    members: tuple[Member, ...]
    manager: Agent[Decision] | None = None
    select: Select | None = None
    until: Until | None = None
    checked_manager: Agent[Decision] | None = field(init=False, default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not all(isinstance(m, Agent | Pregel) for m in self.members):
            raise UsageError("members must be agents or compiled patterns (built without a checkpointer)")
        names = self.names
        if not names or len(set(names)) != len(names) or not all(names) or _RESERVED & set(names):
            raise UsageError(
                f"members must be one or more, with distinct names other than {', '.join(sorted(_RESERVED))}: "
                f"{list(names)}"
            )
        if self.manager is not None and self.select is not None:
            raise UsageError(
                "build_supervisor takes manager=Agent or select=fn, not both (neither: round-robin)"
            )
        if self.manager is not None:
            if not isinstance(self.manager, Agent) or not issubclass(self.manager.output, Decision):
                raise UsageError(
                    "the manager must be Agent(..., output=Decision) (or a subclass of Decision)"
                )
            checked = replace(self.manager, output=_checked_decision(self.manager.output, names))
            object.__setattr__(self, "checked_manager", checked)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(member_name(m) for m in self.members)

    @property
    def by_name(self) -> dict[str, Member]:
        return dict(zip(self.names, self.members, strict=True))

    def chat(self, state: SupervisorState) -> Chat:
        return Chat(state["input"], tuple(state.get("transcript", [])), self.names, state["max_turns"])

    def stop_reason(self, state: SupervisorState) -> StopReason | None:
        """Why the chat ends before another turn (the stop rule, then the bound), or None to go on."""
        chat = self.chat(state)
        if chat.turns and self.until is not None and self.until(chat):
            return "until"
        return "max_turns" if chat.turns >= chat.max_turns else None

    # -- the turns (payloads and updates, shared with the adapters) ------------------

    def manager_payload(self, state: SupervisorState) -> dict[str, Any]:
        """The task, the members (each with what it is for), the transcript, and the turn to give."""
        members = [{"name": name, "description": _description(m)} for name, m in self.by_name.items()]
        chat = self.chat(state)
        return {
            "input": chat.input,
            "members": members,
            "transcript": list(chat.transcript),
            "turn": chat.turns + 1,
            "max_turns": chat.max_turns,
        }

    def pick_update(
        self, speaker: str | None, reason: str | None, stop: StopReason | None = None
    ) -> SupervisorState:
        """Who speaks next and why; `speaker=None` ends the chat for `stop`."""
        return {"pick": {"speaker": speaker, "reason": reason, "stop": stop if speaker is None else None}}

    async def pick(self, state: SupervisorState, ask: Ask) -> SupervisorState:
        """The manager's turn: the chat's end, or the next speaker by the manager, `select` or round-robin."""
        stop = self.stop_reason(state)
        if stop is not None:
            return self.pick_update(None, None, stop)
        if self.checked_manager is not None:
            decision = await ask(self.checked_manager, self.manager_payload(state))
            speaker = None if decision.next == DONE else decision.next
            return self.pick_update(speaker, decision.reason, "done")
        if self.select is not None:
            chosen = self.select(self.chat(state))
            if chosen not in (*self.names, DONE):
                raise UsageError(
                    f"select returned {chosen!r}: return a member ({', '.join(self.names)}) or {DONE!r}"
                )
            return self.pick_update(None if chosen == DONE else chosen, None, "done")
        return self.pick_update(self.names[len(state.get("transcript", [])) % len(self.names)], None)

    def member_payload(self, state: SupervisorState) -> dict[str, Any]:
        """What the speaker is given: the task, its turn, the transcript and the last reply."""
        chat = self.chat(state)
        return {
            "input": chat.input,
            "turn": chat.turns + 1,
            "transcript": list(chat.transcript),
            "last": chat.last,
        }

    def member_update(self, state: SupervisorState, name: str, output: dict[str, Any]) -> SupervisorState:
        message = Message(
            turn=len(state.get("transcript", [])) + 1,
            speaker=name,
            reason=state["pick"]["reason"],
            output=output,
        )
        return {"transcript": [message.model_dump(mode="json")]}

    async def speak(self, name: str, state: SupervisorState, ask: Ask) -> SupervisorState:
        """An agent member's turn (a nested pattern is LangGraph's own: see `build_supervisor`)."""
        member = self.by_name[name]
        if not isinstance(member, Agent):
            raise UsageError(
                f"member {name!r} is a compiled LangGraph pattern: nested patterns run on LangGraph only; "
                "on other frameworks make the member an agent"
            )
        reply = await ask(member, self.member_payload(state))
        return self.member_update(state, name, reply.model_dump(mode="json"))

    def next_node(self, state: SupervisorState) -> str:
        """The picked member's node, or finish."""
        return state["pick"]["speaker"] or "finish"

    def finish(self, state: SupervisorState) -> SupervisorState:
        chat = self.chat(state)
        output = SupervisorOutput(
            final=chat.last,
            final_speaker=chat.last_speaker,
            speakers=[m["speaker"] for m in chat.transcript],
            turns=chat.turns,
            stop_reason=state["pick"]["stop"],
            transcript=[Message.model_validate(m) for m in chat.transcript],
        )
        return {"result": output.model_dump(mode="json")}


def _description(member: Member) -> str | None:
    """What a member is for, for the manager: the agent's description, else its instructions."""
    if isinstance(member, Agent):
        return member.description or member.instructions
    return None


# -- builder -----------------------------------------------------------------


def build_supervisor(
    *,
    members: Sequence[Member],
    manager: Agent[Decision] | None = None,
    select: Select | None = None,
    until: Until | None = None,
    checkpointer: Any = None,
    retry_policy: RetryPolicy | None = DEFAULT_RETRY,
    name: str = "supervisor",
) -> PatternGraph:
    """manage -> a member -> manage -> ... -> finish; run with `recursion_limit(max_turns)`.

    The input is `{"input": {...}, "max_turns": 6}` (`SupervisorInput`). Each member is
    given `{"input", "turn", "transcript", "last"}`; the transcript's messages are
    `{turn, speaker, reason, output}`.

    Args:
        members: Agents, or compiled patterns (built without a checkpointer, e.g.
            another team) given the member payload as their input (as `{"input": ...}`
            when they take one) whose `result` is the reply. Names must differ.
            A nested pattern runs under this run's recursion limit, as LangGraph's
            subgraphs do: give the team `max_turns` enough for its steps.
        manager: Picks each speaker: asked with `{"input", "members": [{name, description}],
            "transcript", "turn", "max_turns"}`, replies with a `Decision`; a `next`
            that is no member and not "done" is `MalformedOutput`, asked again.
        select: Picks each speaker instead: `fn(Chat) -> member name | "done"`.
            Neither `manager` nor `select`: round-robin in the members' order.
        until: Ends the chat when `until(Chat)` holds after a turn.
        checkpointer: A LangGraph checkpointer; each pick and each reply is saved.
        retry_policy: The node retry for model calls; None when `AgentPolicies.retry` retries.
        name: The compiled graph's name: a team nested in another is its member by this name.

    Example:
        ```python
        graph = build_supervisor(members=[drafter, editor], until=lambda chat: chat.last["score"] >= 0.9)
        state = await graph.ainvoke({"input": {"brief": text}, "max_turns": 6}, context=context)
        state["result"]["speakers"], state["result"]["final"]
        ```
    """
    team = Supervisor(tuple(members), manager, select, until)

    async def manage(state: SupervisorState, runtime: Runtime[AgentContext]) -> SupervisorState:
        return await team.pick(state, ask_in(runtime.context))

    def finish(state: SupervisorState) -> SupervisorState:
        return team.finish(state)

    graph = StateGraph(SupervisorState, input_schema=SupervisorInput, context_schema=AgentContext)
    graph.add_node("manage", manage, retry_policy=retry_policy)
    for member in members:
        # A nested pattern retries its own model calls; retrying it whole would repeat them.
        nested = isinstance(member, Pregel)
        graph.add_node(
            member_name(member), _member_node(team, member), retry_policy=None if nested else retry_policy
        )
        graph.add_edge(member_name(member), "manage")
    graph.add_node("finish", finish)
    graph.add_edge(add_input(graph, SupervisorInput), "manage")
    graph.add_conditional_edges("manage", team.next_node, [*team.names, "finish"])
    graph.add_edge("finish", END)
    return graph.compile(checkpointer=checkpointer, name=name)


def _member_node(team: Supervisor, member: Member) -> Any:
    name = member_name(member)

    async def speak(state: SupervisorState, runtime: Runtime[AgentContext]) -> SupervisorState:
        if not isinstance(member, Pregel):
            return await team.speak(name, state, ask_in(runtime.context))
        # Called from this node, not added as one: the nested pattern keeps its own
        # state keys (its `result` cannot overwrite ours) and, built without a
        # checkpointer, saves its steps in this run's under the member's namespace.
        payload = team.member_payload(state)
        given = {"input": payload} if _takes_payload(member) else payload
        result = (await member.ainvoke(given, context=runtime.context))["result"]
        return team.member_update(state, name, result)

    speak.__name__ = name
    return speak


SPEC = PatternSpec(
    name="supervisor",
    summary="a manager picks who speaks next (an agent, a function or round-robin) until done",
    input_model=SupervisorInput,
    output_model=SupervisorOutput,
    state_type=SupervisorState,
    build=build_supervisor,
    recursion_limit=lambda state: recursion_limit(int(state["max_turns"])),
)
