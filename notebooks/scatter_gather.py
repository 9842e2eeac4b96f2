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
# # Scatter-gather: one question, N sources in parallel, one merged answer
#
# **What it is for.** Research over independent sources. The question is fanned out with
# `Send` to one *researcher* agent per source; the branches run in parallel, each with its
# own retries. An *aggregator* merges and de-duplicates the findings and keeps, for each
# one, which sources support it (provenance).
#
# Sources fail. A source that still fails after its retries is recorded by the node's
# **error handler** instead of failing the whole flow, and the flow succeeds while at least
# `quorum` sources answered (default: a majority). Below the quorum it stops with
# `QuorumNotMet`, naming every failed source.
#
# This notebook draws the graph of the preset `presets.research_scatter_gather()`, runs it
# with checkpoints, inspects the parallel step, pauses before the merge, and takes sources
# down with `FaultPolicy(down_agents=...)` to see the quorum at work. Then it builds the
# other shape of the same builder with **your own agents**: a panel of different experts
# asked the same question.

# %%
from contextlib import AsyncExitStack

from nbhelpers import calls, checkpoint_url, draw, new_thread, plt, show_figure, show_history, show_run, table

from patterns import AgentContext, FaultPolicy, ScriptedBrain, ScriptedChatModel, arun, open_checkpointer
from patterns.flows.scatter_gather import QuorumNotMet, ScatterGatherInput
from patterns.presets import SAMPLES, research_scatter_gather

# %% [markdown]
# ## The graph
#
# `validate_input` (every pattern's first node: it validates the input and stores its
# defaults) fans out (dotted: the edge returns a list of `Send`s, one per source) to
# `research`, and every branch flows into `aggregate`. The `__error_handler__research` node
# is the handler LangGraph runs for a branch that exhausted its retries: it records the
# failure and jumps to `aggregate` with `Command(goto=...)`, so it has no drawn edges.

# %%
# One SQLite file holds every thread of this notebook (in a temporary folder: see nbhelpers).
stack = AsyncExitStack()
saver = await stack.enter_async_context(open_checkpointer(checkpoint_url("scatter_gather")))
graph = research_scatter_gather(checkpointer=saver)
draw(graph)

# %% [markdown]
# ## Run it on the scripted model

# %%
question = ScatterGatherInput(**SAMPLES["scatter_gather"])
print(question.question, "| sources:", [s.name for s in question.sources], "| quorum:", question.quorum)

model = ScriptedChatModel()
config = new_thread("research")
state = await graph.ainvoke(question.model_dump(), config, context=AgentContext(model=model))
result = state["result"]
print(result["summary"])
table(
    ["score", "finding", "sources"],
    [[f"{f['score']:.2f}", f["text"], ", ".join(f["sources"])] for f in result["findings"]],
)

# %% [markdown]
# ## Inspect the checkpoints
#
# After `validate_input` (step 0), the five researchers ran in **one step** (step 1): one superstep, five parallel tasks, one
# checkpoint after all of them. Their results meet in the `results` list through its reducer
# (`operator.add`), which is how parallel branches write to the same key safely.

# %%
await show_history(graph, config)

# %% [markdown]
# ## Pause before the merge, then resume
#
# With `interrupt_before=["aggregate"]` the run stops once every source has answered: the
# per-source findings are in the checkpoint, ready to be looked at (or edited with
# `aupdate_state`) before the aggregator merges them.

# %%
model = ScriptedChatModel()
config = new_thread("research-paused")
await graph.ainvoke(
    question.model_dump(), config, context=AgentContext(model=model), interrupt_before=["aggregate"]
)
snapshot = await graph.aget_state(config)
print("paused before:", snapshot.next)
for entry in sorted(snapshot.values["results"], key=lambda r: r["source"]):
    print(f"  {entry['source']:<13} {len(entry['findings'])} findings")
state = await graph.ainvoke(None, config, context=AgentContext(model=model))
print("resumed:", state["result"]["summary"], "| calls:", calls(model))

