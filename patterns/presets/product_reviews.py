"""Review map-reduce: 1,000 product reviews scored in batches, folded into one aggregate.

The mapper scores sentiment with a small lexicon (with negations); the reducer is
`combine_partials`, the pattern's associative fold. The reviews are generated from
a seed, so the sample is the same everywhere without shipping a data file.
"""

from __future__ import annotations

import random
import re
from typing import Any

from langgraph.types import RetryPolicy

from patterns.flows import map_reduce
from patterns.flows.map_reduce import BINS, MapReduceOutput, MapReply, combine_partials
from patterns.runtime import DEFAULT_RETRY, Agent, PatternGraph

__all__ = ["MAPPER", "REDUCER", "RESPONDERS", "SPEC", "review_map_reduce", "reviews", "sentiment"]

Payload = dict[str, Any]


MAPPER = Agent(
    "mapper",
    "Score the sentiment of each review from -1 to 1 and label it. Keys: results [{id, score, label}].",
    output=MapReply,
)
REDUCER = Agent(
    "reducer",
    "Combine the partial aggregates into one. "
    "Keys: count, score_sum, mean_sentiment, histogram, most_positive, most_negative.",
    output=MapReduceOutput,
)


_POSITIVE = frozenset(
    [
        "good",
        "great",
        "excellent",
        "love",
        "loved",
        "amazing",
        "wonderful",
        "fantastic",
        "happy",
        "perfect",
        "best",
        "nice",
        "recommend",
        "pleasant",
        "fast",
        "helpful",
        "easy",
        "reliable",
        "sturdy",
        "comfortable",
        "beautiful",
        "delighted",
        "superb",
        "impressive",
    ]
)
_NEGATIVE = frozenset(
    [
        "bad",
        "terrible",
        "awful",
        "hate",
        "hated",
        "poor",
        "worst",
        "broken",
        "slow",
        "disappointing",
        "disappointed",
        "useless",
        "cheap",
        "annoying",
        "difficult",
        "unreliable",
        "flimsy",
        "ugly",
        "refund",
        "defective",
        "rude",
        "horrible",
        "waste",
    ]
)
_NEGATIONS = frozenset({"not", "no", "never", "hardly", "isn't", "wasn't", "don't", "didn't", "doesn't"})


def sentiment(text: str) -> float:
    """Lexicon sentiment in [-1, 1]; a negation flips the next sentiment word."""
    positive = negative = 0
    negate = False
    for word in re.findall(r"[a-z']+", text.lower()):
        if word in _NEGATIONS:
            negate = True
            continue
        polarity = 1 if word in _POSITIVE else -1 if word in _NEGATIVE else 0
        if polarity:
            if negate:
                polarity = -polarity
            positive += polarity > 0
            negative += polarity < 0
            negate = False
    return round((positive - negative) / max(1, positive + negative), 4)


def _label(score: float) -> str:
    return BINS[min(4, int((score + 1) / 0.4000001))]


def _map(payload: Payload) -> Payload:
    results = []
    for item in payload.get("items") or []:
        score = sentiment(str(item["text"]))
        results.append({"id": item["id"], "score": score, "label": _label(score)})
    return {"results": results}


def _reduce(payload: Payload) -> Payload:
    return combine_partials(list(payload.get("partials") or []))


RESPONDERS = {"mapper": _map, "reducer": _reduce}


_OPENERS = [
    "The blender",
    "This kettle",
    "The headphones",
    "My new chair",
    "The delivery",
    "Support",
    "The app",
    "This jacket",
    "The battery",
    "The manual",
]
_PRAISE = [
    "is great",
    "works perfectly",
    "was fast and helpful",
    "feels sturdy and comfortable",
    "is excellent value",
    "made me happy",
]
_COMPLAINTS = [
    "is terrible",
    "arrived broken",
    "was slow and rude",
    "feels cheap and flimsy",
    "is a waste of money",
    "was disappointing",
]
_NEUTRAL = ["arrived on Tuesday", "is blue", "came in a box", "has two buttons", "is what I ordered"]
_NEGATED = ["is not good", "was not bad at all", "is never reliable"]


def reviews(n: int = 1000, *, seed: int = 7) -> list[dict[str, str]]:
    """`n` product reviews with a realistic mix of sentiment, reproducible from `seed`."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = rng.choices(["pos", "neg", "neu", "neg2", "mix"], weights=[45, 25, 15, 5, 10])[0]
        opener = rng.choice(_OPENERS)
        body = {
            "pos": rng.choice(_PRAISE),
            "neg": rng.choice(_COMPLAINTS),
            "neu": rng.choice(_NEUTRAL),
            "neg2": rng.choice(_NEGATED),
            "mix": f"{rng.choice(_PRAISE)} but {rng.choice(_COMPLAINTS).split(' ', 1)[1]}",
        }[kind]
        out.append({"id": f"r{i:04d}", "text": f"{opener} {body}."})
    return out


SAMPLE: dict[str, Any] = {"items": reviews(1000), "batch_size": 25, "max_concurrency": 8}


def review_map_reduce(
    *, checkpointer: Any = None, retry_policy: RetryPolicy | None = DEFAULT_RETRY
) -> PatternGraph:
    """Score reviews in batches with bounded concurrency, then reduce."""
    return SPEC.compile(checkpointer=checkpointer, retry_policy=retry_policy)


SPEC = map_reduce.SPEC.preset(
    mapper=MAPPER,
    reducer=REDUCER,
    summary="score 1,000 reviews in batches with bounded concurrency, then reduce",
    sample=SAMPLE,
)
