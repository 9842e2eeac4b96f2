"""Debate: N debaters argue over R rounds, then vote; a judge or a human arbitrates a split.

For decisions that benefit from independent views and cross-examination. In
round 1 each debater sees only its share of the evidence; in later rounds it
also sees its peers' previous positions and may change its mind. Debaters of a
round run in parallel (`Send`). The final positions are put to a vote
(majority, weighted or quorum, see `patterns.coordination.consensus`); on no consensus the
arbitration strategy decides: the `judge` agent weighing all evidence, a
`human` through `interrupt` (resume with `Command(resume=choice)`), or the
`plurality` leader.

The panel is the user's: N copies of one agent (`debater=`, labelled
`debater_1` ...) or N different agents (`debaters=[...]`, each its own
instructions and model), who hear everyone's last positions or only their
neighbours' (`topology=`). `options` and `evidence` are optional: on an open
question positions are normalised (case, spacing) and compared as they are.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from langgraph.graph import END, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import RetryPolicy, Send, interrupt
from pydantic import BaseModel, Field, model_validator
from typing_extensions import TypedDict  # pydantic reads its schema on 3.11 (the server's /schemas)

from patterns.coordination.consensus import Arbitration, Ballot, VoteResult, VotingMethod, tally
from patterns.errors import MalformedOutput, UsageError
from patterns.runtime._agent import DEFAULT_RETRY, Agent, AgentContext, PatternGraph, call_agent
from patterns.runtime._input import add_input
from patterns.runtime._spec import PatternSpec

__all__ = [
    "SPEC",
    "Debate",
    "DebateInput",
    "DebateOutput",
    "Position",
    "Ruling",
    "build_debate",
    "recursion_limit",
]


class Evidence(BaseModel):
    claim: str
    supports: str
    weight: float = Field(default=1.0, gt=0)


class DebateInput(BaseModel):
    question: str = Field(min_length=1)
    options: list[str] = Field(default_factory=list, description="None: an open question.")
    evidence: list[Evidence] = Field(default_factory=list, description="Shared out among the debaters.")
    debaters: int | None = Field(
        default=None, ge=2, le=25, description="How many copies of `debater=` argue (default 3)."
    )
    rounds: int = Field(default=2, ge=1, le=10)
    voting: VotingMethod = "majority"
    quorum: int | None = Field(default=None, ge=1)
    threshold: float = Field(default=0.5, ge=0.0, lt=1.0, description="Weighted vote share needed.")
    weights: dict[str, float] = Field(default_factory=dict, description="Expertise per debater name.")
    arbitration: Arbitration = "judge"

    @model_validator(mode="after")
    def _check(self) -> DebateInput:
        if len(self.options) == 1 or len(set(self.options)) != len(self.options):
            raise ValueError("options must be two or more distinct choices, or none for an open question")
        unknown = sorted({e.supports for e in self.evidence} - set(self.options)) if self.options else []
        if unknown:
            raise ValueError(f"evidence supports options not in `options`: {', '.join(unknown)}")
        if self.quorum is not None and self.debaters is not None and self.quorum > self.debaters:
            raise ValueError(f"quorum {self.quorum} exceeds the number of debaters ({self.debaters})")
        return self


class Position(BaseModel):
    position: str
    confidence: float = Field(ge=0.0, le=1.0)
    argument: str


class Ruling(BaseModel):
    decision: str
    rationale: str


class Turn(BaseModel):
    round: int
    debater: str
    position: str
    confidence: float
    argument: str


class DebateOutput(BaseModel):
    decision: str
    confidence: float
    consensus: bool
    decided_by: Literal["vote", "judge", "human", "plurality"]
    vote: VoteResult
    rationale: str
    transcript: list[Turn]


class DebateState(TypedDict, total=False):
    task: dict[str, Any]
    round: int
    turns: Annotated[list[dict[str, Any]], operator.add]
    vote: dict[str, Any]
    ruling: dict[str, Any]
    result: dict[str, Any]


class ArgueTask(TypedDict):
    task: dict[str, Any]
    round: int
    debater: int
    peers: list[dict[str, Any]]


def recursion_limit(rounds: int) -> int:
    """Two supersteps per round (argue, close_round) plus vote, arbitration and finish."""
    return 2 * rounds + 6


def debater_name(i: int) -> str:
    return f"debater_{i + 1}"


#: Who hears whom after round 1: everyone everyone, or each debater the names listed.
Topology = Literal["all"] | Mapping[str, Sequence[str]]


@dataclass(frozen=True, slots=True)
class Debate:
    """A declared debate panel: the arguments of `build_debate`, checked."""

    debater: Agent[Position] | None = None
    debaters: tuple[Agent[Position], ...] = ()
    judge: Agent[Ruling] | None = None
    topology: Topology = "all"
    _names: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        if (self.debater is None) == (not self.debaters):
            raise UsageError(
                "build_debate needs debater=Agent (N copies) or debaters=[Agent, ...], one of them"
            )
        names = tuple(a.name for a in self.debaters)
        if len(set(names)) != len(names) or len(names) == 1:
            raise UsageError(f"debaters must be two or more agents with distinct names, got {list(names)}")
        object.__setattr__(self, "_names", names)
        if names and self.topology != "all":
            self._check_topology(names)

    def names(self, spec: Mapping[str, Any]) -> tuple[str, ...]:
        """The panel's debater names: the agents' own, or `debater_1` ... for N copies."""
        return self._names or tuple(debater_name(i) for i in range(int(spec.get("debaters") or 3)))

    def agent(self, task: ArgueTask) -> Agent[Position]:
        return self.debaters[task["debater"]] if self.debaters else self.debater  # type: ignore[return-value]

    def label(self, task: ArgueTask) -> str | None:
        """The prompt and usage label: a copy's `debater_i`; an agent of its own needs none."""
        return None if self.debaters else debater_name(task["debater"])

    def _check_topology(self, names: Sequence[str]) -> None:
        assert self.topology != "all"
        unknown = sorted((set(self.topology) | {n for v in self.topology.values() for n in v}) - set(names))
        if unknown:
            raise UsageError(f"topology names {unknown}, which are not debaters: {list(names)}")

    # -- agent turns (payloads and updates, shared with the adapters) ----------

    def argue_tasks(self, state: DebateState) -> list[ArgueTask]:
        """The next round's debater turns; each sees its peers' last positions."""
        spec, done = state["task"], state.get("round", 0)
        names = self.names(spec)
        if not done:
            self._check_run(spec, names)
        previous = _latest(state) if done else []

        def hears(me: str, other: str) -> bool:
            return other != me and (self.topology == "all" or other in self.topology.get(me, ()))

        return [
            {
                "task": spec,
                "round": done + 1,
                "debater": i,
                "peers": [
                    {"debater": t["debater"], "position": t["position"], "confidence": t["confidence"]}
                    for t in previous
                    if hears(name, t["debater"])
                ],
            }
            for i, name in enumerate(names)
        ]

    def _check_run(self, spec: Mapping[str, Any], names: Sequence[str]) -> None:
        if spec.get("quorum") is not None and spec["quorum"] > len(names):
            raise UsageError(f"quorum {spec['quorum']} exceeds the number of debaters ({len(names)})")
        if self.topology != "all" and not self._names:  # a named panel was checked when declared
            self._check_topology(names)
        if spec["arbitration"] == "judge" and self.judge is None:
            raise UsageError(
                "arbitration='judge' needs build_debate(judge=Agent(...)); or pick human or plurality"
            )

    def debater_payload(self, task: ArgueTask) -> dict[str, Any]:
        spec, i = task["task"], task["debater"]
        n = len(self.names(spec))
        return {
            "question": spec["question"],
            "options": spec["options"],
            "evidence": [e for k, e in enumerate(spec["evidence"]) if k % n == i],
            "round": task["round"],
            "peers": task["peers"],
        }

    def debater_update(self, task: ArgueTask, reply: Position) -> DebateState:
        """The debater's turn, its position normalised (to one of the options, if any).

        A position that matches no option (after case and spacing) is `MalformedOutput`:
        the node's retry asks the debater again. Never mapped to some default option,
        which would hand a split vote to whichever option is listed first.
        """
        name = self.names(task["task"])[task["debater"]]
        options = task["task"]["options"]
        position = normalise_position(reply.position, options)
        if position is None:
            among = f"none of the options ({', '.join(options)})" if options else "empty"
            raise MalformedOutput(
                f"debater {name!r} took position {reply.position!r}, which is {among}",
                raw=reply.model_dump_json(),
                agent=name,
            )
        turn = Turn(
            round=task["round"], debater=name, **reply.model_copy(update={"position": position}).model_dump()
        )
        return {"turns": [turn.model_dump()]}

    def next_round(self, state: DebateState) -> list[Send] | Literal["vote"]:
        if state.get("round", 0) >= state["task"]["rounds"]:
            return "vote"
        return [Send("argue", task) for task in self.argue_tasks(state)]


