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
# # Map-reduce: one mapper over 1,000 reviews, then an associative reduce
#
# **What it is for.** The same work over many items, here scoring the sentiment of 1,000
# product reviews. Items are cut into **batches** (one model call per batch, not per item);
# each batch is a `Send` to the *mapper* agent, and the input's `max_concurrency` bounds how
# many batches call the model at once. Each branch folds its batch into a partial
# aggregate; the *reducer* agent combines the partials. The combine is associative and
# commutative, so the batch size and the order in which batches finish cannot change the
# answer.
#
# This notebook runs the preset `presets.review_map_reduce()` with checkpoints, plots the
# histogram, crashes a run half-way with injected faults and resumes it (only the
# unfinished batches are redone), and varies batch size and concurrency. Then it runs the
# same pattern with **your own mapper and combine**.

# %%
import math
from contextlib import AsyncExitStack

from nbhelpers import (
    brief,
    calls,
    checkpoint_url,
    draw,
    new_thread,
    plt,
    show_figure,
    show_history,
    show_run,
    table,
)

from patterns import AgentContext, FaultPolicy, ScriptedBrain, ScriptedChatModel, arun, open_checkpointer
from patterns.flows.map_reduce import MapReduceInput
from patterns.presets import SAMPLES, review_map_reduce

# %% [markdown]
# ## The graph
#
# `validate_input` (every pattern's first node: it validates the input and stores its
# defaults) fans out (dotted) to as many `map_batch` tasks as there are batches; all of them
# flow into `reduce`. (`map_batches` runs several batches per task: see below.)

# %%
# One SQLite file holds every thread of this notebook (in a temporary folder: see nbhelpers).
stack = AsyncExitStack()
saver = await stack.enter_async_context(open_checkpointer(checkpoint_url("map_reduce")))
graph = review_map_reduce(checkpointer=saver)
draw(graph)

# %% [markdown]
# ## Run it on the scripted model
#
# The sample is 1,000 generated reviews, batches of 25, at most 8 batches at once. The
# bound is part of the input: each `map_batch` task takes one of `max_concurrency` slots
# of the run before it calls the model. (Not LangGraph's own `max_concurrency` config,
# which would also hold back the checkpoint writes of the batches that finished.)

# %%
reviews = MapReduceInput(**SAMPLES["map_reduce"])
print(len(reviews.items), "reviews, e.g.", [i.text for i in reviews.items[:3]])

model = ScriptedChatModel()
config = new_thread("reviews")
state = await graph.ainvoke(reviews.model_dump(), config, context=AgentContext(model=model))
result = state["result"]
print({k: v for k, v in result.items() if k != "histogram"})
print("calls:", calls(model))

# %%
labels = ["very_negative", "negative", "neutral", "positive", "very_positive"]
fig, ax = plt.subplots(figsize=(7, 3))
ax.bar(labels, [result["histogram"].get(label, 0) for label in labels], color="tab:blue")
ax.set_ylabel("reviews")
ax.set_title(f"Sentiment of {result['count']} reviews (mean {result['mean_sentiment']:+.3f})")
show_figure(fig)

# %% [markdown]
# ## Inspect the checkpoints
#
# Step 0 validated the input. All 40 batches ran in one superstep (step 1); each wrote one
# partial aggregate to `partials` (a list with an `operator.add` reducer). The reducer ran
# in step 2.

# %%
await show_history(graph, config)
snapshot = await graph.aget_state(config)
print("first partial:", brief(snapshot.values["partials"][0], 200))

# %% [markdown]
# ## Crash half-way, then resume
#
# Here the graph is built **without** node retries and the model fails 10% of calls with
# transient faults (which calls is decided by a hash of the prompt, so it is the same on
# every run), so the first failing batch stops the run. LangGraph has already saved the
# output of every batch that finished in that step (as *pending writes* of the
# checkpoint). Resuming the thread with a healthy model runs only the batches that did not
# finish, and the answer is the same as the clean run's.

# %%
import warnings

# When one batch fails, LangGraph cancels the batches still waiting for a slot; Python then
# warns that their coroutines never started. Harmless: they run on resume.
warnings.filterwarnings("ignore", message="coroutine .* was never awaited")

