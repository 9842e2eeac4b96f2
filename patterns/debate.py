"""Debate: N debaters argue over R rounds, then vote; a judge or a human arbitrates a split.

For decisions that benefit from independent views and cross-examination. In
round 1 each debater sees only its share of the evidence; in later rounds it
also sees its peers' previous positions and may change its mind. Debaters of a
round run in parallel (`Send`). The final positions are put to a vote
(majority, weighted or quorum, see `patterns.consensus`); on no consensus the
arbitration strategy decides: the `judge` agent weighing all evidence, a
`human` through `interrupt` (resume with `Command(resume=choice)`), or the
`plurality` leader.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import RetryPolicy, Send, interrupt
from pydantic import BaseModel, Field, model_validator

from patterns.agents import DEFAULT_RETRY, Agent, AgentContext, PatternGraph, call_agent
from patterns.consensus import Ballot, VoteResult, VotingMethod, tally
from patterns.errors import MalformedOutput

__all__ = ["DebateInput", "DebateOutput", "Position", "Ruling", "build_debate", "recursion_limit"]

Arbitration = Literal["judge", "human", "plurality"]


class Evidence(BaseModel):
    claim: str
    supports: str
    weight: float = Field(default=1.0, gt=0)


class DebateInput(BaseModel):
    question: str = Field(min_length=1)
    options: list[str] = Field(min_length=2)
    evidence: list[Evidence] = Field(min_length=1)
    debaters: int = Field(default=3, ge=2, le=25)
    rounds: int = Field(default=2, ge=1, le=10)
    voting: VotingMethod = "majority"
    quorum: int | None = Field(default=None, ge=1)
    threshold: float = Field(default=0.5, ge=0.0, lt=1.0, description="Weighted vote share needed.")
    weights: dict[str, float] = Field(default_factory=dict, description="Expertise per debater name.")
    arbitration: Arbitration = "judge"

    @model_validator(mode="after")
    def _check(self) -> DebateInput:
        unknown = sorted({e.supports for e in self.evidence} - set(self.options))
        if unknown:
            raise ValueError(f"evidence supports options not in `options`: {', '.join(unknown)}")
        if self.quorum is not None and self.quorum > self.debaters:
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


# -- agent turns (payloads and updates, shared with the adapters) -----------


def argue_tasks(state: DebateState) -> list[ArgueTask]:
    """The next round's debater turns; each sees the other debaters' last positions."""
    spec, done = state["task"], state.get("round", 0)
    previous = _latest(state) if done else []
    return [
        {
            "task": spec,
            "round": done + 1,
            "debater": i,
            "peers": [
                {"debater": t["debater"], "position": t["position"], "confidence": t["confidence"]}
                for t in previous
                if t["debater"] != debater_name(i)
            ],
        }
        for i in range(spec["debaters"])
    ]


def debater_payload(task: ArgueTask) -> dict[str, Any]:
    spec, i = task["task"], task["debater"]
    share = [e for n, e in enumerate(spec["evidence"]) if n % spec["debaters"] == i]
    return {
        "question": spec["question"],
        "options": spec["options"],
        "evidence": share,
        "round": task["round"],
        "peers": task["peers"],
    }


def debater_update(task: ArgueTask, reply: Position) -> DebateState:
    """The debater's turn, its position normalised to one of the options.

    A position that matches no option (after case and spacing) is `MalformedOutput`:
    the node's retry asks the debater again. Never mapped to some default option,
    which would hand a split vote to whichever option is listed first.
    """
    name = debater_name(task["debater"])
    position = normalise_position(reply.position, task["task"]["options"])
    if position is None:
        raise MalformedOutput(
            f"debater {name!r} took position {reply.position!r}, which is none of the options "
            f"({', '.join(task['task']['options'])})",
            raw=reply.model_dump_json(),
            agent=name,
        )
    turn = Turn(
        round=task["round"], debater=name, **reply.model_copy(update={"position": position}).model_dump()
    )
    return {"turns": [turn.model_dump()]}


def normalise_position(position: str, options: list[str]) -> str | None:
    """The option `position` names, ignoring case and spacing, or None when it names none."""
    wanted = " ".join(position.split()).casefold()
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
        options=sorted(spec["options"]),
    )
    shown = {o: result.distribution[o] for o in spec["options"] if o in result.distribution}
    return {"vote": result.model_copy(update={"distribution": shown}).model_dump()}


def ask_human(state: DebateState) -> DebateState:
    spec = state["task"]
    choice = interrupt(
        {
            "question": spec["question"],
            "options": spec["options"],
            "vote": state["vote"],
            "ask": "The debaters did not agree. Resume with one of the options.",
        }
    )
    return human_update(state, choice)


def human_update(state: DebateState, choice: Any) -> DebateState:
    """The human arbitrator's ruling, or a `ValueError` when `choice` is not an option."""
    options = state["task"]["options"]
    if choice not in options:
        raise ValueError(f"human arbitration must pick one of {', '.join(options)}, got {choice!r}")
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


