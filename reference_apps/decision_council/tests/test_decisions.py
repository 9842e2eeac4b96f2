"""Weighted voting decides by expertise; a judge arbitrates when the vote is split."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from patterns import arun, resolve_model
from patterns.flows.debate import Arbitration

from council import Council, load_council

APP = Path(__file__).resolve().parents[1]


def decide(council: Council, arbitration: Arbitration = "judge") -> dict[str, Any]:
    result = asyncio.run(
        arun(
            "debate", council.debate_input(arbitration), model=resolve_model("scripted"), checkpoint="memory"
        )
    )
    assert result.status == "completed", result.error
    assert result.output is not None
    return result.output


def with_expertise(**expertise: float) -> Council:
    council = load_council(APP / "council.json")
    names = {
        "sre": "Head of SRE",
        "product": "Product lead",
        "security": "Security lead",
        "finance": "Finance",
    }
    for key, value in expertise.items():
        next(m for m in council.members if m.name == names[key]).expertise = value
    return council


def test_changing_the_weights_changes_the_decision() -> None:
    sre_heavy = decide(with_expertise(sre=5, product=1, security=1, finance=1))
    business_heavy = decide(with_expertise(sre=1, product=4, security=1, finance=4))
    assert (sre_heavy["decision"], sre_heavy["decided_by"]) == ("feature_flag_rollout", "vote")
    assert (business_heavy["decision"], business_heavy["decided_by"]) == ("big_bang_release", "vote")


def test_the_judge_arbitrates_a_split_vote() -> None:
    output = decide(load_council(APP / "council.json"))
    assert output["vote"]["consensus"] is False
    assert output["decided_by"] == "judge"
    assert output["decision"] == "feature_flag_rollout"  # the most evidence weight across all briefings


def test_plurality_arbitration_takes_the_weighted_leader() -> None:
    output = decide(with_expertise(sre=1, security=2.5), arbitration="plurality")
    assert (output["decided_by"], output["decision"]) == ("plurality", "delay_a_quarter")
