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
# # Pipeline: extract → validate → transform
#
# **What it is for.** Sequential stages where each one needs the previous one's output,
# here document processing: an *extractor* agent parses an invoice, a *validator* agent
# checks the record, and a *transformer* agent normalises it. A **validation gate**
# (a conditional edge) sends an invalid record to `reject`, which keeps the validator's
# reasons, instead of transforming it.
#
# Each stage is a node, so LangGraph writes a checkpoint after each one: an interrupted run
# resumes at the stage it had reached and never asks the model again for a stage that
# completed. This notebook:
#
# 1. draws the graph LangGraph compiled for the preset `presets.invoice_pipeline()`,
# 2. runs it on the deterministic scripted model with a SQLite checkpointer,
# 3. walks the checkpoints (`aget_state`, `aget_state_history`),
# 4. pauses a run before a node, and crashes one on a failing agent, then resumes both,
# 5. changes the input so the gate rejects it,
# 6. builds the same pattern with **your own agents**: stages, a gate and scripted answers
#    declared in this notebook.
#
# Everything runs offline; no cell calls a network service.

# %%
from contextlib import AsyncExitStack

from nbhelpers import calls, checkpoint_url, draw, new_thread, show_history, show_run, table

from patterns import AgentContext, FaultPolicy, ScriptedBrain, ScriptedChatModel, arun, open_checkpointer
from patterns.flows.pipeline import PipelineInput
from patterns.presets import SAMPLES, invoice_pipeline

# %% [markdown]
# ## The graph
#
# Solid arrows are fixed edges, dotted ones are conditional: `validate` goes on to
# `transform` or to `reject`. The builder takes the checkpointer; the model is *not* part
# of the graph (it arrives at run time as context), so one compiled graph serves the
# scripted model and a real one.

# %%
# One SQLite file holds every thread of this notebook (in a temporary folder: see nbhelpers).
# `open_checkpointer("memory")` or `"postgresql://..."` would work the same way.
stack = AsyncExitStack()
saver = await stack.enter_async_context(open_checkpointer(checkpoint_url("pipeline")))
graph = invoice_pipeline(checkpointer=saver)
draw(graph)

# %% [markdown]
# ## Run it on the scripted model
#
# `ScriptedChatModel` computes real answers from the prompt (it parses the invoice), the
# same way every time. `resolve_model("openai:gpt-4o-mini")` would swap in a real model
# without touching the graph. The input is checked with the pattern's input model first;
# the thread id names this run's checkpoints.

# %%
print(SAMPLES["pipeline"]["document"])
model = ScriptedChatModel()
config = new_thread("invoice")
state = await graph.ainvoke(
    PipelineInput(**SAMPLES["pipeline"]).model_dump(), config, context=AgentContext(model=model)
)
state["result"]

# %%
calls(model)

# %% [markdown]
# ## Inspect the checkpoints
#
# `aget_state` is the latest checkpoint of the thread: its values, and `next` (empty when the
# run is over). `aget_state_history` lists every checkpoint, newest first; each one records
# the tasks that ran from it and what they wrote. `step -1` is the input.

# %%
snapshot = await graph.aget_state(config)
print(
    "next:", snapshot.next, "| keys:", list(snapshot.values), "| thread:", config["configurable"]["thread_id"]
)
await show_history(graph, config)

# %% [markdown]
# ## Pause before a node, then resume
#
# `interrupt_before=["transform"]` stops the run after validation: a natural place for a
# human to look at the record. The state says what will run next. Resuming is
# `ainvoke(None, config)`: `None` means *continue this thread*, whereas passing an input
# would start the thread over. Only the transformer is called on resume.

# %%
model = ScriptedChatModel()
config = new_thread("invoice-paused")
await graph.ainvoke(
    PipelineInput(**SAMPLES["pipeline"]).model_dump(),
    config,
    context=AgentContext(model=model),
    interrupt_before=["transform"],
)
snapshot = await graph.aget_state(config)
print("paused before:", snapshot.next)
print("validation:", snapshot.values["validation"])
print("calls so far:", calls(model))

# %%
state = await graph.ainvoke(None, config, context=AgentContext(model=model))
print(state["result"]["status"], "| calls after resume:", calls(model))

# %% [markdown]
# ## Crash on a failing agent, then resume
#
# Now the transformer is down: `FaultPolicy(down_agents=...)` makes the scripted model fail
# every call of that agent with a 503. The node's `RetryPolicy` (`DEFAULT_RETRY`: exponential
# backoff with jitter, transient errors only) tries six times, then the run fails. The
# extract and validate checkpoints are already on disk. Resuming the thread with a healthy
# model runs only `transform`: the model never sees the extractor or validator again.

# %%
broken = ScriptedChatModel(brain=ScriptedBrain(faults=FaultPolicy(down_agents=frozenset({"transformer"}))))
config = new_thread("invoice-crash")
try:
    await graph.ainvoke(
        PipelineInput(**SAMPLES["pipeline"]).model_dump(), config, context=AgentContext(model=broken)
    )
except Exception as exc:
    print("run failed:", type(exc).__name__, exc)
print("calls:", calls(broken))
snapshot = await graph.aget_state(config)
print("the thread is waiting on:", snapshot.next, "| saved so far:", list(snapshot.values))

# %%
healthy = ScriptedChatModel()
state = await graph.ainvoke(None, config, context=AgentContext(model=healthy))
print(state["result"]["status"], "| calls on resume:", calls(healthy))
await show_history(graph, config)

# %% [markdown]
# ## Change the input: the validation gate
#
# An invoice without a customer, a date or line items fails validation. The gate routes it
# to `reject`, which returns the validator's reasons; `transform` never runs.

