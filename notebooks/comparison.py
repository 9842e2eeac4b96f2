# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Four frameworks, one set of flows
#
# The seven canonical flows (pipeline, scatter-gather, map-reduce, refinement loop,
# debate, conditional routing, handoff) run natively on **LangGraph**, **AutoGen**,
# **CrewAI** and **Semantic Kernel** through one entry point, `adapters.arun`, and return
# the same `RunResult`. This notebook:
#
# 1. runs every flow on every framework on the deterministic scripted model and checks
#    that the outputs are the same;
# 2. drives each framework through **its own OpenAI client** against the scripted model
#    served on loopback, and reads the server's request log: what each framework really
#    sends;
# 3. runs a slice of the benchmark suite (orchestration overhead, parallel efficiency,
#    resilience under faults) and plots it;
# 4. shows the committed full benchmark, if it is in the checkout.
#
# Everything runs offline. CrewAI takes a few seconds to import and to warm up; the
# adapters import each framework only when a flow first runs on it.
#
# Sections 1 and 2 print the same on every run. The benchmark's numbers (section 3) are
# timings, different on every run and every machine: their cells are tagged `timings`, and
# the tests that compare a fresh execution with the committed outputs skip them.

# %%
import json
from dataclasses import replace
from pathlib import Path

from IPython.display import Image, Markdown, display
from nbhelpers import plt, scratch_dir, show_figure, table

import adapters
from adapters import PORTABLE
from patterns.testing import ScriptedBrain, running_server

FRAMEWORKS = list(adapters.FRAMEWORKS)
FRAMEWORKS

# %% [markdown]
# ## 1. The same flows, the same answers
#
# Each cell of the table is one run: `=` when the output equals LangGraph's, then model
# calls and prompt/completion tokens. Tokens differ where a framework wraps our prompt in
# its own (CrewAI's agent framing) or answers a handoff with a function call: the
# equivalence tests assert each such difference exactly.

# %%
results = {}
for pattern in PORTABLE:
    for framework in FRAMEWORKS:
        results[pattern, framework] = await adapters.arun(framework, pattern, brain=ScriptedBrain())


def cell(pattern, framework):
    r = results[pattern, framework]
    if r.status != "completed":
        return f"**{r.status}**: {r.error}"
    same = "=" if r.output == results[pattern, "langgraph"].output else "**differs**"
    return f"{same} {r.calls} calls, {r.prompt_tokens:,}/{r.completion_tokens:,} tok"


table(["pattern", *FRAMEWORKS], [[p, *(cell(p, f) for f in FRAMEWORKS)] for p in PORTABLE])
assert all(r.status == "completed" for r in results.values())
assert all(results[p, f].output == results[p, "langgraph"].output for p, f in results)

# %% [markdown]
# A `RunResult` also carries one step record per agent turn. Here is the debate on each
# framework with 20 ms of simulated model latency, as a timeline: the three debaters of a
# round run in parallel on LangGraph (`Send`), AutoGen (`GraphFlow`) and CrewAI (a Flow's
# parallel listeners), and one after another in Semantic Kernel's group chat, which has
# one speaker per turn. The outcome is the same. (The timeline is measured, so the picture
# differs a little from run to run.)

# %%
from patterns.testing import LatencyPolicy

timed = {}
for framework in FRAMEWORKS:
    brain = ScriptedBrain(latency=LatencyPolicy(mean=0.02))
    timed[framework] = await adapters.arun(framework, "debate", brain=brain)
    assert timed[framework].output == results["debate", "langgraph"].output

fig, axes = plt.subplots(1, len(FRAMEWORKS), figsize=(4 * len(FRAMEWORKS), 3), sharey=False)
for ax, framework in zip(axes, FRAMEWORKS, strict=True):
    steps = timed[framework].steps
    for i, step in enumerate(steps):
        ax.barh(i, (step.end - step.start) * 1000, left=step.start * 1000)
    ax.set_yticks(range(len(steps)), [s.agent for s in steps], fontsize=7)
    ax.invert_yaxis()
    ax.set_title(framework)
    ax.set_xlabel("ms since start")
fig.tight_layout()
show_figure(fig)

# %% [markdown]
# ## 2. What each framework really sends
#
# `running_server(brain, request_log=...)` serves the scripted model as an
# OpenAI-compatible API on loopback (the same as `orch serve-model --log`). With
# `base_url`, every adapter drives its framework's own OpenAI client against it, and the
# server appends one JSON line per request.

