"""Every builder runs agents that are not the presets': own names, instructions and
output models, answered by responders registered here, in-process on the scripted
model and through `ChatOpenAI` against `orch serve-model`'s server.

The agent is a value (`Agent`); a malformed one is a `UsageError` saying what to
pass; an agent the scripted model has no responder for fails at once, naming it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_openai import ChatOpenAI
from langgraph.checkpoint.memory import InMemorySaver
from pydantic import BaseModel

from patterns import (
    Agent,
    AgentContext,
    FaultPolicy,
    ScriptedBrain,
    ScriptedChatModel,
    UsageError,
    build_debate,
    build_handoff,
    build_map_reduce,
    build_pipeline,
    build_refinement,
    build_routing,
    build_scatter_gather,
    call_agent,
)
from patterns.errors import MalformedOutput
from patterns.flows.debate import Position, Ruling
from patterns.flows.handoff import DeskReply
from patterns.flows.map_reduce import MapReduceOutput, MapReply, combine_partials
from patterns.flows.pipeline import Extracted, Record, Validation
from patterns.flows.refinement import Draft
from patterns.flows.routing import Answer, Classification
from patterns.flows.scatter_gather import Merged, QuorumNotMet, SourceFindings
from patterns.runtime import PatternGraph
from patterns.testing import MODEL_ID, NoResponder, running_server

Payload = dict[str, Any]


class Verdict(Validation):
    """A user's own gate schema: the builder's contract plus a field of theirs."""

    checked_by: str


def _pipeline() -> tuple[PatternGraph, Payload, dict[str, Callable[[Payload], Payload]]]:
    reader = Agent(
        "reader",
        "Read the purchase order. Keys: invoice_id, customer, date, currency, items, total.",
        output=Extracted,
    )
    checker = Agent("checker", "Reject orders over 1000. Keys: valid, reasons, checked_by.", output=Verdict)
    writer = Agent("writer", "Write the ledger record.", output=Record)

    def read(p: Payload) -> Payload:
        amount = float(p["document"].split()[-1])
        item = {"description": "order", "quantity": 1, "unit_price": amount}
        return {
            "invoice_id": "po-1",
            "customer": "acme",
            "date": None,
            "currency": "EUR",
            "items": [item],
            "total": amount,
        }

    def check(p: Payload) -> Payload:
        over = p["record"]["total"] > 1000
        return {"valid": not over, "reasons": ["over the limit"] if over else [], "checked_by": "policy"}

    def write(p: Payload) -> Payload:
        r = p["record"]
        cents = int(r["total"] * 100)
        return {
            "invoice_id": r["invoice_id"].upper(),
            "customer": r["customer"],
            "date": None,
            "currency": "EUR",
            "items": [],
            "total_cents": cents,
            "line_count": 1,
        }

    graph = build_pipeline(extractor=reader, validator=checker, transformer=writer)
    return graph, {"document": "PO total 1500"}, {"reader": read, "checker": check, "writer": write}


def _scatter_gather() -> tuple[PatternGraph, Payload, dict[str, Callable[[Payload], Payload]]]:
    analyst = Agent(
        "analyst", "Quote the sentence that answers. Keys: findings [{text, score}].", output=SourceFindings
    )
    editor = Agent("editor", "Merge the quotes. Keys: findings, summary.", output=Merged)

    def analyse(p: Payload) -> Payload:
        return {"findings": [{"text": p["documents"][0], "score": 1.0}]}

    def edit(p: Payload) -> Payload:
        texts = sorted({f["text"] for r in p["results"] for f in r["findings"]})
        merged = [
            {
                "text": t,
                "sources": [r["source"] for r in p["results"] if r["findings"][0]["text"] == t],
                "score": 1.0,
            }
            for t in texts
        ]
        return {"findings": merged, "summary": f"{len(texts)} distinct answers"}

    data = {
        "question": "q?",
        "sources": [
            {"name": "a", "documents": ["yes"]},
            {"name": "b", "documents": ["yes"]},
            {"name": "c", "documents": ["no"]},
        ],
    }
    graph = build_scatter_gather(researcher=analyst, aggregator=editor)
    return graph, data, {"analyst": analyse, "editor": edit}


def _map_reduce() -> tuple[PatternGraph, Payload, dict[str, Callable[[Payload], Payload]]]:
    scorer = Agent(
        "scorer", "Score each ticket's urgency. Keys: results [{id, score, label}].", output=MapReply
    )
    summariser = Agent(
        "summariser", "Combine the partials. Keys: count, score_sum, ...", output=MapReduceOutput
    )

    def score(p: Payload) -> Payload:
        return {
            "results": [
                {
                    "id": i["id"],
                    "score": 1.0 if "!" in i["text"] else 0.0,
                    "label": "positive" if "!" in i["text"] else "neutral",
                }
                for i in p["items"]
            ]
        }

    data = {
        "items": [{"id": f"t{i}", "text": "down!" if i % 3 == 0 else "fine"} for i in range(10)],
        "batch_size": 3,
        "max_concurrency": 2,
    }
    graph = build_map_reduce(mapper=scorer, reducer=summariser)
    return graph, data, {"scorer": score, "summariser": lambda p: combine_partials(p["partials"])}


class Grade(BaseModel):
    """A user's own critique schema: a 0-10 grade and notes, no `score` field."""

    grade: int
    lacking: list[str]


