"""The refinement loop with the user's critic: a function (tests run, no model), its own
feedback schema, a score read by the user's rule, and a resumed run that re-grades nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from pydantic import BaseModel

from patterns import Agent, AgentContext, ScriptedBrain, ScriptedChatModel, UsageError, build_refinement
from patterns.flows.refinement import Draft, Turn, recursion_limit

Payload = dict[str, Any]


class TestReport(BaseModel):
    __test__ = False  # a schema, not a pytest class

    passed: int
    total: int
    failing: list[str]


CHECKS = {"has_def": "def ", "returns": "return", "typed": "->"}


def run_checks(turn: Turn) -> TestReport:
    """A critic with no model: the draft is graded by checks, as a test run would."""
    failing = [name for name, needle in CHECKS.items() if needle not in turn.draft]
    return TestReport(passed=len(CHECKS) - len(failing), total=len(CHECKS), failing=failing)


def pass_rate(report: Payload) -> float:
    return report["passed"] / report["total"]


async def propose(turn: Turn) -> str:
    """A generator function: each revision fixes the first failing check it was told about."""
    if turn.draft is None:
        return "def f(x):"
    fixes = {"returns": "\n    return x", "typed": " -> int", "has_def": "def f(x):"}
    assert turn.feedback is not None and turn.drafts[-1] == turn.draft
    return str(turn.draft) + fixes[turn.feedback["failing"][0]]


TASK = {"task": {"spec": "identity function", "threshold": 1.0, "epsilon": 0.0, "max_iterations": 5}}


async def test_a_critic_function_with_its_own_schema_drives_the_loop() -> None:
    graph = build_refinement(generator=propose, critic=run_checks, score=pass_rate)
    state = await graph.ainvoke(TASK, context=AgentContext(model=ScriptedChatModel()))
    result = state["result"]
    assert result["stop_reason"] == "threshold"
    assert result["scores"] == [pytest.approx(1 / 3), pytest.approx(2 / 3), 1.0]
    assert result["best_draft"] == "def f(x):\n    return x -> int"
    # The history keeps the user's feedback fields as they are.
    assert [h["failing"] for h in result["history"]] == [["returns", "typed"], ["typed"], []]
    assert [h["iteration"] for h in result["history"]] == [1, 2, 3]


async def test_an_agent_generator_with_a_function_critic_sees_the_brief_and_the_feedback() -> None:
    seen: list[Payload] = []

    def write(payload: Payload) -> Payload:
        seen.append(payload)
        return {"draft": "def f(x) -> int:\n    return x"}

    coder = Agent("coder", "Write the function. Keys: draft.", output=Draft)
    graph = build_refinement(generator=coder, critic=run_checks, score=pass_rate)
    brain = ScriptedBrain(responders={"coder": write})
    state = await graph.ainvoke(TASK, context=AgentContext(model=ScriptedChatModel(brain=brain)))
    assert state["result"]["iterations"] == 1 and state["result"]["best_score"] == 1.0
    assert seen == [{"spec": "identity function", "draft": None, "feedback": None}]


class Crash(RuntimeError):
    pass


async def test_a_resumed_loop_does_not_regenerate_or_regrade_finished_rounds() -> None:
    graded: list[str] = []
    written: list[int] = []

    async def writing(turn: Turn) -> str:
        written.append(turn.iteration)
        return await propose(turn)

    def counting(turn: Turn) -> TestReport:
        graded.append(turn.draft)
        if len(graded) == 2:
            raise Crash("the process dies while grading round 2")
        return run_checks(turn)

    saver, config = (
        InMemorySaver(),
        {"configurable": {"thread_id": "t"}, "recursion_limit": recursion_limit(5)},
    )
    graph = build_refinement(generator=writing, critic=counting, score=pass_rate, checkpointer=saver)
    context = AgentContext(model=ScriptedChatModel())
    with pytest.raises(Crash):
        await graph.ainvoke(TASK, config, context=context, durability="sync")
    state = await graph.ainvoke(None, config, context=context, durability="sync")
    assert state["result"]["stop_reason"] == "threshold"
    # Round 1 was graded once; round 2 again after the crash (it never finished); round 3 once.
    assert graded == ["def f(x):", "def f(x):\n    return x", "def f(x):\n    return x", graded[-1]]
    assert len(state["history"]) == 3
    assert written == [1, 2, 3]  # no draft written twice


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"score": "grade"}, "has no 'grade' field: pass score="),
        ({"draft": "text"}, "has no 'text' field: pass draft="),
        ({"critic": "critic"}, "each an Agent or a function"),
    ],
)
def test_a_loop_declared_wrong_is_a_usage_error(kwargs: Payload, message: str) -> None:
    class Score(BaseModel):
        score: float

    declared: Payload = {
        "generator": Agent("g", "Write.", output=Draft),
        "critic": Agent("c", "Grade.", output=Score),
    } | kwargs
    with pytest.raises(UsageError, match=message):
        build_refinement(**declared)


async def test_a_critique_without_the_score_says_how_to_read_one() -> None:
    graph = build_refinement(generator=propose, critic=run_checks)  # score="score", absent
    with pytest.raises(UsageError, match="no score in the critique"):
        await graph.ainvoke(TASK, context=AgentContext(model=ScriptedChatModel()))
