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
# # Handoff: an agent transfers control, with the whole context
#
# **What it is for.** Conversations that move between desks. Each desk (triage, billing,
# technical, general) is a node that either answers or returns
# `Command(goto=desk, update=...)`: the transfer carries the conversation history and the
# reason, so the next desk starts with everything the last one knew. Unlike routing, there
# is no central router: control moves from agent to agent.
#
# Handoffs are bounded: past `max_handoffs`, or to a desk that does not exist, control goes
# to the general desk, which always answers. The recursion limit is derived from the bound.
#
# The notebook runs the preset `presets.support_handoff()` first, then desks staffed by
# **your own agents**.

# %%
from contextlib import AsyncExitStack

from nbhelpers import calls, checkpoint_url, draw, new_thread, show_history, show_run, table

from patterns import AgentContext, FaultPolicy, ScriptedBrain, ScriptedChatModel, arun, open_checkpointer
from patterns.flows.handoff import DeskReply, HandoffInput, desk_update, recursion_limit
from patterns.presets import SAMPLES, SUPPORT_DESKS, support_handoff

# %% [markdown]
# ## The graph
#
# No edge between desks is drawn by `add_edge`: each desk node declares the desks it may
# hand off to (`destinations=`), which is what lets LangGraph draw the `Command` jumps as
# dotted edges.

# %%
# One SQLite file holds every thread of this notebook (in a temporary folder: see nbhelpers).
stack = AsyncExitStack()
saver = await stack.enter_async_context(open_checkpointer(checkpoint_url("handoff")))
graph = support_handoff(checkpointer=saver)
draw(graph)

# %% [markdown]
# ## Run it on the scripted model

# %%
conversation = HandoffInput(**SAMPLES["handoff"])
model = ScriptedChatModel()
config = new_thread("support", recursion_limit=recursion_limit(conversation.max_handoffs))
state = await graph.ainvoke(conversation.model_dump(), config, context=AgentContext(model=model))
result = state["result"]
print("answered by:", result["handled_by"], "|", result["answer"])
print("handoffs:", result["handoffs"])
table(["desk", "said"], [[turn["agent"], turn["content"]] for turn in result["history"]])

# %% [markdown]
# ## Inspect the checkpoints
#
# The triage desk wrote the transfer and a history note; the desk it handed to wrote the
# answer.

# %%
await show_history(graph, config)

# %% [markdown]
# ## Look at a transfer in flight
#
# `interrupt_after=["triage"]` stops right after the first handoff: the checkpoint already
# names the next desk and holds the context it will receive.

# %%
config = new_thread("support-paused", recursion_limit=recursion_limit(conversation.max_handoffs))
await graph.ainvoke(
    conversation.model_dump(), config, context=AgentContext(model=model), interrupt_after=["triage"]
)
snapshot = await graph.aget_state(config)
print("next desk:", snapshot.next, "| transfer:", snapshot.values["handoffs"])
state = await graph.ainvoke(None, config, context=AgentContext(model=model))
print("resumed, answered by:", state["result"]["handled_by"])

# %% [markdown]
# ## A desk goes down mid-conversation, then resume
#
# The technical desk is down (`FaultPolicy(down_agents=...)`); after its retries the run
# fails. Triage's handoff is in the checkpoint, so resuming with a healthy model asks only
# the technical desk: triage is not called again.

# %%
broken = ScriptedChatModel(brain=ScriptedBrain(faults=FaultPolicy(down_agents=frozenset({"technical"}))))
config = new_thread("support-crash", recursion_limit=recursion_limit(conversation.max_handoffs))
try:
    await graph.ainvoke(conversation.model_dump(), config, context=AgentContext(model=broken))
except Exception as exc:
    print("run failed:", type(exc).__name__, exc)
print("calls:", calls(broken), "| waiting on:", (await graph.aget_state(config)).next)

healthy = ScriptedChatModel()
state = await graph.ainvoke(None, config, context=AgentContext(model=healthy))
print("resumed:", state["result"]["handled_by"], "| calls on resume:", calls(healthy))

# %% [markdown]
# ## Change the input and the bound
#
# Different messages end at different desks. The bound is enforced in `desk_update`, the
# pure function every desk (and every framework adapter) uses to turn a reply into the next
# move: once `max_handoffs` transfers have happened, or for a desk that does not exist, the
# next desk is `general`.

# %%
for message in ["I want a refund for last month.", "My app crashes on start.", "Hello, who are you?"]:
    state = await graph.ainvoke(
        HandoffInput(message=message).model_dump(),
        new_thread("support-batch"),
        context=AgentContext(model=model),
    )
    path = " -> ".join(["triage"] + [h["to_agent"] for h in state["result"]["handoffs"]])
    print(f"{path:<22} {message}")