fragile_graph = review_map_reduce(checkpointer=saver, retry_policy=None)
flaky = ScriptedChatModel(brain=ScriptedBrain(faults=FaultPolicy.transient(0.1)))
config = new_thread("reviews-crash")
try:
    await fragile_graph.ainvoke(reviews.model_dump(), config, context=AgentContext(model=flaky))
except Exception as exc:
    print("run failed:", type(exc).__name__, exc)

snapshot = await fragile_graph.aget_state(config)
finished = sum(task.result is not None for task in snapshot.tasks)
print(
    f"{finished} of {len(snapshot.tasks)} batches are saved; the thread waits on {len(snapshot.next)} tasks"
)

# %%
healthy = ScriptedChatModel()
state = await fragile_graph.ainvoke(None, config, context=AgentContext(model=healthy))
print("calls on resume:", calls(healthy))
print("same answer as the clean run:", state["result"] == result)

# %% [markdown]
# ## Change a parameter: batch size and concurrency
#
# Batch size sets how many model calls there are; concurrency how many run at once. With
# every call taking the same time (say 20 ms: `LatencyPolicy(mean=0.02)` simulates that),
# the run waits on the model for `ceil(batches / max_concurrency)` rounds of calls: fewer,
# larger batches and more concurrency both cut it, and the answer never changes. Measured
# wall time sits a little above that floor; `orch bench` measures it (medians over repeated
# runs), while this notebook prints no timings, so that its outputs are the same on every
# run.

# %%
rows = []
for batch_size, concurrency in [(25, 1), (25, 8), (100, 8), (10, 50)]:
    model = ScriptedChatModel()
    task = MapReduceInput(
        **{**SAMPLES["map_reduce"], "batch_size": batch_size, "max_concurrency": concurrency}
    )
    state = await graph.ainvoke(
        task.model_dump(), new_thread("reviews-sweep"), context=AgentContext(model=model)
    )
    batches = state["result"]["batches"]
    rounds = math.ceil(batches / concurrency)
    rows.append(
        [
            batch_size,
            concurrency,
            batches,
            model.brain.ledger.total().calls,
            rounds,
            rounds * 20,
            f"{state['result']['mean_sentiment']:+.4f}",
        ]
    )

table(
    ["batch size", "concurrency", "batches", "calls", "rounds", "model wait at 20 ms/call (ms)", "mean"], rows
)
assert len({row[-1] for row in rows}) == 1, "the reduce is associative: one answer"

# %%
fig, ax = plt.subplots(figsize=(7, 3))
ax.bar([f"batch {r[0]}\nconc {r[1]}" for r in rows], [r[5] for r in rows], color="tab:orange")
ax.set_ylabel("model wait (ms)")
ax.set_title("1,000 reviews, 20 ms per model call: rounds of calls x 20 ms")
show_figure(fig)

# %% [markdown]
# ## Thousands of batches: several batches per LangGraph task
#
# Every batch above is a LangGraph task of its own, saved as soon as it finishes. With
# thousands of small batches that bookkeeping is what the run waits on: LangGraph merges
# each finished task's writes into the list of all the superstep's writes, a cost that grows
# with the number of tasks. `batches_per_task=k` sends one `map_batches` task per `k`
# batches instead; it runs them concurrently in the same `max_concurrency` slots, and
# retries a failed batch on its own. The task is then the unit of checkpointing (a crash
# redoes the unfinished tasks' batches) and of step records. Same calls, same answer:

# %%
rows = []
for per_task in (1, 8, 40):
    model = ScriptedChatModel()
    task = MapReduceInput(**{**SAMPLES["map_reduce"], "batches_per_task": per_task})
    run = await arun("map_reduce", task.model_dump(), model=model, checkpoint="memory")
    tasks = sum(step.agent in ("map_batch", "map_batches") for step in run.steps)
    rows.append([per_task, tasks, run.calls, f"{run.output['mean_sentiment']:+.4f}"])
table(["batches per task", "map tasks", "calls", "mean"], rows)
assert len({row[-1] for row in rows}) == 1

