"""Voting over agents' answers: majority, weighted and quorum, with confidence and distribution.

Pure functions over `(voter, choice, weight)` ballots, usable on their own or by
the debate pattern, plus `arbitrate` for votes that reach no consensus. The result never depends on ballot order: ties between
choices are broken by the order of `options` when given, else alphabetically.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

__all__ = [
    "Arbitration",
    "Ballot",
    "VoteResult",
    "VotingMethod",
    "arbitrate",
    "majority",
    "quorum",
    "tally",
    "weighted",
]

VotingMethod = Literal["majority", "weighted", "quorum"]


@dataclass(frozen=True, slots=True)
class Ballot:
    voter: str
    choice: str
    weight: float = 1.0


class VoteResult(BaseModel):
    method: VotingMethod
    consensus: bool
    decision: str | None
    """The winning choice when `consensus`; else the plurality leader, for arbitration to consider."""
    confidence: float
    """Share of the (weighted) vote held by the leader, 0..1."""
    distribution: dict[str, float]
    voters: int


def _totals(ballots: Iterable[Ballot], *, use_weights: bool) -> dict[str, float]:
    totals: dict[str, float] = {}
    for ballot in ballots:
        totals[ballot.choice] = totals.get(ballot.choice, 0.0) + (ballot.weight if use_weights else 1.0)
    return totals


def _leader(totals: dict[str, float], options: Sequence[str] | None) -> str | None:
    if not totals:
        return None
    rank = {o: i for i, o in enumerate(options or ())}
    return min(totals, key=lambda c: (-totals[c], rank.get(c, len(rank)), c))


def _result(
    method: VotingMethod,
    totals: dict[str, float],
    leader: str | None,
    consensus: bool,
    voters: int,
    *,
    options: Sequence[str] | None,
) -> VoteResult:
    whole = sum(totals.values())
    confidence = round(totals[leader] / whole, 4) if leader and whole else 0.0
    order = list(options or ()) + sorted(c for c in totals if c not in (options or ()))
    distribution = {c: round(totals[c], 4) for c in order if c in totals}
    return VoteResult(
        method=method,
        consensus=consensus,
        decision=leader,
        confidence=confidence,
        distribution=distribution,
        voters=voters,
    )


def _unique_leader(totals: dict[str, float], leader: str | None) -> bool:
    return leader is not None and sum(1 for v in totals.values() if v == totals[leader]) == 1


def majority(ballots: Sequence[Ballot], *, options: Sequence[str] | None = None) -> VoteResult:
    """Consensus when one choice has more than half of the votes."""
    totals = _totals(ballots, use_weights=False)
    leader = _leader(totals, options)
    agreed = leader is not None and totals[leader] > len(ballots) / 2
    return _result("majority", totals, leader, agreed, len(ballots), options=options)


def weighted(
    ballots: Sequence[Ballot], *, threshold: float = 0.5, options: Sequence[str] | None = None
) -> VoteResult:
    """Consensus when one choice holds more than `threshold` of the total weight, alone at the top."""
    totals = _totals(ballots, use_weights=True)
    leader = _leader(totals, options)
    whole = sum(totals.values())
    agreed = _unique_leader(totals, leader) and whole > 0 and totals[leader or ""] / whole > threshold
    return _result("weighted", totals, leader, agreed, len(ballots), options=options)


def quorum(ballots: Sequence[Ballot], size: int, *, options: Sequence[str] | None = None) -> VoteResult:
    """Consensus when one choice, alone at the top, has at least `size` votes."""
    if size < 1:
        raise ValueError(f"quorum size must be >= 1, got {size}")
    totals = _totals(ballots, use_weights=False)
    leader = _leader(totals, options)
    agreed = _unique_leader(totals, leader) and totals[leader or ""] >= size
    return _result("quorum", totals, leader, agreed, len(ballots), options=options)


def tally(
    ballots: Sequence[Ballot],
    method: VotingMethod,
    *,
    quorum_size: int | None = None,
    threshold: float = 0.5,
    options: Sequence[str] | None = None,
) -> VoteResult:
    """Dispatch on `method`; quorum defaults to a strict majority of the voters."""
    if method == "majority":
        return majority(ballots, options=options)
    if method == "weighted":
        return weighted(ballots, threshold=threshold, options=options)
    return quorum(ballots, quorum_size or len(ballots) // 2 + 1, options=options)


Arbitration = Literal["judge", "human", "plurality"]


def arbitrate(
    result: VoteResult,
    strategy: Arbitration = "plurality",
    *,
    judge: Callable[[VoteResult], str] | None = None,
    options: Sequence[str] | None = None,
) -> tuple[str | None, str]:
    """Settle a vote: (decision, who decided). A consensus stands; otherwise `strategy` decides.

    `plurality` takes the leader; `judge` asks `judge(result)` (an arbitrator
    agent); `human` pauses the LangGraph run with `interrupt` and takes the value
    it is resumed with, so it only works inside a graph node.
    """
    if result.consensus:
        return result.decision, "vote"
    if strategy == "judge":
        if judge is None:
            raise ValueError("judge arbitration needs a `judge` callable that returns a choice")
        choice, by = judge(result), "judge"
    elif strategy == "human":
        from langgraph.types import interrupt

        choice, by = (
            interrupt({"vote": result.model_dump(), "ask": "No consensus: resume with one choice."}),
            "human",
        )
    else:
        return result.decision, "plurality"
    if options is not None and choice not in options:
        raise ValueError(f"{by} arbitration must choose one of {list(options)}, got {choice!r}")
    return choice, by