def normalise_position(position: str, options: Sequence[str]) -> str | None:
    """The option `position` names, ignoring case and spacing, or None when it names none.

    On an open question (no options) the position itself, case- and space-folded, so
    "Use  PostgreSQL" and "use postgresql" are one vote; None when it is empty.
    """
    wanted = " ".join(position.split()).casefold()
    if not options:
        return wanted or None
    return next((o for o in options if " ".join(o.split()).casefold() == wanted), None)


def judge_payload(state: DebateState) -> dict[str, Any]:
    spec = state["task"]
    return {
        "question": spec["question"],
        "options": spec["options"],
        "evidence": spec["evidence"],
        "transcript": sorted(state["turns"], key=lambda t: (t["round"], t["debater"])),
    }


def judge_update(state: DebateState, reply: Ruling) -> DebateState:
    return {"ruling": {**reply.model_dump(), "by": "judge"}}


# -- nodes -------------------------------------------------------------------


def close_round(state: DebateState) -> DebateState:
    return {"round": state.get("round", 0) + 1}


def vote(state: DebateState) -> DebateState:
    spec = state["task"]
    final = _latest(state)
    ballots = [
        Ballot(t["debater"], t["position"], spec["weights"].get(t["debater"], 1.0) * t["confidence"])
        for t in final
    ]
    # Ties break on the sorted options, so the order the options are listed in never
    # decides a debate; the distribution is still shown in the listed order.
    result = tally(
        ballots,
        spec["voting"],
        quorum_size=spec["quorum"],
        threshold=spec["threshold"],
        options=sorted(spec["options"] or {b.choice for b in ballots}),
    )
    listed = spec["options"] or sorted(result.distribution)
    shown = {o: result.distribution[o] for o in listed if o in result.distribution}
    return {"vote": result.model_copy(update={"distribution": shown}).model_dump()}


