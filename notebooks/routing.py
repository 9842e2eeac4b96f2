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
# # Conditional routing: classify, then send to the right specialist
#
# **What it is for.** Inputs that need different handling by kind. A *router* agent
# classifies a customer message; a **conditional edge** sends it to the billing, technical
# or general specialist. The route is an explicit decision recorded in the state and the
# output, so it can be tested, audited and, as shown below, reviewed and overridden before a
# specialist acts on it. A route the graph does not know falls back to the general desk.
#
# The notebook runs the preset `presets.support_routing()` first, then routes of **your
# own**, each served by an agent of your own.

# %%
from collections import Counter
from contextlib import AsyncExitStack

from nbhelpers import calls, checkpoint_url, draw, new_thread, plt, show_figure, show_history, show_run, table

from patterns import AgentContext, ScriptedChatModel, arun, open_checkpointer
from patterns.flows.routing import Classification, RoutingInput, router_update
from patterns.presets import SAMPLES, SUPPORT_ROUTES, support_routing

# %% [markdown]
# ## The graph

# %%
# One SQLite file holds every thread of this notebook (in a temporary folder: see nbhelpers).
stack = AsyncExitStack()
saver = await stack.enter_async_context(open_checkpointer(checkpoint_url("routing")))
graph = support_routing(checkpointer=saver)
draw(graph)

# %% [markdown]
# ## Run it on the scripted model

# %%
model = ScriptedChatModel()
config = new_thread("ticket")
state = await graph.ainvoke(
    RoutingInput(**SAMPLES["routing"]).model_dump(), config, context=AgentContext(model=model)
)
state["result"]

# %% [markdown]
# ## Inspect the checkpoints

# %%
await show_history(graph, config)

# %% [markdown]
# ## Review the route before a specialist acts: interrupt, override, resume
#
# Pause before any specialist. The checkpoint holds the route and `next` says which desk
# would run. `aupdate_state(..., as_node="classify")` writes a corrected route *as if the
# router had returned it*, so LangGraph re-evaluates the conditional edge; resuming then
# runs the desk we chose.

# %%
config = new_thread("ticket-reviewed")
await graph.ainvoke(
    RoutingInput(**SAMPLES["routing"]).model_dump(),
    config,
    context=AgentContext(model=model),
    interrupt_before=["billing", "technical", "general"],
)
snapshot = await graph.aget_state(config)
print("router chose:", snapshot.values["route"], "| next:", snapshot.next)

await graph.aupdate_state(config, {"route": "general"}, as_node="classify")
snapshot = await graph.aget_state(config)
print("after the override, next:", snapshot.next)

state = await graph.ainvoke(None, config, context=AgentContext(model=model))
print(state["result"])
await show_history(graph, config)

# %% [markdown]
# ## Change the input: different messages, different routes
#
# The router's reply goes through `router_update`, which maps any route the graph does not
# have to `general`: a real model that invents a `legal` desk cannot break the flow.

# %%
messages = [
    "I was charged twice on my last invoice and would like a refund.",
    "The app crashes with an error when I upload a photo.",
    "Please update the billing address on my invoice.",
    "My password reset email never arrives and login fails.",
    "What are your opening hours?",
    "Can I get a refund for the annual plan?",
    "Thanks, the parcel arrived today.",
]
routes = Counter()
rows = []
for message in messages:
    state = await graph.ainvoke(
        {"message": message}, new_thread("ticket-batch"), context=AgentContext(model=model)
    )
    routes[state["result"]["route"]] += 1
    rows.append([state["result"]["route"], f"{state['result']['confidence']:.2f}", message])
table(["route", "confidence", "message"], rows)

print(
    "unknown route ->",
    router_update({}, Classification(route="legal", confidence=0.9), SUPPORT_ROUTES, "general"),
)

# %%
fig, ax = plt.subplots(figsize=(6, 2.5))
desks = ["billing", "technical", "general"]
ax.barh(desks, [routes[d] for d in desks], color="tab:green")
ax.set_xlabel("messages")
ax.set_title("Where the router sent them")
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
    "routing",
    SAMPLES["routing"],
    model=ScriptedChatModel(),
    checkpoint=checkpoint_url("routing"),
    thread_id="routing-arun",
)
show_run(result)
result.output

# %% [markdown]
# ## Your own agents and routes
#
# The preset is `build_routing(router=..., routes=..., default=...)` with one specialist
# agent serving all three routes. Yours: an HR helpdesk, with a route per desk and a
# different agent behind each (one agent may also serve several routes: it is told the
# route as `speciality`). The router replies with a `Classification` (`route`,
# `confidence`), the desks with an `Answer`; `default=` is where a route the graph does not
# know goes.
#
# The scripted model answers each agent with the **responder** registered under its name,
# a plain function of the payload it is sent; a real model would read the instructions.

# %%
from patterns import Agent, ScriptedBrain, build_routing
from patterns.flows.routing import Answer

hr_router = Agent(
    "hr_router",
    "Classify the employee's message. Keys: route (payroll | leave | people), confidence (0-1).",
    output=Classification,
)
payroll_clerk = Agent(
    "payroll_clerk", "Answer questions about pay and expenses. Keys: answer.", output=Answer
)
leave_officer = Agent(
    "leave_officer", "Answer questions about holidays and sick leave. Keys: answer.", output=Answer
)
hr_partner = Agent("hr_partner", "Answer any other HR question. Keys: answer.", output=Answer)

KEYWORDS = {
    "payroll": ("salary", "payslip", "expense"),
    "leave": ("holiday", "vacation", "sick"),
    "legal": ("contract",),  # a route the graph does not have: it falls back to the default
}


def classify(payload):
    text = payload["message"].lower()
    hits = {route: sum(word in text for word in words) for route, words in KEYWORDS.items()}
    route = max(hits, key=hits.get)
    return {"route": route, "confidence": 0.9} if hits[route] else {"route": "people", "confidence": 0.5}


brain = ScriptedBrain(
    responders={
        "hr_router": classify,
        "payroll_clerk": lambda p: {"answer": "Payroll: I have opened a pay query for you."},
        "leave_officer": lambda p: {"answer": "Leave: your request is in the holiday planner."},
        "hr_partner": lambda p: {"answer": f"HR ({p['speciality']} desk): a partner will call you today."},
    }
)
hr_graph = build_routing(
    router=hr_router,
    routes={"payroll": payroll_clerk, "leave": leave_officer, "people": hr_partner},
    default="people",
    checkpointer=saver,
)
draw(hr_graph)

# %%
hr_model = ScriptedChatModel(brain=brain)
rows = []
for message in [
    "My payslip shows the wrong salary.",
    "Can I take a week of holiday in June?",
    "I need a copy of my employment contract.",
    "Who organises the summer party?",
]:
    state = await hr_graph.ainvoke(
        {"message": message}, new_thread("hr"), context=AgentContext(model=hr_model)
    )
    result = state["result"]
    rows.append([message, result["route"], f"{result['confidence']:.2f}", result["answer"]])
table(["message", "route", "confidence", "answer"], rows)
print("calls:", calls(hr_model))

# %% [markdown]
# The contract question was classified `legal`, which is not a route, so it went to the
# default `people` desk. Calls are counted per route (the label each desk's agent is called
# under), so one agent serving several routes is still accounted desk by desk.
#
# ## Clean up
#
# Close the checkpointer's database connection. The SQLite file lives in a temporary folder
# that is removed when the kernel exits. With a file of your own
# (`open_checkpointer("sqlite:///runs.sqlite")`) the checkpoints outlive the session: a later
# one can `aget_state` or resume any thread by its id.

# %%
await stack.aclose()
