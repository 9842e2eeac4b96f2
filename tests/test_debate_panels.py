"""Debates of the user's panel: different agents under their own names, who hears whom,
and an open question with no options and no evidence.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_openai import ChatOpenAI
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from patterns import Agent, AgentContext, ScriptedBrain, ScriptedChatModel, UsageError, build_debate
from patterns.flows.debate import DebateInput, Position, Ruling
from patterns.runtime._runner import _check_answer
from patterns.testing import MODEL_ID, running_server

Payload = dict[str, Any]


def _member(name: str, stance: str) -> Agent[Position]:
    return Agent(name, f"You argue as the {stance}. Keys: position, confidence, argument.", output=Position)


ECONOMIST, ENGINEER, LAWYER = (
    _member("economist", "CFO"),
    _member("engineer", "CTO"),
    _member("lawyer", "counsel"),
)
CHAIR = Agent("chair", "Weigh the transcript and decide. Keys: decision, rationale.", output=Ruling)


def _task(**fields: Any) -> Payload:
    return {"task": DebateInput(**fields).model_dump(mode="json")}


async def _run(
    graph: Any, data: Payload, brain: ScriptedBrain, model: BaseChatModel | None = None
) -> Payload:
    context = AgentContext(model=model or ScriptedChatModel(brain=brain))
    return dict((await graph.ainvoke(data, context=context))["result"])


@pytest.mark.parametrize("via_http", [False, True], ids=["in-process", "http"])
async def test_a_panel_of_different_agents_debates_under_their_own_names(via_http: bool) -> None:
    seen: dict[str, list[Payload]] = {}

    def stance(name: str, pick: str) -> Callable[[Payload], Payload]:
        def argue(p: Payload) -> Payload:
            seen.setdefault(name, []).append(p)
            return {"position": pick, "confidence": 1.0, "argument": f"{name} says {pick}"}

        return argue

    brain = ScriptedBrain(
        responders={
            "economist": stance("economist", "buy"),
            "engineer": stance("engineer", "build"),
            "lawyer": stance("lawyer", "buy"),
        }
    )
    graph = build_debate(debaters=[ECONOMIST, ENGINEER, LAWYER], judge=CHAIR)
    data = _task(
        question="Build or buy billing?", options=["build", "buy"], rounds=2, weights={"engineer": 5.0}
    )
    data["task"]["voting"] = "weighted"
    if via_http:
        with running_server(brain) as url:
            model = ChatOpenAI(model=MODEL_ID, base_url=url, api_key="x", max_retries=0)  # type: ignore[arg-type]
            result = await _run(graph, data, brain, model)
    else:
        result = await _run(graph, data, brain)
    # Weights are per debater name: the engineer's 5 outweighs the two others' 1 + 1.
    assert (result["decision"], result["decided_by"]) == ("build", "vote")
    assert [t["debater"] for t in result["transcript"]] == ["economist", "engineer", "lawyer"] * 2
    usage = brain.ledger.snapshot()
    assert {name: usage[name].calls for name in ("economist", "engineer", "lawyer")} == dict.fromkeys(
        ("economist", "engineer", "lawyer"), 2
    )
    assert "chair" not in usage  # consensus: the judge is never asked
    # Round 2: each hears the two others (topology "all").
    assert [p["debater"] for p in seen["economist"][1]["peers"]] == ["engineer", "lawyer"]


async def test_a_ring_topology_lets_each_debater_hear_only_its_neighbour() -> None:
    heard: dict[str, list[str]] = {}

    def argue(p: Payload) -> Payload:
        if p["round"] == 2:
            heard[p["question"]] = [peer["debater"] for peer in p["peers"]]
        return {"position": "yes", "confidence": 1.0, "argument": "ok"}

    names = ("north", "east", "south", "west")
    panel = [_member(n, n) for n in names]
    ring = {n: [names[(i + 1) % 4]] for i, n in enumerate(names)}

    def as_(name: str) -> Callable[[Payload], Payload]:
        return lambda p: argue({**p, "question": name})

    brain = ScriptedBrain(responders={n: as_(n) for n in names})
    graph = build_debate(debaters=panel, topology=ring)
    result = await _run(graph, _task(question="q", rounds=2, arbitration="plurality"), brain)
    assert heard == {"north": ["east"], "east": ["south"], "south": ["west"], "west": ["north"]}
    assert result["decision"] == "yes"


async def test_an_open_question_compares_normalised_positions() -> None:
    answers = {"economist": "Use  PostgreSQL", "engineer": "use postgresql", "lawyer": "SQLite"}
    shown: list[tuple[Any, Any]] = []

    def says(answer: str) -> Callable[[Payload], Payload]:
        def argue(p: Payload) -> Payload:
            shown.append((p["options"], p["evidence"]))
            return {"position": answer, "confidence": 0.9, "argument": "because"}

        return argue

    brain = ScriptedBrain(responders={name: says(answer) for name, answer in answers.items()})
    graph = build_debate(debaters=[ECONOMIST, ENGINEER, LAWYER])
    data = _task(question="Which database for the ledger?", rounds=1, arbitration="plurality")
    result = await _run(graph, data, brain)
    assert (result["decision"], result["decided_by"], result["consensus"]) == ("use postgresql", "vote", True)
    assert result["vote"]["distribution"] == {"sqlite": 1.0, "use postgresql": 2.0}
    assert shown == [([], [])] * 3


def _says(position: str) -> Callable[[Payload], Payload]:
    return lambda _p: {"position": position, "confidence": 1.0, "argument": "because"}


async def test_an_open_question_split_goes_to_a_human_who_answers_in_words() -> None:
    brain = ScriptedBrain(responders={"economist": _says("wait"), "engineer": _says("ship now")})
    graph = build_debate(debaters=[ECONOMIST, ENGINEER], checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "open"}}
    context = AgentContext(model=ScriptedChatModel(brain=brain))
    data = _task(question="When do we release?", rounds=1, arbitration="human")
    state = await graph.ainvoke(data, config, context=context)
    (ask,) = state["__interrupt__"]
    assert ask.value["options"] == [] and ask.value["ask"].endswith("your answer.")
    # A blank answer is refused before it is stored (LangGraph would replay it on every resume).
    with pytest.raises(UsageError, match="asks an open question: answer it with text"):
        _check_answer("open", state["__interrupt__"], "  ")
    state = await graph.ainvoke(Command(resume="ship on Monday"), config, context=context)
    assert (state["result"]["decision"], state["result"]["decided_by"]) == ("ship on Monday", "human")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "debater=Agent .N copies. or debaters="),
        ({"debater": ECONOMIST, "debaters": [ENGINEER, LAWYER]}, "one of them"),
        ({"debaters": [ECONOMIST, ECONOMIST]}, "distinct names"),
        ({"debaters": [ECONOMIST]}, "two or more"),
        ({"debaters": [ECONOMIST, ENGINEER], "topology": {"economist": ["cfo"]}}, r"not debaters"),
    ],
)
def test_a_panel_declared_wrong_is_a_usage_error(kwargs: Payload, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        build_debate(**kwargs)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"arbitration": "judge"}, r"needs build_debate\(judge="),
        ({"arbitration": "plurality", "quorum": 3, "voting": "quorum"}, "exceeds the number of debaters"),
    ],
)
async def test_a_run_the_panel_cannot_hold_is_refused_before_any_call(fields: Payload, message: str) -> None:
    brain = ScriptedBrain(responders={})  # any model call would fail with NoResponder
    graph = build_debate(debaters=[ECONOMIST, ENGINEER])
    with pytest.raises(UsageError, match=message):
        await _run(graph, _task(question="q", **fields), brain)
