"""Generate data/reviews.csv: 1,200 seeded, synthetic product reviews (id, product, rating, text).

    python generate_reviews.py                 # rewrite data/reviews.csv (the committed file)
    python generate_reviews.py --rows 5000 --seed 7 --out /tmp/more.csv

The same seed writes the same file byte for byte. Reviews mix praise, complaints,
plain statements, mixed feelings and negations ("not bad"), and the star rating
leans with the text, so the sentiment histogram has a realistic shape.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from collections.abc import Sequence
from pathlib import Path

from patterns import UsageError
from patterns.cli import ArgumentParser, number, run_main

HERE = Path(__file__).resolve().parent
PRODUCTS = ["kettle", "headset", "backpack", "desk lamp", "blender", "office chair", "phone case", "router"]

POSITIVE = [
    "The {p} is excellent and really easy to use.",
    "Great {p}, fast delivery, I would recommend it to anyone.",
    "I love this {p}: sturdy, beautiful and reliable.",
    "Amazing value, the {p} works perfectly and support was helpful.",
    "Best {p} I have owned, comfortable and impressive.",
]
NEGATIVE = [
    "Terrible {p}, it arrived broken and I asked for a refund.",
    "The {p} feels cheap and flimsy, a waste of money.",
    "Awful experience: the {p} is slow and the support was rude.",
    "Disappointing {p}, defective after a week.",
    "Worst {p} ever, useless and annoying.",
]
NEUTRAL = [
    "The {p} arrived on Tuesday in a plain box.",
    "It is a {p}. It does what the description says.",
    "Ordered the {p} in grey; it matches the photos.",
]
MIXED = [
    "Good {p} but the cable is flimsy.",
    "The {p} looks beautiful, though setup was difficult.",
    "Fast shipping, but the {p} is not comfortable.",
    "Not bad for the price, not great either.",
    "The {p} is not perfect, but it is reliable.",
    "Great {p} and easy to set up, but the strap is flimsy.",
    "Comfortable and sturdy {p}; the app is annoying.",
    "Slow and unreliable {p}, though the colour is nice.",
    "The {p} is cheap and the buttons are difficult, but the battery is good.",
]
# kind -> (templates, weight, possible star ratings)
KINDS = {
    "positive": (POSITIVE, 45, [4, 5, 5]),
    "negative": (NEGATIVE, 25, [1, 1, 2]),
    "neutral": (NEUTRAL, 12, [3]),
    "mixed": (MIXED, 25, [2, 3, 3, 4]),
}


def generate(rows: int, seed: int) -> list[dict[str, str]]:
    rng = random.Random(seed)
    kinds = list(KINDS)
    weights = [KINDS[k][1] for k in kinds]
    reviews = []
    for n in range(1, rows + 1):
        kind = rng.choices(kinds, weights)[0]
        templates, _, ratings = KINDS[kind]
        product = rng.choice(PRODUCTS)
        text = rng.choice(templates).format(p=product)
        reviews.append(
            {"id": f"r{n:05d}", "product": product, "rating": str(rng.choice(ratings)), "text": text}
        )
    return reviews


def parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="generate_reviews", description="Write a seeded CSV of synthetic product reviews."
    )
    # Capped: the rows are built in memory before they are written.
    p.add_argument(
        "--rows",
        type=number(int, low=1, high=1_000_000),
        default=1200,
        help="how many reviews to write (default 1200)",
    )
    # Any integer is a seed, negative ones too: `number` would take digits only.
    p.add_argument(
        "--seed",
        type=int,
        default=2026,
        help="random seed; the same seed writes the same file (default 2026)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=HERE / "data" / "reviews.csv",
        help="CSV to write (default: data/reviews.csv)",
    )
    return p


def write(args: argparse.Namespace) -> int:
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=["id", "product", "rating", "text"], lineterminator="\n")
            writer.writeheader()
            writer.writerows(generate(args.rows, args.seed))
    except OSError as exc:
        raise UsageError(f"cannot write {args.out}: {exc}") from None
    print(f"wrote {args.rows} reviews to {args.out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_main("generate_reviews", lambda: write(parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