def _refinement() -> tuple[PatternGraph, Payload, dict[str, Callable[[Payload], Payload]]]:
    writer = Agent("copywriter", "Write the tagline. Keys: draft.", output=Draft)
    editor = Agent("copy_editor", "Grade it from 0 to 10. Keys: grade, lacking.", output=Grade)

    def write(p: Payload) -> Payload:
        said = (
            [] if p["feedback"] is None else [x for x in p["must_say"] if x not in p["feedback"]["lacking"]]
        )
        return {"draft": " ".join([*said, p["must_say"][len(said)]])}

    def grade(p: Payload) -> Payload:
        lacking = [x for x in p["must_say"] if x not in p["draft"]]
        return {"grade": round(10 * (1 - len(lacking) / len(p["must_say"]))), "lacking": lacking}

    data = {"task": {"product": "a bike", "must_say": ["fast", "cheap", "green"], "threshold": 1.0}}
    data["task"] |= {"epsilon": 0.0, "max_iterations": 5}
    graph = build_refinement(generator=writer, critic=editor, score=lambda c: c["grade"] / 10)
    return graph, data, {"copywriter": write, "copy_editor": grade}


def _routing() -> tuple[PatternGraph, Payload, dict[str, Callable[[Payload], Payload]]]:
    triager = Agent("triager", "Classify. Keys: route, confidence.", output=Classification)
    expert = Agent("expert", "Answer within your speciality. Keys: answer.", output=Answer)
    responders = {
        "triager": lambda p: {
            "route": "technical" if "error" in p["message"] else "general",
            "confidence": 0.9,
        },
        "expert": lambda p: {"answer": f"[{p['speciality']}] we are on it"},
    }
    graph = build_routing(router=triager, routes={"technical": expert, "general": expert})
    return graph, {"message": "an error at login"}, responders


def _handoff() -> tuple[PatternGraph, Payload, dict[str, Callable[[Payload], Payload]]]:
    concierge = Agent("concierge", "Answer or hand off. Keys: action, to, reason, answer.", output=DeskReply)

    def desk(p: Payload) -> Payload:
        if p["speciality"] == "triage":
            return {"action": "handoff", "to": "billing", "reason": "money", "answer": None}
        return {
            "action": "answer",
            "to": None,
            "reason": "mine",
            "answer": f"{p['speciality']} will refund you",
        }

    graph = build_handoff(desks=dict.fromkeys(("triage", "billing", "general"), concierge))
    return graph, {"message": "refund please", "max_handoffs": 2}, {"concierge": desk}


