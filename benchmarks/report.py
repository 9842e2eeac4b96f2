"""The report: Markdown and one PNG chart per measure, generated from a result JSON alone.

Nothing here measures or computes a result: every number in `report.md` is a
value of the JSON passed through `fmt` (the test checks it, and regenerates
the report from a JSON whose numbers were all replaced to prove no number is
typed into the template). Charts use matplotlib's Agg backend.

    python -m benchmarks.report benchmarks/results/latest.json
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["NUMBER", "fmt", "render_markdown", "write_report"]

#: A number as it appears in the report (and in the JSON's strings): digits with
#: inner separators, not glued to a word ("p95", "x86_64" are not numbers).
NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,:\-]\d+)*")

_LABELS = {
    "asyncio": "asyncio (floor)",
    "langgraph_bare": "LangGraph, bare graph (no-op nodes)",
    "langgraph_graph": "LangGraph, pattern graph only",
    "langgraph": "LangGraph (adapter)",
    "langgraph_grouped": "LangGraph (adapter), batches_per_task = concurrency",
    "autogen": "AutoGen",
    "crewai": "CrewAI",
    "semantic_kernel": "Semantic Kernel",
}
#: The bare graph of the parallel measure waits in its branches: the same candidate, another shape.
_BARE_FAN_OUT = "LangGraph, bare graph (branches that only wait)"
#: The multiplication sign of ratios and the dash of an empty cell (written as escapes for the linter).
TIMES, DASH = "\u00d7", "\u2013"

_PACKAGES = {
    "langgraph": "langgraph",
    "autogen": "autogen-agentchat",
    "crewai": "crewai",
    "semantic_kernel": "semantic-kernel",
}


def fmt(value: Any) -> str:
    """How every number is written in the report: three significant figures, thousands separated."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        magnitude = abs(value)
        if magnitude >= 100:
            return f"{value:,.0f}"
        if magnitude >= 10:
            return f"{value:.1f}"
        if magnitude >= 1:
            return f"{value:.2f}"
        return f"{value:.3f}"
    return _text(str(value))


def _text(value: str, limit: int = 160) -> str:
    """Table-safe text, cut at a word boundary so no number is ever cut in half."""
    words = value.replace("|", "/").split()
    out: list[str] = []
    for word in words:
        if sum(len(w) + 1 for w in out) + len(word) > limit:
            out.append("…")
            break
        out.append(word)
    return " ".join(out)


def _label(candidate: str) -> str:
    return _LABELS.get(candidate, candidate)


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += [
        "| " + " | ".join(fmt(c) if not isinstance(c, _Raw) else c.text for c in row) + " |" for row in rows
    ]
    return [*lines, ""]


class _Raw:
    """A cell already written (a label or a word), not a value to format."""

    def __init__(self, text: str) -> None:
        self.text = text


def _ok(row: dict[str, Any]) -> bool:
    return row.get("status") == "ok"


def _status_cell(row: dict[str, Any]) -> Any:
    return _Raw("ok") if _ok(row) else row.get("error") or row.get("status")


# -- sections -------------------------------------------------------------------