reply = DeskReply(action="handoff", to="technical", reason="this is about the app")
at_bound = {
    "message": "...",
    "max_handoffs": 1,
    "handoffs": [{"from_agent": "triage", "to_agent": "billing", "reason": "refund"}],
}
SUPPORT = (SUPPORT_DESKS, "triage", "general")  # the preset's desks, entry and fallback
print("below the bound ->", desk_update("billing", {**at_bound, "max_handoffs": 3}, reply, *SUPPORT)[0])
print("at the bound    ->", desk_update("billing", at_bound, reply, *SUPPORT)[0])
print(
    "unknown desk    ->",
    desk_update(
        "billing", at_bound | {"max_handoffs": 3}, reply.model_copy(update={"to": "legal"}), *SUPPORT
    )[0],
)
print("recursion limit for max_handoffs=1, 3, 10:", [recursion_limit(n) for n in (1, 3, 10)])

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
    "handoff",
    SAMPLES["handoff"],
    model=ScriptedChatModel(),
    checkpoint=checkpoint_url("handoff"),
    thread_id="handoff-arun",
)
show_run(result)
result.output["handoffs"]

# %% [markdown]
# ## Your own agents: desks of your own
#
# The preset is `build_handoff(desks=..., entry=..., fallback=...)` with one support agent
# staffing four desks. Yours: an insurer, with a different agent at each desk. Every desk
# agent replies with a `DeskReply`: `action="answer"` with the `answer`, or
# `action="handoff"` with the desk it hands `to` and the `reason`. Each desk is sent the
# message, the conversation so far (`history`) and the desks already `visited`. The
# conversation starts at `entry`, which is never handed back to; `fallback` always answers,
# and takes every handoff past `max_handoffs` or to a desk that does not exist.
#
# The scripted model answers each agent with the **responder** registered under its name, a
# plain function of the payload it is sent; a real model would read the instructions.

# %%
import re

from patterns import Agent, build_handoff

DESKS = "reception, claims, fraud_check or customer_care"
receptionist = Agent(
    "receptionist",
    f"Greet the customer; hand new claims to claims. Desks: {DESKS}. Keys: action, to, reason, answer.",
    output=DeskReply,
)
claims_handler = Agent(
    "claims_handler",
    f"Open the claim; hand claims over 5,000 to fraud_check. Desks: {DESKS}. Keys: action, to, reason, answer.",
    output=DeskReply,
)
investigator = Agent(
    "investigator",
    "Check a large claim against the history and decide. Keys: action, to, reason, answer.",
    output=DeskReply,
)
carer = Agent(
    "carer", "Answer whatever reaches you, kindly. Keys: action, to, reason, answer.", output=DeskReply
)


def amount(message):
    found = re.search(r"(\d[\d,]*) euros", message)
    return int(found.group(1).replace(",", "")) if found else 0


def receive(payload):
    text = payload["message"].lower()
    if "lawyer" in text:
        return {"action": "handoff", "to": "legal", "reason": "asks for a lawyer"}  # no such desk
    if any(word in text for word in ("stolen", "accident", "damage")):
        return {"action": "handoff", "to": "claims", "reason": "a new claim"}
    return {"action": "answer", "reason": "a general question", "answer": "We are open 8:00 to 18:00."}


def open_claim(payload):
    euros = amount(payload["message"])
    if euros > 5000:
        return {"action": "handoff", "to": "fraud_check", "reason": f"{euros:,} euros is over the limit"}
    return {"action": "answer", "reason": "within my limit", "answer": f"Claim opened for {euros:,} euros."}


def investigate(payload):
    desks = " and ".join(turn["agent"] for turn in payload["history"])
    answer = f"Checked the notes of {desks}: approved, an expert will visit."
    return {"action": "answer", "reason": "checked", "answer": answer}


responders = {
    "receptionist": receive,
    "claims_handler": open_claim,
    "investigator": investigate,
    "carer": lambda p: {
        "action": "answer",
        "reason": "fallback",
        "answer": "Customer care will call you back.",
    },
}
insurer = build_handoff(
    desks={
        "reception": receptionist,
        "claims": claims_handler,
        "fraud_check": investigator,
        "customer_care": carer,
    },
    entry="reception",
    fallback="customer_care",
    checkpointer=saver,
)
draw(insurer)

# %%
insurer_model = ScriptedChatModel(brain=ScriptedBrain(responders=responders))
storm = "A storm caused damage of 12,000 euros to the roof."
threads, rows = {}, []
for message in [
    "When are you open?",
    "My bike was stolen, it was worth 900 euros.",
    storm,
    "I want to talk to a lawyer.",
]:
    config = threads[message] = new_thread("insurer", recursion_limit=recursion_limit(3))
    state = await insurer.ainvoke(
        {"message": message, "max_handoffs": 3}, config, context=AgentContext(model=insurer_model)
    )
    result = state["result"]
    path = " -> ".join(["reception"] + [h["to_agent"] for h in result["handoffs"]])
    rows.append([message, path, result["answer"]])
table(["message", "desks", "answer"], rows)

# %% [markdown]
# The last conversation was handed to `legal`, which is not a desk, so it went to the
# fallback. Every transfer is in the checkpoints with its reason, here the storm claim's
# two:

# %%
await show_history(insurer, threads[storm])

# %% [markdown]
# ## Clean up
#
# Close the checkpointer's database connection. The SQLite file lives in a temporary folder
# that is removed when the kernel exits. With a file of your own
# (`open_checkpointer("sqlite:///runs.sqlite")`) the checkpoints outlive the session: a later
# one can `aget_state` or resume any thread by its id.

# %%
await stack.aclose()