BUILDERS = {
    "pipeline": (_pipeline, {"status": "rejected", "reasons": ["over the limit"]}),
    "scatter_gather": (_scatter_gather, {"summary": "2 distinct answers", "sources_ok": ["a", "b", "c"]}),
    "map_reduce": (_map_reduce, {"count": 10, "score_sum": 4.0, "batches": 4}),
    "refinement": (_refinement, {"best_score": 1.0, "iterations": 3, "stop_reason": "threshold"}),
    "routing": (
        _routing,
        {"route": "technical", "handled_by": "technical", "answer": "[technical] we are on it"},
    ),
    "handoff": (_handoff, {"handled_by": "billing", "answer": "billing will refund you"}),
}


async def _invoke(graph: PatternGraph, data: Payload, brain: ScriptedBrain, *, via_http: bool) -> Payload:
    """The run's result, on the scripted model in-process or through ChatOpenAI and the HTTP server."""
    if not via_http:
        state = await graph.ainvoke(data, context=AgentContext(model=ScriptedChatModel(brain=brain)))
        return dict(state["result"])
    with running_server(brain) as url:
        state = await graph.ainvoke(data, context=AgentContext(model=_http_model(url)))
    return dict(state["result"])


def _http_model(url: str) -> BaseChatModel:
    return ChatOpenAI(model=MODEL_ID, base_url=url, api_key="not-needed", max_retries=0, temperature=0)  # type: ignore[arg-type]


@pytest.mark.parametrize("via_http", [False, True], ids=["in-process", "http"])
@pytest.mark.parametrize("pattern", sorted(BUILDERS))
async def test_a_builder_runs_the_users_own_agents(pattern: str, via_http: bool) -> None:
    make, expected = BUILDERS[pattern]
    graph, data, responders = make()
    brain = ScriptedBrain(responders=responders)
    result = await _invoke(graph, data, brain, via_http=via_http)
    assert {key: result[key] for key in expected} == expected
    assert set(brain.ledger.snapshot()) <= {*responders, "a", "b", "c", "technical", "triage", "billing"}


@pytest.mark.parametrize("via_http", [False, True], ids=["in-process", "http"])
async def test_a_debate_of_the_users_own_panel_with_a_human_chair(via_http: bool) -> None:
    panelist = Agent("panelist", "Pick an option. Keys: position, confidence, argument.", output=Position)
    chair = Agent("chair", "Decide. Keys: decision, rationale.", output=Ruling)

    def argue(p: Payload) -> Payload:
        pick = p["evidence"][0]["supports"] if p["evidence"] else p["options"][0]
        return {"position": pick, "confidence": 0.8, "argument": "my evidence"}

    brain = ScriptedBrain(
        responders={"panelist": argue, "chair": lambda p: {"decision": "x", "rationale": "r"}}
    )
    graph = build_debate(debater=panelist, judge=chair, checkpointer=InMemorySaver())
    task = {
        "question": "x or y?",
        "options": ["x", "y"],
        "debaters": 2,
        "rounds": 1,
        "voting": "majority",
        "quorum": None,
        "threshold": 0.5,
        "weights": {},
        "arbitration": "judge",
        "evidence": [
            {"claim": "c1", "supports": "x", "weight": 1.0},
            {"claim": "c2", "supports": "y", "weight": 1.0},
        ],
    }
    config = {"configurable": {"thread_id": "panel"}}

    async def run(model: BaseChatModel) -> Payload:
        state = await graph.ainvoke({"task": task}, config, context=AgentContext(model=model))
        return dict(state["result"])

    if via_http:
        with running_server(brain) as url:
            result = await run(_http_model(url))
    else:
        result = await run(ScriptedChatModel(brain=brain))
    assert (result["decision"], result["decided_by"], result["consensus"]) == ("x", "judge", False)
    assert [t["debater"] for t in result["transcript"]] == ["debater_1", "debater_2"]
    assert brain.ledger.snapshot()["chair"].calls == 1


async def test_an_agent_with_no_responder_fails_at_once_naming_it() -> None:
    brain = ScriptedBrain(responders={})
    stranger = Agent("stranger", "Say hi. Keys: answer.", output=Answer)
    with pytest.raises(
        NoResponder, match=r"no responder for agent 'stranger': register one with ScriptedBrain"
    ):
        await call_agent(ScriptedChatModel(brain=brain), stranger, {})
    assert brain.ledger.snapshot()["stranger"].failures == 1  # one call: permanent, never retried