_INTRO = {
    "overhead": (
        "Orchestration overhead",
        "Each pattern's sample flow on the zero-latency scripted model, every candidate interleaved round by "
        "round after warm-up. Per agent step is the flow time divided by the flow's model calls. Ratios are "
        "medians of this run against the asyncio floor (same agent work, no framework), against a bare "
        "LangGraph graph of the same supersteps with no-op nodes, and against the pattern graph invoked "
        "directly (`graph.ainvoke`, no runner, no checkpointer, a new context per run): the last is what the "
        "runner adds (step records from LangGraph's tasks stream, usage, input and output validation). That "
        "ratio is also measured paired: the LangGraph adapter and the pattern graph alone, back to back in "
        "alternating order, the median of the rounds' ratios (steadier than a ratio of medians taken beside "
        "every framework).",
    ),
    "parallel": (
        "Parallel efficiency",
        "Simulated latency on the fan-out agents only (researchers, mappers), so the ideal is exact: one latency "
        "for scatter-gather, one latency per wave of concurrent batches for map-reduce. Efficiency is wall "
        "time over ideal: lower is better, the ideal is one. The bare LangGraph graph has the same fan-out "
        "with branches that only wait (LangGraph's own cost of that many tasks); LangGraph's map-reduce "
        "is also run with `batches_per_task` set to the concurrency, one task per wave of batches.",
    ),
    "throughput": (
        "Throughput",
        "Flows per second with N flows started at once on one event loop, zero-latency model.",
    ),
    "scaling_branches": (
        "Scaling with branches",
        "Map-reduce with one item per branch and no concurrency bound, zero latency; overhead is the "
        "candidate's median minus the floor's.",
    ),
    "scaling_state": (
        "Scaling with state size",
        "Map-reduce over reviews padded with neutral words to the given input size; the model's own work grows "
        "with the text for every candidate alike, so the overhead over the floor is what the framework adds.",
    ),
    "checkpoint": (
        "Checkpoint cost",
        "The LangGraph pattern graph with each checkpointer and durability mode, interleaved; cost per "
        "superstep is the extra time over the same graph without a checkpointer. Settings, as `orch run` "
        "opens them (`patterns.runtime.open_checkpointer`): SQLite in WAL mode with `synchronous=NORMAL` on "
        "one connection, where a commit is in the WAL (the OS's cache) when it returns, so it survives a "
        "process kill and only power loss can drop the last ones (FULL would fsync every write); "
        "PostgreSQL through a psycopg pool, autocommit, with the server's `fsync` and `synchronous_commit` "
        "on (a run that holds its thread writes through the lock's one connection instead). `sync` saves "
        "each superstep before the next starts: what the promise that a killed run never redoes a step "
        "reported done rests on; `async` saves in the background (a kill can lose the last steps); `exit` "
        "saves only the end.",
    ),
    "wire": (
        "Wire cost",
        "Each framework drives its own OpenAI client against the scripted model's HTTP server; requests and "
        "tokens are summed from the server's request log. The floor row is the minimum: the same flow's calls "
        "counted in-process by the same token counter.",
    ),
    "footprint": (
        "Footprint",
        "A fresh interpreter per candidate: import time of the core packages and of the framework, the first "
        "flow (one-time warm-up included) and a second one, and peak resident memory.",
    ),
    "resilience": (
        "Resilience under faults",
        "Transient faults (timeouts, rate limits, server errors, malformed replies in equal shares) injected "
        "at the given rate, decided from a hash of the prompt and a seed per run. Correct means the output "
        "equals the fault-free output; extra calls are model requests beyond the fault-free run's.",
    ),
    "distributed": (
        "Distributed workers",
        "Real `orch worker` processes (Celery, solo pool: one flow at a time each) on the real RabbitMQ, with "
        "checkpoints and the runs table in the real PostgreSQL; every scenario on a queue layout and a database "
        "of its own, deleted afterwards. Throughput: the flows are queued while the workers are paused, then "
        "released together; flows per second count from the release to the last finish. Enqueue-to-start, "
        "enqueue-to-finish and overhead (a run's wall, finish minus first claim, minus the model latency its "
        "supersteps wait) come from the runs table's timestamps; duplicates (a model call of a saved superstep "
        "made again) from the workers' call logs; forks (two checkpoints with the same parent in a thread's "
        "main namespace) from the checkpoints table. Both must be zero.",
    ),
}


