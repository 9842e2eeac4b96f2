"""Semantic Kernel (1.45): any declared flow as an SK agent orchestration on an `InProcessRuntime`.

A flow is a preset or your own declaration (`pattern.SPEC.flow(...)`); the
orchestration is built from its builder arguments (`ctx.args`: your agents,
functions, routes, desks and rules), never from a table of roles. Agents are
small `semantic_kernel.agents.Agent`s (`TurnAgent`, see `_agents`), one per
stage, branch, route or desk, named after it and carrying your `Agent`'s
instructions: SK's orchestration actors invoke them as they would a
`ChatCompletionAgent`; each runs the pattern module's own turn,
`turn(state, ask)`, with `Context.ask` as its `patterns.runtime.Ask`, which sends
exactly the two messages of `patterns.runtime.wire.render(agent, payload, label=...)`
through the kernel's chat completion service and validates the reply into
`agent.output`; the agent merges the turn's update. `ChatCompletionAgent` is not
used: it would send its thread (every message the orchestration hands it), and
the scripted brain, like a benchmark, needs the same two messages on every
framework. The flow state lives on the run's `Context`, next to the orchestration
(SK's actors share messages, not typed state). One `InProcessRuntime` per run,
started and stopped by `run_flow`.

| pattern | Semantic Kernel construct | not native (the pattern's pure function is called) |
| --- | --- | --- |
| pipeline | `SequentialOrchestration`. Invoice shape: extract -> validate -> gate; a sequence has no branches, so the gate is its last member, which runs `transform` (a model call) or `reject` as `pipeline.gate` says. Stages shape: one member per stage (agent or async function), the `gate=` member, then a last member running the last stage and `finish`, or nothing once the gate's rejection wrote the result. A nested compiled pattern is a `UsageError` when the orchestration is built | `gate` / `reject`; `stage_turn`, `gate_turn`, `finish_stages` |
| scatter_gather | `ConcurrentOrchestration` of one member per source (`researcher=`) or per worker (`workers=`): they run in parallel; the gather is its `output_transform`, which invokes the aggregator (or the panel's `gather`: a merge agent, a function or none) through `get_response` once every branch has answered | per-branch failure capture (`failure_update`: a branch catches its own error, SK would fail the whole orchestration), the quorum (`aggregator_payload`, `Panel.answers`) |
| map_reduce | `ConcurrentOrchestration` of one mapper member per batch; the reduce is its `output_transform` (`reduce_turn`: the reducer agent, or the `combine=` fold) | batching (`batch_tasks`), each batch's partial (`batch_update`); SK starts every member at once, so an `asyncio.Semaphore` sized by the input's `max_concurrency` (or the `max_concurrency` option) bounds the batches in flight |
| refinement | `GroupChatOrchestration` of generate and critique (`Refinement.generate` / `critique`: agents or functions) with a custom `GroupChatManager` (`_managers.RefinementManager`): `select_next_agent` alternates, `should_terminate` applies the stop rules, `filter_results` finishes; `max_rounds` = `refinement.recursion_limit` | `should_continue` / `stop_reason`, `finish` |
| debate | `GroupChatOrchestration` of the debaters (N copies of `debater=` or the `debaters=` panel, each a member under its name) and the judge, with `DebateManager`: rounds of debaters, the vote in the manager, then the judge selected on a split, or SK's `human_response_function`; `max_rounds` = debaters x rounds + 2 | `Debate.next_round` / `close_round`, the topology (`argue_tasks`), `vote` (the tally: SK has no voting), `arbitrate`, `human_update`, `finish`. A group chat has one speaker per turn, so a round's debaters speak one after another, not in parallel; each argues from the round's task fixed when it opened, so the outcome is the same |
| routing | `GroupChatOrchestration` of classify and one member per route (one agent may serve several routes, asked with the route as label) with `RoutingManager`, which selects the member `routing.pick_specialist` names | `router_update` (an unknown route -> the default route, `default_route`) |
| handoff | `HandoffOrchestration` of the desks, the entry desk first, with `OrchestrationHandoffs` from the desk names (each desk -> every other desk but the entry, which is never handed back to); control moves by SK's own Handoff functions (`transfer_to_<desk>`, `complete_task`) in the kernel the actor gives each desk; the model chooses with a `transfer_to_<desk>` function call | `entry_and_fallback`, `desk_update` (the `max_handoffs` bound, an unknown target -> the fallback desk); SK's automatic function invocation, see below |

SK names its agents with letters, digits, `_` and `-`; a stage, route or desk
named otherwise (LangGraph takes any node name) is a `UsageError` when the
orchestration is built, as is a debater named `judge` when the judge speaks.

Handoff and function calling: SK advertises its handoff functions as
`Handoff-transfer_to_<desk>` with no parameters, and its automatic invocation
refuses a call with arguments the function does not declare ("Received
unexpected argument(s)") and asks the model again; the pattern's transfer carries
a reason. So a desk offers the actor's transfer functions as tools under their own
names (`transfer_to_<desk>`, `patterns.handoff.TRANSFER_PREFIX`) with a `reason`
parameter, reads the model's call (`handoff.reply_from_transfer`) and invokes the
chosen Handoff function through the actor's kernel itself; the actor then hands
off (or completes the task) exactly as after an auto-invoked call. SK's
orchestration has no turn bound; `desk_update`'s is the bound (past
`max_handoffs` control goes to the fallback desk, which always answers).

Equivalence with LangGraph: same outputs, calls and prompt tokens on every preset and
declared flow, in-process and over HTTP. On handoff the transferring desk answers with
a function call, whose completion tokens the brain counts on its arguments, so
fewer completion tokens, as on AutoGen; `handoff_tools=False` sends no tools (the
desk's JSON decides the transfer) and matches LangGraph to the token. Steps are
named after LangGraph's nodes where a node is one agent (extract, validate,
transform / reject, the stages, gate, aggregate, gather, reduce, generate,
critique, close_round, vote, judge, ask_human, finish, classify, the routes, the
desks) and after the branch where one LangGraph node runs many (the source's
name, the worker's, `map_batch_N`, `debater_N` or the debater's name), as on
AutoGen; a debate records one step per debater per round.

Streaming: SK's actors invoke every member with `invoke_stream`, and a turn's
model call streams as a `ChatCompletionAgent`'s would
(`get_streaming_chat_message_contents`; over HTTP `stream=true` with usage in the
last chunk). SK builds one pydantic chunk per token and adds them up; on
map_reduce (41 calls, ~23k completion tokens) that is ~0.6 s of a ~0.7 s run.
`stream=False` makes every call one response, as the other adapters' agents do
(~0.08 s); use it to compare orchestration overhead. The merge and reduce agents
run in `output_transform` through `get_response`, which does not stream.

Faults: there are no retries (SK has no retry policy; over HTTP the openai
client's `max_retries=0`). An injected fault or a malformed reply fails the run
with the original error: in-process `ModelTimeout`, `RateLimited`, `ServerError`,
`MalformedOutput` (and `QuorumNotMet`, or `human_update`'s `ValueError` for what an
`input_func` answers); over HTTP
the openai client's `RateLimitError`, `InternalServerError`, ... (SK's
`ServiceResponseException` wrapper removed, see `_service`), `MalformedOutput` as
in-process. SK 1.45 surfaces an actor's error from `OrchestrationResult.get()`, but
not one raised in an `output_transform` (the collection actor's handler loses it
and `get()` never returns, see the tests) nor any raised in a message handler
outside an agent invocation (the runtime ignores unhandled handler errors by
default); the first agent error is therefore also kept on the flow state
(`Context.fail`), and either ends the run.
A failed run cancels the orchestration's token and its turns still running, and
drains the runtime: nothing outlives `run_flow` (SK's `stop()` alone leaves
handlers waiting forever). SK logs each actor error at ERROR level; its loggers
get a `NullHandler` here so nothing prints unless the application configures
logging. In scatter-gather a failed source (or worker) is recorded in
`sources_failed` (`failed`) and the flow goes on while the quorum holds
(`QuorumNotMet` when it does not), as on LangGraph, but without LangGraph's
retries first.

Human arbitration (debate, `arbitration="human"`): the `DebateManager`'s
`should_request_user_input` asks on a split vote and SK calls its
`human_response_function`; pass `answer="OPTION"` or
`input_func=callable(prompt) -> str` (run in a thread: it may block on a console).
Without either, or with an `answer=` the question does not take, the run is a
`UsageError` before any model call (`adapters._common.human_arbitrator`, as on
every adapter): SK cannot pause a run and resume it.

Checkpoints: SK orchestrations have no checkpointing. `InProcessRuntime.save_state()`
asks every actor, and SK's orchestration actors do not implement it (each warns
"save_state not implemented" and gives `{}`, see the tests). What can be saved:
`state_path=PATH` writes, after the run (completed or failed), the flow state and
every agent's thread (the exact messages it sent the model and the replies, in
SK's own `ChatHistory` serialization); `load_saved(PATH)` gives back the state and
`ChatHistoryAgentThread`s, for inspection or for an agent's own `invoke(thread=...)`.
What cannot be resumed: a run, from any point. Where an orchestration is (who
speaks next, the group chat's history, the handoff target) lives in actor objects
SK does not serialize, and an orchestration always starts at its first member with
fresh threads, so a failed run starts over (LangGraph resumes from its last
checkpoint without redoing completed steps).

Offline: `adapters.disable_telemetry()` runs before SK is imported (here too, for
direct importers); SK 1.45 reads `AZURE_TELEMETRY_DISABLED` (its user-agent and
version headers) and `SEMANTICKERNEL_EXPERIMENTAL_GENAI_ENABLE_OTEL_DIAGNOSTICS[_SENSITIVE]`,
also from a `.env` in the working directory. Nothing here opens a connection but
the openai client to the given `base_url` (a test blocks every other one). The
orchestrations are marked experimental in SK's docstrings only: 1.45 emits no
warning for them.
"""

