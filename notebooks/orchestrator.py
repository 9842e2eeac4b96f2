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
# # Orchestrator-workers: a plan made at run time, its subtasks done in parallel, then combined
#
# **What it is for.** Work whose parts are only known once the task is read: a trip has a
# flight, a hotel and as many days as it has nights. A *planner* agent replies with the
# plan, a list of subtasks, each naming the *worker* agent that does it and what that worker
# is given. Each subtask is one `Send` to its worker, in parallel, at most `max_concurrency`
# at once; a *synthesizer* combines the results.
#
# The plan is data in the checkpoint: it can be reviewed before it runs, and a resumed run
# never asks for it again. A plan naming a worker the flow does not have (or too long, or
# empty) is a malformed reply, asked again by the node retry. A subtask that fails after its
# retries is recorded; below the `quorum` (default: every subtask) the run stops with the
# failed subtasks queued, and resuming the thread asks only those again.
#
# The notebook runs the preset `planning.trip_planning()` first, then an orchestrator of
# **your own** agents.

# %%
import copy
from contextlib import AsyncExitStack

from langgraph.errors import GraphDrained
from nbhelpers import calls, checkpoint_url, draw, new_thread, plt, show_figure, show_history, show_run, table

from patterns import AgentContext, FaultPolicy, ScriptedBrain, ScriptedChatModel, arun, open_checkpointer
from patterns.presets import planning


def trip_model(*down):
    """The scripted model answering the preset's agents, with the agents named in `down` failing."""
    faults = FaultPolicy(down_agents=frozenset(down))
    return ScriptedChatModel(brain=ScriptedBrain(responders=planning.RESPONDERS, faults=faults))


# %% [markdown]
# ## The graph
#
# `plan` fans out (dotted: the edge returns one `Send` per subtask of the plan) to `work`;
# every subtask flows into `gather`, which checks the quorum and goes on to `synthesize`, or,
# below it, queues the failed subtasks for `work` again. `__error_handler__work` records a
# subtask that exhausted its retries and jumps to `gather` with `Command(goto=...)`.

# %%
# One SQLite file holds every thread of this notebook (in a temporary folder: see nbhelpers).
stack = AsyncExitStack()
saver = await stack.enter_async_context(open_checkpointer(checkpoint_url("orchestrator")))
graph = planning.trip_planning(checkpointer=saver)
draw(graph)

# %% [markdown]
# ## Run it on the scripted model
#
# The request carries the offers (flights, hotels, activities); the planner turns it into
# subtasks: the flight, the hotel, and the activities matching the interests dealt out over
# the three days.

# %%
model = trip_model()
config = new_thread("trip")
state = await graph.ainvoke(planning.SAMPLE, config, context=AgentContext(model=model))
result = state["result"]
table(
    ["subtask", "worker", "given", "answered"],
    [
        [s["id"], s["worker"], ", ".join(sorted(s["input"])), str(result["results"][s["id"]])[:70]]
        for s in result["plan"]
    ],
)
print(result["output"]["summary"])
print("calls:", calls(model))

# %% [markdown]
# ## Inspect the checkpoints
#
# Step 1 saved the plan; the five subtasks ran in **one** step (one superstep, five parallel
# tasks); `gather` found the quorum met, and `synthesize` wrote the itinerary.

# %%
await show_history(graph, config)

# %% [markdown]
# ## Review the plan before it runs
#
# `interrupt_after=["plan"]` stops the run once the plan is saved. The plan is plain state:
# here we drop the third day from it with `aupdate_state(..., as_node="plan")` (as if the
# planner had replied so), and the resumed run dispatches what is left.

# %%
model = trip_model()
config = new_thread("trip-reviewed")
await graph.ainvoke(planning.SAMPLE, config, context=AgentContext(model=model), interrupt_after=["plan"])
snapshot = await graph.aget_state(config)
print("planned:", [s["id"] for s in snapshot.values["plan"]], "| next:", snapshot.next)

shorter = [s for s in snapshot.values["plan"] if s["id"] != "day_3"]
await graph.aupdate_state(config, {"plan": shorter}, as_node="plan")
state = await graph.ainvoke(None, config, context=AgentContext(model=model))
print(state["result"]["output"]["summary"])
print("free days:", state["result"]["output"]["free_days"], "| calls:", calls(model))

