"""The decision council: N debaters weigh the evidence over R rounds, vote, and a judge settles a split.

Each debater argues for the option its share of the evidence (and its peers'
positions) supports; the judge weighs all of it when the vote does not agree.
"""

from __future__ import annotations

from typing import Any

from langgraph.types import RetryPolicy

from patterns.flows import debate
from patterns.flows.debate import Debate, Position, Ruling
from patterns.runtime import DEFAULT_RETRY, Agent, PatternGraph

__all__ = ["COUNCIL", "DEBATER", "JUDGE", "RESPONDERS", "SPEC", "council_debate"]

Payload = dict[str, Any]


DEBATER = Agent(
    "debater",
    "Take a position on the question from your evidence and your peers' positions. "
    "Keys: position, confidence, argument.",
    output=Position,
)
JUDGE = Agent(
    "judge",
    "The debaters did not agree. Weigh all the evidence and decide. Keys: decision, rationale.",
    output=Ruling,
)

#: N copies of one debater, and a judge for a split vote.
COUNCIL = Debate(debater=DEBATER, judge=JUDGE)


def _tally(evidence: list[Payload], options: list[str]) -> dict[str, float]:
    totals = dict.fromkeys(options, 0.0)
    for item in evidence:
        if item.get("supports") in totals:
            totals[item["supports"]] += float(item.get("weight", 1.0))
    return totals


def _best(scores: dict[str, float]) -> str:
    # Ties go to the option listed first, a rule every framework can reproduce.
    return max(scores, key=lambda option: scores[option])


def _debate(payload: Payload) -> Payload:
    options = [str(o) for o in payload.get("options") or []]
    own = _tally(payload.get("evidence") or [], options)
    own_total = sum(own.values()) or 1.0
    scores = {o: own[o] / own_total for o in options}
    peers = payload.get("peers") or []
    for peer in peers:
        if peer.get("position") in scores:
            # Peers persuade in proportion to their confidence, but less than own evidence.
            scores[peer["position"]] += 0.5 * float(peer.get("confidence", 0.0)) / max(1, len(peers))
    position = _best(scores)
    confidence = round(scores[position] / (sum(scores.values()) or 1.0), 4)
    argument = f"{position}: evidence weight {own[position]:g} of {own_total:g}" + (
        f", with {sum(1 for p in peers if p.get('position') == position)} of {len(peers)} peers"
        if peers
        else ""
    )
    return {"position": position, "confidence": confidence, "argument": argument}


def _judge(payload: Payload) -> Payload:
    options = [str(o) for o in payload.get("options") or []]
    totals = _tally(payload.get("evidence") or [], options)
    decision = _best(totals)
    return {
        "decision": decision,
        "rationale": f"{decision} has the most evidence weight ({totals[decision]:g})",
    }


RESPONDERS = {"debater": _debate, "judge": _judge}


SAMPLE: dict[str, Any] = {
    "question": "Which database should back the order service?",
    "options": ["postgresql", "mongodb", "dynamodb"],
    "evidence": [
        {"claim": "Orders need multi-row ACID transactions", "supports": "postgresql", "weight": 3},
        {"claim": "The catalogue schema changes weekly", "supports": "mongodb", "weight": 2},
        {"claim": "Traffic is spiky and global", "supports": "dynamodb", "weight": 2},
        {
            "claim": "The team already runs PostgreSQL in production",
            "supports": "postgresql",
            "weight": 2,
        },
        {"claim": "Reporting needs ad-hoc joins", "supports": "postgresql", "weight": 2},
        {"claim": "Documents map naturally to the order JSON", "supports": "mongodb", "weight": 1},
    ],
    "debaters": 3,
    "rounds": 2,
    "voting": "majority",
    "arbitration": "judge",
}


def council_debate(
    *, checkpointer: Any = None, retry_policy: RetryPolicy | None = DEFAULT_RETRY
) -> PatternGraph:
    """N debaters, R rounds, a vote, a judge (or a human) on no consensus."""
    return SPEC.compile(checkpointer=checkpointer, retry_policy=retry_policy)


SPEC = debate.SPEC.preset(
    debater=COUNCIL.debater,
    judge=COUNCIL.judge,
    summary="N debaters, R rounds, a vote, arbitration on no consensus",
    sample=SAMPLE,
)
