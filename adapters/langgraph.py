"""LangGraph: the reference implementation, `patterns/`, behind the adapter interface."""

from __future__ import annotations

from typing import Any

from adapters._common import FlowRun
from patterns.runtime import arun, resolve_model
from patterns.testing import ScriptedChatModel

__all__ = ["run_flow"]


async def run_flow(
    state: dict[str, Any], flow: FlowRun, *, base_url: str | None = None, **options: Any
) -> dict[str, Any]:
    model = (
        resolve_model("openai:scripted", base_url=base_url)
        if base_url
        else ScriptedChatModel(brain=flow.brain)
    )
    # The runner takes the input, not the state: the one `adapters.arun` validated (pydantic
    # hands an instance of the input model back as it is, so it is not validated again).
    given = options.pop("input", None) or (flow.input if flow.input is not None else _as_input(state))
    result = await arun(
        flow.spec,
        given,
        model=model,
        checkpoint=options.pop("checkpoint", "memory"),
        policies=flow.policies,
    )
    flow.recorder.steps.extend(result.steps)
    if result.status != "completed":
        raise RuntimeError(result.error or result.status)
    return {"result": result.output}


def _as_input(state: dict[str, Any]) -> dict[str, Any]:
    return dict(state["task"]) if "task" in state else dict(state)
