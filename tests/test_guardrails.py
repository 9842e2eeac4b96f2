"""Guardrails: an input check trips before the flow's first model call, an output check before its answer leaves.

Both kinds of check (a plain function, an agent replying with a verdict) on both
sides; a tripped guardrail fails the run with `GuardrailTripped` naming it and its
reason, through `arun` and `orch run`; the wrapper works around every pattern and
leaves a passing run's answer as the flow's own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from pydantic import BaseModel

from patterns import Agent, AgentContext, ScriptedBrain, ScriptedChatModel, arun, presets
from patterns.cli import main
from patterns.errors import UsageError
from patterns.flows import pipeline
from patterns.flows.guardrails import (
    Guardrail,
    GuardrailTripped,
    Verdict,
    build_guardrails,
    with_guardrails,
)
from patterns.presets import PATTERNS, publishing
from patterns.runtime import RunResult, open_checkpointer


class Answer(BaseModel):
    text: str


WRITER = Agent("writer", "Answer the question. Keys: text.", output=Answer)
INPUT_JUDGE = Agent(
    "input_judge", "Refuse questions about other customers. Keys: passed, reason.", output=Verdict
)
OUTPUT_JUDGE = Agent(
    "output_judge", "Refuse answers that promise refunds. Keys: passed, reason.", output=Verdict
)


def _judge_input(payload: dict[str, Any]) -> dict[str, Any]:
    question = payload["input"]["question"].lower()
    about_others = "other customer" in question
    return {"passed": not about_others, "reason": "asks about another customer" if about_others else ""}


def _judge_output(payload: dict[str, Any]) -> dict[str, Any]:
    promises = "refund" in payload["output"]["text"].lower()
    return {"passed": not promises, "reason": "promises a refund" if promises else ""}


RESPONDERS: dict[str, Any] = {
    "writer": lambda p: (
        {"text": f"About {p['question'].rstrip('?').lower()}: we will refund you."}
        if "charged twice" in p["question"]
        else {"text": f"About {p['question'].rstrip('?').lower()}: see the help centre."}
    ),
    "input_judge": _judge_input,
    "output_judge": _judge_output,
}
FLOW = pipeline.SPEC.flow(stages=[WRITER])


def no_email(value: dict[str, Any]) -> Verdict:
    has = "@" in json.dumps(value)
    return Verdict(passed=not has, reason="the question carries an email address" if has else "")


async def short_answer(value: dict[str, Any]) -> dict[str, Any]:  # async, and a dict verdict
    words = len(value["output"]["text"].split())
    return {"passed": words <= 12, "reason": f"{words} words, over 12"}


def scripted() -> ScriptedChatModel:
    return ScriptedChatModel(brain=ScriptedBrain(responders=RESPONDERS))


def calls(model: ScriptedChatModel) -> dict[str, int]:
    return {agent: usage.calls for agent, usage in model.brain.ledger.snapshot().items()}


def ask(question: str) -> dict[str, Any]:
    return {"input": {"question": question}}


# -- input guardrails: before the first model call -------------------------------------


async def test_a_function_input_guardrail_trips_before_any_model_call() -> None:
    model = scripted()
    guarded = with_guardrails(FLOW, input=[no_email], output=[OUTPUT_JUDGE])
    result = await arun(guarded, ask("Why is jo@example.com locked out?"), model=model, checkpoint="memory")
    assert result.status == "failed" and result.output is None
    assert (
        result.error
        == "GuardrailTripped: input guardrail 'no_email' tripped: the question carries an email address"
    )
    assert calls(model) == {} and result.calls == 0
    assert [(s.agent, s.status) for s in result.steps] == [("check_input", "error")]


async def test_an_agent_input_guardrail_trips_with_only_its_own_call() -> None:
    model = scripted()
    guarded = with_guardrails(FLOW, input=[no_email, INPUT_JUDGE])
    result = await arun(guarded, ask("What did the other customer order?"), model=model, checkpoint="memory")
    assert (
        result.error == "GuardrailTripped: input guardrail 'input_judge' tripped: asks about another customer"
    )
    assert calls(model) == {"input_judge": 1}  # the writer never ran


async def test_the_first_guardrail_to_trip_stops_the_later_ones() -> None:
    model = scripted()
    guarded = with_guardrails(FLOW, input=[no_email, INPUT_JUDGE])
    result = await arun(guarded, ask("Is jo@example.com another customer?"), model=model, checkpoint="memory")
    assert "'no_email' tripped" in (result.error or "")
    assert calls(model) == {}  # the agent guardrail, listed second, was not asked


# -- output guardrails: before the answer leaves ---------------------------------------


@pytest.mark.parametrize(
    ("guardrail", "question", "error"),
    [
        (OUTPUT_JUDGE, "Was I charged twice?", "output guardrail 'output_judge' tripped: promises a refund"),
        (
            short_answer,
            "How do I change the email address on my account?",
            "output guardrail 'short_answer' tripped: 15 words, over 12",
        ),
    ],
    ids=["agent", "function"],
)
async def test_an_output_guardrail_trips_after_the_flow_and_its_answer_never_reaches_result(
    guardrail: Any, question: str, error: str, tmp_path: Path
) -> None:
    model, url = scripted(), f"sqlite:///{tmp_path / 'c.sqlite'}"
    guarded = with_guardrails(FLOW, output=[guardrail])
    result = await arun(guarded, ask(question), model=model, checkpoint=url, thread_id="t")
    assert result.status == "failed" and result.output is None
    assert result.error == f"GuardrailTripped: {error}"
    assert calls(model)["writer"] == 1
    assert [(s.agent, s.status) for s in result.steps] == [("pipeline", "ok"), ("check_output", "error")]

    graph = guarded.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "direct"}}
    with pytest.raises(GuardrailTripped) as tripped:
        await graph.ainvoke(ask(question), config, context=AgentContext(model=scripted()))
    assert tripped.value.side == "output" and f"{tripped.value}" == error
    state = (await graph.aget_state(config)).values
    assert "result" not in state and state["unchecked_result"]["output"]["text"]  # held, not answered


async def test_passing_guardrails_leave_the_flows_answer_and_each_check_is_a_saved_step(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'c.sqlite'}"
    plain = await arun(FLOW, ask("How do I reset my password?"), model=scripted(), checkpoint="memory")
    model = scripted()
    guarded = with_guardrails(FLOW, input=[no_email, INPUT_JUDGE], output=[OUTPUT_JUDGE, short_answer])
    result = await arun(
        guarded, ask("How do I reset my password?"), model=model, checkpoint=url, thread_id="ok"
    )
    assert result.status == "completed" and result.output == plain.output
    assert result.pattern == "guarded_pipeline"
    assert [s.agent for s in result.steps] == ["check_input", "pipeline", "check_output"]
    assert calls(model) == {"input_judge": 1, "output_judge": 1, "writer": 1}

    async with open_checkpointer(url) as saver:
        graph = guarded.compile(checkpointer=saver)
        history = [s async for s in graph.aget_state_history({"configurable": {"thread_id": "ok"}})]
    # A checkpoint after each step: a run stopped after a check resumes after it.
    assert [s.next for s in reversed(history)] == [
        ("__start__",),
        ("check_input",),
        ("pipeline",),
        ("check_output",),
        (),
    ]


async def test_a_tripped_guardrail_trips_again_on_resume_and_calls_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.sqlite'}"
    guarded = with_guardrails(FLOW, input=[no_email])
    first = await arun(guarded, ask("Mail jo@example.com"), model=scripted(), checkpoint=url, thread_id="t")
    model = scripted()
    again = await arun(guarded, model=model, checkpoint=url, thread_id="t", resume=True)
    assert again.error == first.error and calls(model) == {}


# -- every pattern, a compiled graph, a mistake ----------------------------------------

SEVEN = ["pipeline", "scatter_gather", "map_reduce", "refinement", "debate", "routing", "handoff"]


def passes(value: dict[str, Any]) -> Verdict:
    return Verdict(passed=bool(value))


@pytest.mark.parametrize("pattern", SEVEN)
async def test_every_pattern_runs_guarded_to_its_own_answer(pattern: str) -> None:
    plain = await arun(pattern, model=ScriptedChatModel(), checkpoint="memory")
    guarded = with_guardrails(PATTERNS[pattern], input=[passes], output=[Guardrail("also_passes", passes)])
    result = await arun(guarded, model=ScriptedChatModel(), checkpoint="memory")
    assert result.status == "completed", result.error
    assert result.output == plain.output and result.calls == plain.calls
    assert result.pattern == f"guarded_{pattern}"


async def test_a_compiled_graph_is_wrapped_as_a_graph_called_like_the_flow() -> None:
    guarded = with_guardrails(FLOW.compile(), input=[no_email], checkpointer=InMemorySaver(), name="helpdesk")
    assert guarded.name == "helpdesk"
    context = AgentContext(model=scripted())
    state = await guarded.ainvoke(
        ask("Where is my parcel?"), {"configurable": {"thread_id": "a"}}, context=context
    )
    assert state["result"]["output"] == {"text": "About where is my parcel: see the help centre."}
    with pytest.raises(GuardrailTripped, match="input guardrail 'no_email' tripped"):
        await guarded.ainvoke(
            ask("I am jo@example.com"), {"configurable": {"thread_id": "b"}}, context=context
        )
    same = build_guardrails(flow=FLOW, input=[no_email])
    assert same.name == "guarded_pipeline"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: with_guardrails(FLOW), "needs at least one guardrail"),
        (lambda: with_guardrails(FLOW, input=[lambda v: Verdict(passed=True)]), "name this guardrail"),
        (lambda: with_guardrails(FLOW, input=[no_email], output=[no_email]), "names must be distinct"),
        (lambda: with_guardrails(FLOW, input=[WRITER]), "agent 'writer' must answer a verdict"),
        (lambda: Guardrail("no pii", no_email), "letters, digits, _ and -"),
        (lambda: with_guardrails(FLOW, input=[no_email], checkpointer=InMemorySaver()), "belongs to a run"),
        (
            lambda: with_guardrails(FLOW.compile(checkpointer=InMemorySaver()), input=[no_email]),
            "wraps a graph built without a checkpointer",
        ),
    ],
    ids=["none", "lambda", "duplicate", "agent-output", "name", "checkpointer", "own-checkpointer"],
)
def test_a_misdeclared_guardrail_is_a_usage_error(make: Any, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        make()


async def test_a_function_that_answers_no_verdict_is_named_in_a_usage_error() -> None:
    def sloppy(value: dict[str, Any]) -> bool:
        return True

    with pytest.raises(
        UsageError, match=r"guardrail 'sloppy' must return a Verdict \(passed, reason\), not True"
    ):
        await arun(with_guardrails(FLOW, input=[sloppy]), ask("Hi?"), model=scripted(), checkpoint="memory")


# -- the preset, and orch run ----------------------------------------------------------


def preset_model() -> ScriptedChatModel:
    return ScriptedChatModel(brain=ScriptedBrain(responders=publishing.RESPONDERS))


async def test_the_presets_input_guardrail_refuses_personal_data_before_the_copywriter_is_asked() -> None:
    brief = {"input": {**publishing.SAMPLE["input"]}}
    brief["input"]["points"] = [
        *brief["input"]["points"],
        "questions to jo.bloggs@example.com or +44 20 7946 0958",
    ]
    model = preset_model()
    result = await arun(publishing.SPEC, brief, model=model, checkpoint="memory")
    assert result.error == (
        "GuardrailTripped: input guardrail 'personal_data' tripped: the brief carries personal data: "
        "email address 'jo.bloggs@example.com', phone number '+44 20 7946 0958'"
    )
    assert calls(model) == {}


@pytest.mark.parametrize(
    ("points", "edit", "reason"),
    [
        (["results are guaranteed"], None, "banned claims: guaranteed (in the body)"),
        (["checkout is faster"], {"title": "A miracle checkout"}, "banned claims: miracle (in the title)"),
    ],
    ids=["written", "edited-in"],
)
async def test_the_presets_output_guardrail_refuses_a_banned_claim_whoever_wrote_it(
    points: list[str], edit: dict[str, Any] | None, reason: str, tmp_path: Path
) -> None:
    url, model = f"sqlite:///{tmp_path / 'c.sqlite'}", preset_model()
    paused = await arun(
        publishing.SPEC,
        {"input": {"topic": "Checkout", "points": points}},
        model=model,
        checkpoint=url,
        thread_id="t",
    )
    answer = (
        {"action": "edit", "value": {**paused.interrupt["value"], **edit}} if edit else {"action": "approve"}
    )
    result = await arun(
        publishing.SPEC, model=model, checkpoint=url, thread_id="t", resume=True, resume_value=answer
    )
    assert result.error == f"GuardrailTripped: output guardrail 'standards_editor' tripped: {reason}"
    assert calls(model) == {"copywriter": 1, "site_publisher": 1, "standards_editor": 1}


def test_orch_ends_a_tripped_run_with_exit_1_and_the_message(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(presets.PATTERNS, "approval", publishing.SPEC)
    for name, responder in publishing.RESPONDERS.items():
        monkeypatch.setitem(presets.RESPONDERS, name, responder)  # type: ignore[index]
    monkeypatch.chdir(tmp_path)
    brief = {"input": {"topic": "Call me", "points": ["ring 0161 496 0000 today"]}}
    (tmp_path / "brief.json").write_text(json.dumps(brief), encoding="utf-8")

    assert main(["run", "approval", "--input", "brief.json", "--json", "--checkpoint", "memory"]) == 1
    result = RunResult.model_validate_json(capsys.readouterr().out)
    assert result.status == "failed"
    assert result.error == (
        "GuardrailTripped: input guardrail 'personal_data' tripped: the brief carries personal data: "
        "phone number '0161 496 0000'"
    )
    assert main(["run", "approval", "--input", "brief.json", "--checkpoint", "memory"]) == 1
    table = capsys.readouterr().out  # the error in the result column, wrapped to its width
    assert "GuardrailTripped: input guardrail 'personal_data'" in table