# %% [markdown]
# ## A worker down: the run stops below the quorum, and a resume asks only that subtask again
#
# The hotel finder is down (`FaultPolicy(down_agents=...)`), and the graph is built with
# `retry_policy=None` so it fails at once. Every other subtask answers; with the default
# quorum (all five) the run stops with LangGraph's `GraphDrained`, naming the failed subtask,
# and the checkpoint holds the plan, the four results, and the hotel search queued again.

# %%
strict = planning.trip_planning(checkpointer=saver, retry_policy=None)
config = new_thread("trip-hotel-down")
down = trip_model("hotel_finder")
try:
    await strict.ainvoke(planning.SAMPLE, config, context=AgentContext(model=down))
except GraphDrained as exc:
    print(exc)
snapshot = await strict.aget_state(config)
print("saved results:", [r["id"] for r in snapshot.values["results"]], "| next:", snapshot.next)
print("calls:", calls(down))

# %% [markdown]
# The hotel service is back: resume the thread with `ainvoke(None, config)`. Only the hotel
# finder and the writer are asked; the planner and the four finished subtasks are not.

# %%
healthy = trip_model()
state = await strict.ainvoke(None, config, context=AgentContext(model=healthy))
print(state["result"]["output"]["summary"])
print("calls on resume:", calls(healthy))
await show_history(strict, config)

# %% [markdown]
# ### Within a quorum
#
# Ask for two subtasks out of the plan's five (`quorum=2`, the preset's arguments otherwise)
# and the same outage with the day planner down is tolerated: the days are recorded as
# failed, and the writer is told which are missing.

# %%
from patterns.flows import orchestrator

tolerant = orchestrator.SPEC.flow(**{**planning.SPEC.args, "quorum": 2}).compile(retry_policy=None)
state = await tolerant.ainvoke(planning.SAMPLE, context=AgentContext(model=trip_model("day_planner")))
print("failed:", [(f["id"], f["error"][:40]) for f in state["result"]["failed"]])
print(state["result"]["output"]["summary"])

# %% [markdown]
# ## Change the input: the plan grows with the trip
#
# One day subtask per night, up to what `max_subtasks` (8) leaves after the flight and the
# hotel: from seven nights on, the last days stay free.

# %%
rows, sizes = [], []
for nights in range(1, 10):
    trip = copy.deepcopy(planning.SAMPLE)
    trip["input"]["nights"] = nights
    state = await graph.ainvoke(trip, new_thread("trip-nights"), context=AgentContext(model=trip_model()))
    itinerary = state["result"]["output"]
    sizes.append(len(state["result"]["plan"]))
    rows.append(
        [nights, sizes[-1], itinerary["free_days"], itinerary["total_eur"], itinerary["within_budget"]]
    )
table(["nights", "subtasks", "free days", "total EUR", "within budget"], rows)

# %%
fig, ax = plt.subplots(figsize=(6, 2.5))
ax.plot(range(1, 10), sizes, marker="o", color="tab:blue")
ax.axhline(8, linestyle="--", color="tab:gray", label="max_subtasks")
ax.set_xlabel("nights")
ax.set_ylabel("subtasks in the plan")
ax.legend()
show_figure(fig)

# %% [markdown]
# ## The same run through `patterns.arun`
#
# `arun` wraps everything above: it validates the input, opens the checkpointer from a URL,
# sets the recursion limit, and returns a `RunResult` with per-step records, calls and
# tokens: the type the CLI and the benchmarks use. It takes the preset's declared flow,
# `planning.SPEC`, as well as a pattern's name. (It also times every step; this notebook
# leaves the timings out so that its outputs are the same on every run.)

# %%
result = await arun(
    planning.SPEC,
    planning.SAMPLE,
    model=trip_model(),
    checkpoint=checkpoint_url("orchestrator"),
    thread_id="orchestrator-arun",
)
show_run(result)
result.output["output"]["total_eur"]

# %% [markdown]
# ## Your own agents
#
# A release check: the planner reads which components a release touches and plans one test
# run per component, plus a docs review when the docs changed; the synthesizer says whether
# to ship. The planner replies with a `Plan` (`subtasks: [{worker, input, id?}]`); it is
# told the workers by name with their descriptions (or instructions) and `max_subtasks`.
# Ids it leaves out default to `<worker>_<n>`.
#
# The scripted model answers each agent with the **responder** registered under its name, a
# plain function of the payload it is sent; a real model would read the instructions.

# %%
from pydantic import BaseModel

from patterns import Agent
from patterns.flows.orchestrator import Plan, build_orchestrator


class TestRun(BaseModel):
    component: str
    passed: int
    failed: list[str]


class DocsReview(BaseModel):
    pages: int
    missing: list[str]