def human_question(state: DebateState) -> dict[str, Any]:
    """What the human arbitrator is asked: the question, the options, the vote, and what to answer."""
    spec = state["task"]
    return {
        "question": spec["question"],
        "options": spec["options"],
        "vote": state["vote"],
        "ask": "The debaters did not agree. Resume with "
        + ("one of the options." if spec["options"] else "your answer."),
    }


def ask_human(state: DebateState) -> DebateState:
    return human_update(state, interrupt(human_question(state)))


def human_update(state: DebateState, choice: Any) -> DebateState:
    """The human arbitrator's ruling, or a `ValueError` when `choice` is not an option.

    On an open question any non-empty answer is a ruling.
    """
    options = state["task"]["options"]
    if options and choice not in options:
        raise ValueError(f"human arbitration must pick one of {', '.join(options)}, got {choice!r}")
    if not options and not (isinstance(choice, str) and choice.strip()):
        raise ValueError(f"human arbitration must answer the open question with text, got {choice!r}")
    return {"ruling": {"decision": choice, "rationale": "decided by a human arbitrator", "by": "human"}}


def finish(state: DebateState) -> DebateState:
    vote_result = VoteResult(**state["vote"])
    ruling = state.get("ruling")
    by: Literal["vote", "judge", "human", "plurality"]
    if vote_result.consensus:
        decision, by, why = vote_result.decision, "vote", f"{vote_result.method} vote reached consensus"
    elif ruling:
        decision, by, why = ruling["decision"], ruling["by"], ruling["rationale"]
    else:
        decision, by, why = vote_result.decision, "plurality", "no consensus: the plurality leader wins"
    transcript = [Turn(**t) for t in sorted(state["turns"], key=lambda t: (t["round"], t["debater"]))]
    output = DebateOutput(
        decision=decision or "",
        confidence=vote_result.distribution.get(decision or "", 0.0)
        / (sum(vote_result.distribution.values()) or 1.0),
        consensus=vote_result.consensus,
        decided_by=by,
        vote=vote_result,
        rationale=why,
        transcript=transcript,
    )
    return {"result": output.model_dump()}


