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
# # Refinement loop: generator → critic → refine
#
# **What it is for.** Work that improves with feedback: a product description, a code fix.
# A *generator* agent writes a draft, a *critic* agent scores it against a rubric (here:
# which required points are covered, and the word limit), and the generator rewrites with
# that feedback. After every critique the loop checks three exits, in this order:
#
# - `threshold`: the score is good enough;
# - `converged`: the score moved less than `epsilon` since the last round;
# - `max_iterations`: out of turns.
#
# The **best** draft wins, not the last one. The loop is bounded twice: by `max_iterations`,
# and by a recursion limit derived from it (`recursion_limit(max_iterations)`), never left to
# LangGraph's default.
#
# The notebook runs the preset `presets.product_refinement()` first, then the same loop with
# **your own generator and critic**.

# %%
from contextlib import AsyncExitStack

from nbhelpers import checkpoint_url, draw, new_thread, plt, show_figure, show_history, show_run, table

from patterns import AgentContext, ScriptedChatModel, arun, open_checkpointer
from patterns.flows.refinement import RefinementInput, recursion_limit
from patterns.presets import SAMPLES, product_refinement

# %% [markdown]
# ## The graph
#
# `critique` loops back to `generate` or leaves to `finish` (dotted: a conditional edge).

# %%
# One SQLite file holds every thread of this notebook (in a temporary folder: see nbhelpers).
stack = AsyncExitStack()
saver = await stack.enter_async_context(open_checkpointer(checkpoint_url("refinement")))
graph = product_refinement(checkpointer=saver)
draw(graph)

# %% [markdown]
# ## Run it on the scripted model

# %%
task = RefinementInput(**SAMPLES["refinement"])
print(task.topic, "| must mention:", task.required_points)
print(f"threshold={task.threshold} epsilon={task.epsilon} max_iterations={task.max_iterations}")

model = ScriptedChatModel()
config = new_thread("copy", recursion_limit=recursion_limit(task.max_iterations))
state = await graph.ainvoke({"task": task.model_dump()}, config, context=AgentContext(model=model))
result = state["result"]
print("scores:", result["scores"], "| stop:", result["stop_reason"], "| best:", result["best_score"])
print(result["best_draft"])

# %% [markdown]
# ## Inspect the checkpoints
#
# One checkpoint per node: `generate` writes the draft (and appends it to `drafts`),
# `critique` writes the critique and appends one entry to `history`.

# %%
await show_history(graph, config)

# %% [markdown]
# ## Step through the loop: interrupt after every critique, then resume
#
# `interrupt_after=["critique"]` pauses the run after each critique, a place where a person
# could read the draft and stop or continue. Each `ainvoke(None, config)` resumes from the
# checkpoint and runs one more round.

# %%
config = new_thread("copy-stepped", recursion_limit=recursion_limit(task.max_iterations))
await graph.ainvoke(
    {"task": task.model_dump()}, config, context=AgentContext(model=model), interrupt_after=["critique"]
)
snapshot = await graph.aget_state(config)
while snapshot.next:
    last = snapshot.values["history"][-1]
    print(f"paused after critique {last['iteration']}: score {last['score']}, missing {last['missing']}")
    await graph.ainvoke(None, config, context=AgentContext(model=model), interrupt_after=["critique"])
    snapshot = await graph.aget_state(config)
print("finished:", snapshot.values["result"]["stop_reason"], snapshot.values["result"]["scores"])

# %% [markdown]
# ## Change a parameter: threshold, max_iterations, epsilon, max_words
#
# Each exit in turn: a lower threshold stops earlier; fewer iterations cut the loop short
# (the best draft so far is returned); a word limit the generator cannot meet stalls the
# score, and the loop stops as converged.

# %%
variants = {
    "sample (threshold 0.95)": {},
    "threshold 0.6": {"threshold": 0.6},
    "max_iterations 2": {"max_iterations": 2},
    "max_words 20": {"max_words": 20},
}
runs = {}
for label, change in variants.items():
    variant = RefinementInput(**{**SAMPLES["refinement"], **change})
    config = new_thread("copy-variant", recursion_limit=recursion_limit(variant.max_iterations))
    state = await graph.ainvoke(
        {"task": variant.model_dump()}, config, context=AgentContext(model=ScriptedChatModel())
    )
    runs[label] = state["result"]
table(
    ["variant", "scores", "stop"], [[label, run["scores"], run["stop_reason"]] for label, run in runs.items()]
)

