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
# # Debate: N debaters, R rounds, a vote, arbitration on no consensus
#
# **What it is for.** Decisions that benefit from independent views and cross-examination.
# In round 1 each *debater* sees only its share of the evidence; in later rounds it also
# sees its peers' previous positions and may change its mind. The debaters of a round run
# in parallel (`Send`). Their final positions go to a vote:
#
# - `majority`: more than half of the ballots;
# - `weighted`: expertise `weights` times confidence, above `threshold` of the total;
# - `quorum`: at least `quorum` debaters agree.
#
# With no consensus, `arbitration` decides: `judge` (an agent weighing all the evidence),
# `plurality` (the leader wins), or `human`, which pauses the run with LangGraph's
# `interrupt` until someone resumes it with `Command(resume=choice)`.
#
# The notebook runs the preset `presets.council_debate()` first, then a debate between
# **your own agents**.

# %%
from contextlib import AsyncExitStack

from langgraph.types import Command
from nbhelpers import checkpoint_url, draw, new_thread, plt, show_figure, show_history, show_run, table

from patterns import AgentContext, ScriptedChatModel, arun, open_checkpointer
from patterns.flows.debate import DebateInput, recursion_limit
from patterns.presets import SAMPLES, council_debate

# %% [markdown]
# ## The graph
#
# `argue` (one task per debater) → `close_round` loops back to `argue` until the last
# round, then `vote` goes to `finish` on consensus, or to `judge` / `ask_human` first.

# %%
# One SQLite file holds every thread of this notebook (in a temporary folder: see nbhelpers).
stack = AsyncExitStack()
saver = await stack.enter_async_context(open_checkpointer(checkpoint_url("debate")))
graph = council_debate(checkpointer=saver)
draw(graph)

# %% [markdown]
# ## Run it on the scripted model


# %%
def debate_input(**change):
    return DebateInput(**{**SAMPLES["debate"], **change})


async def run_debate(task, name="debate", **kwargs):
    config = new_thread(name, recursion_limit=recursion_limit(task.rounds))
    state = await graph.ainvoke(
        {"task": task.model_dump(mode="json")},
        config,
        context=AgentContext(model=ScriptedChatModel()),
        **kwargs,
    )
    return state, config


def transcript(result):
    table(
        ["round", "debater", "position", "confidence", "argument"],
        [
            [t["round"], t["debater"], t["position"], f"{t['confidence']:.2f}", t["argument"]]
            for t in result["transcript"]
        ],
    )


task = debate_input()
print(task.question, task.options, f"| {task.debaters} debaters, {task.rounds} rounds, {task.voting} vote")
state, config = await run_debate(task)
result = state["result"]
print("decision:", result["decision"], "| decided by:", result["decided_by"], "| vote:", result["vote"])
transcript(result)

# %% [markdown]
# ## Inspect the checkpoints
#
# Each round is two steps: the parallel `argue` tasks, then `close_round`. Then `vote`, and
# `finish`.

# %%
await show_history(graph, config)

# %% [markdown]
# ## Pause before the vote, then resume
#
# `interrupt_before=["vote"]` stops after the last round, with every position in the
# checkpoint; `ainvoke(None, config)` continues to the vote.

# %%
state, config = await run_debate(task, "debate-paused", interrupt_before=["vote"])
snapshot = await graph.aget_state(config)
print("paused before:", snapshot.next, "after round", snapshot.values["round"])
state = await graph.ainvoke(None, config, context=AgentContext(model=ScriptedChatModel()))
print("resumed:", state["result"]["decision"], "by", state["result"]["decided_by"])

# %% [markdown]
# ## Change a parameter: the voting method
#
# Same debate, three ways to count. A unanimous `quorum` of 3 is not met by a 2-to-1 split,
# so arbitration (the judge, by default) decides.

# %%
voting = {
    "majority": debate_input(voting="majority"),
    "weighted": debate_input(voting="weighted", threshold=0.7, weights={"debater_1": 2.0}),
    "quorum 3": debate_input(voting="quorum", quorum=3),
}
outcomes = {}
for label, variant in voting.items():
    state, _ = await run_debate(variant)
    outcomes[label] = state["result"]
table(
    ["voting", "consensus", "distribution", "decision", "decided by"],
    [
        [label, o["vote"]["consensus"], o["vote"]["distribution"], o["decision"], o["decided_by"]]
        for label, o in outcomes.items()
    ],
)