async def test_an_agent_uses_its_own_model_when_it_has_one() -> None:
    mine = ScriptedBrain(responders={"expert": lambda p: {"answer": "from my model"}})
    expert = Agent("expert", "Answer. Keys: answer.", output=Answer, model=ScriptedChatModel(brain=mine))
    run_brain = ScriptedBrain(responders={})
    reply = await call_agent(AgentContext(model=ScriptedChatModel(brain=run_brain)), expert, {"q": 1})
    assert reply.answer == "from my model" and not run_brain.ledger.snapshot()


class _Plain:
    pass


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "has space", "instructions": "x", "output": Answer}, "is not a name"),
        ({"name": "a", "instructions": " ", "output": Answer}, "needs instructions"),
        ({"name": "a", "instructions": "x", "output": _Plain}, "output must be a pydantic model class"),
        (
            {"name": "a", "instructions": "x", "output": Answer, "model": "gpt-4o"},
            "model must be a LangChain chat model",
        ),
    ],
)
def test_a_malformed_agent_is_a_usage_error_saying_what_to_pass(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        Agent(**kwargs)


async def test_call_agent_refuses_a_role_string_with_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"call_agent needs an Agent\(name, instructions, output=Model\)"):
        await call_agent(ScriptedChatModel(), "router", {})  # type: ignore[arg-type]


def _split_debate(
    options: list[str], answers: Callable[[Payload, int], str]
) -> tuple[PatternGraph, Payload, ScriptedBrain]:
    """Four debaters split 2-2 between x and y, decided by plurality: the tie-break decides."""
    calls: dict[str, int] = {}

    def argue(p: Payload) -> Payload:
        key = p["evidence"][0]["claim"]
        calls[key] = calls.get(key, 0) + 1
        return {"position": answers(p, calls[key]), "confidence": 1.0, "argument": "because"}

    brain = ScriptedBrain(responders={"panelist": argue})
    panelist = Agent("panelist", "Pick an option. Keys: position, confidence, argument.", output=Position)
    chair = Agent("chair", "Decide. Keys: decision, rationale.", output=Ruling)
    evidence = [{"claim": f"c{i}", "supports": "x" if i % 2 == 0 else "y", "weight": 1.0} for i in range(4)]
    task = {
        "question": "x or y?",
        "options": options,
        "debaters": 4,
        "rounds": 1,
        "voting": "majority",
        "quorum": None,
        "threshold": 0.5,
        "weights": {},
        "arbitration": "plurality",
        "evidence": evidence,
    }
    return build_debate(debater=panelist, judge=chair), {"task": task}, brain


async def test_a_split_debate_does_not_depend_on_the_order_of_the_options() -> None:
    decisions = []
    for options in (["x", "y"], ["y", "x"]):
        graph, data, brain = _split_debate(options, lambda p, _n: str(p["evidence"][0]["supports"]))
        state = await graph.ainvoke(data, context=AgentContext(model=ScriptedChatModel(brain=brain)))
        assert state["result"]["vote"]["distribution"] == {o: 2.0 for o in options}  # shown as listed
        decisions.append((state["result"]["decision"], state["result"]["decided_by"]))
    assert decisions == [("x", "plurality"), ("x", "plurality")]


async def test_an_off_list_position_is_asked_again_not_counted_for_the_first_option() -> None:
    # Each debater first answers "Z" (no option), then, asked again, its evidence's side in upper case.
    graph, data, brain = _split_debate(
        ["y", "x"], lambda p, n: "Z" if n == 1 else f" {p['evidence'][0]['supports'].upper()} "
    )
    state = await graph.ainvoke(data, context=AgentContext(model=ScriptedChatModel(brain=brain)))
    assert state["result"]["vote"]["distribution"] == {"y": 2.0, "x": 2.0}
    assert [t["position"] for t in state["result"]["transcript"]] == ["x", "y", "x", "y"]
    assert brain.ledger.snapshot()["debater_1"].calls == 2  # asked twice: once off-list, once on


