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
# # Supervisor / group chat: a manager gives the turn, members reply on one transcript
#
# **What it is for.** Work a team does by talking it through. Members take turns on a shared
# transcript, each shown the task, the transcript so far and the last reply. Before every
# turn the next speaker is chosen by a *manager* agent (it replies with a member's name, or
# `done`), by a function of the chat, or, with neither, round-robin. The chat ends at the
# first of: `max_turns` turns, a `done`, or a stop rule (`until`) holding after a turn.
#
# A member may itself be a compiled pattern, another team for one: a **hierarchical team**.
# Every pick and every reply is checkpointed, so a resumed run goes on from the last turn.
#
# The notebook runs the preset `team.incident_team()` (an incident review), its hierarchical
# variant `team.incident_hierarchy()`, then teams of **your own**: round-robin refinement,
# and a function picking the speaker.

# %%
from contextlib import AsyncExitStack

from nbhelpers import calls, checkpoint_url, draw, new_thread, plt, show_figure, show_history, show_run, table

from patterns import AgentContext, FaultPolicy, ScriptedBrain, ScriptedChatModel, arun, open_checkpointer
from patterns.errors import ServerError
from patterns.flows.supervisor import recursion_limit
from patterns.presets import team


def incident_model(*down):
    """The scripted model answering the preset's agents, with the agents named in `down` failing."""
    faults = FaultPolicy(down_agents=frozenset(down))
    return ScriptedChatModel(brain=ScriptedBrain(responders=team.RESPONDERS, faults=faults))


def transcript(result):
    """Who spoke, why they were given the turn, and (the start of) what they said."""
    table(
        ["turn", "speaker", "why", "said"],
        [[m["turn"], m["speaker"], m["reason"], str(m["output"])[:80]] for m in result["transcript"]],
    )


# %% [markdown]
# ## The graph
#
# `manage` picks the next speaker (a conditional edge to that member's node) or ends the chat
# (`finish`); every member hands back to `manage`.

# %%
# One SQLite file holds every thread of this notebook (in a temporary folder: see nbhelpers).
stack = AsyncExitStack()
saver = await stack.enter_async_context(open_checkpointer(checkpoint_url("supervisor")))
graph = team.incident_team(checkpointer=saver)
draw(graph)

# %% [markdown]
# ## Run it on the scripted model
#
# The incident lead gives the turn to whoever's findings are still missing: the log analyst,
# the metrics analyst, the deploy analyst (who needs the first error the log analyst found),
# then the scribe; then it says `done`. The recursion limit follows `max_turns`: two
# supersteps per turn, with headroom.

# %%
model = incident_model()
config = new_thread("incident", recursion_limit=recursion_limit(team.SAMPLE["max_turns"]))
state = await graph.ainvoke(team.SAMPLE, config, context=AgentContext(model=model))
result = state["result"]
transcript(result)
print("stopped:", result["stop_reason"], "after", result["turns"], "turns")
print(result["final"]["summary"])
print("action:", result["final"]["action"], "| calls:", calls(model))

# %% [markdown]
# ## Inspect the checkpoints
#
# Two checkpoints per turn: after the pick (`pick` holds the speaker and the reason), and
# after the reply (the transcript grows by one message).

# %%
await show_history(graph, config)

# %% [markdown]
# ## Read the findings before the write-up: interrupt and resume
#
# `interrupt_before=["scribe"]` pauses once the lead has picked the scribe: the three
# findings are in the checkpoint, and resuming runs the scribe's turn without asking anyone
# else again.

# %%
model = incident_model()
config = new_thread("incident-paused", recursion_limit=16)
await graph.ainvoke(team.SAMPLE, config, context=AgentContext(model=model), interrupt_before=["scribe"])
snapshot = await graph.aget_state(config)
print("next:", snapshot.next, "| picked because:", snapshot.values["pick"]["reason"])
print("so far:", [m["speaker"] for m in snapshot.values["transcript"]], "| calls:", calls(model))
state = await graph.ainvoke(None, config, context=AgentContext(model=model))
print("resumed:", state["result"]["final"]["action"], "| calls:", calls(model))

# %% [markdown]
# ## A member down mid-chat, then resumed from the last saved turn
#
# The deploy analyst is down and the graph has no node retry: the run fails on turn 3. The
# checkpoint holds the first two replies and the lead's third pick; resuming with a healthy
# model runs the deploy analyst, then carries on. Neither of the first two analysts, nor the
# lead's third pick, is asked for again.

