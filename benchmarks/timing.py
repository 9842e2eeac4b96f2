"""The timing helper: warm-up, interleaved repeats, medians and p95, a time budget.

Why not pyperf or pytest-benchmark. pyperf measures a synchronous callable in
freshly spawned worker processes and calibrates its own loop counts; our
subjects are coroutines that must share one event loop with an already
imported and warmed-up framework (CrewAI alone takes ~6 s to import and ~2 s
for its first kickoff), and the ratios we report must come from candidates
interleaved in one process so machine drift hits them alike. pytest-benchmark
is a pytest fixture for synchronous functions, so it cannot drive `orch bench`.
Either would cost more of the 3-minute `--quick` budget than the measurement
itself. So this module does the small part we need, and is tested:

- `interleave` runs every candidate once per round, rotating who goes first,
  after `warmup` untimed rounds, for `repeats` timed rounds or until that
  candidate has spent its time budget (but at least `min_repeats` timed runs,
  so every statistic has samples behind it; the JSON records how many ran): a
  slow framework cannot eat the whole budget, fast ones get more samples;
- a candidate whose single run is longer than the budget (AutoGen's GraphFlow
  at 1,000 branches takes about a minute) is warmed up once and stops once it
  has spent `_HARD_CAP` budgets with at least one timed run: its few samples of
  a long run say more than the many a short one needs, and the run stays
  inside its half hour;
- garbage is collected before each call, never inside one; everything alive
  when the measurement starts (imported frameworks, warmed caches) is frozen
  out of the collector first (`gc.freeze`), so a collection costs microseconds
  instead of the ~50 ms a full heap walk takes with four frameworks loaded;
- a candidate that raises or exceeds its per-call timeout is dropped from
  later rounds and reported with its error, never silently;
- `summarize` gives n, median, p95 (linear interpolation, as numpy's default),
  mean, min and max.
"""

from __future__ import annotations

import asyncio
import gc
import math
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Outcome", "interleave", "percentile", "summarize"]

#: Past this many budgets spent, a candidate stops with any number of timed runs (at least one).
_HARD_CAP = 3.0


def percentile(samples: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0..100) with linear interpolation between order statistics."""
    if not samples:
        raise ValueError("percentile of no samples")
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(samples: Sequence[float], *, scale: float = 1.0) -> dict[str, float | int]:
    """n, median, p95, mean, min, max of `samples`, each multiplied by `scale` (e.g. 1000 for ms)."""
    return {
        "n": len(samples),
        "median": statistics.median(samples) * scale,
        "p95": percentile(samples, 95) * scale,
        "mean": statistics.fmean(samples) * scale,
        "min": min(samples) * scale,
        "max": max(samples) * scale,
    }


@dataclass
class Outcome:
    """What one candidate produced: timed samples (seconds), the last return value, or its error."""

    samples: list[float] = field(default_factory=list)
    last: Any = None
    error: str | None = None


async def interleave(
    candidates: Mapping[str, Callable[[], Awaitable[Any]]],
    *,
    warmup: int,
    repeats: int,
    min_repeats: int = 3,
    budget_s: float | None = None,
    timeout_s: float | None = None,
    check: Callable[[str, Any], str | None] | None = None,
    on_round: Callable[[], None] | None = None,
) -> dict[str, Outcome]:
    """Time each candidate `repeats` times, interleaved round by round.

    `check(name, value)` may return an error message for a value that is not a
    valid run (a failed flow), which drops the candidate like an exception.
    """
    names = list(candidates)
    outcomes = {name: Outcome() for name in names}
    spent = dict.fromkeys(names, 0.0)
    alive = list(names)
    gc.collect()
    gc.freeze()
    try:
        await _rounds(
            candidates,
            outcomes,
            spent,
            alive,
            warmup,
            repeats,
            min_repeats,
            budget_s,
            timeout_s,
            check,
            on_round,
        )
    finally:
        gc.unfreeze()
    return outcomes


async def _rounds(
    candidates: Mapping[str, Callable[[], Awaitable[Any]]],
    outcomes: dict[str, Outcome],
    spent: dict[str, float],
    alive: list[str],
    warmup: int,
    repeats: int,
    min_repeats: int,
    budget_s: float | None,
    timeout_s: float | None,
    check: Callable[[str, Any], str | None] | None,
    on_round: Callable[[], None] | None,
) -> None:
    for round_no in range(warmup + repeats):
        timed = round_no >= warmup
        shift = round_no % len(alive)
        for name in alive[shift:] + alive[:shift]:
            if not timed and round_no > 0 and budget_s is not None and spent[name] > budget_s:
                continue  # one warm-up is enough for a run longer than the whole budget
            gc.collect()
            t0 = time.perf_counter()
            try:
                value = await asyncio.wait_for(candidates[name](), timeout_s)
            except TimeoutError:
                outcomes[name].error = f"timed out after {timeout_s} s"
                continue
            except Exception as exc:
                outcomes[name].error = f"{type(exc).__name__}: {exc}"
                continue
            elapsed = time.perf_counter() - t0
            spent[name] += elapsed
            problem = check(name, value) if check else None
            if problem:
                outcomes[name].error = problem
                continue
            outcomes[name].last = value
            if timed:
                outcomes[name].samples.append(elapsed)
        alive = [
            name
            for name in alive
            if outcomes[name].error is None
            and not _spent_enough(len(outcomes[name].samples), spent[name], min_repeats, budget_s)
        ]
        if on_round:
            on_round()
        if not alive:
            break


def _spent_enough(samples: int, spent: float, min_repeats: int, budget_s: float | None) -> bool:
    if budget_s is None or spent <= budget_s:
        return False
    return samples >= min_repeats or (samples >= 1 and spent > _HARD_CAP * budget_s)
