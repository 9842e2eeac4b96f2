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
# # Tool-using agent: a bounded ReAct loop with checkpoints
#
# **What it is for.** Work an agent cannot do from its prompt alone: look a figure up,
# compute, ask a specialist, run a whole flow. The agent is called with its tools bound;
# each call it makes runs as **its own step** (the calls of one turn in parallel), and the
# result, or the error as text, goes back to it as a tool message, until it answers with its
# output model. A tool that raises never fails the flow: the agent reads why and carries on.
#
# Every model turn and every tool run is checkpointed, so a resumed run never runs a
# finished tool again. The loop is bounded by `max_tool_calls`: a turn asking for more fails
# with `ToolBudgetExceeded` rather than forcing an answer the agent had no facts for.
#
# The notebook runs the preset `assistant_tools()` first (an assistant with a lookup and a
# calculator over a table of countries), then a coordinator of **your own** whose tools are
# a function, another agent and a whole flow.

# %%
from contextlib import AsyncExitStack

from nbhelpers import brief, calls, checkpoint_url, draw, new_thread, show_history, show_run, table

from patterns import AgentContext, ScriptedBrain, ScriptedChatModel, arun, open_checkpointer
from patterns.flows import tools
from patterns.flows.tools import as_tool, build_tool_agent, recursion_limit
from patterns.presets import assistant
from patterns.presets.assistant import assistant_tools

# %% [markdown]
# ## The graph
#
# One node for the agent, named after it, and one per tool, named after the tool: the agent's
# conditional edge sends each call of a turn to its tool (`Send`, so they run in parallel),
# and every tool leads back to the agent. An answer ends the run.

# %%
# One SQLite file holds every thread of this notebook (in a temporary folder: see nbhelpers).
stack = AsyncExitStack()
saver = await stack.enter_async_context(open_checkpointer(checkpoint_url("tools")))
graph = assistant_tools(checkpointer=saver)
draw(graph)

# %% [markdown]
# The model is shown each tool's JSON schema, made from the function's signature and
# docstring by LangChain's `StructuredTool.from_function`:

# %%
as_tool(assistant.lookup).schema

# %% [markdown]
# ## Run it on the scripted model
#
# The scripted assistant plans the calls a careful model would make: every figure it needs
# in one turn of parallel lookups, then one division per country, then the answer computed
# from what the tools returned.

# %%
model = ScriptedChatModel(brain=ScriptedBrain(responders=assistant.RESPONDERS))
config = new_thread("countries", recursion_limit=recursion_limit(12))
state = await graph.ainvoke(assistant.SAMPLE, config, context=AgentContext(model=model))
result = state["result"]
print(result["answer"]["answer"])
print("model turns:", result["turns"], "| calls:", calls(model))
table(
    ["turn", "tool", "arguments", "result"],
    [[c["turn"], c["tool"], c["arguments"], c["result"]] for c in result["tool_calls"]],
)

# %% [markdown]
# ## Inspect the checkpoints
#
# Six lookups in one superstep, each its own task with its own writes; then three
# calculator calls; then the answer.

# %%
await show_history(graph, config)

# %% [markdown]
# ## Pause before the calculator, then resume
#
# `interrupt_before=["calculate"]` stops after the lookups: the checkpoint holds their
# results, and resuming runs only the calculator and the last turn. No lookup runs again:
# a resumed run picks up from the last saved step, and within a step from the last saved
# task. (A tool cut off *while it runs* runs again on resume: tools are called at least
# once, so make the ones with side effects idempotent.)

# %%
config = new_thread("countries-paused", recursion_limit=recursion_limit(12))
await graph.ainvoke(
    assistant.SAMPLE, config, context=AgentContext(model=model), interrupt_before=["calculate"]
)
snapshot = await graph.aget_state(config)
print("done so far:", [r["tool"] for r in snapshot.values["results"]], "| next:", snapshot.next)
resumed = ScriptedChatModel(brain=ScriptedBrain(responders=assistant.RESPONDERS))
state = await graph.ainvoke(None, config, context=AgentContext(model=resumed))
print("resumed:", state["result"]["answer"]["figures"], "| model calls on resume:", calls(resumed))