def _overhead(m: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for pattern in _unique(r["pattern"] for r in m["rows"]):
        rows = [r for r in m["rows"] if r["pattern"] == pattern]
        first = next((r for r in rows if _ok(r)), rows[0])
        lines.append(
            f"**{pattern}**: {fmt(first.get('agent_steps'))} agent steps, {fmt(first.get('supersteps'))} "
            f"supersteps, {fmt(first.get('tasks'))} tasks."
        )
        lines.append("")
        lines += _table(
            [
                "candidate",
                "runs",
                "median ms",
                "p95 ms",
                "per step median µs",
                "per step p95 µs",
                f"{TIMES} floor",
                f"{TIMES} bare LangGraph",
                f"{TIMES} pattern graph",
                "status",
            ],
            (
                [
                    _Raw(_label(r["candidate"])),
                    r.get("n"),
                    r.get("median_ms"),
                    r.get("p95_ms"),
                    r.get("per_step_median_us"),
                    r.get("per_step_p95_us"),
                    r.get("ratio_to_floor"),
                    r.get("ratio_to_bare_langgraph"),
                    r.get("ratio_to_pattern_graph"),
                    _status_cell(r),
                ]
                for r in rows
            ),
        )
        paired = next((r for r in rows if r.get("paired_ratio_to_pattern_graph") is not None), None)
        if paired is not None:
            lines += [
                f"Paired, {_label(paired['candidate'])} against the pattern graph in "
                f"{fmt(paired['paired_rounds'])} rounds of the two alone: median of the rounds' ratios "
                f"{fmt(paired['paired_ratio_to_pattern_graph'])}{TIMES}.",
                "",
            ]
    return lines


def _parallel(m: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for scenario in _unique(r["scenario"] for r in m["rows"]):
        rows = [r for r in m["rows"] if r["scenario"] == scenario]
        first = next((r for r in rows if "ideal_ms" in r), rows[0])
        lines.append(
            f"**{scenario}**: {fmt(first.get('branches'))} branches, concurrency {fmt(first.get('concurrency'))}, "
            f"{fmt(first.get('latency_ms'))} ms per fan-out call; ideal {fmt(first.get('ideal_ms'))} ms."
        )
        lines.append("")
        lines += _table(
            [
                "candidate",
                "runs",
                "median ms",
                "p95 ms",
                "wall / ideal",
                f"{TIMES} floor",
                f"{TIMES} bare LangGraph",
                "status",
            ],
            (
                [
                    _Raw(_label(r["candidate"]) if r["candidate"] != "langgraph_bare" else _BARE_FAN_OUT),
                    r.get("n"),
                    r.get("median_ms"),
                    r.get("p95_ms"),
                    r.get("efficiency"),
                    r.get("ratio_to_floor"),
                    r.get("ratio_to_bare_langgraph"),
                    _status_cell(r),
                ]
                for r in rows
            ),
        )
    return lines


def _throughput(m: dict[str, Any]) -> list[str]:
    return _table(
        [
            "pattern",
            "concurrent flows",
            "candidate",
            "runs",
            "median ms",
            "flows/s",
            f"{TIMES} floor",
            "status",
        ],
        (
            [
                _Raw(str(r["pattern"])),
                r.get("concurrency"),
                _Raw(_label(r["candidate"])),
                r.get("n"),
                r.get("median_ms"),
                r.get("flows_per_s"),
                r.get("ratio_to_floor"),
                _status_cell(r),
            ]
            for r in m["rows"]
        ),
    )


def _scaling_branches(m: dict[str, Any]) -> list[str]:
    return _table(
        [
            "branches",
            "candidate",
            "runs",
            "median ms",
            "p95 ms",
            "per branch µs",
            "overhead ms",
            f"{TIMES} floor",
            "status",
        ],
        (
            [
                r.get("branches"),
                _Raw(_label(r["candidate"])),
                r.get("n"),
                r.get("median_ms"),
                r.get("p95_ms"),
                r.get("per_branch_us"),
                r.get("overhead_ms"),
                r.get("ratio_to_floor"),
                _status_cell(r),
            ]
            for r in m["rows"]
        ),
    )


def _scaling_state(m: dict[str, Any]) -> list[str]:
    return _table(
        [
            "input bytes",
            "items",
            "candidate",
            "runs",
            "median ms",
            "p95 ms",
            "overhead ms",
            f"{TIMES} floor",
            "status",
        ],
        (
            [
                r.get("state_bytes"),
                r.get("items"),
                _Raw(_label(r["candidate"])),
                r.get("n"),
                r.get("median_ms"),
                r.get("p95_ms"),
                r.get("overhead_ms"),
                r.get("ratio_to_floor"),
                _status_cell(r),
            ]
            for r in m["rows"]
        ),
    )


def _checkpoint(m: dict[str, Any]) -> list[str]:
    lines = [
        f"Framework: {m.get('framework')}. PostgreSQL at `{m.get('postgres_url')}`. Not applicable to: "
        f"{', '.join(_label(f) for f in m.get('not_applicable', [])) or 'none'} (no per-step checkpointer to "
        "compare).",
        "",
    ]
    return lines + _table(
        [
            "pattern",
            "saver",
            "durability",
            "runs",
            "median ms",
            "p95 ms",
            "per superstep µs",
            "cost per superstep µs",
            f"{TIMES} no checkpointer",
            "status",
        ],
        (
            [
                _Raw(str(r.get("pattern"))),
                _Raw(str(r.get("saver"))),
                _Raw(str(r.get("durability", DASH))),
                r.get("n"),
                r.get("median_ms"),
                r.get("p95_ms"),
                r.get("per_superstep_us"),
                r.get("cost_per_superstep_us"),
                r.get("ratio_to_none"),
                _status_cell(r),
            ]
            for r in m["rows"]
        ),
    )


def _wire(m: dict[str, Any]) -> list[str]:
    return _table(
        [
            "pattern",
            "candidate",
            "via",
            "requests",
            "ok",
            "prompt tokens",
            "completion tokens",
            f"tokens {TIMES} floor",
            "messages per request",
            "with tools",
            "streamed",
            "status",
        ],
        (
            [
                _Raw(str(r.get("pattern"))),
                _Raw(_label(r["candidate"])),
                _Raw(str(r.get("via", DASH))),
                r.get("requests"),
                r.get("ok_requests"),
                r.get("prompt_tokens"),
                r.get("completion_tokens"),
                r.get("tokens_vs_floor"),
                r.get("mean_messages"),
                r.get("requests_with_tools"),
                r.get("streamed_requests"),
                _status_cell(r),
            ]
            for r in sorted(m["rows"], key=lambda r: str(r.get("pattern")))
        ),
    )


def _footprint(m: dict[str, Any]) -> list[str]:
    lines = _footprint_table(m)
    if m.get("cold_start"):
        lines += [
            "",
            "**Cold start of `orch`**: a fresh process per command, as a user types it; `orch` loads no "
            "framework until a command needs one, so compare these with the framework import times above.",
            "",
        ]
        lines += _table(
            ["command", "runs", "median ms", "p95 ms", "exit code"],
            (
                [
                    _Raw(f"`{r['command']}`"),
                    r.get("n"),
                    r.get("median_ms"),
                    r.get("p95_ms"),
                    r.get("exit_code"),
                ]
                for r in m["cold_start"]
            ),
        )
    return lines


def _footprint_table(m: dict[str, Any]) -> list[str]:
    return _table(
        [
            "candidate",
            "flow",
            "runs",
            "core import ms",
            "framework import ms",
            "first flow ms",
            "second flow ms",
            "process ms",
            "peak RSS MB",
            "status",
        ],
        (
            [
                _Raw(_label(r["candidate"])),
                _Raw(str(r.get("pattern"))),
                r.get("n"),
                r.get("base_import_ms"),
                r.get("framework_import_ms"),
                r.get("first_flow_ms"),
                r.get("second_flow_ms"),
                r.get("process_ms"),
                r.get("peak_rss_mb"),
                _status_cell(r),
            ]
            for r in m["rows"]
        ),
    )


def _config_label(m: dict[str, Any], config: Any) -> str:
    return str(m.get("configs", {}).get(config, {}).get("label", config)) if config else DASH


def _resilience(m: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    configs = m.get("configs", {})
    if configs:
        lines += [
            "Each framework is measured in these configurations (the table's configuration column):",
            "",
        ]
        for entry in configs.values():
            lines.append(f"- **{_text(str(entry['label']))}**: {_text(str(entry['description']), 400)}.")
            for name, how in entry.get("frameworks", {}).items():
                lines.append(f"  - {_label(name)}: {_text(str(how), 400)}.")
        lines.append("")
    return lines + _table(
        [
            "pattern",
            "candidate",
            "configuration",
            "fault rate",
            "runs",
            "completed",
            "completion rate",
            "correct rate",
            "fault-free calls",
            "mean calls",
            "extra calls per run",
            "status",
        ],
        (
            [
                _Raw(str(r.get("pattern"))),
                _Raw(_label(r["candidate"])),
                _Raw(_config_label(m, r.get("config"))),
                r.get("fault_rate"),
                r.get("runs"),
                r.get("completed"),
                r.get("completion_rate"),
                r.get("correct_rate"),
                r.get("fault_free_calls"),
                r.get("mean_calls"),
                r.get("extra_calls_per_run"),
                _status_cell(r),
            ]
            for r in m["rows"]
        ),
    )


def _distributed(m: dict[str, Any]) -> list[str]:
    recovery, pressure = m.get("recovery") or {}, m.get("backpressure") or {}
    lines = [
        f"Flows: `{m.get('pattern')}` on the scripted model, {fmt(m.get('calls_per_flow'))} sequential model calls "
        f"of {fmt(m.get('latency_ms'))} ms each, so {fmt(m.get('model_latency_ms'))} ms of model latency per flow; "
        f"{_text(str(m.get('pool')))} pool; broker {_text(str(m.get('broker')))}. Over every scenario: "
        f"**{fmt(m.get('duplicates'))} duplicates, {fmt(m.get('forks'))} forks**.",
        "",
        "### Throughput",
        "",
        "The latency bound is workers / model latency per flow: every worker waiting on the model all the time. "
        "Submits/s: the one submitter queueing the flows (a transaction and a confirmed publish each). Load: "
        "the machine's one-minute load average before the flows were queued and once they had run.",
        "",
    ]
    lines += _table(
        [
            "workers",
            "flows queued",
            "completed",
            "flows/s",
            "latency bound flows/s",
            "wall s",
            "enqueue-to-start p50 ms",
            "p95 ms",
            "overhead p50 ms",
            "p95 ms",
            "redelivered",
            "duplicates",
            "forks",
            "outputs checked",
            "differing",
            "submits/s",
            "load before",
            "load after",
        ],
        (
            [
                r.get("workers"),
                r.get("flows"),
                r.get("completed"),
                r.get("flows_per_s"),
                r.get("latency_bound_flows_per_s"),
                r.get("wall_s"),
                r.get("enqueue_to_start_p50_ms"),
                r.get("enqueue_to_start_p95_ms"),
                r.get("overhead_p50_ms"),
                r.get("overhead_p95_ms"),
                r.get("redelivered"),
                r.get("duplicates"),
                r.get("forks"),
                r.get("outputs_checked"),
                r.get("outputs_differing"),
                r.get("submits_per_s"),
                r.get("load_before"),
                r.get("load_after"),
            ]
            for r in m["rows"]
        ),
    )
    lines += [
        "### Dispatch at idle",
        "",
        "The same workers before the load: one flow in flight at a time.",
        "",
    ]
    lines += _table(
        ["workers", "flows", "completed", "enqueue-to-start p50 ms", "p95 ms", "overhead p50 ms", "p95 ms"],
        (
            [
                r.get("workers"),
                r.get("flows"),
                r.get("completed"),
                r.get("enqueue_to_start_p50_ms"),
                r.get("enqueue_to_start_p95_ms"),
                r.get("overhead_p50_ms"),
                r.get("overhead_p95_ms"),
            ]
            for r in m.get("idle", [])
        ),
    )
    lines += [
        "### Recovery after a SIGKILL",
        "",
        f"{fmt(recovery.get('workers'))} workers; each kill freezes the worker running a flow once the flow's "
        "checkpoint holds a saved agent step, reads that step, and SIGKILLs the worker's process group; a "
        "replacement is started before the next kill. Reclaimed: until another worker claimed the flow (RabbitMQ "
        "redelivers the unacknowledged message when the dead worker's connection drops). Calls redone: calls of "
        "the killed flow made by both workers (the superstep in flight); duplicates: those of saved supersteps. "
        f"Of {fmt(recovery.get('flows'))} flows, {fmt(recovery.get('completed'))} completed; outputs compared "
        f"with in-process runs: {fmt(recovery.get('outputs_checked'))}, differing: "
        f"{fmt(recovery.get('outputs_differing'))}. Reclaimed p50 {fmt(recovery.get('reclaimed_p50_ms'))} ms, "
        f"max {fmt(recovery.get('reclaimed_max_ms'))} ms; calls redone per kill "
        f"{fmt(recovery.get('calls_redone_per_kill'))}; duplicates {fmt(recovery.get('duplicates'))}; forks "
        f"{fmt(recovery.get('forks'))}.",
        "",
    ]
    lines += _table(
        [
            "kill",
            "saved step",
            "calls before the kill",
            "reclaimed s",
            "finished s",
            "delivery",
            "calls redone",
            "duplicates",
            "status",
        ],
        (
            [
                k.get("kill"),
                k.get("saved_step"),
                k.get("calls_before_kill"),
                k.get("reclaimed_s"),
                k.get("finished_s"),
                k.get("attempts"),
                k.get("calls_redone"),
                k.get("duplicates"),
                _Raw(_text(str(k.get("status")))),
            ]
            for k in recovery.get("kills", [])
        ),
    )
    lines += [
        "### Backpressure at twice the bound",
        "",
        "A burst of twice the partition's bound (`x-max-length`, `reject-publish`, publisher confirms) while one "
        "worker drains it: a refused submit raises `Overloaded` and records nothing; the depth is the broker's "
        "count of ready messages after each submit.",
        "",
    ]
    lines += _table(
        [
            "bound",
            "offered",
            "accepted",
            "rejected",
            "rejected but recorded",
            "completed",
            "lost",
            "max depth",
        ],
        [
            [
                pressure.get("bound"),
                pressure.get("offered"),
                pressure.get("accepted"),
                pressure.get("rejected"),
                pressure.get("rejected_but_recorded"),
                pressure.get("completed"),
                pressure.get("lost"),
                pressure.get("max_depth"),
            ]
        ],
    )
    lines += [
        "### One tenant floods",
        "",
        "Tenants hash to partitions; every worker consumes every partition. The flooding tenant submits its "
        "burst, then the others submit a steady trickle; one of them shares the flood's partition.",
        "",
    ]
    lines += _table(
        [
            "tenant",
            "role",
            "partition",
            "flows",
            "completed",
            "enqueue-to-finish p50 ms",
            "p99 ms",
            "enqueue-to-start p95 ms",
        ],
        (
            [
                _Raw(_text(str(t.get("tenant")))),
                _Raw(_text(str(t.get("role")))),
                t.get("partition"),
                t.get("flows"),
                t.get("completed"),
                t.get("enqueue_to_finish_p50_ms"),
                t.get("enqueue_to_finish_p99_ms"),
                t.get("enqueue_to_start_p95_ms"),
            ]
            for t in m.get("tenants", [])
        ),
    )
    return lines


_SECTIONS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "overhead": _overhead,
    "parallel": _parallel,
    "throughput": _throughput,
    "scaling_branches": _scaling_branches,
    "scaling_state": _scaling_state,
    "checkpoint": _checkpoint,
    "wire": _wire,
    "footprint": _footprint,
    "resilience": _resilience,
    "distributed": _distributed,
}


def _unique(values: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


def _flows_intro(run: dict[str, Any]) -> list[str]:
    """For `orch bench --flow`: which declared flow, whose answers, and what is left out."""
    flows = run.get("flows") or {}
    if not flows:
        return []
    named = ", ".join(
        f"`{label}` (a {entry['pattern']} flow: {_text(str(entry['summary']))})"
        for label, entry in flows.items()
    )
    responders = f"`{run['responders']}`" if run.get("responders") else "the presets' responders"
    return [
        f"Declared flow {named}, answered by {responders}. The asyncio floor runs the presets' tables only, "
        f"so it is left out: outputs are compared with the {_label(str(run.get('reference')))} run, and no "
        "ratio to the floor is given.",
        "",
    ]


def render_markdown(doc: dict[str, Any], charts: dict[str, str]) -> str:
    run, env = doc["run"], doc["environment"]
    lines = [
        "# Framework benchmark report",
        "",
        f"Profile **{run['profile']}**, started {run['started']}, finished {run.get('finished')}, "
        f"wall {fmt(run.get('wall_s'))} s. Machine: {env.get('cpu_model')}, {fmt(env.get('cpu_count'))} CPUs, "
        f"{fmt(env.get('memory_gb'))} GB, {env.get('platform')}, host `{env.get('hostname')}`. "
        f"Python {env.get('python')} ({env.get('implementation')}). Commit `{env.get('git_commit')}`.",
        "",
        *_flows_intro(run),
        f"Patterns: {', '.join(run['patterns'])}. Candidates: "
        f"{', '.join(_label(f) for f in [run['floor'], *run['frameworks']] if f)}. "
        f"Seed {fmt(doc['profile']['seed'])}; warm-up rounds "
        f"{fmt(doc['profile']['warmup'])}, timed rounds up to {fmt(doc['profile']['repeats'])}; a candidate "
        f"stops earlier once it has spent its time budget of {fmt(doc['profile']['budget_s'])} s with at least "
        f"{fmt(doc['profile']['min_repeats'])} timed runs, and one whose single run outlasts the budget is warmed "
        "up once and stops after three budgets with at least one timed run. The runs column says how many.",
        "",
        *(
            [
                f"Past the profile's deadline of {fmt(doc['profile'].get('deadline_s'))} s these ran once per "
                f"candidate instead of repeatedly (their numbers are single runs): {', '.join(run['reduced'])}.",
                "",
            ]
            if run.get("reduced")
            else []
        ),
        "## Frameworks",
        "",
    ]
    lines += _table(
        ["candidate", "package version", "adapter import ms", "status"],
        (
            [
                _Raw(_label(name)),
                env["packages"].get(_PACKAGES.get(name, ""), None),
                entry.get("import_ms"),
                _Raw(entry["status"])
                if entry["status"] == "ok"
                else f"{entry['status']}: {entry.get('error')}",
            ]
            for name, entry in doc["frameworks"].items()
        ),
    )
    lines += ["Package versions: " + ", ".join(f"{k} {v}" for k, v in env["packages"].items() if v) + ".", ""]
    reference = doc["equivalence"].get("reference", "asyncio")
    same_key = f"same_output_as_{'floor' if reference == 'asyncio' else reference}"
    lines += [
        "## Same work on every framework",
        "",
        "Before timing, each pattern runs once per candidate (the warm-up); its output is compared with the "
        f"{_label(reference)}'s. A candidate that fails or differs is left out of that pattern's timings.",
        "",
    ]
    lines += _table(
        [
            "pattern",
            "candidate",
            "model calls",
            "first run ms",
            f"same output as {'floor' if reference == 'asyncio' else _label(reference)}",
            "status",
        ],
        (
            [
                _Raw(str(r["pattern"])),
                _Raw(_label(r["candidate"])),
                r.get("calls"),
                r.get("first_run_ms"),
                r.get(same_key),
                _status_cell(r),
            ]
            for r in doc["equivalence"]["rows"]
        ),
    )
    for name, measure in doc["measures"].items():
        title, intro = _INTRO.get(name, (name, ""))
        lines += [f"## {title}", "", intro, ""]
        if measure.get("status") != "ok":
            lines += [f"Measure failed: {fmt(measure.get('error'))}", ""]
            continue
        if name in charts:
            lines += [f"![{title}]({charts[name]})", ""]
        section = _SECTIONS.get(name)
        lines += section(measure) if section else []
        lines += [f"Measured in {fmt(measure.get('wall_s'))} s.", ""]
    return "\n".join(lines).rstrip() + "\n"


# -- charts ---------------------------------------------------------------------


def _grouped_bars(ax: Any, groups: list[str], series: dict[str, dict[str, float]], ylabel: str) -> None:
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        ax.bar(xs, [values.get(g, 0.0) or 0.0 for g in groups], width, label=_label(name))
    ax.set_xticks(range(len(groups)), groups, rotation=20, ha="right")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small")


def _plain_log(ax: Any) -> None:
    """Log axes labelled 1, 10, 100 rather than powers of ten."""
    from matplotlib import ticker

    for axis in (ax.xaxis, ax.yaxis):
        if axis.get_scale() == "log":
            axis.set_major_formatter(ticker.FuncFormatter(lambda v, _pos: f"{v:g}"))
            axis.set_minor_formatter(ticker.NullFormatter())


def _series(rows: list[dict[str, Any]], group: str, value: str) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for r in rows:
        if _ok(r) and r.get(value) is not None:
            out.setdefault(r["candidate"], {})[str(r[group])] = float(r[value])
    return out


def _chart(name: str, measure: dict[str, Any], ax: Any) -> bool:
    rows = measure.get("rows", [])
    s: dict[str, dict[str, float]] = {}
    if name == "overhead":
        s = _series(rows, "pattern", "ratio_to_floor")
        against = "asyncio floor"
        if not s:  # a declared flow has no floor: against the bare LangGraph graph
            s, against = _series(rows, "pattern", "ratio_to_bare_langgraph"), "bare LangGraph graph"
        groups = _unique(str(r["pattern"]) for r in rows)
        _grouped_bars(ax, groups, s, f"median flow time {TIMES} {against} (log)")
        ax.set_yscale("log")
        _plain_log(ax)
    elif name == "parallel":
        _grouped_bars(
            ax,
            _unique(str(r["scenario"]) for r in rows),
            _series(rows, "scenario", "efficiency"),
            "wall / ideal (ideal = one)",
        )
    elif name in ("throughput", "scaling_branches", "scaling_state"):
        x, y, xl, yl = {
            "throughput": ("concurrency", "flows_per_s", "concurrent flows", "flows per second"),
            "scaling_branches": ("branches", "median_ms", "branches", "median flow time, ms"),
            "scaling_state": ("state_bytes", "median_ms", "input size, bytes", "median flow time, ms"),
        }[name]
        for candidate in _unique(r["candidate"] for r in rows):
            points = sorted((r[x], r[y]) for r in rows if r["candidate"] == candidate and _ok(r) and r.get(y))
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=_label(candidate))
        ax.set_xscale("log")
        ax.set_yscale("log")
        _plain_log(ax)
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.legend(fontsize="small")
    elif name == "checkpoint":
        for r in rows:
            if _ok(r) and r.get("per_superstep_us") is not None:
                s.setdefault(str(r["pattern"]), {})[f"{r['saver']}/{r['durability']}"] = float(
                    r["per_superstep_us"]
                )
        _grouped_bars(
            ax,
            _unique(f"{r['saver']}/{r.get('durability')}" for r in rows if _ok(r)),
            s,
            "time per superstep, µs",
        )
    elif name == "wire":
        _grouped_bars(
            ax,
            _unique(str(r["pattern"]) for r in rows if _ok(r)),
            _series(
                [
                    {**r, "tokens": (r.get("prompt_tokens") or 0) + (r.get("completion_tokens") or 0)}
                    for r in rows
                ],
                "pattern",
                "tokens",
            ),
            "prompt + completion tokens per flow",
        )
    elif name == "footprint":
        ok = [r for r in rows if _ok(r)]
        labels = [_label(r["candidate"]) for r in ok]
        left = [0.0] * len(ok)
        for key, legend in (
            ("base_import_ms", "core import (patterns, adapters, LangGraph)"),
            ("framework_import_ms", "framework import"),
            ("first_flow_ms", "first flow"),
        ):
            widths = [float(r[key]) for r in ok]
            ax.barh(labels, widths, left=left, label=legend)
            left = [a + b for a, b in zip(left, widths, strict=True)]
        ax.set_xlabel("ms from a fresh interpreter (bar labels: peak RSS)")
        for i, r in enumerate(ok):
            ax.annotate(f" {r['peak_rss_mb']:.0f} MB", (left[i], i), fontsize="small", va="center")
        ax.legend(fontsize="small")
    elif name == "resilience":
        for r in rows:
            if _ok(r):
                series = _label(r["candidate"])
                if r.get("config"):
                    series += f", {_config_label(measure, r['config'])}"
                s.setdefault(series, {})[f"{r['pattern']} @ {r['fault_rate']:.0%}"] = r["completion_rate"]
        _grouped_bars(
            ax,
            _unique(f"{r['pattern']} @ {r['fault_rate']:.0%}" for r in rows if _ok(r)),
            s,
            "completion rate",
        )
    elif name == "distributed":
        _distributed_chart(measure, ax)
    else:
        return False
    return True


def _distributed_chart(measure: dict[str, Any], ax: Any) -> None:
    """Left: flows/s per worker count against the latency bound; right: each tenant's p99 while one floods."""
    rows = sorted((r for r in measure.get("rows", []) if _ok(r)), key=lambda r: r["workers"])
    fig = ax.get_figure()
    grid = fig.add_gridspec(1, 2)
    ax.set_subplotspec(grid[0])
    workers = [r["workers"] for r in rows]
    ax.plot(workers, [r["flows_per_s"] for r in rows], marker="o", label="measured")
    ax.plot(workers, [r["latency_bound_flows_per_s"] for r in rows], linestyle="--", label="latency bound")
    ax.set_xticks(workers)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("worker processes")
    ax.set_ylabel("flows per second")
    ax.legend(fontsize="small")
    right = fig.add_subplot(grid[1])
    tenants = measure.get("tenants", [])
    labels = [f"{t['tenant']}\n({t['role']}, p{t['partition']})" for t in tenants]
    right.bar(labels, [(t.get("enqueue_to_finish_p99_ms") or 0.0) / 1000.0 for t in tenants])
    right.set_ylabel("enqueue-to-finish p99, s")
    right.set_title("one tenant floods", fontsize="medium")
    right.tick_params(axis="x", labelsize="small")


def write_charts(doc: dict[str, Any], out: Path) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    charts = {}
    for name, measure in doc["measures"].items():
        if measure.get("status") != "ok" or not measure.get("rows"):
            continue
        fig, ax = plt.subplots(figsize=(10, 5.5))
        try:
            drawn = _chart(name, measure, ax)
            if drawn:
                ax.set_title(f"{_INTRO.get(name, (name,))[0]} ({doc['run']['profile']} profile)")
                fig.tight_layout()
                fig.savefig(out / f"{name}.png", dpi=90)
                charts[name] = f"{name}.png"
        finally:
            plt.close(fig)
    return charts


def write_report(json_path: Path, out: Path | None = None) -> Path:
    """Read `json_path`, write `report.md` and the charts next to it (or into `out`); return the report path."""
    doc = json.loads(Path(json_path).read_text(encoding="utf-8"))
    out = out or Path(json_path).parent
    out.mkdir(parents=True, exist_ok=True)
    charts = write_charts(doc, out)
    report = out / "report.md"
    report.write_text(render_markdown(doc, charts), encoding="utf-8")
    return report


if __name__ == "__main__":
    print(write_report(Path(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results/latest.json")))