# %% [markdown]
# ## Change a parameter: the quorum, with sources down
#
# `FaultPolicy(down_agents=...)` makes the scripted model fail every call of the named
# agents (each source is its own agent). Each down source is retried by the node's
# `RetryPolicy`, then recorded as a failure. Three scenarios with the sample's quorum of 3,
# and one where we lower the quorum to 2.


# %%
async def research(down, quorum=3):
    model = ScriptedChatModel(brain=ScriptedBrain(faults=FaultPolicy(down_agents=frozenset(down))))
    task = ScatterGatherInput(**{**SAMPLES["scatter_gather"], "quorum": quorum})
    config = new_thread("research-degraded")
    try:
        state = await graph.ainvoke(task.model_dump(), config, context=AgentContext(model=model))
    except QuorumNotMet as exc:
        print(f"down={sorted(down)} quorum={quorum}: QuorumNotMet: {exc}")
        return model, config
    result = state["result"]
    print(
        f"down={sorted(down)} quorum={quorum}: ok={result['sources_ok']} "
        f"failed={[f['source'] for f in result['sources_failed']]} -> {result['summary']}"
    )
    return model, config


_ = await research(set())
degraded_model, _ = await research({"news", "forum"})
_, failed_config = await research({"news", "forum", "patents"})
_ = await research({"news", "forum", "patents"}, quorum=2)

# %% [markdown]
# Below the quorum the run fails, but its checkpoint keeps everything: the answers of the
# sources that did respond, and why each of the others failed.

# %%
snapshot = await graph.aget_state(failed_config)
print("answered:", sorted(r["source"] for r in snapshot.values["results"]))
for failure in sorted(snapshot.values["failures"], key=lambda f: f["source"]):
    print("failed:  ", failure["source"], "-", failure["error"])

# %% [markdown]
# ### Where the calls went
#
# With two sources down, each down source used all six attempts of the retry policy; the
# healthy ones answered at the first call.

# %%
usage = degraded_model.brain.ledger.snapshot()
agents = sorted(usage)
fig, ax = plt.subplots(figsize=(7, 3))
ax.bar(agents, [usage[a].calls for a in agents], label="answered")
ax.bar(
    agents,
    [usage[a].failures for a in agents],
    bottom=[usage[a].calls for a in agents],
    label="failed attempts",
)
ax.set_ylabel("model calls")
ax.set_title("Scatter-gather with news and forum down")
ax.legend()
show_figure(fig)

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
    "scatter_gather",
    SAMPLES["scatter_gather"],
    model=ScriptedChatModel(),
    checkpoint=checkpoint_url("scatter_gather"),
    thread_id="scatter-gather-arun",
)
show_run(result)
result.output["sources_ok"]

# %% [markdown]
# ## Your own agents: a panel
#
# The preset asks *one* researcher agent once per source. The other shape of the same
# builder asks **different agents the same input**: `build_scatter_gather(workers=[...])`,
# each worker with its own name, instructions and output model (and, if you like, its own
# model). The answers are gathered by worker name; `merge=` combines them, with a function
# of the answers (as here) or with an agent; `quorum=` is how many must answer (default: a
# majority).
#
# Here three experts judge whether to move CI from hosted runners to a cluster of our own.
# The scripted model answers each of them with the **responder** registered under its
# name: a plain function of the payload (the run's `{"input": {...}}`). A real model would
# read the instructions instead.

# %%
from typing import Literal

from pydantic import BaseModel

from patterns import Agent, build_scatter_gather


class Opinion(BaseModel):
    verdict: Literal["migrate", "stay"]
    reason: str


panel = [
    Agent(
        "cost_analyst",
        "Judge the move on cost alone. Keys: verdict (migrate | stay), reason.",
        output=Opinion,
    ),
    Agent(
        "security_reviewer",
        "Judge the move on security alone. Keys: verdict (migrate | stay), reason.",
        output=Opinion,
    ),
    Agent(
        "platform_engineer",
        "Judge whether the team can run it. Keys: verdict (migrate | stay), reason.",
        output=Opinion,
    ),
]


