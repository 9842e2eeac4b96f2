"""Human approval: a run pauses at the step, resumes on approve / edit / reject, refuses a wrong answer.

The step's pause shows the value and what an answer must look like; `arun` (and so
`orch run --resume --answer`) refuses an answer that does not fit before it is stored
in the thread, so the thread is exactly as it was and a right answer still resumes it.
An answer given straight to the graph is checked by the step itself, which asks again.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any, Literal, TypedDict

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, Interrupt
from pydantic import BaseModel, Field

from patterns import Agent, AgentContext, ScriptedBrain, ScriptedChatModel, arun, presets
from patterns.cli import main
from patterns.errors import UsageError
from patterns.flows import pipeline
from patterns.flows.approval import Approval, ApprovalRejected, approval_step
from patterns.presets import publishing
from patterns.runtime import RunResult, open_checkpointer
from patterns.runtime._runner import _check_answer


class Draft(BaseModel):
    title: str = Field(min_length=1)
    body: str


class Post(BaseModel):
    url: str
    title: str
    words: int


class Line(BaseModel):
    sku: str = Field(pattern=r"^[A-Z]{3}-\d+$")
    qty: int = Field(ge=1, le=99)


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


DRAFTER = Agent("drafter", "Draft a post from the brief. Keys: title, body.", output=Draft)
PUBLISHER = Agent("publisher", "Publish the post. Keys: url, title, words.", output=Post)
RESPONDERS: dict[str, Any] = {
    "drafter": lambda p: {"title": p["topic"].capitalize(), "body": ". ".join(p["points"]) + "."},
    "publisher": lambda p: {
        "url": f"/posts/{_slug(p['title'])}",
        "title": p["title"],
        "words": len(p["body"].split()),
    },
}
REVIEW = approval_step("review", editable=Draft)
FLOW = pipeline.SPEC.flow(stages=[DRAFTER, REVIEW, PUBLISHER])
BRIEF = {"input": {"topic": "release 2.0", "points": ["search is faster", "dark mode"]}}
DRAFT = {"title": "Release 2.0", "body": "search is faster. dark mode."}

_threads = itertools.count(1)


def scripted() -> ScriptedChatModel:
    return ScriptedChatModel(brain=ScriptedBrain(responders=RESPONDERS))


def calls(model: ScriptedChatModel) -> dict[str, int]:
    return {agent: usage.calls for agent, usage in model.brain.ledger.snapshot().items()}


def thread() -> dict[str, Any]:
    return {"configurable": {"thread_id": f"approval-{next(_threads)}"}}


# -- the pause -----------------------------------------------------------------------


async def test_the_run_pauses_before_the_next_stage_showing_the_value_and_the_answers_it_takes() -> None:
    graph, model, config = FLOW.compile(checkpointer=InMemorySaver()), scripted(), thread()
    state = await graph.ainvoke(BRIEF, config, context=AgentContext(model=model))

    (pause,) = state["__interrupt__"]
    ask = pause.value
    assert ask["step"] == "review" and ask["actions"] == ["approve", "edit", "reject"]
    assert ask["value"] == DRAFT
    assert "review" in ask["ask"]
    schema = ask["answer_schema"]
    assert schema["discriminator"]["propertyName"] == "action"
    assert schema["$defs"]["Draft"]["required"] == ["title", "body"]  # the editable model, as JSON schema
    assert schema["examples"] == [
        {"action": "approve"},
        {"action": "edit", "value": DRAFT},  # a template to change
        {"action": "reject", "reason": "why it is refused"},
    ]
    assert calls(model) == {"drafter": 1}  # the publisher waits for the answer
    assert (await graph.aget_state(config)).next == ("review",)


@pytest.mark.parametrize(
    ("answer", "published"),
    [
        ({"action": "approve"}, {"url": "/posts/release-2-0", "title": "Release 2.0", "words": 5}),
        (
            {"action": "edit", "value": {"title": "Release 2.0 is out", "body": "Search is faster."}},
            {"url": "/posts/release-2-0-is-out", "title": "Release 2.0 is out", "words": 3},
        ),
    ],
    ids=["approve", "edit"],
)
async def test_approve_passes_the_value_on_and_edit_passes_the_edited_one(
    answer: dict[str, Any], published: dict[str, Any]
) -> None:
    graph, model, config = FLOW.compile(checkpointer=InMemorySaver()), scripted(), thread()
    await graph.ainvoke(BRIEF, config, context=AgentContext(model=model))
    state = await graph.ainvoke(Command(resume=answer), config, context=AgentContext(model=model))

    result = state["result"]
    assert result["status"] == "completed" and result["output"] == published
    assert result["outputs"]["review"] == answer.get("value", DRAFT)
    assert calls(model) == {"drafter": 1, "publisher": 1}  # the draft is not written again


async def test_reject_stops_the_flow_naming_the_step_and_the_reason_and_stays_rejected(
    tmp_path: Path,
) -> None:
    url, model = f"sqlite:///{tmp_path / 'c.sqlite'}", scripted()
    paused = await arun(FLOW, BRIEF, model=model, checkpoint=url, thread_id="rejected")
    assert paused.status == "interrupted" and paused.interrupt["step"] == "review"

    answer = {"action": "reject", "reason": "  the title names an internal codename "}
    rejected = await arun(
        FLOW, model=model, checkpoint=url, thread_id="rejected", resume=True, resume_value=answer
    )
    assert rejected.status == "failed" and rejected.output is None
    assert (
        rejected.error
        == "ApprovalRejected: approval step 'review' was rejected: the title names an internal codename"
    )
    assert calls(model) == {"drafter": 1}  # nothing after the step ran

    again = await arun(FLOW, model=model, checkpoint=url, thread_id="rejected", resume=True)
    assert again.error == rejected.error and calls(model) == {"drafter": 1}  # a rejection is final


async def test_a_rejection_raised_from_the_graph_carries_the_step_and_the_reason() -> None:
    graph, model, config = FLOW.compile(checkpointer=InMemorySaver()), scripted(), thread()
    await graph.ainvoke(BRIEF, config, context=AgentContext(model=model))
    with pytest.raises(ApprovalRejected) as raised:
        await graph.ainvoke(
            Command(resume={"action": "reject", "reason": "off-brand"}),
            config,
            context=AgentContext(model=model),
        )
    assert (raised.value.step, raised.value.reason) == ("review", "off-brand")
    assert str(raised.value) == "approval step 'review' was rejected: off-brand"


async def test_a_wrong_answer_given_to_the_graph_is_asked_again_with_the_problem() -> None:
    graph, model, config = FLOW.compile(checkpointer=InMemorySaver()), scripted(), thread()
    await graph.ainvoke(BRIEF, config, context=AgentContext(model=model))

    state = await graph.ainvoke(
        Command(resume={"action": "edit", "value": {"title": ""}}), config, context=AgentContext(model=model)
    )
    (pause,) = state["__interrupt__"]
    assert pause.value["problem"] == (
        "value.title: String should have at least 1 character; value.body: Field required"
    )
    assert pause.value["value"] == DRAFT and "result" not in state

    state = await graph.ainvoke(
        Command(resume={"action": "approve"}), config, context=AgentContext(model=model)
    )
    assert state["result"]["output"]["title"] == "Release 2.0"
    assert calls(model) == {"drafter": 1, "publisher": 1}


# -- wrong answers are refused before they are stored ----------------------------------


async def stored(url: str, thread_id: str) -> list[tuple[str, str, list[str]]]:
    """Every checkpoint of the thread (all namespaces) with its pending writes: what a resume replays."""
    async with open_checkpointer(url) as saver:
        return sorted(
            [
                (
                    t.config["configurable"]["checkpoint_ns"],
                    t.checkpoint["id"],
                    sorted(repr(w) for w in t.pending_writes or []),
                )
                async for t in saver.alist({"configurable": {"thread_id": thread_id}})
            ]
        )


REFUSED: dict[str, tuple[Any, str]] = {
    "unknown action": (
        {"action": "publish"},
        'action must be one of: approve, edit, reject, not "publish"; answer like {"action": "approve"}',
    ),
    "bare word": ("approve", 'the answer must be an object, not text; answer like {"action": "approve"}'),
    "edit without a value": ({"action": "edit"}, 'value is missing; answer like {"action": "edit", '),
    "edit off the schema": (
        {"action": "edit", "value": {"title": "", "body": "b"}},
        "value.title must not be blank",
    ),
    "edit of the wrong type": (
        {"action": "edit", "value": {"title": "T", "body": 3}},
        "value.body must be text, not an integer",
    ),
    "reject without a reason": (
        {"action": "reject"},
        'reason is missing; answer like {"action": "reject", "reason": "why it is refused"}',
    ),
    "blank reason": ({"action": "reject", "reason": "   "}, "reason must not be blank"),
    "mistyped key": ({"action": "approve", "comment": "ok"}, "comment is not expected here (only action)"),
}


@pytest.mark.parametrize("case", list(REFUSED))
async def test_a_wrong_answer_is_refused_before_it_is_stored(
    case: str, checkpoint_url: str, unique_thread_id: str
) -> None:
    answer, message = REFUSED[case]
    model = scripted()
    await arun(FLOW, BRIEF, model=model, checkpoint=checkpoint_url, thread_id=unique_thread_id)
    before = await stored(checkpoint_url, unique_thread_id)

    with pytest.raises(UsageError) as refused:
        await arun(
            FLOW,
            model=model,
            checkpoint=checkpoint_url,
            thread_id=unique_thread_id,
            resume=True,
            resume_value=answer,
        )
    assert str(refused.value).startswith(f"thread {unique_thread_id!r} cannot take this answer: {message}")
    assert await stored(checkpoint_url, unique_thread_id) == before  # nothing for a resume to replay

    done = await arun(
        FLOW,
        model=model,
        checkpoint=checkpoint_url,
        thread_id=unique_thread_id,
        resume=True,
        resume_value={"action": "approve"},
    )
    assert done.status == "completed" and done.output is not None
    assert done.output["output"]["title"] == "Release 2.0"
    assert calls(model) == {"drafter": 1, "publisher": 1}


class Order(BaseModel):
    size: Literal["S", "M", "L"]
    note: str | None = None
    lines: list[Line] = Field(min_length=1, max_length=3)
    price: float = Field(gt=0)
    gift: bool = False


ORDER = {"size": "S", "lines": [{"sku": "ABC-1", "qty": 2}], "price": 3}


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ({**ORDER, "size": "XL"}, 'size must be one of: "S", "M", "L"'),
        ({**ORDER, "note": 5}, "note must be text or null, not an integer"),
        ({**ORDER, "lines": []}, "lines must have at least 1 items, not 0"),
        (
            {**ORDER, "lines": [{"sku": "abc", "qty": 2}]},
            "lines[0].sku must match the pattern ^[A-Z]{3}-\\d+$",
        ),
        ({**ORDER, "lines": [{"sku": "ABC-1", "qty": 100}]}, "lines[0].qty must be at most 99, not 100"),
        ({**ORDER, "lines": [{"sku": "ABC-1", "qty": 1.5}]}, "lines[0].qty must be an integer, not a number"),
        ({**ORDER, "price": 0}, "price must be more than 0, not 0"),
        ({**ORDER, "gift": 1}, "gift must be true or false, not an integer"),
        ([ORDER], "the answer must be an object, not a list"),
        (ORDER, None),
    ],
)
def test_the_runner_checks_any_answer_schema_without_knowing_the_step(
    answer: Any, problem: str | None
) -> None:
    # Any step may ask for any JSON: here an order, described by its pydantic model's schema.
    pending = [Interrupt(value={"answer_schema": Order.model_json_schema()})]
    if problem is None:
        _check_answer("t", pending, answer)
        return
    with pytest.raises(UsageError) as refused:
        _check_answer("t", pending, answer)
    assert str(refused.value) == f"thread 't' cannot take this answer: {problem}"


def test_a_refusal_quotes_an_example_of_the_form_tried_unless_it_is_long() -> None:
    step = approval_step("review", editable=Draft)
    with pytest.raises(UsageError, match=r"reason is missing; answer like \{\"action\": \"reject\""):
        _check_answer("t", [Interrupt(value=step.request(DRAFT))], {"action": "reject"})
    long = [Interrupt(value=step.request({"title": "T", "body": "word " * 100}))]
    with pytest.raises(UsageError) as refused:
        _check_answer("t", long, {"action": "edit"})
    assert str(refused.value) == "thread 't' cannot take this answer: value is missing"


async def test_a_step_without_an_editable_model_takes_approve_or_reject_only(tmp_path: Path) -> None:
    sign_off = approval_step("sign_off")
    assert sign_off.actions == ["approve", "reject"]
    flow = pipeline.SPEC.flow(stages=[DRAFTER, sign_off, PUBLISHER])
    url = f"sqlite:///{tmp_path / 'c.sqlite'}"
    paused = await arun(flow, BRIEF, model=scripted(), checkpoint=url, thread_id="t")
    assert paused.interrupt["actions"] == ["approve", "reject"]
    assert "approve or reject" in paused.interrupt["ask"]
    with pytest.raises(UsageError, match='action must be one of: approve, reject, not "edit"'):
        await arun(
            flow,
            model=scripted(),
            checkpoint=url,
            thread_id="t",
            resume=True,
            resume_value={"action": "edit", "value": DRAFT},
        )


async def test_show_chooses_what_the_person_sees_and_the_whole_value_goes_on() -> None:
    headline = approval_step(
        "headline", show=lambda draft: {"title": draft["title"]}, ask="Is the title right?"
    )
    graph = pipeline.build_pipeline(stages=[DRAFTER, headline, PUBLISHER], checkpointer=InMemorySaver())
    model, config = scripted(), thread()
    state = await graph.ainvoke(BRIEF, config, context=AgentContext(model=model))
    assert state["__interrupt__"][0].value["value"] == {"title": "Release 2.0"}
    assert state["__interrupt__"][0].value["ask"] == "Is the title right?"
    state = await graph.ainvoke(
        Command(resume={"action": "approve"}), config, context=AgentContext(model=model)
    )
    assert state["result"]["output"]["words"] == 5  # the publisher had the body too


# -- a node of any graph, before a side effect ----------------------------------------


class Mail(BaseModel):
    to: str = Field(pattern=r"^\S+@\S+$")
    subject: str


class Outbox(TypedDict, total=False):
    mail: dict[str, Any]
    sent: dict[str, Any]


def outbox_graph(step: Approval, sent: list[dict[str, Any]]) -> Any:
    def send(state: Outbox) -> Outbox:  # the side effect the person approves
        sent.append(state["mail"])
        return {"sent": state["mail"]}

    graph = StateGraph(Outbox)
    graph.add_node("confirm", step.node("mail"))
    graph.add_node("send", send)
    graph.add_edge(START, "confirm")
    graph.add_edge("confirm", "send")
    graph.add_edge("send", END)
    return graph.compile(checkpointer=InMemorySaver())


MAIL = {"to": "team@example.com", "subject": "Release 2.0"}


async def test_as_a_node_it_holds_a_side_effect_until_approved_and_sends_the_edit() -> None:
    sent: list[dict[str, Any]] = []
    graph, config = outbox_graph(approval_step("confirm", editable=Mail), sent), thread()
    paused = await graph.ainvoke({"mail": MAIL}, config)
    assert paused["__interrupt__"][0].value["value"] == MAIL and sent == []
    edited = {"to": "all@example.com", "subject": "Release 2.0 is out"}
    state = await graph.ainvoke(Command(resume={"action": "edit", "value": edited}), config)
    assert sent == [edited] and state["sent"] == edited


async def test_as_a_node_a_rejection_never_reaches_the_side_effect() -> None:
    sent: list[dict[str, Any]] = []
    graph, config = outbox_graph(approval_step("confirm", editable=Mail), sent), thread()
    await graph.ainvoke({"mail": MAIL}, config)
    with pytest.raises(ApprovalRejected, match="'confirm' was rejected: wrong list"):
        await graph.ainvoke(Command(resume={"action": "reject", "reason": "wrong list"}), config)
    assert sent == []


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: approval_step("editor review"), "letters, digits and _"),
        (lambda: approval_step("review", editable=dict), "editable must be a pydantic model class"),  # type: ignore[arg-type]
    ],
    ids=["name", "editable"],
)
def test_a_misdeclared_step_is_a_usage_error(make: Any, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        make()


# -- the preset, and orch run --resume --answer ----------------------------------------


def preset_model() -> ScriptedChatModel:
    return ScriptedChatModel(brain=ScriptedBrain(responders=publishing.RESPONDERS))


async def test_the_preset_publishes_what_the_editor_approved(tmp_path: Path) -> None:
    url, model = f"sqlite:///{tmp_path / 'c.sqlite'}", preset_model()
    paused = await arun(publishing.SPEC, model=model, checkpoint=url, thread_id="post")
    assert paused.status == "interrupted" and paused.pattern == "approval"
    draft = paused.interrupt["value"]
    assert draft["title"] == "Faster checkout in the mobile app"
    assert draft["body"].split("\n\n")[0] == "Checkout now takes two taps instead of five."

    edited = {**draft, "title": "Checkout in two taps"}
    done = await arun(
        publishing.SPEC,
        model=model,
        checkpoint=url,
        thread_id="post",
        resume=True,
        resume_value={"action": "edit", "value": edited},
    )
    assert done.status == "completed", done.error
    published = done.output["output"]
    assert published["url"] == "https://blog.example.com/articles/checkout-in-two-taps"
    assert published["words"] == len(draft["body"].split()) and published["reading_minutes"] == 1
    assert [s.agent for s in done.steps] == ["pipeline", "check_output"]
    assert set(done.usage) == {"site_publisher", "standards_editor"}  # the draft was not written again


@pytest.fixture
def orch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """`orch` in this process, with the preset registered (as the registry lists it) and its responders."""
    monkeypatch.setitem(presets.PATTERNS, "approval", publishing.SPEC)
    monkeypatch.setitem(presets.SAMPLES, "approval", dict(publishing.SAMPLE))
    for name, responder in publishing.RESPONDERS.items():
        monkeypatch.setitem(presets.RESPONDERS, name, responder)  # type: ignore[index]
    monkeypatch.chdir(tmp_path)
    return main


def test_orch_exits_3_with_a_resume_line_to_paste_then_refuses_a_wrong_answer_with_exit_2(
    orch: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert orch(["run", "approval", "--thread", "post-1"]) == 3
    out = capsys.readouterr().out
    assert (
        "Resume with: orch run approval --resume --thread post-1 --checkpoint sqlite:///.orch/checkpoints.sqlite "
        """--answer '{"action": "approve"}'\n"""
    ) in out

    assert orch(["run", "approval", "--resume", "--thread", "post-1", "--answer", "approve"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "orch: error: thread 'post-1' cannot take this answer: the answer must be an object, not text; "
        'answer like {"action": "approve"}'
    ]

    answer = json.dumps({"action": "approve"})
    assert orch(["run", "approval", "--resume", "--thread", "post-1", "--answer", answer, "--json"]) == 0
    result = RunResult.model_validate_json(capsys.readouterr().out)
    assert result.status == "completed" and result.output is not None
    assert result.output["output"]["slug"] == "faster-checkout-in-the-mobile-app"


def test_orch_reports_a_rejection_as_a_failed_run_exit_1(
    orch: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert orch(["run", "approval", "--thread", "post-2"]) == 3
    capsys.readouterr()
    answer = json.dumps({"action": "reject", "reason": "wait for the launch date"})
    assert orch(["run", "approval", "--resume", "--thread", "post-2", "--answer", answer, "--json"]) == 1
    result = RunResult.model_validate_json(capsys.readouterr().out)
    assert (
        result.error
        == "ApprovalRejected: approval step 'editor_review' was rejected: wait for the launch date"
    )
