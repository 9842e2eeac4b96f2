"""The generator side of the loop: who writes the next candidate.

`ScriptedGenerator` is the offline stand-in. The scripted chat model has no
code-writing role, so instead of pretending, it proposes the task's bundled
revisions: the first one, then each time the earliest unused revision that
claims to fix a test the critic reported failing. When none does, it proposes
the same code again, and the loop stops as converged. It reads the critic's
failures, but it cannot write code.

`ModelGenerator` asks a real chat model (`--model openai:...`) for the code,
giving it the task, the tests, its previous candidate and the critic's failures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from patterns.runtime import parse_reply
from pydantic import BaseModel

from sandbox import Verdict
from task import CodeTask

__all__ = ["CodeGenerator", "GenerationRequest", "ModelGenerator", "ScriptedGenerator"]


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    task: CodeTask
    iteration: int
    previous: str | None
    """The latest candidate, or None on the first iteration."""
    verdict: Verdict | None
    """The critic's verdict on `previous`."""
    tried: tuple[str, ...]
    """Every candidate proposed so far in this run."""


class CodeGenerator(Protocol):
    async def propose(self, request: GenerationRequest) -> str:
        """The source of the next candidate module."""
        ...


class ScriptedGenerator:
    """Deterministic: replays the task's revisions, steered by the critic's failures."""

    async def propose(self, request: GenerationRequest) -> str:
        revisions = request.task.revisions
        if not revisions:
            raise ValueError(
                f"task {request.task.name!r} has no scripted_revisions: add some to its task.json, "
                "or use a real model with --model openai:MODEL"
            )
        if request.previous is None or request.verdict is None:
            return revisions[0].code
        failing = {failure.test for failure in request.verdict.failures}
        for revision in revisions:
            if revision.code not in request.tried and revision.fixes & failing:
                return revision.code
        return request.previous


class _CodeReply(BaseModel):
    code: str


_SYSTEM = (
    "You are a careful Python developer. Write the complete module the task asks for, so that "
    "the given pytest tests pass. Reply with one JSON object and nothing else: "
    '{"code": "<the full module source>"}.'
)


@dataclass(frozen=True, slots=True)
class ModelGenerator:
    """A real chat model writes each candidate; the critic's failures are its feedback."""

    model: BaseChatModel

    async def propose(self, request: GenerationRequest) -> str:
        message = await self.model.ainvoke([SystemMessage(_SYSTEM), HumanMessage(_prompt(request))])
        reply: _CodeReply = parse_reply(message, _CodeReply, agent="generator")
        return reply.code


def _prompt(request: GenerationRequest) -> str:
    task = request.task
    parts = [
        f"Task: {task.description}",
        f"The module is saved as {task.module}.py and tested with {task.test_file}:",
        f"```python\n{task.tests_source}```",
    ]
    if request.previous is not None and request.verdict is not None:
        failures = "\n".join(f"- {f.test}: {f.message}" for f in request.verdict.failures)
        parts += [
            f"Your previous attempt passed {request.verdict.passed} of {request.verdict.total} tests:",
            f"```python\n{request.previous}```",
            f"Failures:\n{failures}",
            "Fix the failures without breaking the tests that pass.",
        ]
    return "\n\n".join(parts)
