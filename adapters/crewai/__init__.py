"""CrewAI (1.15): any declared flow as a CrewAI Flow whose agent turns are Crews.

A flow is a preset or the user's own declaration (`SPEC.flow(...)`); everything
it runs comes from the declared builder arguments (`ctx.args`: the user's
`Agent`s, functions and rules), and the turns (payloads, updates, stop rules)
are the pattern modules' own, called with `Context.ask`. Every agent turn is a
CrewAI `Crew` of one `Agent` doing one `Task`, run with `Crew.akickoff()` from
a step of a CrewAI `Flow` (`@start`, `@listen`, `@router`, `and_`/`or_`). The
turn's prompt is the pattern's own (`wire.render` of the user's agent):
CrewAI renders "You are {role}. {backstory}" as the system message, so the
CrewAI agent's role is `the reviewer agent` (or `the researcher agent "docs"`
for a labelled instance) and its backstory the agent's instructions, and the
task description is our user text with its INPUT block. The reply is
validated by the task's guardrail, `adapters._common.parse` into the agent's
`output` model, and merged with the pattern's update function. The pattern
state lives in the CrewAI flow state (`FlowData`), so CrewAI's checkpoints carry it.

| pattern (shape) | CrewAI construct | not native (the pattern's function is called) |
| --- | --- | --- |
| pipeline (`extractor`, `validator`, `transformer`) | Flow: `@start` extract -> `@listen` validate -> `@router` gate -> `@listen` transform / reject | `pipeline.gate`, `pipeline.reject` |
| pipeline (`stages`, `gate`) | Flow: a `@start`, then a `@listen` per stage (agent or function); with a gate, `@listen` gate -> `@router` -> the last stage, or the end once a rejection wrote the result; `@listen` finish | `stage_turn`, `gate_turn`, `finish_stages`; a nested LangGraph pattern as a stage is refused before the run |
| scatter_gather (`researcher`, `aggregator`; or `workers`, `merge`, `quorum`) | Flow: one `@start` per source or worker (CrewAI runs start methods concurrently), `@listen(and_(...))` aggregate / gather | per-branch failure capture (`failure_update`), quorum (`aggregator_payload`, `Panel.gather`, `QuorumNotMet`), a function merge |
| map_reduce (`mapper` with `reducer` or `combine`) | Flow: one `@start` per batch, `@listen(and_(...))` reduce | batching (`batch_tasks`), the fold (`batch_update`, `reduce_turn`); the concurrency bound: an `asyncio.Semaphore` of the input's `max_concurrency` (or the `max_concurrency` option) |
| refinement (`generator`, `critic`: agents or functions, `score`, ...) | Flow loop: `@start("to_generate")` generate -> critique -> `@router` decide -> generate again or finish | `Refinement.generate`/`critique`, `should_continue`, `finish`; CrewAI's `max_method_calls` is set from the flow's recursion limit |
| debate (`debater` copies or `debaters`, `judge`, `topology`) | Flow loop: `@start` moderator -> `@router` -> debaters in parallel -> `@router(and_(...))` close_round -> moderator ...; vote -> `@router` arbitrate -> judge / ask_human (`Flow.ask` with an `InputProvider`) / finish | `Debate.next_round` and the debater turns, `close_round`, `vote` (the tally), `arbitrate`, `human_update`, `finish`; `max_method_calls` from the recursion limit |
| routing (`router`, `routes`, `default`) | Flow: `@start` classify -> `@router` -> `@listen` the route's agent (labelled with the route; one agent may serve several) | `router_update` (an unknown route -> the default) |
| handoff (`desks`, `entry`, `fallback`) | Flow: each desk a step, the entry desk the `@start`; one `@router(or_(desks))` hands control to the desk the last one chose, with the whole history in the state | `desk_update` (the `max_handoffs` bound, unknown targets -> the fallback); `max_method_calls` from the recursion limit |

Names: the user's sources, workers, debaters, stages, routes and desks need not
be identifiers and could be `Flow` attributes (`state`, `ask`), so the Flow
methods are numbered (`stage_1`, `route_2`, `desk_3`, ...); the step records
carry the user's names, as LangGraph's do, but a fan-out's branches are
recorded each by its own name (the source, `map_batch_N`, the worker, the
debater) where LangGraph names them all by their node (`research`, `map_batch`,
`ask`, `argue`).

Why Flow steps and not a Crew of `async_execution=True` tasks for the fan-outs:
`Crew.akickoff` awaits its async tasks in order and raises the first failure,
abandoning the tasks it has not awaited yet, so a Crew cannot record a failed
source and go on to the quorum; start methods of a Flow can, and each branch is
then its own checkpointed step. Why a Flow router and not CrewAI delegation for handoff:
delegation (`allow_delegation`, the "Delegate work to coworker" tool) is call
and return, the delegating agent gets the answer back and makes another model
call to finish; a handoff transfers control, and the router does exactly that
with the same calls as LangGraph. No agent has tools, so no agent's reply
needs CrewAI's ReAct format: a tool-less CrewAI 1.15 agent's whole reply is its
final answer (its parser falls back to the text when there is no
"Final Answer:"), and the scripted brain needed no change for CrewAI.

Equivalence with LangGraph (tests/adapters/test_equivalence.py, in-process and
over HTTP): same outputs, same calls per agent, same completion tokens; prompt
tokens are higher by CrewAI's framing, about 68-70 tokens a call ("Your personal
goal is: ...", "Current Task:", the expected-output paragraph).

Faults: the original error fails the run (`ServerError`, `ModelTimeout`,
`RateLimited`, `MalformedOutput`; over HTTP the OpenAI SDK's errors, its own
retries off), but CrewAI retries first, and the benchmark counts those calls:

- an `Agent` re-runs a task that raised up to `max_retry_limit` times (CrewAI's
  default 2, so 3 calls); the `max_retry_limit` option sets it on every agent.
  A `TimeoutError` is not retried (CrewAI takes it for its own
  `max_execution_time`), and the in-process `ModelTimeout` is one, so it fails
  at once in-process; over HTTP the same fault is a 504 and is retried.
- every `BaseLLM` call is wrapped by CrewAI's rate-limit retry: 3 attempts,
  1 s and 2 s backoff, `Retry-After` ignored. With the agent's retries a
  persistent 429 costs 9 calls and about 9 s.
- a malformed reply is re-asked by the task's guardrail (the pattern's `parse`
  as a CrewAI guardrail): CrewAI runs the task again with its "Previous attempt
  failed validation" feedback after our INPUT block, up to `guardrail_max_retries`
  (3) times, then the original `MalformedOutput` is raised.

In scatter-gather a failed source (after CrewAI's retries) is recorded in
`sources_failed` and the flow goes on while the quorum holds, `QuorumNotMet`
below it, as on LangGraph. A failing map batch or debater re-raises only once
its parallel siblings are done, so no model call outlives the run.

Human arbitration (debate, `arbitration="human"`): the ask_human step calls
CrewAI's `Flow.ask`, answered by the flow's `InputProvider`: pass `answer="OPTION"`
(checked before the run by `adapters._common.human_arbitrator`, as on every
adapter: an option, or any text for an open question) or
`input_func=callable(question) -> str`. Without either the run is a `UsageError`
(CrewAI's default provider would block on the console). Not used: `Task(human_input=True)`, a human reviewing an agent's
output, and `@human_feedback`, free-text feedback that an LLM collapses into a
route (it can pause a flow, but only through a feedback provider and persistence).

Checkpoints and resume: `state_path=DIR` writes a CrewAI checkpoint of the flow
after every step (CrewAI's `@persist` hook, `RuntimeState.checkpoint`, JSON under
DIR/main); `resume=True` restores the newest one with `Flow.from_checkpoint` and
runs only the steps that had not completed, with the new run's model (agents are
built per turn from the run's context, so nothing stale is re-attached). Resume
with the same declared flow (and its input: only presets have a sample); the
checkpoint records the pattern's name, and a flow of another pattern is refused. A
failed map batch runs again alone; a failed source is a recorded result, as on
LangGraph, and is not asked again. See `_checkpoint` for why CrewAI's own
automatic checkpoints are not used (they race with the running flow) and the
router repair. What cannot resume: refinement, debate and handoff, whose flows
loop. A resumed CrewAI 1.15 flow skips every method completed in any earlier
pass, so the interrupted pass is skipped: tried on refinement (critic failing on
its second call), the resumed run skipped that critique and finished with a
different result. `resume=True` on them is a `UsageError`.
`@persist` alone restores state but re-runs from `@start`, which would double the
pattern's reducers. Checkpoint sizes: about 2-3 KB per step for the pipeline,
64 KB per step for the 1,000-review map-reduce (the state holds the reviews).

CrewAI behaviours worth knowing when comparing: each turn costs ~30-40 ms of
CPU here (a Crew, an Agent, and CrewAI's agent executor, itself a Flow whose
steps hop to worker threads); every Flow builds an unused Memory at
construction (LanceDB under CREWAI_STORAGE_DIR/memory; see `_storage` for where CrewAI's files go), ~1.5 s once per process;
CrewAI deep-copies the flow state for every step's events, which with the
1,000-review map-reduce is a large share of the run. Flow panels print
whatever `verbose` says, so runs suppress CrewAI's console unless
`verbose=True`. Telemetry: `adapters.disable_telemetry()` runs before CrewAI is
imported (through `adapters`); nothing here opens a connection except the OpenAI
client to the given loopback URL.
"""

