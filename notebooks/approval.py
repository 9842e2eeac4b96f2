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
# # Human approval and guardrails: a person decides, checks stop what must not pass
#
# **What it is for.** Steps with side effects (publishing, paying, sending) that a person
# must sign off, and inputs or answers that must never get through.
#
# - An **approval step** (`approval_step(name, editable=Model)`) pauses the run with
#   LangGraph's `interrupt`, showing the value and what an answer must look like. The
#   person answers `{"action": "approve"}`, `{"action": "edit", "value": {...}}` (checked
#   against the model) or `{"action": "reject", "reason": "..."}`, which stops the flow
#   naming the step and the reason. It is a pipeline stage, a node of any graph, or a call
#   inside a node before its side effect.
# - **Guardrails** (`with_guardrails(flow, input=[...], output=[...])`) wrap any pattern
#   between a `check_input` and a `check_output` node. A guardrail is a plain function or
#   an agent replying with a `Verdict`; one that trips fails the run with
#   `GuardrailTripped`, naming it: an input guardrail before the flow's first model call,
#   an output guardrail before the answer reaches `result`.
#
# The notebook runs the preset (a publishing pipeline, `patterns.presets.publishing`)
# first, then an approval and guardrails of **your own**.

# %%
import json
from contextlib import AsyncExitStack

from langgraph.types import Command
from nbhelpers import brief, calls, checkpoint_url, draw, new_thread, show_history, show_run, table

from patterns import AgentContext, ScriptedBrain, ScriptedChatModel, UsageError, arun, open_checkpointer
from patterns.flows.approval import ApprovalRejected
from patterns.flows.guardrails import GuardrailTripped
from patterns.presets import publishing

# %% [markdown]
# ## The graphs
#
# The guarded graph is three nodes: the checks, and the pipeline between them. The pipeline
# is called from its node as a nested graph (drawn on its own below): it keeps its own state
# and saves its steps in the same checkpointer, under that node's namespace, so a run paused
# inside it resumes inside it. The approval step, `editor_review`, is a stage like any other.

# %%
# One SQLite file holds every thread of this notebook (in a temporary folder: see nbhelpers).
stack = AsyncExitStack()
saver = await stack.enter_async_context(open_checkpointer(checkpoint_url("approval")))
graph = publishing.publishing_pipeline(checkpointer=saver)
draw(graph)

# %%
draw(publishing.PIPELINE.compile())

# %% [markdown]
# ## Run it on the scripted model: it pauses for the editor
#
# The responders write the article from the brief and check it for real. The run stops at
# `editor_review`: `ainvoke` returns the state with `__interrupt__`, whose value is what the
# editor is shown, and the checkpoint waits for the answer, in this process or in another
# one (`orch run approval --resume --thread ID --answer '{"action": "approve"}'`).

# %%
model = ScriptedChatModel(brain=ScriptedBrain(responders=publishing.RESPONDERS))
config = new_thread("post")
state = await graph.ainvoke(publishing.SAMPLE, config, context=AgentContext(model=model))
pause = state["__interrupt__"][0].value
print("step:", pause["step"], "| actions:", pause["actions"])
print("ask:", pause["ask"])
print(json.dumps(pause["value"], indent=2))
print("calls so far:", calls(model))

# %% [markdown]
# The pause also carries `answer_schema`, the JSON schema of an answer, built from the
# step's `editable` model: what lets the runner refuse a wrong answer without knowing the
# pattern. Its `examples` are answers to this very draft (the edit one is a template).

# %%
schema = pause["answer_schema"]
print("forms:", list(schema["discriminator"]["mapping"]))
print("an edit's value:", schema["$defs"]["Article"]["required"])
for example in schema["examples"]:
    print(brief(example, 110))

# %% [markdown]
# ## Approve, and resume
#
# `Command(resume=answer)` re-enters the paused node, where `interrupt` now returns the
# answer. The copywriter is not asked again: the nested pipeline resumes from its own
# checkpoint. Then the publisher runs, and the standards editor checks the publication.

# %%
state = await graph.ainvoke(Command(resume={"action": "approve"}), config, context=AgentContext(model=model))
published = state["result"]["output"]
print(published["url"], "|", published["words"], "words,", published["reading_minutes"], "min")
print("calls:", calls(model))
await show_history(graph, config)

# %% [markdown]
# ## Edit, or reject
#
# An edit is the whole article, checked against `Article`; the publisher gets the edited
# one. A rejection stops the flow with `ApprovalRejected`, naming the step and the reason:
# the publisher never runs, and resuming the thread again ends the same way.