# %%
strict = team.incident_team(checkpointer=saver, retry_policy=None)
config = new_thread("incident-down", recursion_limit=16)
down = incident_model("deploy_analyst")
try:
    await strict.ainvoke(team.SAMPLE, config, context=AgentContext(model=down))
except ServerError as exc:
    print("failed:", exc)
snapshot = await strict.aget_state(config)
print("next:", snapshot.next, "| saved turns:", [m["speaker"] for m in snapshot.values["transcript"]])
print("calls:", calls(down))

healthy = incident_model()
state = await strict.ainvoke(None, config, context=AgentContext(model=healthy))
print("resumed:", state["result"]["speakers"], "| calls on resume:", calls(healthy))

# %% [markdown]
# ## A parameter changed: `max_turns`
#
# With fewer turns than the review needs, the chat stops at the bound (`max_turns`), the last
# reply so far as its final one. Four turns are enough for the review, but the bound is
# checked first, so the lead is not asked again; from five on, the lead says `done`.

# %%
rows = []
for max_turns in range(1, 7):
    data = {**team.SAMPLE, "max_turns": max_turns}
    state = await graph.ainvoke(
        data,
        new_thread("incident-turns", recursion_limit=recursion_limit(max_turns)),
        context=AgentContext(model=incident_model()),
    )
    result = state["result"]
    rows.append([max_turns, result["turns"], result["stop_reason"], ", ".join(result["speakers"])])
table(["max_turns", "turns", "stop", "speakers"], rows)

# %% [markdown]
# ## A hierarchical team
#
# `team.INVESTIGATION` is a team of its own: the three analysts, round-robin, until each has
# spoken once, compiled without a checkpointer. In `team.incident_hierarchy()` it is one
# member of the lead's team, next to the scribe. The nested team is called from its member's
# node: it is given the member's payload as its input, its result is the member's reply,
# and its steps are saved in this run's checkpointer under the member's namespace.

# %%
draw(team.INVESTIGATION)
hierarchy = team.incident_hierarchy(checkpointer=saver)
draw(hierarchy)

# %%
model = incident_model()
config = new_thread("incident-hierarchy", recursion_limit=recursion_limit(4))
state = await hierarchy.ainvoke({**team.SAMPLE, "max_turns": 4}, config, context=AgentContext(model=model))
result = state["result"]
transcript(result)
print("inside the investigation:", result["transcript"][0]["output"]["speakers"])
print(result["final"]["summary"])
namespaces = sorted(
    {c.config["configurable"]["checkpoint_ns"].split(":")[0] async for c in saver.alist(config)}
)
print("checkpoint namespaces of the thread:", namespaces, "| calls:", calls(model))

# %% [markdown]
# ## The same run through `patterns.arun`
#
# `arun` wraps everything above: it validates the input, opens the checkpointer from a URL,
# derives the recursion limit from `max_turns`, and returns a `RunResult` with per-step
# records, calls and tokens: the type the CLI and the benchmarks use. (It also times every
# step; this notebook leaves the timings out so that its outputs are the same on every run.)

# %%
result = await arun(
    team.SPEC,
    team.SAMPLE,
    model=incident_model(),
    checkpoint=checkpoint_url("supervisor"),
    thread_id="supervisor-arun",
)
show_run(result, steps=10)
result.output["speakers"]

# %% [markdown]
# ## Your own agents: round-robin refinement
#
# With no manager and no `select`, the members speak in turn. Three editors each make one
# fix to the last draft (the `last` of their payload), each its own kind: a typo, a jargon
# word, a filler word. Round after round the draft improves, `until` it has no issue left;
# the `max_turns` bound is the hard stop. The chat is the refinement loop.
#
# The scripted model answers each agent with the **responder** registered under its name, a
# plain function of the payload it is sent; a real model would read the instructions.

# %%
import re

from pydantic import BaseModel

from patterns import Agent
from patterns.flows.supervisor import build_supervisor

TYPOS = {"delivr": "deliver", "basicaly": "basically"}
JARGON = {"leverage": "use", "synergy": "teamwork", "paradigm-shifting": "new"}
FILLER = ("very", "really", "basically")


class Edit(BaseModel):
    text: str
    fixed: str | None
    remaining: dict[str, int]
    score: float


def issues(text):
    words = re.findall(r"[\w-]+", text.lower())
    return {
        "typos": sum(w in TYPOS for w in words),
        "jargon": sum(w in JARGON for w in words),
        "filler": sum(w in FILLER for w in words),
    }