class Verdict(BaseModel):
    ship: bool
    blockers: list[str]


release_planner = Agent(
    "release_planner",
    "Plan a test run per touched component, and a docs review if docs changed. Keys: subtasks.",
    output=Plan,
)
tester = Agent(
    "tester",
    "Run the component's tests. Keys: component, passed, failed.",
    output=TestRun,
    description="runs tests",
)
docs_reviewer = Agent(
    "docs_reviewer",
    "List the changed features with no docs page. Keys: pages, missing.",
    output=DocsReview,
    description="checks every changed feature has a docs page",
)
release_manager = Agent(
    "release_manager", "Ship unless something blocks. Keys: ship, blockers.", output=Verdict
)


def plan_release(payload):
    release = payload["input"]
    subtasks = [
        {"worker": "tester", "input": {"component": c, "tests": release["tests"][c]}}
        for c in release["touched"]
    ]
    if release["docs_changed"]:
        subtasks.append(
            {"worker": "docs_reviewer", "input": {"features": release["features"], "pages": release["pages"]}}
        )
    return {"subtasks": subtasks}


def run_tests(payload):
    failed = sorted(name for name, ok in payload["tests"].items() if not ok)
    return {
        "component": payload["component"],
        "passed": len(payload["tests"]) - len(failed),
        "failed": failed,
    }


def review_docs(payload):
    return {
        "pages": len(payload["pages"]),
        "missing": [f for f in payload["features"] if f not in payload["pages"]],
    }


def decide(payload):
    blockers = [
        f"{r['output']['component']}: {t}" for r in payload["results"] for t in r["output"].get("failed", [])
    ]
    blockers += [f"no docs for {f}" for r in payload["results"] for f in r["output"].get("missing", [])]
    blockers += [f"{f['id']} did not run" for f in payload["failed"]]
    return {"ship": not blockers, "blockers": blockers}


release_brain = ScriptedBrain(
    responders={
        "release_planner": plan_release,
        "tester": run_tests,
        "docs_reviewer": review_docs,
        "release_manager": decide,
    }
)
release_graph = build_orchestrator(
    planner=release_planner, workers=[tester, docs_reviewer], synthesizer=release_manager, checkpointer=saver
)
release = {
    "touched": ["api", "billing", "search"],
    "tests": {
        "api": {"auth": True, "pagination": True},
        "billing": {"invoice": True, "refund": False},
        "search": {"typo": True},
        "ui": {"login": True},
    },
    "docs_changed": True,
    "features": ["refunds v2", "saved searches"],
    "pages": ["saved searches"],
}
release_model = ScriptedChatModel(brain=release_brain)
state = await release_graph.ainvoke(
    {"input": release, "max_concurrency": 2}, new_thread("release"), context=AgentContext(model=release_model)
)
result = state["result"]
table(
    ["subtask", "worker", "answered"],
    [[s["id"], s["worker"], result["results"][s["id"]]] for s in result["plan"]],
)
print("verdict:", result["output"], "| calls:", calls(release_model))

# %% [markdown]
# ### A plan naming a worker the flow does not have
#
# A planner that sends a subtask to a `linter` (no such worker) gets its reply rejected
# where any malformed reply is: `MalformedOutput`, which the node retry treats as
# transient. Here it is asked three times (a quick retry policy), then the run fails naming
# the unknown worker and the workers there are.

# %%
from langgraph.types import RetryPolicy

from patterns.errors import MalformedOutput, is_transient

quick = RetryPolicy(initial_interval=0.0, max_attempts=3, jitter=False, retry_on=is_transient)
rogue_brain = ScriptedBrain(
    responders={
        **release_brain.responders,
        "release_planner": lambda p: {"subtasks": [{"worker": "linter", "input": {}}]},
    }
)
rogue = ScriptedChatModel(brain=rogue_brain)
rogue_graph = build_orchestrator(
    planner=release_planner, workers=[tester, docs_reviewer], synthesizer=release_manager, retry_policy=quick
)
try:
    await rogue_graph.ainvoke({"input": release}, context=AgentContext(model=rogue))
except MalformedOutput as exc:
    print(exc)
print("calls:", calls(rogue))

# %% [markdown]
# To run the flow on a real model, pass `resolve_model("openai:gpt-4o-mini")` as the
# context's model, or give one worker its own with `Agent(..., model=...)`: nothing else
# changes.
#
# ## Clean up
#
# Close the checkpointer's database connection. The SQLite file lives in a temporary folder
# that is removed when the kernel exits.

# %%
await stack.aclose()