from __future__ import annotations

from adapters._common import disable_telemetry
from adapters.crewai._storage import import_crewai

# CrewAI reads its telemetry switches, and writes under the home, when it is imported.
disable_telemetry()
import_crewai()

import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, cast  # noqa: E402

from crewai.events.utils.console_formatter import (  # noqa: E402
    set_suppress_console_output,
    should_suppress_console_output,
)
from crewai.flow.flow import Flow  # noqa: E402
from crewai.flow.persistence import persist  # noqa: E402
from crewai.state.checkpoint_config import CheckpointConfig  # noqa: E402

from adapters._common import FlowRun, check_options, quiet_framework_logs  # noqa: E402
from adapters.crewai._checkpoint import (  # noqa: E402
    FlowCheckpointer,
    latest_checkpoint,
    rearmed,
    saved_flow_state,
)
from adapters.crewai._flows import RESUMABLE, Context, FlowData, build_flow  # noqa: E402
from adapters.crewai._llm import ScriptedLLM, flow_llm  # noqa: E402
from patterns.errors import UsageError  # noqa: E402

# A Flow logs each failed step at ERROR before the run reports the error as its result.
quiet_framework_logs("crewai.flow.runtime")

__all__ = ["OPTIONS", "RESUMABLE", "ScriptedLLM", "flow_llm", "run_flow"]

