"""The benchmark suite: every measure, per framework and pattern, into one JSON document.

Candidates. `asyncio` is the floor (`benchmarks/floor.py`: the same agent turns
on the same scripted brain, no framework). `langgraph_bare` is a LangGraph
graph with the pattern's supersteps and tasks whose nodes do nothing (the idea
of `benchmarks/overhead.py`): LangGraph's own scheduling cost.
`langgraph_graph` is the pattern's compiled graph invoked directly, without
the runner and without a checkpointer. The frameworks (`langgraph`, `autogen`,
`crewai`, `semantic_kernel`) run through `adapters.arun`, the entry point a
user calls; the LangGraph adapter goes through `patterns.runtime.arun` with an
in-memory checkpointer and step streaming, as `orch run` does.

Fairness. Every candidate answers from a `ScriptedBrain` with the same seed;
before timing a pattern each framework runs it once and its output is compared
with the floor's (`same_output_as_floor`): a framework that does different
work is flagged, not silently compared. Timed candidates are interleaved round
by round after warm-up (`benchmarks.timing`), and every ratio is computed from
medians of the same run. A framework that is not installed, fails, or times
out is recorded with its error in every measure it could not take part in.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import importlib
import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from openai import DEFAULT_MAX_RETRIES

import adapters
from adapters._common import disable_telemetry, initial_state
from benchmarks.floor import FRAMEWORK as FLOOR
from benchmarks.floor import arun_floor
from benchmarks.overhead import _bare_fan_out, _bare_graph, superstep_shape
from benchmarks.profiles import MEASURES, Profile
from benchmarks.timing import Outcome, interleave, summarize
from patterns import AgentContext, ScriptedChatModel
from patterns.presets import PATTERNS, SAMPLES, reviews
from patterns.resilience import AgentPolicies, Backoff
from patterns.runtime import PatternSpec, RunResult, get_flow, open_checkpointer
from patterns.runtime import arun as patterns_arun
from patterns.testing import FaultPolicy, LatencyPolicy, Plan, Responder, ScriptedBrain

__all__ = ["BARE", "CLIENT_RETRIES", "CONFIG_LABELS", "FLOOR", "GRAPH", "REFERENCE", "Suite", "postgres_url"]

BARE = "langgraph_bare"
GRAPH = "langgraph_graph"
#: The LangGraph adapter on map-reduce with `batches_per_task` = the concurrency (the parallel measure).
GROUPED = "langgraph_grouped"
#: The reference for declared flows, which the floor cannot run: the kit's own implementation.
REFERENCE = "langgraph"
_REFERENCE_NAMES = {FLOOR: "asyncio floor", REFERENCE: "LangGraph reference"}

#: The adapter option (an int, passed to the OpenAI client's `max_retries`) that restores the
#: client's own retries over HTTP; the benchmark passes the OpenAI SDK's default.
CLIENT_RETRIES = "client_retries"

#: The resilience configurations: (label, what it is).
CONFIG_LABELS: dict[str, tuple[str, str]] = {
    "in_process": (
        "in-process, framework defaults",
        "the framework's native model interface answered in-process by the scripted brain, "
        "with whatever the framework retries by default",
    ),
    "http_client_retries": (
        "HTTP, client's default retries",
        "the framework's production OpenAI client against the scripted model's HTTP server "
        f"(one server per run), with that client's default retries (max_retries={DEFAULT_MAX_RETRIES}, "
        "the OpenAI SDK's default)",
    ),
    "kit_policies": (
        "in-process, kit's policies",
        "in-process as the first, with the kit's AgentPolicies around every agent's model call (policies=)",
    ),
}
#: What "in_process" is on each framework.
IN_PROCESS = {
    FLOOR: "plain asyncio; the floor retries a transient fault itself",
    "langgraph": "ScriptedChatModel; the pattern graph's RetryPolicy (DEFAULT_RETRY)",
    "autogen": "a ChatCompletionClient; AutoGen retries nothing by default",
    "crewai": "a BaseLLM; CrewAI's agent retries (max_retry_limit) and its rate-limit retry",
    "semantic_kernel": "a ChatCompletionClientBase; Semantic Kernel retries nothing by default",
}
#: The production client of "http_client_retries" on each framework.
HTTP_CLIENTS = {
    "langgraph": "langchain_openai.ChatOpenAI with its defaults, under the pattern graph's RetryPolicy",
    "autogen": "autogen_ext OpenAIChatCompletionClient",
    "crewai": "CrewAI's OpenAI provider (OpenAICompletion)",
    "semantic_kernel": "Semantic Kernel's OpenAIChatCompletion on AsyncOpenAI",
}
_ROOT = Path(__file__).resolve().parents[1]

Progress = Callable[[str], None]


def postgres_url() -> str:
    return os.environ.get(
        "ORCH_BENCH_POSTGRES_URL",
        os.environ.get("ORCH_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )


@dataclass
class _FanOutLatency(ScriptedBrain):
    """A brain whose latency applies to the fan-out agents only, so the ideal wall time is exact."""

    slow_roles: frozenset[str] = frozenset()

    def plan(self, messages: Any) -> Plan:
        planned = super().plan(messages)
        return planned if planned.role in self.slow_roles else replace(planned, delay=0.0)


def _ms(seconds: float) -> float:
    return seconds * 1000.0


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _check(name: str, value: Any) -> str | None:
    if isinstance(value, RunResult):
        return None if value.status == "completed" else f"{value.status}: {value.error}"
    if isinstance(value, list):
        return next((p for p in (_check(name, v) for v in value) if p), None)
    if isinstance(value, dict) and "n" not in value and "result" not in value:
        return "the graph ended without a result"
    return None


@dataclass
class Suite:
    """One benchmark run: the profile, the selection, and what has been measured so far."""

    profile: Profile
    patterns: list[str]
    frameworks: list[str]
    measures: list[str] = field(default_factory=lambda: list(MEASURES))
    progress: Progress = lambda _label: None
    status: dict[str, dict[str, Any]] = field(default_factory=dict)
    floor_outputs: dict[str, Any] = field(default_factory=dict)
    pattern_status: dict[tuple[str, str], str | None] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    reduced: list[str] = field(default_factory=list)
    label: str = ""
    #: Declared flows by label (`orch bench --flow`): `patterns` are then these labels, the
    #: asyncio floor (which runs the presets' tables) is left out, and LangGraph is the reference.
    flows: dict[str, PatternSpec] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    responders: Mapping[str, Responder] | None = None
    reference_runs: dict[str, RunResult] = field(default_factory=dict)

    # -- helpers ----------------------------------------------------------------

    @property
    def available(self) -> list[str]:
        return [f for f in self.frameworks if self.status.get(f, {}).get("status") == "ok"]

    @property
    def reference(self) -> str:
        """The candidate every output is compared with: the floor, or LangGraph for declared flows."""
        return REFERENCE if self.flows else FLOOR

    def brain(self, **kwargs: Any) -> ScriptedBrain:
        kwargs.setdefault("seed", self.profile.seed)
        return ScriptedBrain(responders=self.responders, **kwargs)

    def flow(self, pattern: str) -> str | PatternSpec:
        """What `adapters.arun` is given: a preset's name, or the declared flow of that label."""
        return self.flows.get(pattern, pattern)

    def pattern_input(self, pattern: str) -> dict[str, Any]:
        if pattern in self.flows:
            return copy.deepcopy(self.inputs[pattern])
        data = dict(SAMPLES[pattern])
        if pattern == "map_reduce" and self.profile.map_reduce_items is not None:
            data["items"] = reviews(self.profile.map_reduce_items)
        return data

    async def run(
        self, candidate: str, pattern: str, data: Any, brain: ScriptedBrain, **kw: Any
    ) -> RunResult:
        if candidate == FLOOR:
            return await arun_floor(pattern, data, brain=brain)
        return await adapters.arun(candidate, self.flow(pattern), data, brain=brain, **kw)

    def runnable(self, pattern: str) -> list[str]:
        """The frameworks that completed `pattern` with the floor's output in the equivalence check."""
        return [f for f in self.available if self.pattern_status.get((f, pattern)) is None]

    def failed_rows(self, for_pattern: str | None, **extra: Any) -> list[dict[str, Any]]:
        """Rows for the frameworks left out: not available, or (given `for_pattern`) failed it."""
        rows = []
        for framework in self.frameworks:
            if framework in self.available and (
                for_pattern is None or self.pattern_status.get((framework, for_pattern)) is None
            ):
                continue
            error = self.status.get(framework, {}).get("error")
            if error is None and for_pattern is not None:
                error = self.pattern_status.get((framework, for_pattern))
            rows.append({"candidate": framework, **extra, "status": "failed", "error": error})
        return rows

    def timed_rows(
        self, outcomes: dict[str, Outcome], base: dict[str, Any], *, scale: float = 1000.0
    ) -> list[dict[str, Any]]:
        rows = []
        for name, outcome in outcomes.items():
            row: dict[str, Any] = {"candidate": name, **base}
            if outcome.error or not outcome.samples:
                row.update(status="failed", error=outcome.error or "no timed run completed")
            else:
                stats = summarize(outcome.samples, scale=scale)
                row.update(
                    status="ok",
                    n=stats["n"],
                    median_ms=stats["median"],
                    p95_ms=stats["p95"],
                    min_ms=stats["min"],
                )
            rows.append(row)
        return rows

    def note(self, label: str) -> None:
        """What is being measured now: for the progress bar, and to name a reduced scenario."""
        self.label = label
        self.progress(label)

    @property
    def past_deadline(self) -> bool:
        deadline = self.profile.deadline_s
        return deadline is not None and time.perf_counter() - self.started > deadline

    async def timed(
        self, candidates: dict[str, Callable[[], Awaitable[Any]]], repeats: int
    ) -> dict[str, Outcome]:
        p = self.profile
        warmup, min_repeats = p.warmup, min(p.min_repeats, repeats)
        if self.past_deadline:  # the profile's time is up: one untimed and one timed run each, said so
            self.reduced.append(self.label)
            warmup, repeats, min_repeats = 0, 1, 1
        return await interleave(
            candidates,
            warmup=warmup,
            repeats=repeats,
            min_repeats=min_repeats,
            budget_s=p.budget_s,
            timeout_s=p.timeout_s,
            check=_check,
        )

    # -- setup ------------------------------------------------------------------

    async def probe(self) -> None:
        """Import each framework's adapter; record which are usable and how long the import took."""
        if not self.flows:  # the floor runs the presets' tables only
            self.status[FLOOR] = {"status": "ok", "role": "floor"}
        for framework in self.frameworks:
            if framework == FLOOR:
                continue
            self.note(f"importing {framework}")
            entry = self.status[framework] = {"status": "ok", "role": "framework"}
            try:
                module, probe, extra = adapters.FRAMEWORKS[framework]
                if importlib.util.find_spec(probe) is None:
                    raise ImportError(
                        f"{probe} is not installed: pip install 'orchestration-patterns[{extra}]'"
                    )
                disable_telemetry()
                t0 = time.perf_counter()
                importlib.import_module(module)
                entry["import_ms"] = _ms(time.perf_counter() - t0)
            except Exception as exc:
                entry.update(status="unavailable", error=f"{type(exc).__name__}: {exc}")

    async def equivalence(self) -> dict[str, Any]:
        """Run every pattern once on the reference and on each framework (the warm-up); compare outputs.

        The reference is the asyncio floor for the presets, the LangGraph adapter (the kit's
        reference implementation) for declared flows, which the floor cannot run.
        """
        rows = []
        same_key = f"same_output_as_{'floor' if self.reference == FLOOR else self.reference}"
        for pattern in self.patterns:
            self.note(f"equivalence: {pattern}")
            data = self.pattern_input(pattern)
            floor = await self.run(self.reference, pattern, data, self.brain())
            if floor.status != "completed":
                raise RuntimeError(f"the reference ({self.reference}) failed {pattern}: {floor.error}")
            self.floor_outputs[pattern] = floor.output
            self.reference_runs[pattern] = floor
            rows.append(
                {
                    "candidate": self.reference,
                    "pattern": pattern,
                    "status": "ok",
                    "calls": floor.calls,
                    "first_run_ms": _ms(floor.wall_time_s),
                    same_key: True,
                }
            )
            if self.reference != FLOOR:
                self.pattern_status[self.reference, pattern] = None
            for framework in self.available:
                if framework in (FLOOR, self.reference):
                    continue
                t0 = time.perf_counter()
                try:
                    result = await asyncio.wait_for(
                        self.run(framework, pattern, data, self.brain()), self.profile.timeout_s
                    )
                    error = None if result.status == "completed" else f"{result.status}: {result.error}"
                except TimeoutError:
                    result, error = None, f"timed out after {self.profile.timeout_s} s"
                except Exception as exc:
                    result, error = None, f"{type(exc).__name__}: {exc}"
                row: dict[str, Any] = {"candidate": framework, "pattern": pattern}
                if error is None and result is not None:
                    same = result.output == floor.output
                    row.update(
                        status="ok",
                        calls=result.calls,
                        first_run_ms=_ms(time.perf_counter() - t0),
                        **{same_key: same},
                    )
                    if not same:
                        error = f"output differs from the {_REFERENCE_NAMES[self.reference]}'s"
                        row.update(status="different", error=error)
                else:
                    row.update(status="failed", error=error)
                self.pattern_status[framework, pattern] = error
                rows.append(row)
            rows.extend(self.failed_rows(None, pattern=pattern))
        return {"reference": self.reference, "rows": rows}

    async def agent_steps(self, pattern: str, data: Any) -> int:
        """How many agent (model) calls one fault-free run makes: the per-step denominator."""
        if pattern in self.reference_runs and data == self.pattern_input(pattern):
            return self.reference_runs[pattern].calls
        return (await self.run(self.reference, pattern, data, self.brain())).calls

    # -- measures ---------------------------------------------------------------

    async def overhead(self) -> dict[str, Any]:
        rows: list[dict[str, Any]] = []
        for pattern in self.patterns:
            self.note(f"overhead: {pattern}")
            data = self.pattern_input(pattern)
            spec = get_flow(self.flow(pattern))
            state = initial_state(spec, data)
            shape = await superstep_shape(spec, state, self.brain())
            bare = _bare_graph(shape, None)
            graph = spec.compile(checkpointer=None)
            config = _graph_config(spec, state)
            agent_steps = await self.agent_steps(pattern, data)
            candidates: dict[str, Callable[[], Awaitable[Any]]] = {}
            if not self.flows:  # the floor runs the presets' tables only
                candidates[FLOOR] = _bind(self.run, FLOOR, pattern, data, self.brain())
            candidates[BARE] = _bind(bare.ainvoke, {"n": 0}, config)
            candidates[GRAPH] = _per_run_context(graph, state, config, ScriptedChatModel(brain=self.brain()))
            for framework in self.runnable(pattern):
                candidates[framework] = _bind(self.run, framework, pattern, data, self.brain())
            outcomes = await self.timed(candidates, self.profile.repeats)
            base = {
                "pattern": pattern,
                "agent_steps": agent_steps,
                "supersteps": len(shape),
                "tasks": sum(shape),
            }
            pattern_rows = self.timed_rows(outcomes, base)
            medians = {r["candidate"]: r.get("median_ms") for r in pattern_rows}
            for row in pattern_rows:
                if row["status"] == "ok":
                    samples = outcomes[row["candidate"]].samples
                    per_step = summarize([s / agent_steps for s in samples], scale=1e6)
                    row.update(
                        per_step_median_us=per_step["median"],
                        per_step_p95_us=per_step["p95"],
                        ratio_to_floor=_ratio(row["median_ms"], medians.get(FLOOR)),
                        ratio_to_bare_langgraph=_ratio(row["median_ms"], medians.get(BARE)),
                        ratio_to_pattern_graph=_ratio(row["median_ms"], medians.get(GRAPH)),
                    )
            await self.paired_runner_cost(candidates, pattern_rows)
            rows.extend(pattern_rows)
            rows.extend(self.failed_rows(pattern, pattern=pattern))
        return {"rows": rows}

    async def paired_runner_cost(
        self, candidates: dict[str, Callable[[], Awaitable[Any]]], rows: list[dict[str, Any]]
    ) -> None:
        """The LangGraph adapter against the pattern graph in rounds of the two alone, on its row.

        What the runner adds is a ratio of two runs of a few ms: measured beside every
        framework, a 50 ms run's median moves with its neighbours (CrewAI's runs of
        1.7 s, their threads and garbage). Here each round times the two back to back,
        in alternating order, and the figure is the median of the rounds' ratios.
        """
        row = next((r for r in rows if r["candidate"] == REFERENCE and r["status"] == "ok"), None)
        if row is None or GRAPH not in candidates:
            return
        paired = await self.timed(
            {GRAPH: candidates[GRAPH], REFERENCE: candidates[REFERENCE]}, self.profile.paired_repeats
        )
        ratios = [a / b for a, b in zip(paired[REFERENCE].samples, paired[GRAPH].samples, strict=False)]
        if ratios and paired[REFERENCE].error is None and paired[GRAPH].error is None:
            row.update(paired_rounds=len(ratios), paired_ratio_to_pattern_graph=statistics.median(ratios))

    async def parallel(self) -> dict[str, Any]:
        p = self.profile
        docs = [d for s in SAMPLES["scatter_gather"]["sources"] for d in s["documents"]]
        scenarios = [
            (
                "scatter_gather",
                {
                    "question": SAMPLES["scatter_gather"]["question"],
                    "sources": [
                        {"name": f"s{i:04d}", "documents": [docs[i % len(docs)]]}
                        for i in range(p.scatter_sources)
                    ],
                },
                frozenset({"researcher"}),
                p.scatter_latency_s,
                p.scatter_latency_s,
                {
                    "branches": p.scatter_sources,
                    "concurrency": p.scatter_sources,
                    "latency_ms": _ms(p.scatter_latency_s),
                },
            ),
            (
                "map_reduce",
                {"items": reviews(p.map_items), "batch_size": 1, "max_concurrency": p.map_concurrency},
                frozenset({"mapper"}),
                p.map_latency_s,
                math.ceil(p.map_items / p.map_concurrency) * p.map_latency_s,
                {
                    "branches": p.map_items,
                    "concurrency": p.map_concurrency,
                    "latency_ms": _ms(p.map_latency_s),
                },
            ),
        ]
        rows: list[dict[str, Any]] = []
        for pattern, data, slow, latency, ideal, params in scenarios:
            if pattern not in self.patterns:
                continue
            self.note(f"parallel: {pattern}")

            def brain(latency: float = latency, slow: frozenset[str] = slow) -> ScriptedBrain:
                return _FanOutLatency(latency=LatencyPolicy(mean=latency), slow_roles=slow)

            candidates = {
                name: _bind(self.run, name, pattern, data, brain())
                for name in [FLOOR, *self.runnable(pattern)]
            }
            # LangGraph itself on the same fan-out, branches that only wait: what no pattern
            # on LangGraph can go below.
            bare = _bare_fan_out(params["branches"], params["concurrency"], latency)
            candidates[BARE] = _bind(bare.ainvoke, {"n": 0})
            if pattern == "map_reduce" and REFERENCE in candidates:
                # The setting for thousands of batches: one LangGraph task per wave of them.
                grouped = {**data, "batches_per_task": p.map_concurrency}
                candidates[GROUPED] = _bind(self.run, REFERENCE, pattern, grouped, brain())
            outcomes = await self.timed(candidates, p.parallel_repeats)
            base = {"scenario": pattern, **params, "ideal_ms": _ms(ideal)}
            scenario_rows = self.timed_rows(outcomes, base)
            medians = {r["candidate"]: r.get("median_ms") for r in scenario_rows}
            for row in scenario_rows:
                if row["status"] == "ok":
                    row.update(
                        efficiency=row["median_ms"] / row["ideal_ms"],
                        ratio_to_floor=_ratio(row["median_ms"], medians.get(FLOOR)),
                        ratio_to_bare_langgraph=_ratio(row["median_ms"], medians.get(BARE)),
                    )
                rows.append(row)
            rows.extend(self.failed_rows(pattern, scenario=pattern))
        return {"rows": rows}

    async def throughput(self) -> dict[str, Any]:
        p = self.profile
        pattern = p.throughput_pattern
        data = self.pattern_input(pattern)
        rows: list[dict[str, Any]] = []
        for level in p.throughput_levels:
            self.note(f"throughput: {level} concurrent")

            def many(name: str, n: int = level) -> Callable[[], Awaitable[Any]]:
                brain = self.brain()

                async def go() -> list[RunResult]:
                    return list(
                        await asyncio.gather(*(self.run(name, pattern, data, brain) for _ in range(n)))
                    )

                return go

            candidates = {name: many(name) for name in [FLOOR, *self.runnable(pattern)]}
            outcomes = await self.timed(candidates, p.scaling_repeats)
            level_rows = self.timed_rows(outcomes, {"pattern": pattern, "concurrency": level})
            floor_rate = None
            for row in level_rows:
                if row["status"] == "ok":
                    row["flows_per_s"] = level / (row["median_ms"] / 1000.0)
                    if row["candidate"] == FLOOR:
                        floor_rate = row["flows_per_s"]
            for row in level_rows:
                if row["status"] == "ok":
                    row["ratio_to_floor"] = _ratio(row["flows_per_s"], floor_rate)
            rows.extend(level_rows)
            rows.extend(self.failed_rows(pattern, pattern=pattern, concurrency=level))
        return {"rows": rows}

    async def scaling_branches(self) -> dict[str, Any]:
        p = self.profile
        rows: list[dict[str, Any]] = []
        for n in p.branch_counts:
            self.note(f"scaling: {n} branches")
            data = {"items": reviews(n), "batch_size": 1, "max_concurrency": n}
            state = initial_state("map_reduce", data)
            bare = _bare_graph([n, 1], None)
            candidates: dict[str, Callable[[], Awaitable[Any]]] = {
                FLOOR: _bind(self.run, FLOOR, "map_reduce", data, self.brain()),
                BARE: _bind(bare.ainvoke, {"n": 0}, _graph_config("map_reduce", state)),
            }
            for name in self.runnable("map_reduce"):
                candidates[name] = _bind(self.run, name, "map_reduce", data, self.brain())
            outcomes = await self.timed(candidates, p.scaling_repeats)
            level_rows = self.timed_rows(outcomes, {"branches": n})
            _relative(level_rows)
            for row in level_rows:
                if row["status"] == "ok":
                    row["per_branch_us"] = row["median_ms"] * 1000.0 / n
            rows.extend(level_rows)
            rows.extend(self.failed_rows("map_reduce", branches=n))
        return {"pattern": "map_reduce", "rows": rows}

    async def scaling_state(self) -> dict[str, Any]:
        p = self.profile
        rows: list[dict[str, Any]] = []
        for size in p.state_sizes:
            self.note(f"scaling: {size} bytes of state")
            data = _padded_reviews(p.state_items, size)
            state_bytes = len(json.dumps(data))
            candidates = {
                name: _bind(self.run, name, "map_reduce", data, self.brain())
                for name in [FLOOR, *self.runnable("map_reduce")]
            }
            outcomes = await self.timed(candidates, p.scaling_repeats)
            level_rows = self.timed_rows(outcomes, {"state_bytes": state_bytes, "items": p.state_items})
            _relative(level_rows)
            rows.extend(level_rows)
            rows.extend(self.failed_rows("map_reduce", state_bytes=state_bytes))
        return {"pattern": "map_reduce", "rows": rows}

    async def checkpoint(self) -> dict[str, Any]:
        p = self.profile
        rows: list[dict[str, Any]] = []
        with tempfile.TemporaryDirectory(prefix="orch-bench-") as tmp:
            urls = {
                "memory": "memory",
                "sqlite": f"sqlite:///{tmp}/checkpoints.sqlite",
                "postgresql": postgres_url(),
            }
            for pattern in [q for q in p.checkpoint_patterns if q in self.patterns]:
                self.note(f"checkpoint: {pattern}")
                data = self.pattern_input(pattern)
                state = initial_state(pattern, data)
                shape = await superstep_shape(pattern, state)
                context = AgentContext(ScriptedChatModel(brain=self.brain()))
                candidates: dict[str, Callable[[], Awaitable[Any]]] = {}
                threads: dict[str, list[str]] = {}
                savers: dict[str, Any] = {}
                failed: list[dict[str, Any]] = []
                async with contextlib.AsyncExitStack() as stack:
                    for saver_name in p.checkpoint_savers:
                        saver = None
                        if saver_name != "none":
                            try:
                                saver = await stack.enter_async_context(open_checkpointer(urls[saver_name]))
                            except Exception as exc:
                                failed.append(
                                    {
                                        "candidate": saver_name,
                                        "pattern": pattern,
                                        "saver": saver_name,
                                        "status": "failed",
                                        "error": f"{type(exc).__name__}: {exc}",
                                    }
                                )
                                continue
                        savers[saver_name] = saver
                        graph = PATTERNS[pattern].compile(checkpointer=saver)
                        for durability in ["n/a"] if saver is None else list(p.durabilities):
                            key = f"{saver_name}/{durability}"
                            threads[key] = []
                            candidates[key] = _checkpointed_run(
                                graph, state, pattern, context, durability, threads[key]
                            )
                    outcomes = await self.timed(candidates, p.repeats)
                    for saver_name, saver in savers.items():  # leave no benchmark threads behind
                        for key, ids in threads.items():
                            if saver is not None and key.startswith(saver_name + "/"):
                                for thread_id in ids:
                                    with contextlib.suppress(Exception):
                                        await saver.adelete_thread(thread_id)
                pattern_rows = self.timed_rows(outcomes, {"pattern": pattern, "supersteps": len(shape)})
                medians = {r["candidate"]: r.get("median_ms") for r in pattern_rows}
                for row in pattern_rows:
                    row["saver"], row["durability"] = row["candidate"].split("/", 1)
                    if row["status"] == "ok":
                        row["per_superstep_us"] = row["median_ms"] * 1000.0 / len(shape)
                        none = medians.get("none/n/a")
                        row["cost_per_superstep_us"] = (
                            (row["median_ms"] - none) * 1000.0 / len(shape) if none is not None else None
                        )
                        row["ratio_to_none"] = _ratio(row["median_ms"], none)
                rows.extend(pattern_rows)
                rows.extend(failed)
        others = [f for f in self.frameworks if f not in (FLOOR, "langgraph")]
        return {
            "framework": "langgraph",
            "postgres_url": postgres_url().split("@")[-1],
            "not_applicable": others,
            "rows": rows,
        }

    async def wire(self) -> dict[str, Any]:
        from patterns.testing import running_server

        rows: list[dict[str, Any]] = []
        for pattern in self.patterns:  # the floor's minimum, from the brain's own ledger (same token counter)
            result = await arun_floor(pattern, self.pattern_input(pattern), brain=self.brain())
            rows.append(
                {
                    "candidate": FLOOR,
                    "pattern": pattern,
                    "status": "ok",
                    "via": "in-process",
                    "requests": result.calls + result.failed_calls,
                    "prompt_tokens": result.prompt_tokens,
                    "completion_tokens": result.completion_tokens,
                }
            )
        floor_tokens = {r["pattern"]: r["prompt_tokens"] + r["completion_tokens"] for r in rows}
        with tempfile.TemporaryDirectory(prefix="orch-bench-wire-") as tmp:
            for framework in [f for f in self.available if f != FLOOR]:
                self.note(f"wire: {framework}")
                log = Path(tmp) / f"{framework}.jsonl"
                brain = self.brain()
                with running_server(brain, request_log=log) as url:
                    for pattern in self.patterns:
                        offset = log.stat().st_size if log.exists() else 0
                        try:
                            result = await asyncio.wait_for(
                                self.run(
                                    framework, pattern, self.pattern_input(pattern), brain, base_url=url
                                ),
                                self.profile.timeout_s,
                            )
                            error = (
                                None if result.status == "completed" else f"{result.status}: {result.error}"
                            )
                        except TimeoutError:
                            error = f"timed out after {self.profile.timeout_s} s"
                        except Exception as exc:
                            error = f"{type(exc).__name__}: {exc}"
                        entries = _read_log(log, offset)
                        row: dict[str, Any] = {"candidate": framework, "pattern": pattern, "via": "http"}
                        row.update(_sum_log(entries))
                        if error:
                            row.update(status="failed", error=error)
                        else:
                            row["status"] = "ok"
                            total = row["prompt_tokens"] + row["completion_tokens"]
                            row["tokens_vs_floor"] = _ratio(total, floor_tokens.get(pattern))
                        rows.append(row)
        rows.extend(self.failed_rows(None, pattern="*"))
        return {"rows": rows}

    async def footprint(self) -> dict[str, Any]:
        p = self.profile
        pattern = p.footprint_pattern
        rows: list[dict[str, Any]] = []
        for name in [FLOOR, *[f for f in self.frameworks if f != FLOOR]]:
            self.note(f"footprint: {name}")
            samples: list[dict[str, Any]] = []
            error = self.status.get(name, {}).get("error")
            for _ in range(0 if error else p.footprint_repeats):
                sample, error = await asyncio.to_thread(_footprint_once, name, pattern, p.timeout_s + 60.0)
                if error:
                    break
                samples.append(sample)
            row: dict[str, Any] = {"candidate": name, "pattern": pattern}
            if error or not samples:
                row.update(status="failed", error=error)
            else:
                row["status"] = "ok"
                row["n"] = len(samples)
                for key in (
                    "base_import_ms",
                    "framework_import_ms",
                    "first_flow_ms",
                    "second_flow_ms",
                    "process_ms",
                    "peak_rss_mb",
                ):
                    row[key] = summarize([s[key] for s in samples])["median"]
            rows.append(row)
        return {"rows": rows, "cold_start": await asyncio.to_thread(_cold_start, p.footprint_repeats)}

    def policies(self) -> AgentPolicies:
        """The kit's protections for the "kit_policies" configuration: a retry with back-off."""
        p = self.profile
        return AgentPolicies(
            retry=Backoff(
                max_attempts=p.policy_max_attempts,
                base_delay=p.policy_base_delay_s,
                max_delay=p.policy_max_delay_s,
            )
        )

    def unsupported(self, name: str, config: str) -> str | None:
        """Why `name` cannot be measured in `config` with the adapters as they are, or None.

        Over HTTP the AutoGen, CrewAI and Semantic Kernel adapters build their OpenAI client
        with `max_retries=0` (so a fault reaches the flow as it does in-process); the
        configuration is measured once an adapter's `OPTIONS` has `client_retries`.
        """
        if config != "http_client_retries" or name == REFERENCE:
            return None
        module = sys.modules.get(adapters.FRAMEWORKS[name][0])
        if CLIENT_RETRIES in getattr(module, "OPTIONS", ()):
            return None
        return (
            f"not measured: the {name} adapter turns its OpenAI client's retries off (max_retries=0) "
            f"and has no `{CLIENT_RETRIES}` option to restore the client's default"
        )

    async def attempt(
        self, name: str, pattern: str, config: str, brain: ScriptedBrain
    ) -> tuple[RunResult | str, int | None]:
        """One run of `name` in `config`, and the model requests it made (None if unknown)."""
        data = self.pattern_input(pattern)
        timeout = self.profile.timeout_s
        try:
            if config == "in_process":
                result = await asyncio.wait_for(self.run(name, pattern, data, brain), timeout)
            elif config == "kit_policies":
                result = await asyncio.wait_for(
                    self.run(name, pattern, data, brain, policies=self.policies()), timeout
                )
            else:  # over HTTP: the brain behind the scripted model's server, one server per run
                async with _served(brain) as url:
                    result = await asyncio.wait_for(self.http_run(name, pattern, data, brain, url), timeout)
                usage = brain.ledger.total()
                return result, usage.calls + usage.failures
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}", None
        return result, result.calls + result.failed_calls

    async def http_run(self, name: str, pattern: str, data: Any, brain: ScriptedBrain, url: str) -> RunResult:
        """`name` through its production OpenAI client against `url`, with the client's default retries."""
        if name == REFERENCE:
            # What a LangGraph user writes: ChatOpenAI with its defaults (max_retries included),
            # under the pattern graph's own RetryPolicy. The adapter's client turns retries off.
            from langchain_openai import ChatOpenAI

            model = ChatOpenAI(model="scripted", base_url=url, api_key="not-needed", temperature=0)  # type: ignore[arg-type]
            return await patterns_arun(self.flow(pattern), data, model=model, checkpoint="memory")
        options: dict[str, Any] = {CLIENT_RETRIES: DEFAULT_MAX_RETRIES}
        return await adapters.arun(name, self.flow(pattern), data, brain=brain, base_url=url, **options)

    async def resilience(self) -> dict[str, Any]:
        """Completion, correctness and extra calls over seeded runs with transient faults.

        Each framework runs in every configuration of `profile.resilience_configs` (see
        `RESILIENCE_CONFIGS`); every row says which. Only counts are measured here, not
        time, so every run of every candidate goes at once (bounded by
        `fault_concurrency`) and the retry back-offs overlap.
        """
        p = self.profile
        gate = asyncio.Semaphore(p.fault_concurrency)

        async def one(
            name: str, pattern: str, config: str, brain: ScriptedBrain
        ) -> tuple[RunResult | str, int | None]:
            async with gate:
                return await self.attempt(name, pattern, config, brain)

        names = [] if self.flows else [FLOOR]
        cells = [(name, pattern) for pattern in self.patterns for name in [*names, *self.runnable(pattern)]]
        configured = [
            (name, pattern, config)
            for name, pattern in cells
            for config in p.resilience_configs
            if not (name == FLOOR and config != "in_process")
        ]
        skipped = {(n, q, c): why for n, q, c in configured if (why := self.unsupported(n, c))}
        measured = [key for key in configured if key not in skipped]
        fault_runs = p.fault_runs
        if self.past_deadline:
            self.reduced.append("resilience")
            fault_runs = min(fault_runs, 2)
        self.note("resilience: fault-free baselines")
        clean = await asyncio.gather(
            *(one(name, pattern, "in_process", self.brain()) for name, pattern in cells)
        )
        baselines = dict(zip(cells, clean, strict=True))
        self.note("resilience: faulty runs")
        jobs = [
            (key, rate, p.seed + i) for key in measured for rate in p.fault_rates for i in range(fault_runs)
        ]
        faulty = await asyncio.gather(
            *(
                one(name, pattern, config, self.brain(seed=seed, faults=FaultPolicy.transient(rate)))
                for (name, pattern, config), rate, seed in jobs
            )
        )
        rows: list[dict[str, Any]] = []
        for key in configured:
            name, pattern, config = key
            cell: dict[str, Any] = {"candidate": name, "pattern": pattern, "config": config}
            baseline, _ = baselines[name, pattern]
            if key in skipped:
                rows.append({**cell, "status": "unsupported", "error": skipped[key]})
                continue
            if not isinstance(baseline, RunResult) or baseline.status != "completed":
                error = baseline if isinstance(baseline, str) else f"{baseline.status}: {baseline.error}"
                rows.append({**cell, "status": "failed", "error": error})
                continue
            baseline_calls = baseline.calls + baseline.failed_calls
            for rate in p.fault_rates:
                done = [out for (k, q, _), out in zip(jobs, faulty, strict=True) if k == key and q == rate]
                results = [r for r, _ in done]
                runs = [r for r in results if isinstance(r, RunResult)]
                completed = [r for r in runs if r.status == "completed"]
                correct = [r for r in completed if r.output == baseline.output]
                attempts = [n for _, n in done if n is not None]
                errors = Counter((r.error or "").split(":", 1)[0] for r in runs if r.status != "completed")
                errors.update(r.split(":", 1)[0] for r in results if isinstance(r, str))
                mean_calls = sum(attempts) / len(attempts) if attempts else None
                rows.append(
                    {
                        **cell,
                        "fault_rate": rate,
                        "status": "ok",
                        "runs": len(results),
                        "completed": len(completed),
                        "completion_rate": len(completed) / len(results),
                        "correct_rate": len(correct) / len(results),
                        "fault_free_calls": baseline_calls,
                        "mean_calls": mean_calls,
                        "extra_calls_per_run": mean_calls - baseline_calls
                        if mean_calls is not None
                        else None,
                        "failures": dict(errors),
                    }
                )
        for pattern in self.patterns:
            rows.extend(self.failed_rows(pattern, pattern=pattern, config=None))
        return {"configs": self.config_descriptions(), "rows": rows}

    def config_descriptions(self) -> dict[str, dict[str, Any]]:
        """What each configuration is, per framework: the report's legend, kept in the JSON."""
        p = self.profile
        policy = (
            f"AgentPolicies(retry=Backoff(max_attempts={p.policy_max_attempts}, "
            f"base_delay={p.policy_base_delay_s}, max_delay={p.policy_max_delay_s}))"
        )
        out: dict[str, dict[str, Any]] = {}
        for config in p.resilience_configs:
            label, how = CONFIG_LABELS[config]
            frameworks = [f for f in self.frameworks if f != FLOOR]
            if config == "in_process" and not self.flows:
                frameworks = [FLOOR, *frameworks]
            per: dict[str, str] = {}
            for name in frameworks:
                if config == "kit_policies":
                    per[name] = f"{policy} through the framework's model bridge" + (
                        " (instead of the graph's RetryPolicy)" if name == REFERENCE else ""
                    )
                elif config == "http_client_retries":
                    per[name] = self.unsupported(name, config) or HTTP_CLIENTS.get(name, "its OpenAI client")
                else:
                    per[name] = IN_PROCESS.get(name, "the framework's own defaults")
            out[config] = {"label": label, "description": how, "frameworks": per}
        return out

    async def distributed(self) -> dict[str, Any]:
        """Celery workers on RabbitMQ + PostgreSQL (`benchmarks/distributed.py`); opt-in, not a framework race.

        On a thread: the measure blocks on worker processes and runs event loops of its own.
        """
        from benchmarks.distributed import measure

        return await asyncio.to_thread(measure, self.profile, self.note)


