"""Command line: sentiment of a CSV of reviews, as a histogram, batched, parallel and cached.

    python app.py                                    # data/reviews.csv (1,200 reviews)
    python app.py my_reviews.csv --batch-size 100    # your CSV: columns id and text (others ignored)
    python app.py --concurrency 2 --png hist.png     # fewer calls in flight; a PNG too (needs matplotlib)
    python app.py --no-cache --json                  # always ask the model; JSON out
    python app.py --model openai:gpt-4o-mini         # a real model scores the reviews

Exit status: 0 done, 1 the run failed, 2 bad options or CSV.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from patterns import UsageError, resolve_model
from patterns.cli import ArgumentParser, number, run_main
from patterns.runtime import StepEvent
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from analytics import BINS, CACHED_TYPES, Review, analyse, load_reviews
from disk_cache import DiskCache

HERE = Path(__file__).resolve().parent
PROG = "review_analytics"
DEFAULT_CACHE = ".review_analytics/cache.sqlite"
BAR_WIDTH = 50

_out = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
_err = Console(stderr=True, highlight=False, soft_wrap=True)


def parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog=PROG, description="Map-reduce sentiment analysis over a CSV of reviews.")
    p.add_argument(
        "csv", nargs="?", default=str(HERE / "data" / "reviews.csv"), help="default: data/reviews.csv"
    )
    p.add_argument(
        "--batch-size",
        type=number(int, low=1, high=1000),
        default=50,
        help="reviews per model call (default 50)",
    )
    p.add_argument(
        "--concurrency",
        type=number(int, low=1, high=64),
        default=8,
        help="batches in flight at once (default 8)",
    )
    p.add_argument("--cache", default=DEFAULT_CACHE, help=f"result cache file (default {DEFAULT_CACHE})")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    p.add_argument("--clear-cache", action="store_true", help="empty the cache before running")
    p.add_argument("--png", metavar="PATH", help="also draw the histogram to a PNG (needs matplotlib)")
    p.add_argument(
        "--model",
        default=os.environ.get("ORCH_MODEL") or "scripted",
        help="'scripted' or PROVIDER:MODEL, e.g. openai:gpt-4o-mini (default: $ORCH_MODEL or scripted)",
    )
    p.add_argument("--base-url", help="OpenAI-compatible endpoint for a real model (Ollama, vLLM)")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    return p


def summarise(output: dict[str, Any], reviews: list[Review]) -> dict[str, Any]:
    by_id = {r.id: r for r in reviews}

    def extreme(pair: list[Any] | None) -> dict[str, Any] | None:
        if not pair:
            return None
        review = by_id[pair[0]]
        return {"id": review.id, "score": pair[1], "product": review.product, "text": review.text}

    return {
        "count": output["count"],
        "mean_sentiment": output["mean_sentiment"],
        "histogram": {label: output["histogram"].get(label, 0) for label in BINS},
        "most_positive": extreme(output["most_positive"]),
        "most_negative": extreme(output["most_negative"]),
        "batches": output["batches"],
    }


def render(out: dict[str, Any]) -> None:
    histogram: dict[str, int] = out["histogram"]
    peak = max(histogram.values()) or 1
    colours = dict(zip(BINS, ("red", "bright_red", "white", "bright_green", "green"), strict=True))
    table = Table(title=f"Sentiment of {out['count']:,} reviews (mean {out['mean_sentiment']:+.3f})")
    table.add_column("sentiment")
    table.add_column("reviews", justify="right")
    table.add_column("share", justify="right")
    table.add_column("")
    for label, n in histogram.items():
        bar = "█" * round(BAR_WIDTH * n / peak)
        table.add_row(
            label.replace("_", " "), f"{n:,}", f"{n / out['count']:.1%}", f"[{colours[label]}]{bar}[/]"
        )
    _out.print(table)
    for title, key in (("most positive", "most_positive"), ("most negative", "most_negative")):
        if review := out[key]:
            _out.print(f"{title}: {review['id']} ({review['score']:+.2f}) {review['text']}")
    cache = out["cache"]
    cached = f"cache hits {cache['hits']}, misses {cache['misses']}" if cache else "cache off"
    _out.print(
        f"{out['batches']} batches; model calls {out['model_calls']}; {cached}; {out['wall_time_s']:.2f} s"
    )


def draw_png(histogram: dict[str, int], path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError(
            "--png needs matplotlib: pip install matplotlib (the terminal chart needs nothing)"
        ) from None
    figure, axes = plt.subplots(figsize=(7, 4))
    axes.bar([b.replace("_", "\n") for b in histogram], list(histogram.values()), color="#4c72b0")
    axes.set_ylabel("reviews")
    axes.set_title("Review sentiment")
    figure.tight_layout()
    try:
        figure.savefig(path)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc}") from None
    finally:
        plt.close(figure)


async def _run(args: argparse.Namespace) -> int:
    reviews = load_reviews(Path(args.csv))
    model = resolve_model(args.model, base_url=args.base_url)
    cache = None
    if not args.no_cache:
        # The model's name is part of every key: a scripted answer is never served to a real model.
        cache = DiskCache(args.cache, namespace=f"{args.model}@{args.base_url or ''}", types=CACHED_TYPES)
        if args.clear_cache:
            await cache.clear()
    batches = -(-len(reviews) // args.batch_size)
    with Progress(console=_err, transient=True, disable=args.json) as bar:
        task = bar.add_task(f"scoring {len(reviews):,} reviews in {batches} batches", total=batches)

        def progress(event: StepEvent) -> None:
            if event.agent == "map_batch" and event.end is not None:
                bar.advance(task)

        try:
            result, stats = await analyse(
                reviews,
                model=model,
                batch_size=args.batch_size,
                concurrency=args.concurrency,
                cache=cache,
                on_step=progress,
            )
        finally:
            if cache is not None:
                cache.close()
    if result.output is None:
        _err.print(f"{PROG}: the run failed: {result.error}", markup=False)
        return 1
    out = summarise(result.output, reviews)
    out |= {
        "model_calls": result.calls,
        "cache": {"hits": stats.hits, "misses": stats.misses} if stats else None,
        "wall_time_s": result.wall_time_s,
    }
    if args.png:
        draw_png(out["histogram"], args.png)
        out["png"] = args.png
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        render(out)
        if args.png:
            _out.print(f"histogram drawn to {args.png}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(PROG, lambda: asyncio.run(_run(parser().parse_args(argv))))


if __name__ == "__main__":
    sys.exit(main())