async def test_a_debater_that_never_names_an_option_fails_the_run_naming_it() -> None:
    graph, data, brain = _split_debate(["x", "y"], lambda _p, _n: "maybe")
    with pytest.raises(
        MalformedOutput, match=r"debater 'debater_\d' took position 'maybe', which is none of the options"
    ):
        await graph.ainvoke(data, context=AgentContext(model=ScriptedChatModel(brain=brain)))


async def test_routing_reaches_the_callers_own_routes_and_falls_back_to_the_default() -> None:
    triager = Agent(
        "triager", "Classify: sales, refunds or other. Keys: route, confidence.", output=Classification
    )
    seller = Agent("seller", "Sell. Keys: answer.", output=Answer)
    helper = Agent("helper", "Help. Keys: answer.", output=Answer)
    words = {"buy": "sales", "refund": "refunds"}
    brain = ScriptedBrain(
        responders={
            "triager": lambda p: {
                "route": next((r for w, r in words.items() if w in p["message"]), "legal"),
                "confidence": 1.0,
            },
            "seller": lambda p: {"answer": f"seller on {p['speciality']}"},
            "helper": lambda p: {"answer": f"helper on {p['speciality']}"},
        }
    )
    graph = build_routing(
        router=triager, routes={"sales": seller, "refunds": helper, "other": helper}, default="other"
    )
    context = AgentContext(model=ScriptedChatModel(brain=brain))
    handled = [
        (state["result"]["route"], state["result"]["answer"])
        for state in [
            await graph.ainvoke({"message": m}, context=context) for m in ("buy 3", "refund me", "sue you")
        ]
    ]
    assert handled == [
        ("sales", "seller on sales"),
        ("refunds", "helper on refunds"),
        ("other", "helper on other"),
    ]


def test_routing_refuses_a_default_that_is_not_a_route() -> None:
    agent = Agent("a", "x", output=Answer)
    with pytest.raises(UsageError, match=r"default route 'general' is not one of the routes: sales"):
        build_routing(
            router=Agent("r", "x", output=Classification), routes={"sales": agent}, default="general"
        )


async def test_handoff_moves_between_the_callers_own_desks() -> None:
    def desk(p: Payload) -> Payload:
        if p["speciality"] == "front":
            return {"action": "handoff", "to": "sales", "reason": "wants to buy", "answer": None}
        if p["speciality"] == "sales":
            return {"action": "handoff", "to": "nowhere", "reason": "not ours", "answer": None}
        return {"action": "answer", "to": None, "reason": "last stop", "answer": "help answered"}

    staff = Agent(
        "staff",
        "Answer or hand off to front, sales or help. Keys: action, to, reason, answer.",
        output=DeskReply,
    )
    graph = build_handoff(
        desks={"front": staff, "sales": staff, "help": staff}, entry="front", fallback="help"
    )
    brain = ScriptedBrain(responders={"staff": desk})
    state = await graph.ainvoke(
        {"message": "a price?", "max_handoffs": 3}, context=AgentContext(model=ScriptedChatModel(brain=brain))
    )
    hops = [(h["from_agent"], h["to_agent"]) for h in state["result"]["handoffs"]]
    assert hops == [("front", "sales"), ("sales", "help")]  # an unknown target goes to the fallback
    assert state["result"]["handled_by"] == "help"


def test_handoff_refuses_an_entry_that_is_not_a_desk() -> None:
    staff = Agent("staff", "x", output=DeskReply)
    with pytest.raises(UsageError, match=r"entry desk 'triage' is not one of the desks: a, b"):
        build_handoff(desks={"a": staff, "b": staff}, entry="triage")


class Opinion(BaseModel):
    verdict: str
    why: str


class Summary(BaseModel):
    verdicts: dict[str, str]


def _panel_brain(*, down: frozenset[str] = frozenset()) -> ScriptedBrain:
    def opinion(name: str, verdict: str) -> Callable[[Payload], Payload]:
        return lambda p: {"verdict": verdict, "why": f"{name} read {p['question']!r}"}

    return ScriptedBrain(
        responders={
            "economist": opinion("economist", "buy"),
            "engineer": opinion("engineer", "build"),
            "lawyer": opinion("lawyer", "buy"),
            "chair": lambda p: {"verdicts": {n: a["verdict"] for n, a in p["answers"].items()}},
        },
        faults=FaultPolicy(down_agents=down),
    )