# %% [markdown]
# ## A failing tool, and the bound
#
# A country the table lacks makes `lookup` raise. The error goes back to the assistant as
# the tool's result (`{"error": "LookupError: ..."}`); it answers with the countries it has
# figures for and says which it has none for.

# %%
question = {"input": {"question": "Which is more densely populated, Japan, Atlantis or New Zealand?"}}
state = await graph.ainvoke(question, new_thread("countries-unknown"), context=AgentContext(model=model))
print(state["result"]["answer"]["answer"])
table(
    ["turn", "tool", "arguments", "error"],
    [[c["turn"], c["tool"], c["arguments"], c["error"]] for c in state["result"]["tool_calls"] if c["error"]],
)

# %% [markdown]
# Different questions need different calls. With `max_tool_calls=4` the density of three
# countries (six lookups) is out of reach: the first turn already asks for more, and the run
# stops with `ToolBudgetExceeded` before any tool runs.

# %%
rows = []
for text in [
    "What is the population of Japan?",
    "Rank Canada, India and Brazil by area",
    "Which is more densely populated, Japan, Germany or the Netherlands?",
]:
    state = await graph.ainvoke(
        {"input": {"question": text}}, new_thread("countries-batch"), context=AgentContext(model=model)
    )
    rows.append(
        [
            text,
            len(state["result"]["tool_calls"]),
            state["result"]["turns"],
            state["result"]["answer"]["answer"],
        ]
    )
table(["question", "tool calls", "turns", "answer"], rows)

tight = tools.SPEC.flow(
    agent=assistant.ASSISTANT, tools=[assistant.lookup, assistant.calculate], max_tool_calls=4
)
try:
    await tight.compile().ainvoke(assistant.SAMPLE, context=AgentContext(model=model))
except tools.ToolBudgetExceeded as exc:
    print("ToolBudgetExceeded:", exc)
print("recursion limit for max_tool_calls=1, 4, 12:", [recursion_limit(n) for n in (1, 4, 12)])

# %% [markdown]
# ## The same run through `patterns.arun`
#
# `arun` takes the declared flow (here the preset's `SPEC`), validates the input, opens the
# checkpointer from a URL, sets the recursion limit from `max_tool_calls`, and returns a
# `RunResult` whose steps are named after the agent and the tools. (It also times every
# step; this notebook leaves the timings out so that its outputs are the same on every run.)

# %%
result = await arun(
    assistant.SPEC,
    model=ScriptedChatModel(brain=ScriptedBrain(responders=assistant.RESPONDERS)),
    checkpoint=checkpoint_url("tools"),
    thread_id="tools-arun",
)
show_run(result, steps=12)
result.output["answer"]

# %% [markdown]
# ## Your own agents: a function, an agent and a flow as tools
#
# The preset is `build_tool_agent(agent=..., tools=[lookup, calculate], max_tool_calls=12)`.
# Yours: a release manager deciding whether to ship. Its tools are
#
# - `open_issues`, a plain typed function over a small issue tracker;
# - `summarise`, another **agent** made a tool by `as_tool(summariser, ...)`: it is asked
#   with the call's arguments (by default one `request` string) and its reply is the result;
# - `ask_reviewers`, a whole **flow** made a tool: a panel of two reviewers
#   (`build_scatter_gather(workers=[...])`), run in the release manager's context, its steps
#   saved in the same checkpointer under the tool's step.
#
# The scripted model answers each agent with the **responder** registered under its name. A
# responder calls tools by returning `ToolCall`s, and on its next turn finds what they
# returned in its payload under `TOOL_RESULTS`.

# %%
import json

from pydantic import BaseModel

from patterns import Agent, build_scatter_gather
from patterns.testing import TOOL_RESULTS, ToolCall

TRACKER = {
    "checkout": [{"id": 101, "severity": "minor", "title": "Button misaligned on small screens"}],
    "login": [
        {"id": 202, "severity": "critical", "title": "Session token logged in plain text"},
        {"id": 203, "severity": "minor", "title": "Typo on the reset page"},
    ],
}


def open_issues(component: str) -> list[dict]:
    """The open issues of a component, most severe first.

    Args:
        component: The component's name, e.g. "login".
    """
    return sorted(TRACKER.get(component, []), key=lambda issue: issue["severity"] != "critical")


class Summary(BaseModel):
    text: str


class Review(BaseModel):
    verdict: str
    reason: str