# %% [markdown]
# ## The same run through `patterns.arun`
#
# `arun` wraps everything above: it validates the input, opens the checkpointer from a URL,
# sets the recursion limit and concurrency from the input, and returns a `RunResult` with
# per-step records, calls and tokens: the type the CLI and the benchmarks use. (It also
# times every step; this notebook leaves the timings out so that its outputs are the same
# on every run.)

# %%
result = await arun(
    "map_reduce",
    SAMPLES["map_reduce"],
    model=ScriptedChatModel(),
    checkpoint=checkpoint_url("map_reduce"),
    thread_id="map-reduce-arun",
)
show_run(result)
result.output["histogram"]

# %% [markdown]
# ## Your own agents: a mapper and a combine
#
# The preset's mapper scores sentiment and its reducer is an agent. With
# `build_map_reduce(mapper=..., combine=...)` the mapper is your agent, with your output
# model, and the reduce is **your function** `combine(a, b)`: each batch's reply is a
# partial, and the partials are folded in batch order. For the answer not to depend on
# the batch size or on which batch finishes first, `combine` must be associative and
# commutative: here, counts add up and the slowest request wins (ties broken by path).
#
# The items are 600 access-log lines. The scripted model answers the mapper with the
# **responder** registered under its name, a plain function of the payload
# (`{"items": [...]}`, one batch); a real model would read the instructions instead.

# %%
from pydantic import BaseModel

from patterns import Agent, build_map_reduce


class LogSummary(BaseModel):
    requests: int
    by_status: dict[str, int]
    slowest: tuple[int, str]  # (milliseconds, path)


log_reader = Agent(
    "log_reader",
    "Summarise these access-log lines: how many, how many per status code, and the slowest request. "
    "Keys: requests, by_status {code: count}, slowest [ms, path].",
    output=LogSummary,
)


def read_logs(payload):
    parsed = [line["text"].split() for line in payload["items"]]  # "GET /path 200 123ms"
    statuses = [status for _, _, status, _ in parsed]
    slowest = max((int(ms.removesuffix("ms")), path) for _, path, _, ms in parsed)
    return {
        "requests": len(parsed),
        "by_status": {s: statuses.count(s) for s in sorted(set(statuses))},
        "slowest": slowest,
    }


def combine(a, b):
    statuses = sorted(set(a["by_status"]) | set(b["by_status"]))
    return {
        "requests": a["requests"] + b["requests"],
        "by_status": {s: a["by_status"].get(s, 0) + b["by_status"].get(s, 0) for s in statuses},
        "slowest": max(a["slowest"], b["slowest"]),  # [ms, path] lists compare like tuples
    }


paths = ["/api/orders", "/api/users", "/health", "/api/search"]
lines = [
    {
        "id": f"l{i:03d}",
        "text": f"GET {paths[i % 4]} {[200, 200, 200, 404, 500][i % 5]} {(i * 37) % 900 + 5}ms",
    }
    for i in range(600)
]
print(lines[:3])
log_graph = build_map_reduce(mapper=log_reader, combine=combine, checkpointer=saver)

# %% [markdown]
# Three batch sizes, one answer; only the number of calls changes.

# %%
rows = []
for batch_size in (7, 50, 600):
    model = ScriptedChatModel(brain=ScriptedBrain(responders={"log_reader": read_logs}))
    state = await log_graph.ainvoke(
        {"items": lines, "batch_size": batch_size, "max_concurrency": 4},
        new_thread("logs"),
        context=AgentContext(model=model),
    )
    rows.append(
        [batch_size, state["result"]["batches"], calls(model)["log_reader"], state["result"]["value"]]
    )
table(["batch size", "batches", "calls", "value"], rows)
assert all(row[-1] == rows[0][-1] for row in rows), "an associative, commutative combine: one answer"

# %% [markdown]
# ## Clean up
#
# Close the checkpointer's database connection. The SQLite file lives in a temporary folder
# that is removed when the kernel exits. With a file of your own
# (`open_checkpointer("sqlite:///runs.sqlite")`) the checkpoints outlive the session: a later
# one can `aget_state` or resume any thread by its id.

# %%
await stack.aclose()
