"""The loop stops on pass, convergence or max iterations, and resumes from its checkpoint."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatResult
from pydantic import Field

import loop
from generators import GenerationRequest, ModelGenerator, ScriptedGenerator
from loop import LoopSettings, Outcome, refine
from sandbox import Verdict, isolation, run_tests
from task import CodeTask, load_task


def run(task: CodeTask, settings: LoopSettings | None = None) -> Outcome:
    return asyncio.run(refine(task, ScriptedGenerator(), settings, checkpoint="memory"))


def test_converges_to_a_passing_candidate(slugify_task: CodeTask) -> None:
    outcome = run(slugify_task)
    assert outcome.stop_reason == "threshold"
    assert outcome.scores == [0.25, 0.75, 0.875, 1.0]
    assert outcome.best_code == slugify_task.revisions[-1].code


def test_stops_at_max_iterations_when_it_cannot_pass(slugify_task: CodeTask) -> None:
    outcome = run(slugify_task, LoopSettings(max_iterations=2))
    assert (outcome.stop_reason, outcome.iterations, outcome.best_score) == ("max_iterations", 2, 0.75)


def test_stops_as_converged_when_no_revision_addresses_the_failures(
    tmp_path: Path, slugify_task: CodeTask
) -> None:
    folder = tmp_path / "partial"
    shutil.copytree(slugify_task.path, folder)
    manifest = json.loads((folder / "task.json").read_text())
    manifest["scripted_revisions"] = manifest["scripted_revisions"][:2]
    (folder / "task.json").write_text(json.dumps(manifest))
    outcome = run(load_task(folder))
    assert outcome.stop_reason == "converged"
    assert outcome.scores == [0.25, 0.75, 0.75]


class CrashingGenerator(ScriptedGenerator):
    """Stands in for a process that dies while writing the second candidate."""

    async def propose(self, request: GenerationRequest) -> str:
        if request.iteration == 2:
            raise RuntimeError("simulated crash")
        return await super().propose(request)


class RecordingGenerator(ScriptedGenerator):
    def __init__(self) -> None:
        self.iterations: list[int] = []

    async def propose(self, request: GenerationRequest) -> str:
        self.iterations.append(request.iteration)
        return await super().propose(request)


def test_an_interrupted_run_resumes_without_redoing_rounds(
    tmp_path: Path, slugify_task: CodeTask, monkeypatch: pytest.MonkeyPatch
) -> None:
    tested: list[str] = []  # every candidate the critic ran the tests on, in order

    def counting_run_tests(code: str, **kwargs: Any) -> Verdict:
        tested.append(code)
        return run_tests(code, **kwargs)

    monkeypatch.setattr(loop, "run_tests", counting_run_tests)
    checkpoint = f"sqlite:///{tmp_path / 'checkpoints.sqlite'}"
    with pytest.raises(RuntimeError, match="simulated crash"):
        asyncio.run(refine(slugify_task, CrashingGenerator(), checkpoint=checkpoint, thread_id="t1"))
    assert tested == [slugify_task.revisions[0].code]
    resumed = RecordingGenerator()
    outcome = asyncio.run(refine(slugify_task, resumed, checkpoint=checkpoint, thread_id="t1", resume=True))
    assert outcome.stop_reason == "threshold"
    assert outcome.scores == [0.25, 0.75, 0.875, 1.0]  # round 1 was kept, not rerun
    assert resumed.iterations == [2, 3, 4]  # no candidate written twice
    assert tested == [r.code for r in slugify_task.revisions]  # and none tested twice


class FixedGenerator:
    """Proposes the given candidates in turn, ignoring the feedback."""

    def __init__(self, *candidates: str) -> None:
        self.candidates = candidates

    async def propose(self, request: GenerationRequest) -> str:
        return self.candidates[min(request.iteration, len(self.candidates)) - 1]


def test_the_critic_is_the_sandboxed_test_run(slugify_task: CodeTask) -> None:
    phones_home = (
        "import socket\n"
        "def slugify(text, separator='-', max_length=None):\n"
        "    socket.create_connection(('127.0.0.1', 5432), timeout=2).close()\n"
        "    return text.lower()\n"
    )
    correct = slugify_task.revisions[-1].code
    outcome = asyncio.run(refine(slugify_task, FixedGenerator(phones_home, correct), checkpoint="memory"))
    first, second = outcome.history
    assert (first.status, first.passed, first.total, first.score) == ("ran", 0, 8, 0.0)
    assert {f.test for f in first.failures} == set(slugify_task.test_names)
    assert all("network access is disabled" in f.message for f in first.failures)
    assert (second.score, second.failures, outcome.best_code) == (1.0, [], correct)
    assert outcome.isolation == isolation()


class RecordingModel(GenericFakeChatModel):
    """Replies in order, like a model that fixes its code after reading the failures."""

    prompts: list[str] = Field(default_factory=list)

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        self.prompts.append(str(messages[-1].content))
        return super()._generate(messages, *args, **kwargs)


def test_a_real_model_gets_the_failures_as_feedback(slugify_task: CodeTask) -> None:
    replies = [json.dumps({"code": slugify_task.revisions[i].code}) for i in (0, -1)]
    model = RecordingModel(messages=iter(AIMessage(r) for r in replies))
    outcome = asyncio.run(refine(slugify_task, ModelGenerator(model), checkpoint="memory"))
    assert (outcome.scores, outcome.stop_reason) == ([0.25, 1.0], "threshold")
    first, second = model.prompts
    assert "Failures:" not in first and "test_slugify.py" in first
    assert "passed 2 of 8 tests" in second and "test_strips_punctuation: AssertionError" in second