class Decision(BaseModel):
    decision: str
    reason: str


summariser = Agent("summariser", "Summarise the issues in one sentence. Keys: text.", output=Summary)
security = Agent(
    "security", "Review the issues for security. Keys: verdict (ship | hold), reason.", output=Review
)
qa = Agent("qa", "Review the issues for quality. Keys: verdict (ship | hold), reason.", output=Review)
release_manager = Agent(
    "release_manager",
    "Decide whether to ship the release: look the issues up, have them summarised and reviewed. "
    "Keys: decision (ship | hold), reason.",
    output=Decision,
)

reviewers = build_scatter_gather(workers=[security, qa])  # compiled, without a checkpointer of its own
manager = build_tool_agent(
    agent=release_manager,
    tools=[
        open_issues,
        as_tool(summariser, name="summarise", description="Summarise a list of issues in one sentence."),
        as_tool(
            reviewers, name="ask_reviewers", description="Ask the security and QA reviewers for a verdict."
        ),
    ],
    max_tool_calls=6,
    checkpointer=saver,
)
draw(manager)


# %%
def plan_release(payload):
    done = payload.get(TOOL_RESULTS, [])
    if not done:  # one lookup per component, in parallel
        return [ToolCall("open_issues", {"component": c}) for c in payload["components"]]
    if len(done) == len(payload["components"]):
        issues = [issue for result in done for issue in json.loads(result["content"])]
        titles = "; ".join(f"{i['severity']}: {i['title']}" for i in issues)
        return [
            ToolCall("summarise", {"request": titles}),
            ToolCall("ask_reviewers", {"input": {"issues": issues}}),
        ]
    summary, panel = (json.loads(r["content"]) for r in done[-2:])
    holds = {
        name: answer["reason"] for name, answer in panel["answers"].items() if answer["verdict"] == "hold"
    }
    if holds:
        return {
            "decision": "hold",
            "reason": f"{summary['text']} Held by {', '.join(holds)}: {'; '.join(holds.values())}",
        }
    return {"decision": "ship", "reason": summary["text"]}


def security_review(payload):
    critical = [i["title"] for i in payload["issues"] if i["severity"] == "critical"]
    if critical:
        return {"verdict": "hold", "reason": f"critical: {critical[0]}"}
    return {"verdict": "ship", "reason": "no critical issue"}


def qa_review(payload):
    count = len(payload["issues"])
    return {"verdict": "hold" if count > 5 else "ship", "reason": f"{count} open issues, the bar is 5"}


def summarise(payload):
    issues = payload["request"].split("; ")
    critical = [issue.removeprefix("critical: ") for issue in issues if issue.startswith("critical")]
    return {"text": f"{len(issues)} open, {len(critical)} critical ({', '.join(critical) or 'none'})."}


team = ScriptedChatModel(
    brain=ScriptedBrain(
        responders={
            "release_manager": plan_release,
            "summariser": summarise,
            "security": security_review,
            "qa": qa_review,
        }
    )
)
config = new_thread("release")
state = await manager.ainvoke(
    {"input": {"components": ["checkout", "login"]}}, config, context=AgentContext(model=team)
)
print(state["result"]["answer"])
table(
    ["turn", "tool", "arguments", "result"],
    [
        [c["turn"], c["tool"], brief(c["arguments"], 50), brief(c["result"], 60)]
        for c in state["result"]["tool_calls"]
    ],
)
print("calls:", calls(team))

# %% [markdown]
# Without the login component nothing critical is open, and both reviewers let it ship:

# %%
state = await manager.ainvoke(
    {"input": {"components": ["checkout"]}}, new_thread("release"), context=AgentContext(model=team)
)
print(state["result"]["answer"])

# %% [markdown]
# The panel ran inside the `ask_reviewers` step, so its own steps are in the same
# checkpointer, under that step's namespace: a run killed inside the panel resumes inside
# it.

# %%
namespaces = sorted(
    {c.config["configurable"]["checkpoint_ns"].split(":")[0] async for c in saver.alist(config)}
)
print("checkpoint namespaces of the thread:", namespaces)

# %% [markdown]
# ## Clean up
#
# Close the checkpointer's database connection. The SQLite file lives in a temporary folder
# that is removed when the kernel exits.

# %%
await stack.aclose()
