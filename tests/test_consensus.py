"""Voting and arbitration: correctness on examples, order independence as a property."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patterns.coordination.consensus import Ballot, arbitrate, majority, quorum, tally, weighted

CHOICES = ["a", "b", "c"]
_ballots = st.lists(
    st.builds(
        Ballot,
        st.text("xyz", min_size=1, max_size=3),
        st.sampled_from(CHOICES),
        st.floats(0.1, 5.0, allow_nan=False),
    ),
    min_size=1,
    max_size=12,
)


def test_majority_needs_more_than_half() -> None:
    assert majority([Ballot("1", "a"), Ballot("2", "a"), Ballot("3", "b")]).decision == "a"
    split = majority([Ballot("1", "a"), Ballot("2", "b")], options=["b", "a"])
    assert not split.consensus and split.decision == "b"  # the tie goes to the first listed option
    assert split.distribution == {"b": 1.0, "a": 1.0} and split.confidence == 0.5


def test_weighted_follows_expertise() -> None:
    result = weighted([Ballot("junior", "a", 1.0), Ballot("senior", "b", 3.0)])
    assert result.consensus and result.decision == "b" and result.confidence == 0.75


def test_quorum_counts_supporters() -> None:
    ballots = [Ballot(str(i), "a") for i in range(3)] + [Ballot("x", "b")]
    assert quorum(ballots, 3).consensus
    assert not quorum(ballots, 4).consensus
    with pytest.raises(ValueError):
        quorum(ballots, 0)


def test_arbitration_strategies() -> None:
    split = majority([Ballot("1", "a"), Ballot("2", "b")], options=CHOICES)
    assert arbitrate(split) == ("a", "plurality")
    assert arbitrate(split, "judge", judge=lambda vote: "c") == ("c", "judge")
    with pytest.raises(ValueError, match="must choose one of"):
        arbitrate(split, "judge", judge=lambda vote: "z", options=CHOICES)
    agreed = majority([Ballot("1", "b"), Ballot("2", "b")])
    assert arbitrate(agreed, "judge", judge=lambda vote: "c") == ("b", "vote")


@given(_ballots, st.randoms(), st.sampled_from(["majority", "weighted", "quorum"]))
def test_votes_do_not_depend_on_ballot_order(ballots: list[Ballot], rnd: object, method: str) -> None:
    shuffled = list(ballots)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    first = tally(ballots, method, options=CHOICES)  # type: ignore[arg-type]
    assert tally(shuffled, method, options=CHOICES) == first  # type: ignore[arg-type]


@given(_ballots)
def test_consensus_decision_holds_a_real_share(ballots: list[Ballot]) -> None:
    result = majority(ballots, options=CHOICES)
    assert sum(result.distribution.values()) == len(ballots)
    if result.consensus:
        assert result.distribution[result.decision or ""] > len(ballots) / 2
