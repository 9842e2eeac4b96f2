"""Product-copy refinement: a draft written and critiqued until it covers every point within the word limit.

The critic's rubric is deterministic (coverage of the required points, the word
limit), so the loop's iterations and stop reason are the same on every run.
"""

from __future__ import annotations

import re
from typing import Any

from langgraph.types import RetryPolicy
from pydantic import Field

from patterns.flows import refinement
from patterns.flows.refinement import Critique, Draft, Refinement, RefinementInput
from patterns.runtime import DEFAULT_RETRY, Agent, PatternGraph

__all__ = ["CRITIC", "GENERATOR", "PRODUCT_COPY", "RESPONDERS", "SPEC", "ProductBrief", "product_refinement"]

Payload = dict[str, Any]


GENERATOR = Agent(
    "generator",
    "Write or revise the draft so it covers every required point within the word limit. Keys: draft.",
    output=Draft,
)
CRITIC = Agent(
    "critic",
    "Score the draft from 0 to 1 against the rubric: coverage of the required points, "
    "and the word limit. Keys: score, missing [str], word_count, over_length.",
    output=Critique,
)


class ProductBrief(RefinementInput):
    topic: str = Field(min_length=1)
    required_points: list[str] = Field(min_length=1)
    max_words: int = Field(default=120, ge=5)


#: The critic grades the copy against the points and the limit, not the topic line.
PRODUCT_COPY = Refinement(
    GENERATOR, CRITIC, critic_sees=("required_points", "max_words"), history_fields=("missing", "word_count")
)


_WORD = re.compile(r"[a-z0-9]+")


def _normalise(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def _covers(draft: str, point: str) -> bool:
    return _normalise(point) in _normalise(draft)


def _generate(payload: Payload) -> Payload:
    points = [str(p) for p in payload.get("required_points") or []]
    per_revision = int(payload.get("points_per_revision", 2))
    topic = str(payload.get("topic", "")).strip()
    draft = payload.get("draft")
    if not draft:
        covered = points[:per_revision]
    else:
        feedback = payload.get("feedback") or {}
        have = [p for p in points if _covers(draft, p)]
        missing = [p for p in feedback.get("missing") or [] if p in points and p not in have]
        covered = [p for p in points if p in have or p in missing[:per_revision]]
    sentences = [f"{topic}."] + [f"It offers {point}." for point in covered]
    words = " ".join(sentences).split()
    limit = int(payload.get("max_words", 10_000))
    return {"draft": " ".join(words[:limit])}


def _critique(payload: Payload) -> Payload:
    draft = str(payload.get("draft", ""))
    points = [str(p) for p in payload.get("required_points") or []]
    missing = [p for p in points if not _covers(draft, p)]
    word_count = len(draft.split())
    over = word_count > int(payload.get("max_words", 10_000))
    coverage = (len(points) - len(missing)) / len(points) if points else 1.0
    return {
        "score": round(max(0.0, coverage - (0.2 if over else 0.0)), 4),
        "missing": missing,
        "word_count": word_count,
        "over_length": over,
    }


RESPONDERS = {"generator": _generate, "critic": _critique}


SAMPLE: dict[str, Any] = {
    "topic": "The Aurora trail running shoe",
    "required_points": [
        "a grippy lugged outsole",
        "a breathable mesh upper",
        "a rock plate",
        "a 6 mm drop",
        "a weight of 280 grams",
        "a recycled foam midsole",
    ],
    "max_words": 60,
    "threshold": 0.95,
    "epsilon": 0.01,
    "max_iterations": 5,
}


def product_refinement(
    *, checkpointer: Any = None, retry_policy: RetryPolicy | None = DEFAULT_RETRY
) -> PatternGraph:
    """Product copy written and critiqued until it covers every point within the word limit."""
    return SPEC.compile(checkpointer=checkpointer, retry_policy=retry_policy)


SPEC = refinement.SPEC.preset(
    generator=PRODUCT_COPY.generator,
    critic=PRODUCT_COPY.critic,
    critic_sees=PRODUCT_COPY.critic_sees,
    history_fields=PRODUCT_COPY.history_fields,
    summary="generator -> critic loop until threshold, convergence or max iterations",
    sample=SAMPLE,
    input_model=ProductBrief,
)