from __future__ import annotations

from adapters._common import disable_telemetry

# SK reads its telemetry and diagnostics switches when it is imported.
disable_telemetry()

import asyncio  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from semantic_kernel.agents import ChatHistoryAgentThread  # noqa: E402
from semantic_kernel.agents.orchestration.orchestration_base import OrchestrationResult  # noqa: E402
from semantic_kernel.agents.runtime import InProcessRuntime  # noqa: E402
from semantic_kernel.contents import ChatHistory  # noqa: E402

from adapters._common import FlowRun, check_options, quiet_framework_logs  # noqa: E402
from adapters.semantic_kernel._agents import Context  # noqa: E402
from adapters.semantic_kernel._flows import build  # noqa: E402
from adapters.semantic_kernel._service import ScriptedChatCompletion, chat_service  # noqa: E402

# SK logs every actor error (and every cancelled handler of a failed run) at ERROR level,
# its runtime under names outside "semantic_kernel".
quiet_framework_logs("semantic_kernel", "in_process_runtime", "agent_runtime")

__all__ = ["OPTIONS", "ScriptedChatCompletion", "chat_service", "load_saved", "run_flow"]

#: Options `run_flow` understands (anything else is a `UsageError`).
OPTIONS = frozenset(
    {"state_path", "max_concurrency", "handoff_tools", "stream", "answer", "input_func", "client_retries"}
)


