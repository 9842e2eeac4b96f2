"""The agent runtime every pattern runs on: agents as values, the call, checkpoints, the runner.

`Agent` declares an agent (name, instructions, output schema, model);
`call_agent` renders it in the two-message wire format (`patterns.runtime.wire`),
calls the run's model (or the agent's own) with the run's policies and
validates the reply (`ask_model` is the model call itself, counted in the
run's `AgentContext.usage`, for a node that builds its own messages;
`call_branch` asks one branch of a fan-out, on the run's `Branches` when it
has them); `open_checkpointer` opens a LangGraph saver from a URL; `arun`
runs a registered pattern and returns a `RunResult` with its step records and
token usage; `astream` runs it yielding typed events (`RunEvent`: steps
started and finished, state updates, model tokens, nodes' own progress) and
then the `RunResult`; `PatternSpec` is what a pattern declares about itself.
"""

from patterns.runtime import wire
from patterns.runtime._agent import (
    DEFAULT_RETRY,
    Agent,
    AgentContext,
    Ask,
    PatternGraph,
    ask_model,
    call_agent,
    parse_reply,
)
from patterns.runtime._branches import Branches, call_branch
from patterns.runtime._checkpoint import (
    DEFAULT_CHECKPOINT_URL,
    HeldThread,
    describe,
    idempotency_key,
    open_checkpointer,
    thread_lock,
)
from patterns.runtime._input import INPUT_NODE, PayloadInput
from patterns.runtime._models import BASE_URL_ENV, MODEL_ENV, resolve_model
from patterns.runtime._result import RunResult, StepRecord
from patterns.runtime._runner import (
    CustomEvent,
    Durability,
    ModelToken,
    RunEvent,
    StateUpdate,
    StepEvent,
    StepFinished,
    StepStarted,
    arun,
    astream,
    get_flow,
    validate_input,
)
from patterns.runtime._spec import PatternSpec, State
from patterns.runtime._state import apply_update
from patterns.runtime._usage import AgentUsage, UsageLedger, UsageMeter

__all__ = [
    "BASE_URL_ENV",
    "DEFAULT_CHECKPOINT_URL",
    "DEFAULT_RETRY",
    "INPUT_NODE",
    "MODEL_ENV",
    "Agent",
    "AgentContext",
    "AgentUsage",
    "Branches",
    "CustomEvent",
    "HeldThread",
    "Ask",
    "Durability",
    "ModelToken",
    "PatternGraph",
    "PatternSpec",
    "PayloadInput",
    "RunEvent",
    "RunResult",
    "State",
    "StateUpdate",
    "StepEvent",
    "StepFinished",
    "StepRecord",
    "StepStarted",
    "UsageLedger",
    "UsageMeter",
    "apply_update",
    "arun",
    "astream",
    "ask_model",
    "call_agent",
    "call_branch",
    "describe",
    "get_flow",
    "idempotency_key",
    "open_checkpointer",
    "parse_reply",
    "resolve_model",
    "thread_lock",
    "validate_input",
    "wire",
]