PANEL = [
    Agent("economist", "Judge the cost. Keys: verdict (build | buy), why.", output=Opinion),
    Agent("engineer", "Judge the effort. Keys: verdict (build | buy), why.", output=Opinion),
    Agent("lawyer", "Judge the risk. Keys: verdict (build | buy), why.", output=Opinion),
]
QUESTION = {"input": {"question": "Build or buy the billing system?"}}


@pytest.mark.parametrize("via_http", [False, True], ids=["in-process", "http"])
async def test_a_panel_of_different_agents_answers_the_same_input_by_name(via_http: bool) -> None:
    brain = _panel_brain()
    graph = build_scatter_gather(workers=PANEL)
    result = await _invoke(graph, QUESTION, brain, via_http=via_http)
    assert {n: a["verdict"] for n, a in result["answers"].items()} == {
        "economist": "buy",
        "engineer": "build",
        "lawyer": "buy",
    }
    assert result["answers"]["lawyer"]["why"] == "lawyer read 'Build or buy the billing system?'"
    assert (result["failed"], result["quorum"], result["merged"]) == ([], 2, None)


async def test_a_panel_merges_with_a_function_or_an_agent() -> None:
    context = AgentContext(model=ScriptedChatModel(brain=_panel_brain()))

    def count(answers: dict[str, Payload]) -> Payload:
        votes = [a["verdict"] for a in answers.values()]
        return {v: votes.count(v) for v in sorted(set(votes))}

    by_function = await build_scatter_gather(workers=PANEL, merge=count).ainvoke(QUESTION, context=context)
    assert by_function["result"]["merged"] == {"build": 1, "buy": 2}
    chair = Agent("chair", "Summarise the verdicts. Keys: verdicts.", output=Summary)
    by_agent = await build_scatter_gather(workers=PANEL, merge=chair).ainvoke(QUESTION, context=context)
    assert by_agent["result"]["merged"] == {
        "verdicts": {"economist": "buy", "engineer": "build", "lawyer": "buy"}
    }


