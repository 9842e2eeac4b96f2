"""Review analytics: score every review's sentiment with the map-reduce pattern, batched and cached.

The mapper agent scores one batch of reviews per model call; batches run in
parallel, at most `concurrency` at a time; the reducer combines the batch
aggregates (count, mean, histogram, extremes) with an associative combine, so
neither batch size nor completion order changes the answer. Every agent call
goes through a result cache, so re-running over the same reviews with the same
batch size answers from the cache without calling the model.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from patterns import RunResult, UsageError, arun
from patterns.flow_control import CacheStats, ResultCache
from patterns.flows.map_reduce import MapReduceOutput, MapReply
from patterns.resilience import AgentPolicies
from patterns.runtime import StepEvent

__all__ = ["BINS", "CACHED_TYPES", "Review", "analyse", "load_reviews"]

BINS = ("very_negative", "negative", "neutral", "positive", "very_positive")
#: The agent replies a cache may hand back: the mapper's scores and the reducer's aggregate.
CACHED_TYPES = (MapReply, MapReduceOutput)
REQUIRED_COLUMNS = ("id", "text")


@dataclass(frozen=True, slots=True)
class Review:
    id: str
    text: str
    product: str = ""
    rating: str = ""


def load_reviews(path: Path) -> list[Review]:
    """Every review in the CSV at `path` (columns id and text, others optional), or a `UsageError`."""
    try:
        # utf-8-sig: spreadsheet exports often start with a byte-order mark, which would otherwise
        # become part of the first column's name ("\ufeffid") and hide the id column.
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                found = ", ".join(reader.fieldnames or []) or "nothing"
                raise UsageError(f"{path}: missing column(s) {', '.join(missing)}; the header has {found}")
            reviews: list[Review] = []
            first_line: dict[str, int] = {}
            for row in reader:
                line = reader.line_num
                if None in row:
                    raise UsageError(f"{path}, line {line}: more fields than the header has columns")
                review_id, text = (row["id"] or "").strip(), (row["text"] or "").strip()
                if not review_id or not text:
                    raise UsageError(f"{path}, line {line}: empty {'id' if not review_id else 'text'}")
                if review_id in first_line:
                    raise UsageError(
                        f"{path}, line {line}: duplicate id {review_id!r} (first on line {first_line[review_id]})"
                    )
                first_line[review_id] = line
                reviews.append(Review(review_id, text, row.get("product") or "", row.get("rating") or ""))
    except FileNotFoundError:
        raise UsageError(f"no such CSV file: {path}") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"cannot read {path} as a UTF-8 CSV: {exc}") from None
    if not reviews:
        raise UsageError(f"{path} has a header but no reviews")
    return reviews


async def analyse(
    reviews: list[Review],
    *,
    model: BaseChatModel,
    batch_size: int = 50,
    concurrency: int = 8,
    cache: ResultCache[Any] | None = None,
    on_step: Callable[[StepEvent], None] | None = None,
) -> tuple[RunResult, CacheStats | None]:
    """Run the map-reduce pattern over `reviews`; return its result and the cache's hits and misses."""
    task = {
        "items": [{"id": r.id, "text": r.text} for r in reviews],
        "batch_size": batch_size,
        "max_concurrency": concurrency,
    }
    before = cache.stats if cache is not None else None
    result = await arun(
        "map_reduce",
        task,
        model=model,
        checkpoint="memory",  # a run is one pass; the cache, not a checkpoint, makes re-runs cheap
        policies=AgentPolicies(cache=cache) if cache is not None else None,
        on_step=on_step,
    )
    if cache is None or before is None:
        return result, None
    after = cache.stats
    return result, CacheStats(hits=after.hits - before.hits, misses=after.misses - before.misses)