# %%
log = scratch_dir("wire") / "requests.jsonl"
wire = {}
brain = ScriptedBrain()
with running_server(brain, request_log=log) as url:
    for framework in FRAMEWORKS:
        for pattern in ("pipeline", "debate", "handoff"):
            before = len(log.read_text().splitlines()) if log.exists() else 0
            result = await adapters.arun(framework, pattern, brain=brain, base_url=url)
            assert result.output == results[pattern, "langgraph"].output, (framework, pattern)
            wire[framework, pattern] = [json.loads(line) for line in log.read_text().splitlines()[before:]]

rows = []
for (framework, pattern), requests in wire.items():
    messages = sum(r["messages"] or 0 for r in requests) / len(requests)
    rows.append(
        [
            framework,
            pattern,
            len(requests),
            sum(r["prompt_tokens"] for r in requests),
            sum(r["completion_tokens"] for r in requests),
            f"{messages:.1f}",
            sum(1 for r in requests if r["tools"]),
            sum(1 for r in requests if r["stream"]),
        ]
    )
table(
    [
        "framework",
        "pattern",
        "requests",
        "prompt tok",
        "completion tok",
        "messages/request",
        "with tools",
        "streamed",
    ],
    rows,
)

# %% [markdown]
# ## 3. A slice of the benchmark
#
# The suite (`orch bench`) runs every candidate interleaved round by round after warm-up
# and reports medians as ratios against a plain-asyncio implementation of the same flows
# (the floor) measured in the same run. Here a short version of the quick profile runs
# three measures on three patterns and writes its report and charts to a temporary folder.

# %% tags=["timings"]
import logging

from benchmarks.harness import run_bench
from benchmarks.profiles import PROFILES

# Each framework logs every failed agent call at ERROR, and the resilience measure injects
# many on purpose: their outcomes are in the results, so keep the logs out of the notebook.
for name in ("autogen_core", "crewai", "semantic_kernel", "in_process_runtime", "agent_runtime"):
    logging.getLogger(name).setLevel(logging.CRITICAL)

profile = replace(
    PROFILES["quick"],
    name="notebook",
    repeats=5,
    min_repeats=3,
    budget_s=1.0,
    scatter_sources=20,
    map_items=100,
    parallel_repeats=2,
    fault_runs=4,
    deadline_s=None,
)
path = await run_bench(
    profile,
    patterns=["pipeline", "scatter_gather", "debate"],
    frameworks=FRAMEWORKS,
    measures=["overhead", "parallel", "resilience"],
    results_dir=scratch_dir("bench"),
)
doc = json.loads(path.read_text())
print("measures:", sorted(doc["measures"]), "| charts:", sorted(p.name for p in path.parent.glob("*.png")))

# %% tags=["timings"]
overhead = [r for r in doc["measures"]["overhead"]["rows"] if r["status"] == "ok"]
table(
    ["pattern", "candidate", "median ms", "per step µs", "ratio to floor"],
    [
        [
            r["pattern"],
            r["candidate"],
            f"{r['median_ms']:.2f}",
            f"{r['per_step_median_us']:.0f}",
            f"{r['ratio_to_floor']:.2f}",
        ]
        for r in overhead
    ],
)
display(Image(filename=path.parent / "overhead.png"))

# %% tags=["timings"]
for measure in ("parallel", "resilience"):
    display(Markdown(f"**{measure}**"))
    display(Image(filename=path.parent / f"{measure}.png"))

# %% [markdown]
# ## 4. The committed full run
#
# `orch bench` (the full profile, under 30 minutes on 2 cores) writes
# `benchmarks/results/latest.json` and `report.md`; the README quotes its summary. If the
# checkout has it, here are its overhead and wire-cost charts.

# %%
committed = Path(adapters.__file__).resolve().parents[1] / "benchmarks" / "results"
if (committed / "latest.json").exists():
    env = json.loads((committed / "latest.json").read_text())["environment"]
    print(f"full run of {env['date']} on {env['cpu_model']}, {env['cpu_count']} CPUs")
    for chart in ("overhead", "parallel", "wire"):
        display(Image(filename=committed / f"{chart}.png"))
else:
    print("no committed full run in this checkout: run `orch bench`")