def edit(fix):
    """A responder that makes one fix to the last draft (or the brief's text) and counts what is left."""

    def respond(payload):
        text = (payload["last"] or payload["input"])["text"]
        new, fixed = fix(text)
        left = issues(new)
        return {
            "text": new,
            "fixed": fixed,
            "remaining": left,
            "score": round(1 / (1 + sum(left.values())), 2),
        }

    return respond


def replace_first(table):
    def fix(text):
        for word in re.findall(r"[\w-]+", text):
            if word.lower() in table:
                return text.replace(word, table[word.lower()], 1), f"{word} -> {table[word.lower()]}"
        return text, None

    return fix


def drop_first_filler(text):
    for word in re.findall(r"\w+", text):
        if word.lower() in FILLER:
            return re.sub(rf"\b{word}\b ?", "", text, count=1), f"- {word}"
    return text, None


def editor(name, kind):
    return Agent(
        name,
        f"Make the first {kind} fix to the last draft. Keys: text, fixed, remaining, score.",
        output=Edit,
    )


editors = [editor("speller", "typo"), editor("plain_talker", "jargon"), editor("trimmer", "filler-word")]
responders = {
    "speller": edit(replace_first(TYPOS)),
    "plain_talker": edit(replace_first(JARGON)),
    "trimmer": edit(drop_first_filler),
}
brief = {
    "text": "We leverage synergy to delivr a very robust, really paradigm-shifting app that basicaly works."
}
print("issues in the brief:", issues(brief["text"]))

refine = build_supervisor(members=editors, until=lambda chat: chat.last["score"] == 1, checkpointer=saver)
draw(refine)

# %%
editing = ScriptedChatModel(brain=ScriptedBrain(responders=responders))
state = await refine.ainvoke(
    {"input": brief, "max_turns": 12},
    new_thread("copy", recursion_limit=recursion_limit(12)),
    context=AgentContext(model=editing),
)
result = state["result"]
table(
    ["turn", "speaker", "fixed", "score", "draft"],
    [
        [m["turn"], m["speaker"], m["output"]["fixed"], m["output"]["score"], m["output"]["text"]]
        for m in result["transcript"]
    ],
)
print("stopped:", result["stop_reason"], "after", result["turns"], "turns | calls:", calls(editing))

# %% [markdown]
# ## Your own agents: a function picks the speaker
#
# `select=fn(chat)` decides from the chat so far (`chat.last`, `chat.last_speaker`,
# `chat.transcript`, `chat.turns`): here it gives the turn to the editor whose kind of issue
# the last draft has most of, and says `done` when there is none. No turn is wasted on an
# editor with nothing to fix.


# %%
def worst_kind(chat):
    left = issues(chat.input["text"]) if chat.last is None else chat.last["remaining"]
    if not any(left.values()):
        return "done"
    kind = max(left, key=lambda k: left[k])  # ties go to the first kind: typos, then jargon
    return {"typos": "speller", "jargon": "plain_talker", "filler": "trimmer"}[kind]


chosen = build_supervisor(members=editors, select=worst_kind, checkpointer=saver)
editing = ScriptedChatModel(brain=ScriptedBrain(responders=responders))
picked = await chosen.ainvoke(
    {"input": brief, "max_turns": 12},
    new_thread("copy-selected", recursion_limit=recursion_limit(12)),
    context=AgentContext(model=editing),
)
print("speakers:", picked["result"]["speakers"], "| stopped:", picked["result"]["stop_reason"])
print("final:", picked["result"]["final"]["text"])

# %%
fig, ax = plt.subplots(figsize=(6, 2.5))
for label, run in (("round-robin", result), ("select: worst kind first", picked["result"])):
    scores = [m["output"]["score"] for m in run["transcript"]]
    ax.plot(range(1, len(scores) + 1), scores, marker="o", label=f"{label} ({len(scores)} turns)")
ax.set_xlabel("turn")
ax.set_ylabel("score (1 = no issue left)")
ax.legend(loc="lower right")
show_figure(fig)

# %% [markdown]
# To run a team on a real model, pass `resolve_model("openai:gpt-4o-mini")` as the context's
# model, or give one member its own with `Agent(..., model=...)`: nothing else changes.
#
# ## Clean up
#
# Close the checkpointer's database connection. The SQLite file lives in a temporary folder
# that is removed when the kernel exits.

# %%
await stack.aclose()
