"""AutoGen (autogen-agentchat 0.7): the canonical flows as AutoGen teams of AutoGen agents.

Agents are small `BaseChatAgent`s (`TurnAgent`): each turn builds the pattern's
payload from the flow state with the pattern module's own function, sends exactly
the two messages of `patterns.wire.render` through an AutoGen
`ChatCompletionClient`, validates the reply with `adapters._common.parse` into the
pattern's pydantic model and merges the pattern's update with
`patterns.state.apply_update`. `AssistantAgent` is not used: it would send its
whole model context, and the scripted brain (like a benchmark) needs the same two
messages on every framework. The flow state is the one thing AutoGen has no place
for (its teams share a message thread, not typed state): it lives on the run's
`Context`, next to the team, and is saved with it.

| pattern | AutoGen construct | not native (the pattern's pure function is called) |
| --- | --- | --- |
| pipeline | `GraphFlow`: extract -> validate -> transform / reject; the gate is two conditional edges | `pipeline.gate`, `pipeline.reject` |
| scatter_gather | `GraphFlow`: one start node per source (run concurrently), fan-in to `aggregate` with `activation_condition="all"` | per-source failure capture (`failure_update`), quorum (`aggregator_payload`) |
| map_reduce | `GraphFlow`: one node per batch, fan-in to `reduce` with "all" | batching (`batch_tasks`), the fold; GraphFlow cannot bound fan-out, so an `asyncio.Semaphore` sized by the input's `max_concurrency` (or the `max_concurrency` option) does |
| refinement | `GraphFlow` loop generate -> critique -> generate, exit edge to finish, `max_turns` from `refinement.recursion_limit` | `should_continue` / `stop_reason`, `finish` |
| debate | `GraphFlow` loop moderator -> debaters (parallel) -> moderator, then vote -> judge / `UserProxyAgent` -> finish (edges into finish with "any") | `next_round` / `close_round` (the moderator), `vote` (tally), `arbitrate`, `finish` |
| routing | `GraphFlow`: classify -> billing / technical / general by conditional edges | `router_update` (unknown route -> general) |
| handoff | `Swarm` of the four desks; a desk hands off with a native `HandoffMessage`, the model choosing it by calling an AutoGen `Handoff` tool (`transfer_to_<desk>`); `TextMessageTermination` ends on the answer | `desk_update` (the `max_handoffs` bound and unknown targets -> general) |

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
`RuntimeError` wrapper. In scatter-gather a failed source is recorded in
`sources_failed` and the flow goes on while the quorum holds (`QuorumNotMet` when
it does not), as on LangGraph, but without LangGraph's retries first.

Human arbitration (debate, `arbitration="human"`): AutoGen's `UserProxyAgent`
asks; pass `answer="OPTION"` or `input_func=callable(prompt) -> str`. Without
either the run is a `UsageError` (AutoGen has no interrupt-and-resume).

Checkpoints: `state_path=PATH` writes, after the run (completed or failed), the
team's `save_state()` (message thread, graph manager's ready/remaining
bookkeeping or Swarm's current speaker, agents) together with the flow state;
`load_saved(PATH)` rebuilds the team and `load_state`s it, for inspection or to
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
from autogen_agentchat.messages import BaseChatMessage, HandoffMessage, TextMessage

from adapters._common import FlowRun, check_options
from adapters.autogen._client import MODEL_INFO, ScriptedChatCompletionClient, model_client, to_openai
from adapters.autogen._flows import Context, build_team, quiet_agent_errors
from patterns.runtime import get_flow, wire
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
OPTIONS = frozenset({"state_path", "max_concurrency", "handoff_tools", "answer", "input_func"})


async def run_flow(
    state: dict[str, Any], flow: FlowRun, *, base_url: str | None = None, **options: Any
) -> dict[str, Any]:
    """Run the flow from `state` as an AutoGen team; return the final state (with "result")."""
    check_options("AutoGen", options, OPTIONS)
    client = model_client(flow.brain, base_url)
    ctx = Context(state, flow, options, client=client)
    team = build_team(ctx)
    state_path = options.get("state_path")
    try:
        outcome = await team.run(task=_task(flow.pattern, state))
    except Exception:
        if ctx.failure is not None:  # the agent's own error, not AutoGen's RuntimeError wrapper
            raise ctx.failure from None
        raise
    finally:
        if state_path is not None:
            await _save(Path(state_path), team, ctx)
        await client.close()
    if "result" not in ctx.state:
        raise RuntimeError(f"the AutoGen team stopped without a result: {outcome.stop_reason}")
    return dict(ctx.state)


def _task(pattern: str, state: dict[str, Any]) -> BaseChatMessage:
    """The task message that starts the team: the flow's input (the agents read the state)."""
    text = wire.canonical_json(state.get("task", state))
    if pattern == "handoff":  # the customer is handed to the triage desk
        return HandoffMessage(source="user", target="triage", content=state["message"])
    return TextMessage(source="user", content=text)


async def _save(path: Path, team: Team, ctx: Context) -> None:
    saved = {"pattern": ctx.pattern, "state": ctx.state, "team": await team.save_state()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(saved, default=str, indent=1), encoding="utf-8")


async def load_saved(path: str | Path, *, brain: ScriptedBrain | None = None) -> tuple[Team, dict[str, Any]]:
    """A team rebuilt for the saved run with its AutoGen state loaded, and the saved flow state."""
    saved = json.loads(Path(path).read_text(encoding="utf-8"))
    pattern, state = saved["pattern"], saved["state"]
    flow = FlowRun("autogen", get_flow(pattern), brain or ScriptedBrain())
    options = {"answer": ""} if state.get("task", {}).get("arbitration") == "human" else {}
    ctx = Context(state, flow, options, client=ScriptedChatCompletionClient(flow.brain))
    team = build_team(ctx)
    await team.load_state(saved["team"])
    return team, state
