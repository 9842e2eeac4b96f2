"""Cross-framework equivalence: every preset and declared flow, on every framework, in-process and over HTTP.

For the same input and scripted model, a flow's final output is LangGraph's on
every framework: the presets, and the declared flows of `_declared.py` (the
user's own agents, schemas, routes and desks, every builder shape). What each framework sends the model is measured twice: by the
brain's in-process ledger and by the request log of `orch serve-model` when the
framework drives its own OpenAI client. The two must agree: the log is what the
README's wire-cost table is built from.

Differences a framework cannot avoid are listed in `WIRE` and asserted exactly
as stated, never tolerated silently.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import pytest

from adapters import FRAMEWORKS, PORTABLE, arun
from patterns.runtime import PatternSpec, RunResult
from patterns.testing import ScriptedBrain, running_server

from ._declared import DECLARED, Declared

OTHERS = [f for f in FRAMEWORKS if f != "langgraph"]

#: How a framework's model traffic compares with LangGraph's, per pattern ("*": every other one).
#: "same": the same calls with the same prompt and completion tokens.
#: "tool_call_completion": the same calls and prompt tokens; desks that hand off answer with a
#:   function call, whose completion tokens the brain counts on the arguments, so fewer.
#: "framed": the same calls; the framework wraps our prompt in its own, so more prompt tokens.
Wire = Literal["same", "tool_call_completion", "framed"]
WIRE: dict[str, dict[str, Wire]] = {
    "autogen": {"*": "same", "handoff": "tool_call_completion"},
    # CrewAI renders its own prompt around ours (role/backstory/goal, "Current Task:", the expected
    # output paragraph): ~68-70 more prompt tokens a call. Completion tokens equal LangGraph's: a
    # tool-less CrewAI 1.15 agent needs no "Final Answer:" format, the brain's JSON is the answer.
    "crewai": {"*": "framed"},
    # SK's handoff desks are offered their HandoffOrchestration transfer functions as tools and
    # the brain calls them, as on AutoGen (`handoff_tools=False` matches LangGraph to the token).
    "semantic_kernel": {"*": "same", "handoff": "tool_call_completion"},
}


def _wire(framework: str, pattern: str) -> Wire:
    table = WIRE[framework]
    return table.get(pattern, table["*"])


#: A run's flow: a preset's name, or a declared flow with its input and responders.
Case = str | Declared


def _args(case: Case) -> tuple[str | PatternSpec, Any, ScriptedBrain]:
    if isinstance(case, str):
        return case, None, ScriptedBrain()
    return case.flow, case.input, ScriptedBrain(responders=case.responders)


def _pattern(case: Case) -> str:
    return case if isinstance(case, str) else case.flow.name


async def _langgraph(case: Case) -> RunResult:
    flow, data, brain = _args(case)
    result = await arun("langgraph", flow, data, brain=brain)
    assert result.status == "completed", result.error
    return result


async def _in_process(framework: str, case: Case) -> RunResult:
    flow, data, brain = _args(case)
    return await arun(framework, flow, data, brain=brain)


async def _via_http(framework: str, case: Case, log: Path) -> tuple[RunResult, list[dict[str, Any]]]:
    flow, data, brain = _args(case)
    with running_server(brain, request_log=log) as url:
        result = await arun(framework, flow, data, brain=brain, base_url=url)
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    return result, [r for r in records if r["path"].endswith("/chat/completions")]


def _check_against_langgraph(framework: str, case: Case, result: RunResult, reference: RunResult) -> None:
    pattern = _pattern(case)
    assert result.status == "completed", result.error
    assert result.framework == framework and result.pattern == pattern
    assert result.output == reference.output
    assert result.calls == reference.calls and result.failed_calls == 0
    assert set(result.usage) == set(reference.usage), "the same agents called the model"
    wire = _wire(framework, pattern)
    if wire == "same":
        assert result.usage == reference.usage
    elif wire == "tool_call_completion":
        assert result.prompt_tokens == reference.prompt_tokens
        assert result.completion_tokens < reference.completion_tokens
    else:
        for agent, usage in result.usage.items():
            assert usage.calls == reference.usage[agent].calls, agent
            assert usage.prompt_tokens > reference.usage[agent].prompt_tokens, agent


CASES: list[Case] = [*PORTABLE, *DECLARED]


def _id(case: Case) -> str:
    return case if isinstance(case, str) else case.id


@pytest.mark.parametrize("case", CASES, ids=_id)
@pytest.mark.parametrize("framework", OTHERS)
async def test_in_process_output_equals_langgraph(framework: str, case: Case) -> None:
    reference = await _langgraph(case)
    result = await _in_process(framework, case)
    _check_against_langgraph(framework, case, result, reference)
    assert result.steps, "every run records its steps"


@pytest.mark.parametrize("case", CASES, ids=_id)
@pytest.mark.parametrize("framework", OTHERS)
async def test_via_http_output_and_wire_equal_in_process(framework: str, case: Case, tmp_path: Path) -> None:
    reference = await _langgraph(case)
    local = await _in_process(framework, case)
    remote, requests = await _via_http(framework, case, tmp_path / "requests.jsonl")
    _check_against_langgraph(framework, case, remote, reference)
    assert remote.output == local.output
    # What the framework's own OpenAI client really sent equals the in-process accounting.
    assert all(r["status"] == 200 for r in requests), [r["status"] for r in requests]
    assert len(requests) == remote.calls == local.calls
    assert sum(r["prompt_tokens"] for r in requests) == local.prompt_tokens
    assert sum(r["completion_tokens"] for r in requests) == local.completion_tokens
    assert remote.usage == local.usage