# -- helpers ------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _served(brain: ScriptedBrain) -> AsyncIterator[str]:
    """The scripted model's HTTP server for `brain`, started and stopped off the event loop."""
    from patterns.testing import running_server

    with contextlib.ExitStack() as stack:
        url = await asyncio.to_thread(stack.enter_context, running_server(brain))
        try:
            yield url
        finally:
            await asyncio.to_thread(stack.close)


def _bind(fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Callable[[], Awaitable[Any]]:
    return lambda: fn(*args, **kwargs)


def _per_run_context(
    graph: Any, state: dict[str, Any], config: RunnableConfig, model: ScriptedChatModel
) -> Callable[[], Awaitable[Any]]:
    """`graph.ainvoke` as a user runs a pattern graph: one model, a new `AgentContext` per run.

    A context is one run's (its `slots` bound that run's concurrency, its `usage`
    counts that run's calls), as `arun` makes one per run.
    """
    return lambda: graph.ainvoke(state, config, context=AgentContext(model))


def _graph_config(pattern: str | PatternSpec, state: dict[str, Any]) -> RunnableConfig:
    spec = get_flow(pattern)
    config: RunnableConfig = {"recursion_limit": max(spec.recursion_limit(state), 25)}
    return config


def _checkpointed_run(
    graph: Any,
    state: dict[str, Any],
    pattern: str,
    context: AgentContext,
    durability: str,
    threads: list[str],
) -> Callable[[], Awaitable[Any]]:
    async def go() -> Any:
        config = _graph_config(pattern, state)
        kwargs: dict[str, Any] = {}
        if durability != "n/a":
            thread_id = f"bench-{uuid.uuid4().hex[:12]}"
            threads.append(thread_id)
            config["configurable"] = {"thread_id": thread_id}
            kwargs["durability"] = durability
        return await graph.ainvoke(state, config, context=context, **kwargs)

    return go


def _relative(rows: list[dict[str, Any]]) -> None:
    floor = next((r["median_ms"] for r in rows if r["candidate"] == FLOOR and r["status"] == "ok"), None)
    for row in rows:
        if row["status"] == "ok" and floor is not None:
            row["overhead_ms"] = row["median_ms"] - floor
            row["ratio_to_floor"] = _ratio(row["median_ms"], floor)


def _padded_reviews(items: int, size: int) -> dict[str, Any]:
    """`items` reviews padded with neutral words so the input JSON is about `size` bytes."""
    rows = reviews(items)
    overhead = len(json.dumps({"items": rows, "batch_size": 2, "max_concurrency": 4}))
    pad = max(0, size - overhead) // items
    for row in rows:
        row["text"] = row["text"] + (" box" * (pad // 4 + 1))[:pad]
    return {"items": rows, "batch_size": 2, "max_concurrency": 4}


def _read_log(path: Path, offset: int) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with path.open("rb") as handle:
        handle.seek(offset)
        return [json.loads(line) for line in handle.read().decode().splitlines() if line.strip()]


def _sum_log(entries: list[dict[str, Any]]) -> dict[str, Any]:
    chat = [e for e in entries if e.get("path", "").endswith("/chat/completions")]
    return {
        "requests": len(chat),
        "ok_requests": sum(1 for e in chat if e.get("status") == 200),
        "prompt_tokens": sum(int(e.get("prompt_tokens") or 0) for e in chat),
        "completion_tokens": sum(int(e.get("completion_tokens") or 0) for e in chat),
        "mean_messages": sum(int(e.get("messages") or 0) for e in chat) / len(chat) if chat else None,
        "requests_with_tools": sum(1 for e in chat if e.get("tools")),
        "streamed_requests": sum(1 for e in chat if e.get("stream")),
    }


_FOOTPRINT = r"""
import asyncio, json, resource, sys, time
t0 = time.perf_counter()
import patterns, adapters
t1 = time.perf_counter()
name, pattern = sys.argv[1], sys.argv[2]
if name == "asyncio":
    from benchmarks.floor import arun_floor
    run = lambda: arun_floor(pattern)
else:
    import importlib
    from adapters._common import disable_telemetry
    disable_telemetry()
    module, probe, extra = adapters.FRAMEWORKS[name]
    importlib.import_module(probe)
    importlib.import_module(module)
    run = lambda: adapters.arun(name, pattern)
t2 = time.perf_counter()
async def main():
    a = time.perf_counter(); first = await run(); b = time.perf_counter(); second = await run()
    return first, second, b - a, time.perf_counter() - b
first, second, first_s, second_s = asyncio.run(main())
def peak_rss_mb():
    # VmHWM is this program's own peak; ru_maxrss would also count the parent's pages at fork.
    try:
        with open("/proc/self/status") as status:
            return next(int(l.split()[1]) for l in status if l.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({
    "status": first.status, "error": first.error, "base_import_ms": (t1 - t0) * 1000,
    "framework_import_ms": (t2 - t1) * 1000, "first_flow_ms": first_s * 1000, "second_flow_ms": second_s * 1000,
    "peak_rss_mb": peak_rss_mb(),
}))
"""


#: The command line's cold start: what a user waits for before anything runs, and a bad input's exit.
_COLD_COMMANDS = (("--help",), ("list",), ("run", "no-such-pattern"))


def _cold_start(repeats: int) -> list[dict[str, Any]]:
    """Wall time of `orch COMMAND` in a fresh process, `repeats` times each, interleaved."""
    orch = Path(sys.executable).with_name("orch")
    samples: dict[tuple[str, ...], list[float]] = {argv: [] for argv in _COLD_COMMANDS}
    exits: dict[tuple[str, ...], int] = {}
    for _ in range(repeats):
        for argv in _COLD_COMMANDS:
            t0 = time.perf_counter()
            proc = subprocess.run(
                [str(orch), *argv], capture_output=True, text=True, cwd=tempfile.gettempdir(), timeout=120
            )
            samples[argv].append(time.perf_counter() - t0)
            exits[argv] = proc.returncode
    return [
        {
            "command": " ".join(["orch", *argv]),
            "n": repeats,
            "exit_code": exits[argv],
            **_ms_summary(samples[argv]),
        }
        for argv in _COLD_COMMANDS
    ]


def _ms_summary(samples: list[float]) -> dict[str, float]:
    stats = summarize(samples, scale=1e3)
    return {"median_ms": stats["median"], "p95_ms": stats["p95"]}


def _footprint_once(name: str, pattern: str, timeout: float) -> tuple[dict[str, Any], str | None]:
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(_ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    )
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _FOOTPRINT, name, pattern],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=tempfile.gettempdir(),
        )
    except subprocess.TimeoutExpired:
        return {}, f"timed out after {timeout} s"
    process_ms = _ms(time.perf_counter() - t0)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {}, f"exit {proc.returncode}: {tail}"
    sample: dict[str, Any] = json.loads(lines[-1])
    if sample["status"] != "completed":
        return {}, f"first flow {sample['status']}: {sample['error']}"
    sample["process_ms"] = process_ms
    return sample, None
