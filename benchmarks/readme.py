"""The README's measured tables, generated from the committed benchmark results.

The README quotes two things a reader choosing a framework looks for first: a
summary per framework, and what each framework really sends the model. Both are
rendered here from `benchmarks/results/latest.json` (the full run) between
marker comments, never typed in; `tests/test_readme_tables.py` fails when the
README and the results disagree.

    python -m benchmarks.readme            # rewrite the tables in README.md
    python -m benchmarks.readme --check    # exit 1 if README.md is out of date
    python -m benchmarks.readme --distributed   # print the distributed workers' table

The distributed measure is committed apart (`benchmarks/results/distributed/latest.json`,
`orch bench --measures distributed`); `render_distributed` renders its README table,
the `<!-- distributed-bench:start -->` block.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path
from typing import Any

from benchmarks.report import DASH, TIMES, fmt

__all__ = [
    "DISTRIBUTED_RESULTS",
    "RESULTS",
    "README",
    "committed_distributed",
    "render_blocks",
    "render_distributed",
    "update",
]

_ROOT = Path(__file__).resolve().parents[1]
RESULTS = _ROOT / "benchmarks" / "results" / "latest.json"
DISTRIBUTED_RESULTS = _ROOT / "benchmarks" / "results" / "distributed" / "latest.json"
README = _ROOT / "README.md"

_NAMES = {
    "langgraph": "LangGraph",
    "autogen": "AutoGen",
    "crewai": "CrewAI",
    "semantic_kernel": "Semantic Kernel",
}


def _block(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- {name}:start -->\n)(.*?)(<!-- {name}:end -->)", re.DOTALL)


def _frameworks(doc: dict[str, Any]) -> list[str]:
    return [f for f in doc["run"]["frameworks"] if f in _NAMES]


def _rows(doc: dict[str, Any], measure: str) -> list[dict[str, Any]]:
    return [r for r in doc["measures"].get(measure, {}).get("rows", []) if r.get("status") == "ok"]


def _find(rows: list[dict[str, Any]], **match: Any) -> dict[str, Any] | None:
    return next((r for r in rows if all(r.get(k) == v for k, v in match.items())), None)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _summary(doc: dict[str, Any]) -> str:
    env, frameworks = doc["environment"], _frameworks(doc)
    overhead, parallel = _rows(doc, "overhead"), _rows(doc, "parallel")
    throughput, footprint, resilience = (
        _rows(doc, "throughput"),
        _rows(doc, "footprint"),
        _rows(doc, "resilience"),
    )
    top = max((r["concurrency"] for r in throughput), default=None)
    worst = max((r["fault_rate"] for r in resilience), default=None)

    def per_step(f: str) -> str:
        rows = [r for r in overhead if r["candidate"] == f]
        if not rows:
            return DASH
        micros = statistics.median(r["per_step_median_us"] for r in rows)
        ratio = statistics.median(r["ratio_to_floor"] for r in rows)
        return f"{fmt(micros)} ({fmt(ratio)}{TIMES})"

    def efficiency(f: str, scenario: str) -> str:
        row = _find(parallel, candidate=f, scenario=scenario)
        cell = f"{fmt(row['efficiency'])}{TIMES}" if row else DASH
        # LangGraph's map-reduce is also measured with `batches_per_task` = the concurrency.
        grouped = _find(parallel, candidate=f"{f}_grouped", scenario=scenario)
        if grouped is not None:
            cell += f" ({fmt(grouped['efficiency'])}{TIMES} with `batches_per_task`)"
        return cell

    def flows(f: str) -> str:
        row = _find(throughput, candidate=f, concurrency=top)
        return fmt(row["flows_per_s"]) if row else DASH

    # One column per resilience configuration, labelled; a run from before configurations
    # (no "configs") has the in-process one only, under its old header.
    configs = doc["measures"].get("resilience", {}).get("configs") or {}

    def completed(f: str, config: str = "in_process") -> str:
        rates = [
            r["completion_rate"]
            for r in resilience
            if r["candidate"] == f and r["fault_rate"] == worst and r.get("config", "in_process") == config
        ]
        return f"{fmt(100 * statistics.mean(rates))} %" if rates else DASH

    faults = f"flows completed at {fmt(100 * worst) if worst is not None else '?'} % transient faults"

    def cold(f: str) -> str:
        row = _find(footprint, candidate=f)
        return fmt(row["base_import_ms"] + row["framework_import_ms"] + row["first_flow_ms"]) if row else DASH

    def memory(f: str) -> str:
        row = _find(footprint, candidate=f)
        return fmt(row["peak_rss_mb"]) if row else DASH

    scatter = _find(parallel, scenario="scatter_gather") or {}
    mapped = _find(parallel, scenario="map_reduce") or {}
    headers = [
        "framework",
        f"per agent step, µs ({TIMES} asyncio floor), median over patterns",
        f"scatter-gather {scatter.get('branches', '?')} {TIMES} {fmt(scatter.get('latency_ms'))} ms (wall / ideal)",
        f"map-reduce {mapped.get('branches', '?')} items at {mapped.get('concurrency', '?')} (wall / ideal)",
        f"pipeline flows/s at {top} concurrent",
        *([f"{faults}, {entry['label']}" for entry in configs.values()] if configs else [faults]),
        "cold start ms (imports + first flow)",
        "peak RSS MB",
    ]
    rows = [
        [
            _NAMES[f],
            per_step(f),
            efficiency(f, "scatter_gather"),
            efficiency(f, "map_reduce"),
            flows(f),
            *([completed(f, c) for c in configs] if configs else [completed(f)]),
            cold(f),
            memory(f),
        ]
        for f in frameworks
    ]
    when = env["date"][:10]
    machine = (
        f"{env['cpu_model']}, {env['cpu_count']} CPUs, {fmt(env['memory_gb'])} GB, Python {env['python']}"
    )
    return (
        f"Full run of {when} on {machine} (profile `{doc['run']['profile']}`, commit "
        f"`{str(env.get('git_commit'))[:10]}`); every figure is a median of that run. "
        "[The whole report](benchmarks/results/report.md) has p95s, every pattern and the charts.\n\n"
        + _table(headers, rows)
    )


def _wire(doc: dict[str, Any]) -> str:
    frameworks, rows = _frameworks(doc), _rows(doc, "wire")
    patterns = doc["run"]["patterns"]

    def cell(f: str, p: str) -> str:
        row = _find(rows, candidate=f, pattern=p, via="http")
        if row is None:
            return DASH
        return f"{fmt(row['requests'])} · {fmt(row['prompt_tokens'])} / {fmt(row['completion_tokens'])}"

    body = [[p, *(cell(f, p) for f in frameworks)] for p in patterns]
    return (
        "Requests · prompt / completion tokens, summed from the request log of `orch serve-model` "
        "while each framework drove its own OpenAI client:\n\n"
        + _table(["pattern", *(_NAMES[f] for f in frameworks)], body)
    )


def render_distributed(doc: dict[str, Any]) -> str:
    """The distributed measure's figures for the README: one table, every cell from the JSON."""
    env, m = doc["environment"], doc["measures"]["distributed"]
    if m.get("status") != "ok":
        return f"The distributed measure failed: {fmt(m.get('error'))}\n"
    rec, bp = m["recovery"], m["backpressure"]

    def ms(p50: Any, p95: Any) -> str:
        return f"{fmt(p50)} / {fmt(p95)}"

    rows = [
        [
            f"flows/s, {fmt(r['workers'])} worker{'s' if r['workers'] != 1 else ''} "
            f"({fmt(r['flows'])} queued flows)",
            f"{fmt(r['flows_per_s'])} (latency bound {fmt(r['latency_bound_flows_per_s'])})",
        ]
        for r in m["rows"]
    ]
    idle = m["idle"][0] if m.get("idle") else {}
    loaded = m["rows"][-1] if m["rows"] else {}
    rows += [
        [
            f"enqueue-to-start p50 / p95 ms, idle ({fmt(idle.get('workers'))} worker, one flow at a time)",
            ms(idle.get("enqueue_to_start_p50_ms"), idle.get("enqueue_to_start_p95_ms")),
        ],
        [
            f"per-flow overhead p50 / p95 ms, idle (wall minus {fmt(m['model_latency_ms'])} ms of model latency)",
            ms(idle.get("overhead_p50_ms"), idle.get("overhead_p95_ms")),
        ],
        [
            f"per-flow overhead p50 / p95 ms, {fmt(loaded.get('workers'))} workers under load",
            ms(loaded.get("overhead_p50_ms"), loaded.get("overhead_p95_ms")),
        ],
        [
            f"recovery after a SIGKILL: another worker claimed the flow, p50 / max ms ({fmt(len(rec['kills']))} kills)",
            ms(rec["reclaimed_p50_ms"], rec["reclaimed_max_ms"]),
        ],
        ["model calls redone per kill", fmt(rec["calls_redone_per_kill"])],
        ["duplicates / forks, every scenario", f"{fmt(m['duplicates'])} / {fmt(m['forks'])}"],
        [
            f"twice the bound ({fmt(bp['offered'])} submits onto a queue of {fmt(bp['bound'])}): "
            "accepted / rejected (Overloaded) / lost",
            f"{fmt(bp['accepted'])} / {fmt(bp['rejected'])} / {fmt(bp['lost'])}, max depth {fmt(bp['max_depth'])}",
        ],
    ]
    rows += [
        [
            f"enqueue-to-finish p99 ms, {t['tenant']} ({t['role']}, partition {fmt(t['partition'])}, "
            f"{fmt(t['flows'])} flows)",
            fmt(t["enqueue_to_finish_p99_ms"]),
        ]
        for t in m["tenants"]
    ]
    when = env["date"][:10]
    machine = f"{env['cpu_model']}, {env['cpu_count']} CPUs, Python {env['python']}"
    return (
        f"Run of {when} on {machine} (profile `{doc['run']['profile']}`, {m.get('broker')}, commit "
        f"`{str(env.get('git_commit'))[:10]}`): `{m['pattern']}` flows of {fmt(m['calls_per_flow'])} model calls "
        f"at {fmt(m['latency_ms'])} ms, on `orch worker --pool {m['pool']}` processes. "
        "[The whole report](benchmarks/results/distributed/report.md) has every scenario's table.\n\n"
        + _table(["figure", "measured"], rows)
    )