async def run_flow(
    state: dict[str, Any], flow: FlowRun, *, base_url: str | None = None, **options: Any
) -> dict[str, Any]:
    """Run the flow from `state` as an SK orchestration; return the final state (with "result")."""
    check_options("Semantic Kernel", options, OPTIONS)
    state_path = options.get("state_path")
    async with chat_service(
        flow.brain, base_url, client_retries=int(options.get("client_retries", 0))
    ) as service:
        ctx = Context(state, flow, options, service=service)
        orchestration, task = build(ctx)
        runtime = InProcessRuntime()
        runtime.start()
        result: OrchestrationResult[Any] | None = None
        try:
            result = await orchestration.invoke(task=task, runtime=runtime)
            await _outcome(result, ctx)
        except BaseException:
            await _abort(runtime, ctx, result)
            raise
        else:
            await runtime.stop_when_idle()
        finally:
            await runtime.close()
            if state_path is not None:
                _save(Path(state_path), ctx)
    if "result" not in ctx.state:
        raise RuntimeError(f"the Semantic Kernel {flow.pattern} orchestration ended without a result")
    return dict(ctx.state)


async def _outcome(result: OrchestrationResult[Any], ctx: Context) -> None:
    """Wait for the orchestration, or for the first agent error; raise that error as it was raised."""
    done = asyncio.ensure_future(result.get())
    failed = asyncio.ensure_future(ctx.failed.wait())
    try:
        await asyncio.wait({done, failed}, return_when=asyncio.FIRST_COMPLETED)
    finally:  # also when the caller cancels the run
        failed.cancel()
        done.cancel()  # a no-op once it has finished
    sk_error = None if done.cancelled() else done.exception()
    if ctx.failure is not None:  # the agent's own error, not what SK made of it
        raise ctx.failure
    if sk_error is not None:
        raise sk_error


async def _abort(runtime: InProcessRuntime, ctx: Context, result: OrchestrationResult[Any] | None) -> None:
    """Wind a failed run down so nothing of it outlives `run_flow`.

    SK's `stop()` neither cancels running handlers nor answers the replies they
    wait for (they would hang, then be destroyed with the loop). Cancelling the
    orchestration's token cancels those waits and makes actors drop new
    messages; our own turns still running are cancelled; then the runtime drains.
    """
    if result is not None:
        result.cancellation_token.cancel()
    stray = [task for task in ctx.running if not task.done()]
    for task in stray:
        task.cancel()
    await asyncio.gather(*stray, return_exceptions=True)
    await runtime.stop_when_idle()


def _save(path: Path, ctx: Context) -> None:
    saved = {
        "pattern": ctx.pattern,
        "state": ctx.state,
        "threads": {name: json.loads(history.serialize()) for name, history in ctx.threads.items()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(saved, default=str, indent=1), encoding="utf-8")


def load_saved(path: str | Path) -> tuple[dict[str, Any], dict[str, ChatHistoryAgentThread]]:
    """A saved run's flow state and each agent's thread (what it sent the model and got back)."""
    saved = json.loads(Path(path).read_text(encoding="utf-8"))
    threads = {
        name: ChatHistoryAgentThread(chat_history=ChatHistory.model_validate(history))
        for name, history in saved["threads"].items()
    }
    return saved["state"], threads
