"""Sample inputs for every pattern: what `orch run PATTERN` uses when given no `--input`.

`orch sample PATTERN > input.json` writes one out to edit. The reviews for
map-reduce are generated from a seed, so the 1,000-item sample is the same
everywhere without shipping a data file.
"""

from __future__ import annotations

import random
from typing import Any

__all__ = ["SAMPLES", "reviews"]

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
_POSITIVE = [
    "is great",
    "works perfectly",
    "was fast and helpful",
    "feels sturdy and comfortable",
    "is excellent value",
    "made me happy",
]
_NEGATIVE = [
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
            "pos": rng.choice(_POSITIVE),
            "neg": rng.choice(_NEGATIVE),
            "neu": rng.choice(_NEUTRAL),
            "neg2": rng.choice(_NEGATED),
            "mix": f"{rng.choice(_POSITIVE)} but {rng.choice(_NEGATIVE).split(' ', 1)[1]}",
        }[kind]
        out.append({"id": f"r{i:04d}", "text": f"{opener} {body}."})
    return out


SAMPLES: dict[str, dict[str, Any]] = {
    "pipeline": {
        "document": "Invoice: inv-2026-0042\nCustomer:  northwind traders\nDate: 05/11/2026\n"
        "Items:\n- Espresso machine x 1 @ 249.00\n- Descaling kit x 3 @ 12.50\n- Coffee beans 1kg x 4 @ 18.75\n"
        "Total: 361.50 EUR\n",
    },
    "scatter_gather": {
        "question": "What causes battery degradation in electric vehicles?",
        "sources": [
            {
                "name": "encyclopedia",
                "documents": [
                    "Lithium-ion battery degradation is caused by lithium plating and growth of the solid electrolyte "
                    "interphase. High temperatures accelerate battery degradation. Cells are sealed in modules."
                ],
            },
            {
                "name": "journal",
                "documents": [
                    "Fast charging at low temperature causes lithium plating. High temperatures accelerate battery "
                    "degradation. Degradation in electric vehicles averages about two percent per year."
                ],
            },
            {
                "name": "news",
                "documents": [
                    "Automakers now warranty electric vehicle batteries for eight years. Deep discharge cycles cause "
                    "faster battery degradation in some vehicles."
                ],
            },
            {
                "name": "forum",
                "documents": [
                    "Owners report that keeping charge between 20 and 80 percent slows battery degradation. "
                    "Degradation in electric vehicles averages about two percent per year."
                ],
            },
            {
                "name": "patents",
                "documents": [
                    "A coating on the cathode reduces degradation caused by electrolyte oxidation in electric vehicles."
                ],
            },
        ],
        "quorum": 3,
    },
    "map_reduce": {"items": reviews(1000), "batch_size": 25, "max_concurrency": 8},
    "refinement": {
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
    },
    "debate": {
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
    },
    "routing": {"message": "I was charged twice on my last invoice and would like a refund."},
    "handoff": {
        "message": "The app shows an error at login and I also want a refund for this month.",
        "max_handoffs": 3,
    },
}