async def test_a_panel_goes_on_without_a_failed_worker_while_the_quorum_holds() -> None:
    context = AgentContext(model=ScriptedChatModel(brain=_panel_brain(down=frozenset({"engineer"}))))
    state = await build_scatter_gather(workers=PANEL, retry_policy=None).ainvoke(QUESTION, context=context)
    assert sorted(state["result"]["answers"]) == ["economist", "lawyer"]
    assert [f["source"] for f in state["result"]["failed"]] == ["engineer"]
    with pytest.raises(QuorumNotMet, match=r"2 of 3 workers answered, quorum is 3; failed: engineer"):
        await build_scatter_gather(workers=PANEL, quorum=3, retry_policy=None).ainvoke(
            QUESTION, context=context
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"workers": [PANEL[0], PANEL[0]]}, "different names"),
        ({"workers": PANEL, "quorum": 4}, "quorum 4 must be between 1 and the number of workers"),
        ({}, r"needs workers=\[Agent, ...\], or researcher= and aggregator="),
    ],
)
def test_a_panel_declared_wrong_is_a_usage_error(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        build_scatter_gather(**kwargs)


class Brief(BaseModel):
    text: str


async def test_a_staged_pipeline_passes_each_output_on_and_stops_at_the_gate() -> None:
    drafter = Agent("drafter", "Draft from the brief. Keys: text.", output=Brief)
    publisher = Agent("publisher", "Publish the draft. Keys: text.", output=Brief)
    brain = ScriptedBrain(
        responders={
            "drafter": lambda p: {"text": f"draft of {p['brief']}"},
            "publisher": lambda p: {"text": p["text"].upper()},
        }
    )

    async def shorten(payload: Payload) -> Payload:  # a plain function stage, no model
        return {"text": payload["text"][:20]}

    def fact_check(payload: Payload) -> Payload:
        return {"valid": "lies" not in payload["text"], "reasons": ["contains lies"]}

    graph = build_pipeline(stages=[drafter, shorten, publisher], gate=fact_check)
    context = AgentContext(model=ScriptedChatModel(brain=brain))
    done = (await graph.ainvoke({"input": {"brief": "a launch"}}, context=context))["result"]
    assert done == {
        "status": "completed",
        "output": {"text": "DRAFT OF A LAUNCH"},
        "outputs": {
            "drafter": {"text": "draft of a launch"},
            "shorten": {"text": "draft of a launch"},
            "publisher": {"text": "DRAFT OF A LAUNCH"},
        },
        "reasons": [],
    }
    rejected = (await graph.ainvoke({"input": {"brief": "lies"}}, context=context))["result"]
    assert (rejected["status"], rejected["reasons"], sorted(rejected["outputs"])) == (
        "rejected",
        ["contains lies"],
        ["drafter", "shorten"],
    )
    assert brain.ledger.snapshot()["publisher"].calls == 1  # never ran for the rejected brief


@pytest.mark.parametrize("via_http", [False, True], ids=["in-process", "http"])
async def test_a_staged_pipeline_with_an_agent_gate(via_http: bool) -> None:
    drafter = Agent("drafter", "Draft. Keys: text.", output=Brief)
    reviewer = Agent(
        "reviewer", "Approve drafts under 30 characters. Keys: valid, reasons.", output=Validation
    )
    publisher = Agent("publisher", "Publish. Keys: text.", output=Brief)
    brain = ScriptedBrain(
        responders={
            "drafter": lambda p: {"text": f"draft of {p['brief']}"},
            "reviewer": lambda p: {
                "valid": len(p["text"]) < 30,
                "reasons": [] if len(p["text"]) < 30 else ["too long"],
            },
            "publisher": lambda p: {"text": p["text"].upper()},
        }
    )
    graph = build_pipeline(stages=[drafter, publisher], gate=reviewer)

    async def run(model: BaseChatModel, brief: str) -> Payload:
        return dict(
            (await graph.ainvoke({"input": {"brief": brief}}, context=AgentContext(model=model)))["result"]
        )

    if via_http:
        with running_server(brain) as url:
            short, long = (
                await run(_http_model(url), "a"),
                await run(_http_model(url), "a very long brief indeed"),
            )
    else:
        model = ScriptedChatModel(brain=brain)
        short, long = await run(model, "a"), await run(model, "a very long brief indeed")
    assert (short["status"], short["output"]) == ("completed", {"text": "DRAFT OF A"})
    assert (long["status"], long["reasons"]) == ("rejected", ["too long"])


class TicketCount(BaseModel):
    tickets: int
    urgent: int


def _add(a: Payload, b: Payload) -> Payload:
    return {"tickets": a["tickets"] + b["tickets"], "urgent": a["urgent"] + b["urgent"]}


@pytest.mark.parametrize("batch_size", [1, 3, 7, 20])
async def test_map_reduce_folds_the_users_partials_with_their_combine(batch_size: int) -> None:
    counter = Agent(
        "ticket_counter", "Count the tickets and the urgent ones. Keys: tickets, urgent.", output=TicketCount
    )
    brain = ScriptedBrain(
        responders={
            "ticket_counter": lambda p: {
                "tickets": len(p["items"]),
                "urgent": sum("!" in i["text"] for i in p["items"]),
            }
        }
    )
    items = [{"id": f"t{i}", "text": "down!" if i % 4 == 0 else "slow"} for i in range(20)]
    graph = build_map_reduce(mapper=counter, combine=_add)
    state = await graph.ainvoke(
        {"items": items, "batch_size": batch_size, "max_concurrency": 3},
        context=AgentContext(model=ScriptedChatModel(brain=brain)),
    )
    assert state["result"] == {"value": {"tickets": 20, "urgent": 5}, "batches": -(-20 // batch_size)}


def test_map_reduce_takes_a_combine_or_a_reducer_not_both() -> None:
    counter = Agent("ticket_counter", "Count. Keys: tickets, urgent.", output=TicketCount)
    with pytest.raises(UsageError, match=r"exactly one of combine=fn\(a, b\) or reducer=Agent"):
        build_map_reduce(mapper=counter)