# -- edges -------------------------------------------------------------------


def _latest(state: DebateState) -> list[dict[str, Any]]:
    last = max(t["round"] for t in state["turns"])
    return sorted((t for t in state["turns"] if t["round"] == last), key=lambda t: t["debater"])


def arbitrate(state: DebateState) -> Literal["finish", "judge", "ask_human"]:
    if state["vote"]["consensus"]:
        return "finish"
    return {"judge": "judge", "human": "ask_human", "plurality": "finish"}[state["task"]["arbitration"]]  # type: ignore[return-value]


# -- builder -----------------------------------------------------------------


def build_debate(
    *,
    debater: Agent[Position] | None = None,
    debaters: Sequence[Agent[Position]] = (),
    judge: Agent[Ruling] | None = None,
    topology: Topology = "all",
    checkpointer: Any = None,
    retry_policy: RetryPolicy | None = DEFAULT_RETRY,
    name: str = "debate",
) -> PatternGraph:
    """(argue x N -> close_round) x R -> vote -> (finish | judge | ask_human) -> finish.

    The input is `{"task": {...}}` (see `DebateInput`): the question, optional options
    and evidence, rounds, the voting method and the arbitration strategy.

    Args:
        debater: One agent asked N times a round (N = the input's `debaters`),
            labelled `debater_1` ... `debater_N`.
        debaters: Or the panel: different agents, each asked once a round under its
            own name (the names the vote's `weights` and `topology` use).
        judge: Decides when the vote has no consensus and `arbitration` is "judge".
        topology: "all" (each hears every peer's last position) or who hears whom,
            e.g. a ring `{"a": ["b"], "b": ["c"], "c": ["a"]}`.
        checkpointer: A LangGraph checkpointer; needed for human arbitration (`interrupt`).
        retry_policy: The node retry for model calls (it re-asks an off-list position);
            None when `AgentPolicies.retry` retries.
        name: The compiled graph's name.

    Example:
        ```python
        graph = build_debate(debaters=[economist, engineer, lawyer], judge=chair)
        task = {"question": "Should we build or buy the billing system?", "arbitration": "judge"}
        state = await graph.ainvoke({"task": DebateInput(**task).model_dump()}, context=context)
        ```
    """
    panel = Debate(debater, tuple(debaters), judge, topology)

    async def argue(state: ArgueTask, runtime: Runtime[AgentContext]) -> DebateState:
        agent, payload = panel.agent(state), panel.debater_payload(state)
        reply = await call_agent(runtime.context, agent, payload, label=panel.label(state))
        return panel.debater_update(state, reply)

    async def arbitrate_by_judge(state: DebateState, runtime: Runtime[AgentContext]) -> DebateState:
        assert panel.judge is not None  # checked before round 1
        return judge_update(state, await call_agent(runtime.context, panel.judge, judge_payload(state)))

    graph = StateGraph(DebateState, context_schema=AgentContext)
    graph.add_node("argue", argue, input_schema=ArgueTask, retry_policy=retry_policy)
    graph.add_node("close_round", close_round)
    graph.add_node("vote", vote)
    graph.add_node("judge", arbitrate_by_judge, retry_policy=retry_policy)
    graph.add_node("ask_human", ask_human)
    graph.add_node("finish", finish)
    graph.add_conditional_edges(
        add_input(graph, DebateInput, key="task"), panel.next_round, ["argue", "vote"]
    )
    graph.add_edge("argue", "close_round")
    graph.add_conditional_edges("close_round", panel.next_round, ["argue", "vote"])
    graph.add_conditional_edges("vote", arbitrate, ["finish", "judge", "ask_human"])
    graph.add_edge("judge", "finish")
    graph.add_edge("ask_human", "finish")
    graph.add_edge("finish", END)
    return graph.compile(checkpointer=checkpointer, name=name)


SPEC = PatternSpec(
    name="debate",
    summary="N debaters, R rounds, a vote, arbitration on no consensus",
    input_model=DebateInput,
    output_model=DebateOutput,
    state_type=DebateState,
    build=build_debate,
    initial_state=lambda data: {"task": data.model_dump(mode="json")},
    recursion_limit=lambda state: recursion_limit(int(state["task"]["rounds"])),
)