def render_blocks(doc: dict[str, Any], distributed: dict[str, Any] | None = None) -> dict[str, str]:
    """Each generated README block's text, by marker name (the workers' table with `distributed`)."""
    blocks = {"bench-summary": _summary(doc), "wire-table": _wire(doc)}
    if distributed is not None:
        blocks["distributed-bench"] = render_distributed(distributed)
    return blocks


def committed_distributed() -> dict[str, Any] | None:
    """The committed distributed run (`benchmarks/results/distributed/latest.json`), if there is one."""
    if not DISTRIBUTED_RESULTS.exists():
        return None
    loaded: dict[str, Any] = json.loads(DISTRIBUTED_RESULTS.read_text(encoding="utf-8"))
    return loaded


def update(readme: str, doc: dict[str, Any], distributed: dict[str, Any] | None = None) -> str:
    """`readme` with every generated block replaced; a missing marker is an error."""
    for name, text in render_blocks(doc, distributed).items():
        pattern = _block(name)
        if not pattern.search(readme):
            raise SystemExit(f"README.md has no <!-- {name}:start --> ... <!-- {name}:end --> block")
        readme = pattern.sub(lambda m, text=text: m.group(1) + text + m.group(3), readme)
    return readme


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.readme", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md is out of date")
    parser.add_argument("--results", type=Path, default=None)
    parser.add_argument(
        "--distributed",
        action="store_true",
        help="print the distributed measure's README table (from benchmarks/results/distributed)",
    )
    args = parser.parse_args(argv)
    if args.distributed:
        source = args.results or DISTRIBUTED_RESULTS
        if not source.exists():
            print(f"no results at {source}: run `orch bench --measures distributed` first", file=sys.stderr)
            return 2
        print(render_distributed(json.loads(source.read_text(encoding="utf-8"))), end="")
        return 0
    args.results = args.results or RESULTS
    if not args.results.exists():
        print(f"no results at {args.results}: run `orch bench` first", file=sys.stderr)
        return 2
    doc = json.loads(args.results.read_text(encoding="utf-8"))
    current = README.read_text(encoding="utf-8")
    fresh = update(current, doc, committed_distributed())
    if args.check:
        if fresh != current:
            print("README.md is out of date: run `python -m benchmarks.readme`", file=sys.stderr)
            return 1
        return 0
    README.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
