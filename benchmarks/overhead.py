"""Per-step overhead of each pattern against bare LangGraph of the same shape.

For every pattern we run (a) the real pattern graph on the zero-latency
scripted model and (b) a bare LangGraph graph with the same supersteps and the
same number of tasks per superstep, whose nodes do nothing. Both run in the
same process, interleaved, after warm-up; we report medians of repeated runs
and the ratio (a)/(b). The difference is what a step of ours costs on top of
LangGraph's own scheduling: prompt rendering, the model call (the scripted
model's `areply`, below LangChain's callbacks, when nothing observes it), the
scripted model's work, JSON parsing and pydantic validation.

    python benchmarks/overhead.py [--repeats 30] [--checkpointer none|memory] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import operator
import os
import platform
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from typing import Annotated, Any, TypedDict

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send
from rich.console import Console
from rich.table import Table

from adapters import PORTABLE
from patterns import AgentContext, ScriptedChatModel
from patterns.presets import PATTERNS, SAMPLES
from patterns.runtime import PatternSpec, get_flow
from patterns.testing import ScriptedBrain


class _Bare(TypedDict, total=False):
    n: Annotated[int, operator.add]


async def _noop(_state: Any) -> _Bare:
    return {"n": 1}


def _bare_graph(shape: Sequence[int], checkpointer: Any) -> Any:
    """Stages in a row; a stage of k > 1 tasks is k `Send`s, as the patterns fan out."""
    graph = StateGraph(_Bare)
    names = [f"s{i}" for i in range(len(shape))]
    for name in names:
        graph.add_node(name, _noop)
    previous = START
    for name, width in zip(names, shape, strict=True):
        if width > 1:
            graph.add_conditional_edges(
                previous, lambda _s, n=name, w=width: [Send(n, {}) for _ in range(w)], [name]
            )
        else:
            graph.add_edge(previous, name)
        previous = name
    graph.add_edge(previous, END)
    return graph.compile(checkpointer=checkpointer)


def _bare_fan_out(branches: int, concurrency: int, latency_s: float) -> Any:
    """START -> `branches` Sends, at most `concurrency` sleeping `latency_s` at once -> a join -> END.

    The parallel measure's LangGraph baseline: the fan-out of the pattern with
    branches that only wait, so what it shows over the ideal is LangGraph's own
    cost of scheduling (and keeping the pending writes of) that many tasks.
    """

    def fan_out(_state: Any) -> list[Send]:
        gate = asyncio.Semaphore(concurrency)  # one per run, as AgentContext.slots is
        return [Send("branch", {"gate": gate}) for _ in range(branches)]

    async def branch(state: dict[str, Any]) -> _Bare:
        async with state["gate"]:
            await asyncio.sleep(latency_s)
        return {"n": 1}

    graph = StateGraph(_Bare)
    graph.add_node("branch", branch)
    graph.add_node("join", _noop)
    graph.add_conditional_edges(START, fan_out, ["branch"])
    graph.add_edge("branch", "join")
    graph.add_edge("join", END)
    return graph.compile()


def _config(pattern: str, state: dict[str, Any], checkpointed: bool, run: int) -> dict[str, Any]:
    spec = PATTERNS[pattern]
    config: dict[str, Any] = {"recursion_limit": spec.recursion_limit(state)}
    if checkpointed:
        config["configurable"] = {"thread_id": f"{pattern}-{run}"}
    return config


async def superstep_shape(
    pattern: str | PatternSpec, state: dict[str, Any], brain: ScriptedBrain | None = None
) -> list[int]:
    """Tasks per superstep of `pattern` (a preset's name or a declared flow) on `state`.

    Read from a real run's debug stream on `brain` (default: the presets' answers), so
    measured, not declared: the bare graph copies whatever shape the flow has.
    """
    spec = get_flow(pattern)
    graph = spec.compile(checkpointer=None)
    config: dict[str, Any] = {"recursion_limit": max(spec.recursion_limit(state), 25)}
    steps: Counter[int] = Counter()
    async for event in graph.astream(
        state,
        config,
        context=AgentContext(model=ScriptedChatModel(brain=brain or ScriptedBrain())),
        stream_mode="debug",
    ):
        if event["type"] == "task":
            steps[event["step"]] += 1
    return [steps[k] for k in sorted(steps)]


async def _measure(pattern: str, repeats: int, warmup: int, checkpointed: bool) -> dict[str, Any]:
    spec = PATTERNS[pattern]
    state = spec.initial_state(spec.input_model.model_validate(SAMPLES[pattern]))
    shape = await superstep_shape(pattern, state)
    steps = sum(shape)
    ours = spec.compile(checkpointer=InMemorySaver() if checkpointed else None)
    bare = _bare_graph(shape, InMemorySaver() if checkpointed else None)
    model = ScriptedChatModel()

    ours_times, bare_times = [], []
    for run in range(warmup + repeats):
        # Interleave the two so drift in machine load hits both alike.
        t0 = time.perf_counter()
        # A context per run, as a user makes one (its slots and usage are one run's).
        await ours.ainvoke(state, _config(pattern, state, checkpointed, run), context=AgentContext(model))
        t1 = time.perf_counter()
        await bare.ainvoke({"n": 0}, _config(pattern, state, checkpointed, run))
        t2 = time.perf_counter()
        if run >= warmup:
            ours_times.append((t1 - t0) / steps)
            bare_times.append((t2 - t1) / steps)
    ours_med, bare_med = statistics.median(ours_times), statistics.median(bare_times)
    return {
        "pattern": pattern,
        "steps": steps,
        "repeats": repeats,
        "bare_step_us": round(bare_med * 1e6, 1),
        "pattern_step_us": round(ours_med * 1e6, 1),
        "overhead_step_us": round((ours_med - bare_med) * 1e6, 1),
        "ratio": round(ours_med / bare_med, 2),
    }


async def _main(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    for pattern in args.patterns or PORTABLE:
        repeats = max(5, args.repeats // 4) if pattern == "map_reduce" else args.repeats
        results.append(await _measure(pattern, repeats, args.warmup, args.checkpointer == "memory"))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--checkpointer", choices=["none", "memory"], default="none")
    parser.add_argument("--patterns", nargs="*", choices=PORTABLE)
    parser.add_argument("--json", metavar="FILE", help="also write the results here")
    args = parser.parse_args()
    results = asyncio.run(_main(args))

    table = Table(
        title=f"per-step time, medians (checkpointer: {args.checkpointer}, zero-latency scripted model)"
    )
    for column in (
        "pattern",
        "steps",
        "bare LangGraph µs/step",
        "pattern µs/step",
        "overhead µs/step",
        "ratio",
    ):
        table.add_column(column, justify="left" if column == "pattern" else "right")
    for r in results:
        table.add_row(
            r["pattern"],
            str(r["steps"]),
            f"{r['bare_step_us']:.0f}",
            f"{r['pattern_step_us']:.0f}",
            f"{r['overhead_step_us']:.0f}",
            f"{r['ratio']:.2f}x",
        )
    Console().print(table)
    if args.json:
        environment = {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
        }
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(
                {"environment": environment, "checkpointer": args.checkpointer, "results": results},
                handle,
                indent=2,
            )


if __name__ == "__main__":
    main()