# %%
incomplete = PipelineInput(document="Invoice: INV-7\nTotal: 30.00 EUR\n")
config = new_thread("invoice-incomplete")
state = await graph.ainvoke(incomplete.model_dump(), config, context=AgentContext(model=ScriptedChatModel()))
print(state["result"])
await show_history(graph, config)

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
    "pipeline",
    SAMPLES["pipeline"],
    model=ScriptedChatModel(),
    checkpoint=checkpoint_url("pipeline"),
    thread_id="pipeline-arun",
)
show_run(result)
result.output["record"]

# %% [markdown]
# ## Your own agents
#
# The preset is nothing more than `build_pipeline` called with three agents declared in
# `patterns.presets`. Your pipeline is the same builder with your stages. Here: release
# notes written from a list of changes.
#
# - a *writer* agent drafts one line per change, most important first;
# - a plain async function keeps the first three lines: a stage needs no model;
# - an *announcer* agent turns them into the text for the changelog page.
#
# Before the last stage a **gate** (here a *reviewer* agent; a function returning `valid`
# and `reasons` works too) checks what the last stage is about to receive, and stops the
# run with its reasons if an internal ticket id would leak out.
#
# An agent is a value: a name, instructions, and the pydantic model its reply must match.
# The scripted model answers it with the **responder** registered under its name, a plain
# function of the payload the agent is sent; a real model would read the instructions
# instead. The first stage's payload is the run's `{"input": {...}}`, each next stage gets
# the previous one's output.

# %%
import re

from pydantic import BaseModel

from patterns import Agent, build_pipeline


class Notes(BaseModel):
    title: str
    lines: list[str]


class Review(BaseModel):
    valid: bool
    reasons: list[str]


class Announcement(BaseModel):
    text: str


writer = Agent(
    "notes_writer",
    "Write release notes from the changes: one line per user-visible change, most important first. "
    "Keys: title, lines [str].",
    output=Notes,
)
reviewer = Agent(
    "notes_reviewer",
    "Reject notes that mention an internal ticket id (like OPS-123). Keys: valid, reasons [str].",
    output=Review,
)
announcer = Agent(
    "announcer",
    "Turn the release notes into one paragraph for the changelog page. Keys: text.",
    output=Announcement,
)


async def shortlist(notes: dict) -> dict:
    """A stage that is a plain function: the first three lines only."""
    return {**notes, "lines": notes["lines"][:3]}


# %% [markdown]
# The responders: what the scripted model answers each agent, computed from the payload.

# %%
TICKET = re.compile(r"\b[A-Z]+-\d+\b")


def write_notes(payload):
    changes = sorted(payload["changes"], key=lambda change: -change["impact"])
    return {"title": f"Release {payload['version']}", "lines": [change["summary"] for change in changes]}


def review_notes(payload):
    leaks = sorted({ticket for line in payload["lines"] for ticket in TICKET.findall(line)})
    return {"valid": not leaks, "reasons": [f"mentions internal ticket {ticket}" for ticket in leaks]}


def announce(payload):
    return {"text": f"{payload['title']}: " + "; ".join(payload["lines"]) + "."}


brain = ScriptedBrain(
    responders={"notes_writer": write_notes, "notes_reviewer": review_notes, "announcer": announce}
)
release_graph = build_pipeline(stages=[writer, shortlist, announcer], gate=reviewer, checkpointer=saver)
draw(release_graph)

# %% [markdown]
# Each stage is a node named after the agent (or the function), and the gate sits before
# the last one. Run it:

# %%
release = {
    "version": "2.4",
    "changes": [
        {"summary": "Exports to CSV are twice as fast", "impact": 3},
        {"summary": "Dark mode for the dashboard", "impact": 5},
        {"summary": "Fixed a crash when a report has no rows", "impact": 4},
        {"summary": "Retry logic for OPS-912 (flaky uploads)", "impact": 1},
    ],
}
own_model = ScriptedChatModel(brain=brain)
config = new_thread("release")
state = await release_graph.ainvoke({"input": release}, config, context=AgentContext(model=own_model))
result = state["result"]
print(result["status"], "|", result["output"]["text"])
table(["stage", "output"], [[stage, output] for stage, output in result["outputs"].items()])

# %% [markdown]
# The ticket id was in the fourth line, which the shortlist dropped, so the gate let the
# notes through. Raise that change's impact and the leak reaches the gate: the run stops
# with the reviewer's reasons, and the announcer is never called.

# %%
leaky = {
    **release,
    "changes": [{**c, "impact": 9} if "OPS" in c["summary"] else c for c in release["changes"]],
}
config = new_thread("release-leaky")
state = await release_graph.ainvoke({"input": leaky}, config, context=AgentContext(model=own_model))
print(
    state["result"]["status"],
    state["result"]["reasons"],
    "| stages that ran:",
    list(state["result"]["outputs"]),
)
print("calls:", calls(own_model))
await show_history(release_graph, config)

# %% [markdown]
# To run these agents on a real model, pass `resolve_model("openai:gpt-4o-mini")` as the
# context's model (or give one agent its own with `Agent(..., model=...)`): the graph, the
# agents and the checkpoints stay as they are; only the responders are the scripted
# model's.
#
# ## Clean up
#
# Close the checkpointer's database connection. The SQLite file lives in a temporary folder
# that is removed when the kernel exits. With a file of your own
# (`open_checkpointer("sqlite:///runs.sqlite")`) the checkpoints outlive the session: a later
# one can `aget_state` or resume any thread by its id.

# %%
await stack.aclose()