# %%
fig, axes = plt.subplots(1, len(outcomes), figsize=(9, 2.8), sharey=False)
for ax, (label, outcome) in zip(axes, outcomes.items(), strict=True):
    distribution = outcome["vote"]["distribution"]
    ax.bar(task.options, [distribution.get(option, 0) for option in task.options])
    ax.set_title(f"{label}: {outcome['decision']}\n(by {outcome['decided_by']})", fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
axes[0].set_ylabel("votes (weighted: expertise x confidence)", fontsize=8)
fig.tight_layout()
show_figure(fig)

# %% [markdown]
# ## Change a parameter: arbitration
#
# Four debaters split 2-1-1, so no majority. `judge` lets the judge agent weigh the evidence,
# `plurality` takes the leader.

# %%
for arbitration in ["judge", "plurality"]:
    state, _ = await run_debate(debate_input(debaters=4, rounds=1, arbitration=arbitration))
    result = state["result"]
    print(
        f"{arbitration:<9} vote={result['vote']['distribution']} -> {result['decision']} "
        f"(by {result['decided_by']}: {result['rationale']})"
    )

# %% [markdown]
# ### Human arbitration: `interrupt` and `Command(resume=...)`
#
# With `arbitration="human"`, the `ask_human` node calls `interrupt(...)`: the run stops, the
# checkpoint is saved, and the question waits in `snapshot.interrupts`, in this process or in
# another one days later (the CLI: `orch run debate --resume --thread ID --answer CHOICE`).
# Resuming with `Command(resume=choice)` re-enters `ask_human`, where `interrupt` now returns
# the choice.

# %%
state, config = await run_debate(debate_input(debaters=4, rounds=1, arbitration="human"), "debate-human")
snapshot = await graph.aget_state(config)
print("waiting in:", snapshot.next)
question = snapshot.interrupts[0].value
print(question["ask"], question["options"], "| vote:", question["vote"]["distribution"])

# %%
choice = "mongodb"  # the human's answer: the arbitrator may overrule the plurality
state = await graph.ainvoke(Command(resume=choice), config, context=AgentContext(model=ScriptedChatModel()))
result = state["result"]
print(result["decision"], "| decided by:", result["decided_by"], "|", result["rationale"])
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
    "debate",
    SAMPLES["debate"],
    model=ScriptedChatModel(),
    checkpoint=checkpoint_url("debate"),
    thread_id="debate-arun",
)
show_run(result)
{k: result.output[k] for k in ("decision", "confidence", "decided_by")}

# %% [markdown]
# ## Your own agents: a debater and a judge
#
# The preset is `build_debate(debater=..., judge=...)` with the agents declared in
# `patterns.presets`. Yours: architects choosing the message broker for an event bus. The
# debater agent is asked once per debater per round (as `debater_1`, `debater_2`, ...) with
# its share of the evidence and, from round 2, its peers' last positions; it replies with a
# `Position`. The judge replies with a `Ruling` when the vote has no consensus.
#
# The scripted model answers each agent with the **responder** registered under its name, a
# plain function of the payload it is sent; a real model would read the instructions. This
# architect argues from its evidence, and from round 2 follows a peer who is much surer.

# %%
from patterns import Agent, ScriptedBrain, build_debate
from patterns.flows.debate import Position, Ruling

architect = Agent(
    "architect",
    "Choose one of the options from your evidence; from round 2, weigh your peers' positions. "
    "Keys: position, confidence (0-1), argument.",
    output=Position,
)
chair = Agent(
    "chair",
    "The architects did not agree: weigh all the evidence and decide. Keys: decision, rationale.",
    output=Ruling,
)


def weights(evidence, options):
    return {option: sum(e["weight"] for e in evidence if e["supports"] == option) for option in options}


def argue(payload):
    weight = weights(payload["evidence"], payload["options"])
    mine = max(payload["options"], key=weight.get)
    confidence = round(weight[mine] / sum(weight.values()), 2)
    surest = max(payload["peers"], key=lambda peer: peer["confidence"], default=None)
    if surest and surest["position"] != mine and surest["confidence"] >= confidence + 0.3:
        reason = f"persuaded by {surest['debater']}"
        return {"position": surest["position"], "confidence": round(confidence * 0.8, 2), "argument": reason}
    return {
        "position": mine,
        "confidence": confidence,
        "argument": f"{weight[mine]:g} of {sum(weight.values()):g} weight",
    }


def rule(payload):
    weight = weights(payload["evidence"], payload["options"])
    best = max(payload["options"], key=weight.get)
    return {
        "decision": best,
        "rationale": f"{best} carries {weight[best]:g} of {sum(weight.values()):g} evidence weight",
    }


brain = ScriptedBrain(responders={"architect": argue, "chair": rule})
broker_graph = build_debate(debater=architect, judge=chair, checkpointer=saver)
broker = {
    "question": "Which broker should carry the event bus?",
    "options": ["kafka", "rabbitmq", "sqs"],
    "evidence": [
        {"claim": "Consumers replay a week of events", "supports": "kafka", "weight": 3},
        {"claim": "The team already runs RabbitMQ", "supports": "rabbitmq", "weight": 2},
        {"claim": "Nobody wants to operate brokers at night", "supports": "sqs", "weight": 2},
        {"claim": "Events per customer must stay in order", "supports": "kafka", "weight": 1},
        {"claim": "Peaks of 50k events per second", "supports": "kafka", "weight": 1},
        {"claim": "Routing keys fit our topic layout", "supports": "rabbitmq", "weight": 1},
    ],
    "debaters": 3,
    "voting": "majority",
    "arbitration": "judge",
}

# %% [markdown]
# With one round nobody hears anyone: a three-way split, so the chair decides. With two,
# the architects with weaker evidence hear the sure one and join it, and the vote decides.

# %%
for rounds in (1, 2):
    broker_task = DebateInput(**broker, rounds=rounds).model_dump(mode="json")
    config = new_thread("broker", recursion_limit=recursion_limit(rounds))
    state = await broker_graph.ainvoke(
        {"task": broker_task}, config, context=AgentContext(model=ScriptedChatModel(brain=brain))
    )
    result = state["result"]
    print(f"{rounds} round(s): {result['decision']} by {result['decided_by']} ({result['rationale']})")
    transcript(result)

# %% [markdown]
# ## Clean up
#
# Close the checkpointer's database connection. The SQLite file lives in a temporary folder
# that is removed when the kernel exits. With a file of your own
# (`open_checkpointer("sqlite:///runs.sqlite")`) the checkpoints outlive the session: a later
# one can `aget_state` or resume any thread by its id.

# %%
await stack.aclose()