#: Options `run_flow` understands (anything else is a `UsageError`).
OPTIONS = frozenset(
    {
        "state_path",
        "resume",
        "max_concurrency",
        "max_retry_limit",
        "answer",
        "input_func",
        "verbose",
        "client_retries",
    }
)


async def run_flow(
    state: dict[str, Any], flow: FlowRun, *, base_url: str | None = None, **options: Any
) -> dict[str, Any]:
    """Run the flow from `state` as a CrewAI Flow; return the final state (with "result")."""
    check_options("CrewAI", options, OPTIONS)
    state_path = options.get("state_path")
    restore_from = _restore_point(flow.pattern, state_path) if options.get("resume") else None
    if restore_from is not None:
        state = saved_flow_state(restore_from)["data"]
    ctx = Context(
        state,
        flow,
        options,
        llm=flow_llm(flow.brain, base_url, client_retries=int(options.get("client_retries", 0))),
    )
    flow_class, kwargs = build_flow(ctx)
    checkpointer = None
    if state_path is not None:  # CrewAI's @persist hook, writing CrewAI checkpoints (see _checkpoint)
        checkpointer = FlowCheckpointer(location=str(state_path))
        persist(checkpointer)(flow_class)
    quiet = not options.get("verbose")  # CrewAI prints its Flow panels whatever `verbose` says
    was_quiet = should_suppress_console_output()
    set_suppress_console_output(quiet or was_quiet)
    try:
        crew_flow = (
            _new_flow(flow_class, kwargs, ctx)
            if restore_from is None
            else _restored_flow(flow_class, kwargs, ctx, restore_from)
        )
        if checkpointer is not None:
            crew_flow.persistence = checkpointer  # a restored flow holds an unattached copy
            checkpointer.attach(crew_flow)
        await crew_flow.kickoff_async()
    finally:
        set_suppress_console_output(was_quiet)
    if "result" not in ctx.state:
        raise RuntimeError("the CrewAI flow stopped without a result")
    return dict(ctx.state)


def _restore_point(pattern: str, state_path: str | None) -> Path:
    if state_path is None:
        raise UsageError("resume=True needs state_path=DIR, the directory the failed run checkpointed into")
    if pattern not in RESUMABLE:
        raise UsageError(
            f"CrewAI cannot resume {pattern}: its flow loops, and a resumed CrewAI 1.15 flow skips every method "
            f"completed in an earlier pass, the interrupted pass's too; resumable: {', '.join(sorted(RESUMABLE))}"
        )
    path = latest_checkpoint(state_path)
    saved = saved_flow_state(path)
    if saved.get("pattern") != pattern:
        raise UsageError(f"the checkpoint in {state_path} is of {saved.get('pattern')!r}, not {pattern!r}")
    return path


def _new_flow(flow_class: type[Flow[FlowData]], kwargs: dict[str, Any], ctx: Context) -> Flow[FlowData]:
    crew_flow = flow_class(**kwargs)
    ctx.bind(crew_flow.state)
    return crew_flow


def _restored_flow(
    flow_class: type[Flow[FlowData]], kwargs: dict[str, Any], ctx: Context, checkpoint: Path
) -> Flow[FlowData]:
    with tempfile.TemporaryDirectory() as workdir:
        restore = CheckpointConfig(restore_from=str(rearmed(checkpoint, flow_class, Path(workdir))))
        crew_flow = cast(Flow[FlowData], flow_class.from_checkpoint(restore))
    for key, value in kwargs.items():  # what a checkpoint does not carry
        setattr(crew_flow, key, value)
    ctx.bind(crew_flow.state, restored=True)
    return crew_flow