def next_round(state: DebateState) -> list[Send] | Literal["vote"]:
    if state.get("round", 0) >= state["task"]["rounds"]:
        return "vote"
    return [Send("argue", task) for task in argue_tasks(state)]


def arbitrate(state: DebateState) -> Literal["finish", "judge", "ask_human"]:
    if state["vote"]["consensus"]:
        return "finish"
    return {"judge": "judge", "human": "ask_human", "plurality": "finish"}[state["task"]["arbitration"]]  # type: ignore[return-value]


# -- builder -----------------------------------------------------------------


def build_debate(
    *,
    debater: Agent[Position],
    judge: Agent[Ruling],
    checkpointer: Any = None,
    retry_policy: RetryPolicy | None = DEFAULT_RETRY,
) -> PatternGraph:
    """(argue x N -> close_round) x R -> vote -> (finish | judge | ask_human) -> finish.

    Args:
        debater: Asked once per debater and round, labelled `debater_1` ... `debater_N`.
        judge: Decides when the vote has no consensus and `arbitration` is "judge".
        checkpointer: A LangGraph checkpointer; needed for human arbitration (`interrupt`).
        retry_policy: The node retry for model calls; None when `AgentPolicies.retry` retries.

    Example:
        ```python
        graph = build_debate(debater=my_debater, judge=my_judge, checkpointer=InMemorySaver())
        ```
    """

    async def argue(state: ArgueTask, runtime: Runtime[AgentContext]) -> DebateState:
        label = debater_name(state["debater"])
        reply = await call_agent(runtime.context, debater, debater_payload(state), label=label)
        return debater_update(state, reply)

    async def arbitrate_by_judge(state: DebateState, runtime: Runtime[AgentContext]) -> DebateState:
        return judge_update(state, await call_agent(runtime.context, judge, judge_payload(state)))

    graph = StateGraph(DebateState, context_schema=AgentContext)
    graph.add_node("argue", argue, input_schema=ArgueTask, retry_policy=retry_policy)
    graph.add_node("close_round", close_round)
    graph.add_node("vote", vote)
    graph.add_node("judge", arbitrate_by_judge, retry_policy=retry_policy)
    graph.add_node("ask_human", ask_human)
    graph.add_node("finish", finish)
    graph.add_conditional_edges(START, next_round, ["argue", "vote"])
    graph.add_edge("argue", "close_round")
    graph.add_conditional_edges("close_round", next_round, ["argue", "vote"])
    graph.add_conditional_edges("vote", arbitrate, ["finish", "judge", "ask_human"])
    graph.add_edge("judge", "finish")
    graph.add_edge("ask_human", "finish")
    graph.add_edge("finish", END)
    return graph.compile(checkpointer=checkpointer, name="debate")
