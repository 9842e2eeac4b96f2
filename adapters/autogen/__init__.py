"""AutoGen (autogen-agentchat 0.7): any declared flow as an AutoGen team of AutoGen agents.

A flow is a preset or your own declaration (`SPEC.flow(...)`); the team is built
from its builder arguments alone (the agents, functions and rules you declared,
`ctx.args`), so every builder shape runs, with your agents' names, schemas,
stages, routes and desks. Agents are small `BaseChatAgent`s (`TurnAgent`): each
turn is the pattern module's shared turn (payload, call, update) given
`Context.ask`, which sends exactly the two messages of `patterns.wire.render`
through an AutoGen `ChatCompletionClient` and validates the reply with
`adapters._common.parse` into the agent's `output`; the update is merged with
the pattern's own reducers. `AssistantAgent` is not used: it would send its
whole model context, and the scripted brain (like a benchmark) needs the same two
messages on every framework. The flow state is the one thing AutoGen has no place
for (its teams share a message thread, not typed state): it lives on the run's
`Context`, next to the team, and is saved with it.

| pattern | AutoGen construct | not native (the pattern's shared turn or rule is called) |
| --- | --- | --- |
| pipeline, invoice shape (`extractor`, `validator`, `transformer`) | `GraphFlow`: extract -> validate -> transform / reject; the gate is two conditional edges | `pipeline.gate`, `pipeline.reject` |
| pipeline, `stages=[...]` (agents or async functions), `gate=` | `GraphFlow`: one node per stage, in order; with a gate, gate -> last stage by a conditional edge that a rejection does not take; -> finish | `stage_turn`, `gate_turn`, `finish_stages`; a compiled LangGraph pattern as a stage is a `UsageError` before any call |
| scatter_gather, `researcher` over the input's sources, `aggregator` | `GraphFlow`: one start node per source (run concurrently), fan-in to `aggregate` with `activation_condition="all"` | per-source failure capture (`failure_update`), quorum (`aggregator_payload`) |
| scatter_gather, `workers=[...]` panel, `merge=`, `quorum=` | `GraphFlow`: one start node per worker, fan-in to `gather` with "all" | `Panel`: `answer_update`, `failure_update`, `gather` (the quorum and the merge) |
| map_reduce, `mapper` with `reducer=` or `combine=` | `GraphFlow`: one node per batch, fan-in to `reduce` with "all" | batching (`batch_tasks`), `batch_update`, `reduce_turn`; GraphFlow cannot bound fan-out, so an `asyncio.Semaphore` sized by the input's `max_concurrency` (or the `max_concurrency` option) does |
| refinement, agent or function `generator` and `critic` | `GraphFlow` loop generate -> critique -> generate, exit edge to finish, `max_turns` from the flow's recursion limit | `Refinement.generate` / `critique`, `should_continue`, `finish` |
| debate, `debater=` copies or `debaters=[...]`, `judge=`, `topology=` | `GraphFlow` loop moderator -> debaters (parallel) -> moderator, then vote -> judge / `UserProxyAgent` -> finish (edges into finish with "any") | `Debate.next_round` / `close_round` (the moderator), `debater_payload` / `debater_update`, `vote` (tally), `arbitrate`, `finish` |
| routing, `router`, `routes` (route -> agent), `default=` | `GraphFlow`: classify -> one node per route by conditional edges | `router_update` (an unknown route -> the default route) |
| handoff, `desks` (desk -> agent), `entry=`, `fallback=` | `Swarm` of the desks, the entry desk first; a desk hands off with a native `HandoffMessage`, the model choosing it by calling an AutoGen `Handoff` tool (`transfer_to_<desk>`, one per desk but itself and the entry); `TextMessageTermination` ends on the answer | `desk_update` (the `max_handoffs` bound, an unknown target -> the fallback desk) |

Names: AutoGen names agents by Python identifiers, so a stage, route or desk name
that is not one is a `UsageError`. Nodes the user does not name are numbered
(`research_1`, `ask_1`, `map_batch_1`, `debater_1`). Step records are named as
LangGraph names its steps: stage, route and desk names, `research` and `ask` per
branch, `map_batch`, `argue` and `close_round`, and so on.

Equivalence with LangGraph: same outputs, calls and prompt tokens on every
pattern. One framework-inherent difference, asserted by the tests: on the handoff
flow a desk that hands off answers with a function call instead of JSON text, and
the brain counts a tool call's completion tokens on its arguments
(`{"reason": ...}`), so completion tokens are lower by exactly that difference on
each transferring call. `handoff_tools=False` sends no tools (the desk's JSON
decides the `HandoffMessage`) and matches LangGraph to the token.

Faults: AutoGen has no retry policy of ours, and over HTTP the OpenAI client's
retries are off (`max_retries=0`) so faults are not hidden. An injected fault (or
a malformed reply) in a flow agent fails the run, reported as the original error
(`ModelTimeout`, `RateLimited`, `ServerError`, `MalformedOutput`), not AutoGen's
`RuntimeError` wrapper. In scatter-gather a failed source or worker is recorded
(`sources_failed`, `failed`) and the flow goes on while the quorum holds
(`QuorumNotMet` when it does not), as on LangGraph, but without LangGraph's
retries first.

Human arbitration (debate, `arbitration="human"`): AutoGen's `UserProxyAgent`
asks; pass `answer="OPTION"` or `input_func=callable(prompt) -> str`. Without
either, or with an answer that is not an option, the run is a `UsageError`
before any model call (AutoGen has no interrupt-and-resume).

Checkpoints: `state_path=PATH` writes, after the run (completed or failed), the
team's `save_state()` (message thread, graph manager's ready/remaining
bookkeeping or Swarm's current speaker, agents) together with the flow state
and the options that shaped the team; `load_saved(PATH)` (with `flow=` for a
declared flow) rebuilds the team and `load_state`s it, for inspection or to
continue a Swarm conversation. What cannot be resumed mid-flow: AutoGen saves
only when asked, never per step, and an agent error stops the team with the
failed speakers dropped from its bookkeeping, so a failed run restarts from the
beginning (LangGraph resumes from its last checkpoint instead).

Telemetry: `adapters.disable_telemetry()` runs before this import; nothing here
opens a network connection except the HTTP client to the given loopback URL.
Token counting never needs tiktoken (see `_client`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from autogen_agentchat.base import Team

from adapters._common import FlowRun, check_options
from adapters.autogen._client import MODEL_INFO, ScriptedChatCompletionClient, model_client, to_openai
from adapters.autogen._flows import Context, build_team, quiet_agent_errors, start_message
from patterns.errors import UsageError
from patterns.runtime import PatternSpec, get_flow
from patterns.testing import ScriptedBrain

__all__ = [
    "MODEL_INFO",
    "OPTIONS",
    "ScriptedChatCompletionClient",
    "load_saved",
    "model_client",
    "run_flow",
    "to_openai",
]

quiet_agent_errors()

#: Options `run_flow` understands (anything else is a `UsageError`).
OPTIONS = frozenset(
    {"state_path", "max_concurrency", "handoff_tools", "answer", "input_func", "client_retries"}
)

#: The options a saved run keeps, to rebuild the same team: those that shape it and are data
#: (an `input_func` is code, and `state_path` is where the file is).
_SAVED_OPTIONS = ("answer", "handoff_tools", "max_concurrency")


async def run_flow(
    state: dict[str, Any], flow: FlowRun, *, base_url: str | None = None, **options: Any
) -> dict[str, Any]:
    """Run the flow from `state` as an AutoGen team; return the final state (with "result")."""
    check_options("AutoGen", options, OPTIONS)
    client = model_client(flow.brain, base_url, client_retries=int(options.get("client_retries", 0)))
    try:
        ctx = Context(state, flow, options, client=client)
        return await _run(build_team(ctx), ctx, options.get("state_path"))
    finally:
        await client.close()


async def _run(team: Team, ctx: Context, state_path: str | None) -> dict[str, Any]:
    try:
        outcome = await team.run(task=start_message(ctx))
    except Exception:
        if ctx.failure is not None:  # the agent's own error, not AutoGen's RuntimeError wrapper
            raise ctx.failure from None
        raise
    finally:
        if state_path is not None:
            await _save(Path(state_path), team, ctx)
    if "result" not in ctx.state:
        raise RuntimeError(f"the AutoGen team stopped without a result: {outcome.stop_reason}")
    return dict(ctx.state)


async def _save(path: Path, team: Team, ctx: Context) -> None:
    saved = {
        "pattern": ctx.pattern,
        "preset": ctx.flow.spec == get_flow(ctx.pattern),  # else `load_saved` needs the declared flow
        "options": {key: ctx.options[key] for key in _SAVED_OPTIONS if key in ctx.options},
        "state": ctx.state,
        "team": await team.save_state(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(saved, default=str, indent=1), encoding="utf-8")


async def load_saved(
    path: str | Path,
    *,
    flow: str | PatternSpec | None = None,
    brain: ScriptedBrain | None = None,
    **options: Any,
) -> tuple[Team, dict[str, Any]]:
    """A team rebuilt for the saved run with its AutoGen state loaded, and the saved flow state.

    Args:
        path: The run's `state_path`.
        flow: The declared flow the run ran; default: the preset of the saved pattern.
        brain: The scripted model the rebuilt team would call.
        **options: Options the file does not keep (`input_func=`), or to change; the
            run's `answer`, `handoff_tools` and `max_concurrency` are saved with it.
    """
    check_options("AutoGen", options, OPTIONS)
    saved = json.loads(Path(path).read_text(encoding="utf-8"))
    pattern, state = saved["pattern"], saved["state"]
    if flow is None and not saved["preset"]:
        raise UsageError(f"{path} is a run of a declared {pattern} flow: pass it, load_saved(path, flow=...)")
    spec = get_flow(pattern if flow is None else flow)
    if spec.name != pattern:
        raise UsageError(f"{path} is a run of a {pattern} flow, not of a {spec.name} flow")
    run = FlowRun("autogen", spec, brain or ScriptedBrain())
    ctx = Context(state, run, {**saved["options"], **options}, client=ScriptedChatCompletionClient(run.brain))
    team = build_team(ctx)
    await team.load_state(saved["team"])
    return team, state