# %%
model = ScriptedChatModel(brain=ScriptedBrain(responders=publishing.RESPONDERS))
config = new_thread("post-edited")
state = await graph.ainvoke(publishing.SAMPLE, config, context=AgentContext(model=model))
edited = {**state["__interrupt__"][0].value["value"], "title": "Checkout in two taps"}
state = await graph.ainvoke(
    Command(resume={"action": "edit", "value": edited}), config, context=AgentContext(model=model)
)
print("published:", state["result"]["output"]["url"])

config = new_thread("post-rejected")
await graph.ainvoke(publishing.SAMPLE, config, context=AgentContext(model=model))
try:
    await graph.ainvoke(
        Command(resume={"action": "reject", "reason": "hold it until the launch"}),
        config,
        context=AgentContext(model=model),
    )
except ApprovalRejected as exc:
    print(f"{type(exc).__name__}: {exc}")
print("calls:", calls(model))

# %% [markdown]
# ## A wrong answer is refused before it is stored
#
# LangGraph keeps a resume value in the thread for good: an answer the step cannot take
# would be replayed on every later resume. So `patterns.arun` (and `orch run --answer`)
# checks the answer against the pause's `answer_schema` first, and refuses it with a
# `UsageError` that says what is wrong; the thread is left exactly as it was, and a right
# answer still resumes it.

# %%
url = checkpoint_url("approval")
model = ScriptedChatModel(brain=ScriptedBrain(responders=publishing.RESPONDERS))
paused = await arun(publishing.SPEC, model=model, checkpoint=url, thread_id="approval-arun")
show_run(paused)
rows = []
for answer in [
    "approve",
    {"action": "publish"},
    {"action": "edit", "value": {"title": "Checkout in two taps"}},
    {"action": "reject", "reason": " "},
]:
    try:
        await arun(
            publishing.SPEC,
            model=model,
            checkpoint=url,
            thread_id="approval-arun",
            resume=True,
            resume_value=answer,
        )
    except UsageError as exc:
        rows.append([json.dumps(answer), str(exc).split("answer: ", 1)[1]])
table(["answer", "refused because"], rows)

# %%
done = await arun(
    publishing.SPEC,
    model=model,
    checkpoint=url,
    thread_id="approval-arun",
    resume=True,
    resume_value={"action": "approve"},
)
show_run(done)
done.output["output"]["slug"]

# %% [markdown]
# An answer given straight to the graph (`Command(resume=...)`) bypasses that check, so the
# step checks it too: instead of failing the run, it asks again, with the problem.

# %%
config = new_thread("post-direct")
await graph.ainvoke(publishing.SAMPLE, config, context=AgentContext(model=model))
state = await graph.ainvoke(
    Command(resume={"action": "edit", "value": {"title": ""}}), config, context=AgentContext(model=model)
)
print("asked again:", state["__interrupt__"][0].value["problem"])

# %% [markdown]
# ## The guardrails
#
# The input guardrail, `personal_data`, is a function: a brief with an email address or a
# phone number stops the run in `check_input`, before the copywriter is called (no model
# call at all). The output guardrail, `standards_editor`, is an agent: it refuses a
# publication with a claim the house style bans, whether the copywriter wrote it or the
# editor typed it in. Its verdict comes before the answer is written to `result`: the
# answer is held in the checkpoint's `unchecked_result`, and `result` stays empty.

# %%
model = ScriptedChatModel(brain=ScriptedBrain(responders=publishing.RESPONDERS))
leaky = {"input": {**publishing.SAMPLE["input"], "points": ["questions? mail jo.bloggs@example.com"]}}
try:
    await graph.ainvoke(leaky, new_thread("post-pii"), context=AgentContext(model=model))
except GuardrailTripped as exc:
    print(f"{type(exc).__name__}: {exc}")
print("calls:", calls(model))

# %%
config = new_thread("post-banned")
state = await graph.ainvoke(publishing.SAMPLE, config, context=AgentContext(model=model))
edited = {**state["__interrupt__"][0].value["value"], "title": "Guaranteed two-tap checkout"}
try:
    await graph.ainvoke(
        Command(resume={"action": "edit", "value": edited}), config, context=AgentContext(model=model)
    )
except GuardrailTripped as exc:
    print(f"{type(exc).__name__}: {exc}")
snapshot = await graph.aget_state(config)
print(
    "result:",
    snapshot.values.get("result"),
    "| held:",
    snapshot.values["unchecked_result"]["output"]["title"],
)
print("calls:", calls(model))

# %% [markdown]
# Through `arun` a tripped guardrail is a failed run, its error naming the guardrail (the
# CLI prints it and exits 1):

# %%
result = await arun(publishing.SPEC, leaky, model=model, checkpoint="memory")
print(result.status, "|", result.error)