# %%
fig, ax = plt.subplots(figsize=(7, 3.5))
styles = [("o", 11, "-"), ("s", 8, "--"), ("^", 6, "-."), ("D", 4, ":")]  # overlapping runs stay visible
for (label, run), (marker, size, line) in zip(runs.items(), styles, strict=True):
    iterations, legend = range(1, len(run["scores"]) + 1), f"{label}: {run['stop_reason']}"
    ax.plot(iterations, run["scores"], marker=marker, markersize=size, linestyle=line, label=legend)
ax.axhline(task.threshold, color="grey", linestyle=":", label=f"threshold {task.threshold}")
ax.set_xlabel("iteration")
ax.set_ylabel("critic score")
ax.set_xticks(range(1, task.max_iterations + 1))
ax.set_title("Critic score per iteration")
ax.legend(fontsize=8)
show_figure(fig)

# %% [markdown]
# ### The recursion limit is the hard bound
#
# `recursion_limit(max_iterations)` is two supersteps per iteration plus headroom. Set it too
# low and LangGraph stops the loop with `GraphRecursionError` instead of letting it run on.

# %%
from langgraph.errors import GraphRecursionError

try:
    await graph.ainvoke(
        {"task": task.model_dump()},
        new_thread("copy-bounded", recursion_limit=3),
        context=AgentContext(model=ScriptedChatModel()),
    )
except GraphRecursionError as exc:
    print("stopped:", str(exc).splitlines()[0])

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
    "refinement",
    SAMPLES["refinement"],
    model=ScriptedChatModel(),
    checkpoint=checkpoint_url("refinement"),
    thread_id="refinement-arun",
)
show_run(result)
result.output["scores"]

# %% [markdown]
# ## Your own agents: a generator and a critic
#
# The preset is `build_refinement(generator=..., critic=...)` with a copywriter and a
# critic declared in `patterns.presets`. Yours: a pull-request description that must cover
# four sections. The generator replies with a `Draft`; the critic with a `Critique` (a
# `score` from 0 to 1, what is `missing`, the word count), which the generator is shown as
# `feedback` on its next turn. Every other field of the `task` besides the stop rules is the
# brief, shown to both agents.
#
# The scripted model answers each agent with the **responder** registered under its name,
# a plain function of the payload it is sent; a real model would read the instructions.

# %%
from patterns import Agent, ScriptedBrain, build_refinement
from patterns.flows.refinement import Critique, Draft

writer = Agent(
    "pr_writer",
    "Write the pull-request description from the notes, one line per section; revise it with the "
    "reviewer's feedback. Keys: draft.",
    output=Draft,
)
reviewer = Agent(
    "pr_reviewer",
    "Score the description from 0 to 1: the share of the required sections it covers. "
    "Keys: score, missing [str], word_count, over_length.",
    output=Critique,
)


def write(payload):
    """Covers what the last draft covered, plus the first section the reviewer found missing."""
    missing = payload["feedback"]["missing"] if payload["feedback"] else payload["sections"]
    covered = [s for s in payload["sections"] if s not in missing or s == missing[0]]
    return {"draft": "\n".join(f"{s}: {payload['notes'][s]}" for s in covered)}


def review(payload):
    missing = [s for s in payload["sections"] if f"{s}:" not in payload["draft"]]
    words = len(payload["draft"].split())
    return {
        "score": round(1 - len(missing) / len(payload["sections"]), 4),
        "missing": missing,
        "word_count": words,
        "over_length": words > payload["max_words"],
    }


pr_graph = build_refinement(generator=writer, critic=reviewer, checkpointer=saver)
pr_task = {
    "threshold": 1.0,
    "epsilon": 0.0,
    "max_iterations": 6,
    "sections": ["What", "Why", "Testing", "Rollback"],
    "notes": {
        "What": "retries uploads that fail with a 503",
        "Why": "one upload in fifty failed at peak",
        "Testing": "an integration test with an injected 503",
        "Rollback": "revert the commit; no migration",
    },
    "max_words": 60,
}
pr_model = ScriptedChatModel(brain=ScriptedBrain(responders={"pr_writer": write, "pr_reviewer": review}))
config = new_thread("pr", recursion_limit=recursion_limit(pr_task["max_iterations"]))
state = await pr_graph.ainvoke({"task": pr_task}, config, context=AgentContext(model=pr_model))
result = state["result"]
table(
    ["iteration", "score", "missing"], [[h["iteration"], h["score"], h["missing"]] for h in result["history"]]
)
print("stop:", result["stop_reason"], "| best:", result["best_score"])
print(result["best_draft"])

# %% [markdown]
# ## Clean up
#
# Close the checkpointer's database connection. The SQLite file lives in a temporary folder
# that is removed when the kernel exits. With a file of your own
# (`open_checkpointer("sqlite:///runs.sqlite")`) the checkpoints outlive the session: a later
# one can `aget_state` or resume any thread by its id.

# %%
await stack.aclose()
