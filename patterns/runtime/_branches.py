"""Where a fan-out's branches are asked: in this process, or elsewhere, keyed so none is asked twice.

A map's branch is one agent call. By default it is asked here, like any other
(`call_agent`). A run given `branches` (an `AgentContext(branches=...)`, or
`arun(..., branches=...)`) hands each branch to it instead, with a key that
names the branch: the run's thread and the task's checkpoint namespace
(`idempotency_key`), the same when the task runs again after a crash. So an
implementation can ask the branch on another machine, keep the reply under
the key, and give a resumed run the kept reply instead of asking again. The
distributed workers' one (`orch worker --spread-branches`) does that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pydantic import BaseModel

from patterns.runtime._agent import call_agent
from patterns.runtime._checkpoint import idempotency_key

if TYPE_CHECKING:
    from patterns.runtime._agent import Agent, AgentContext

__all__ = ["Branches", "call_branch"]

OutputT = TypeVar("OutputT", bound=BaseModel)


class Branches(Protocol):
    """Asks one branch of a fan-out: `agent` with `payload`, as `call_agent` would.

    `key` names the branch, the same for every attempt of it in every run of the
    thread (32 hex digits). An implementation must return what `call_agent(context,
    agent, payload, label=label)` returns (the reply, validated), and count the
    call in `context.usage` when it asked the model for this run.
    """

    async def __call__(
        self,
        context: AgentContext,
        agent: Agent[OutputT],
        payload: dict[str, Any],
        *,
        label: str | None,
        key: str,
    ) -> OutputT: ...


async def call_branch(
    context: AgentContext,
    agent: Agent[OutputT],
    payload: dict[str, Any],
    *,
    branch: str,
    label: str | None = None,
) -> OutputT:
    """`call_agent` for one branch of a fan-out, on the run's `context.branches` when it has one.

    Args:
        context: The run's `AgentContext` (a node's `runtime.context`).
        agent: The branch's agent.
        payload: Its input.
        branch: Tells apart the branches one task asks (a batch number); "" for one.
        label: As `call_agent`'s.

    Example:
        ```python
        async def map_batch(state: BatchTask, runtime: Runtime[AgentContext]) -> State:
            reply = await call_branch(runtime.context, mapper, {"items": state["items"]}, branch="")
            return {"partials": [reply.model_dump()]}
        ```
    """
    if context.branches is None:
        return await call_agent(context, agent, payload, label=label)
    return await context.branches(
        context, agent, payload, label=label, key=idempotency_key(f"branch:{branch}")
    )