# %% [markdown]
# ## Your own approval and guardrails
#
# A refund desk: a *refund clerk* agent proposes a refund for a complaint, a manager
# approves it (or lowers the amount) before the payment, a plain async function that
# records it, is made. Guardrails around the pipeline: an input function refusing
# complaints without an order number, and an output agent refusing any payment over the
# limit, whoever set the amount.

# %%
import re

from pydantic import BaseModel, Field

from patterns import Agent, build_pipeline
from patterns.flows.approval import approval_step
from patterns.flows.guardrails import Verdict, with_guardrails


class Refund(BaseModel):
    order: str = Field(pattern=r"^A-\d{4}$")
    amount: float = Field(gt=0)
    note: str


refund_clerk = Agent(
    "refund_clerk",
    "Propose a refund for the complaint: the order number, the amount, a note for the customer. "
    "Keys: order, amount, note.",
    output=Refund,
)
limit_checker = Agent(
    "limit_checker",
    "Refuse any payment over 100.00. Keys: passed, reason.",
    output=Verdict,
)
payments = []  # what the payment stage did: the side effect the manager signs off


async def pay(refund: dict) -> dict:
    payments.append(refund)
    return {"paid": refund["amount"], "order": refund["order"], "receipt": f"R-{len(payments):03d}"}


def has_order_number(value: dict) -> Verdict:
    found = re.search(r"\bA-\d{4}\b", value["input"]["complaint"])
    return Verdict(passed=bool(found), reason="no order number (A-1234) in the complaint")


def propose(payload):
    order = re.search(r"\bA-\d{4}\b", payload["complaint"]).group()
    amount = float(re.search(r"(\d+(?:\.\d+)?) euros", payload["complaint"]).group(1))
    return {"order": order, "amount": amount, "note": f"We refund {amount:.2f} EUR for order {order}."}


def check_limit(payload):
    paid = payload["output"]["paid"]
    return {"passed": paid <= 100, "reason": f"{paid:.2f} is over the 100.00 limit"}


brain = ScriptedBrain(responders={"refund_clerk": propose, "limit_checker": check_limit})
refunds = with_guardrails(
    build_pipeline(stages=[refund_clerk, approval_step("manager", editable=Refund), pay]),
    input=[has_order_number],
    output=[limit_checker],
    checkpointer=saver,
    name="refunds",
)
draw(refunds)

# %% [markdown]
# Three complaints: one the manager approves, one where the manager lowers the refund to the
# limit, one the manager approves over the limit, which the output guardrail stops after
# the payment stage but before the answer leaves; and one without an order number, stopped
# before the clerk is asked.

# %%
own_model = ScriptedChatModel(brain=brain)
complaints = [
    ("The mug in order A-1042 arrived broken, it cost 12.50 euros.", {"action": "approve"}),
    ("Order A-2087: the lamp never came, 140 euros.", "lower"),
    ("Order A-3001: the chair is wrong, 180 euros.", {"action": "approve"}),
    ("My parcel is late.", None),
]
rows = []
for complaint, answer in complaints:
    config = new_thread("refund")
    try:
        state = await refunds.ainvoke(
            {"input": {"complaint": complaint}}, config, context=AgentContext(model=own_model)
        )
        proposed = state["__interrupt__"][0].value["value"]
        if answer == "lower":
            answer = {
                "action": "edit",
                "value": {**proposed, "amount": 100.0, "note": "We refund the limit."},
            }
        state = await refunds.ainvoke(Command(resume=answer), config, context=AgentContext(model=own_model))
        outcome = f"paid {state['result']['output']['paid']:.2f} ({state['result']['output']['receipt']})"
    except GuardrailTripped as exc:
        outcome = str(exc)
    rows.append([complaint, answer["action"] if answer else "-", outcome])
table(["complaint", "manager", "outcome"], rows)
print("payments made:", [p["amount"] for p in payments])
print("calls:", calls(own_model))

# %% [markdown]
# The output guardrail saw the 180.00 refund only after the payment stage ran: it stops an
# answer from leaving, not a side effect inside the flow. That is the approval step's job,
# or a gate before the stage; put checks that must come before an effect in front of it.
#
# To run these agents on a real model, pass `resolve_model("openai:gpt-4o-mini")` as the
# context's model: the graphs, the steps, the guardrails and the checkpoints stay as they
# are; only the responders are the scripted model's.
#
# ## Clean up
#
# Close the checkpointer's database connection. The SQLite file lives in a temporary folder
# that is removed when the kernel exits. With a file of your own
# (`open_checkpointer("sqlite:///runs.sqlite")`) the checkpoints outlive the session: a later
# one can `aget_state` or resume any thread by its id.

# %%
await stack.aclose()