def cost(payload):
    facts = payload["facts"]
    hosted = facts["ci_minutes_per_month"] * facts["hosted_price_per_minute"]
    verdict = "migrate" if hosted > facts["cluster_cost_per_month"] else "stay"
    return {
        "verdict": verdict,
        "reason": f"hosted {hosted:.0f}/month vs cluster {facts['cluster_cost_per_month']}",
    }


def security(payload):
    if payload["facts"]["deploy_keys_in_ci"]:
        return {"verdict": "migrate", "reason": "deploy keys would never leave our network"}
    return {"verdict": "stay", "reason": "nothing sensitive runs in CI"}


def platform(payload):
    people = payload["facts"]["platform_engineers"]
    verdict = "migrate" if people >= 3 else "stay"
    return {"verdict": verdict, "reason": f"{people} engineers to keep another cluster on call"}


def decide(answers):
    """The merge: a function of the answers by worker name. A majority decides, else it is a split."""
    verdicts = [answer["verdict"] for answer in answers.values()]
    tally = {verdict: verdicts.count(verdict) for verdict in sorted(set(verdicts))}
    leader = max(tally, key=tally.get)
    return {"decision": leader if 2 * tally[leader] > len(verdicts) else "split", "tally": tally}


responders = {"cost_analyst": cost, "security_reviewer": security, "platform_engineer": platform}
panel_graph = build_scatter_gather(workers=panel, merge=decide, checkpointer=saver)
draw(panel_graph)

# %% [markdown]
# The same fan-out, one `ask` task per worker in one superstep, gathered into `gather`.

# %%
move = {
    "question": "Should CI move from hosted runners to our own cluster?",
    "facts": {
        "ci_minutes_per_month": 120_000,
        "hosted_price_per_minute": 0.008,
        "cluster_cost_per_month": 700,
        "deploy_keys_in_ci": True,
        "platform_engineers": 2,
    },
}
panel_model = ScriptedChatModel(brain=ScriptedBrain(responders=responders))
state = await panel_graph.ainvoke(
    {"input": move}, new_thread("panel"), context=AgentContext(model=panel_model)
)
result = state["result"]
table(["worker", "verdict", "reason"], [[n, a["verdict"], a["reason"]] for n, a in result["answers"].items()])
print("merged:", result["merged"], "| quorum:", result["quorum"], "| failed:", result["failed"])

# %% [markdown]
# A worker that fails after its retries is recorded, and the panel goes on while the quorum
# holds: with the security reviewer down, two of three answered (a majority), and this time
# the two disagree, so the merge reports a split. Ask for all three (`quorum=3`) and the same outage is `QuorumNotMet`, naming the worker. (Built with
# `retry_policy=None` so that the down worker fails at once.)

# %%
outage = FaultPolicy(down_agents=frozenset({"security_reviewer"}))
down = ScriptedChatModel(brain=ScriptedBrain(responders=responders, faults=outage))
for quorum in (None, 3):
    strict = build_scatter_gather(
        workers=panel, merge=decide, quorum=quorum, retry_policy=None, checkpointer=saver
    )
    try:
        state = await strict.ainvoke(
            {"input": move}, new_thread("panel-down"), context=AgentContext(model=down)
        )
        result = state["result"]
        print(f"quorum {result['quorum']}: answered {sorted(result['answers'])} -> {result['merged']}")
        print("  failed:", [(f["source"], f["error"]) for f in result["failed"]])
    except QuorumNotMet as exc:
        print(f"quorum {quorum}: QuorumNotMet: {exc}")

# %% [markdown]
# To run the panel on a real model, pass `resolve_model("openai:gpt-4o-mini")` as the
# context's model, or give one expert its own with `Agent(..., model=...)`: nothing else
# changes.
#
# ## Clean up
#
# Close the checkpointer's database connection. The SQLite file lives in a temporary folder
# that is removed when the kernel exits. With a file of your own
# (`open_checkpointer("sqlite:///runs.sqlite")`) the checkpoints outlive the session: a later
# one can `aget_state` or resume any thread by its id.

# %%
await stack.aclose()
