"""Declared flows that are not presets: the user's own agents, names, schemas, routes and desks.

Two or more per pattern, covering each builder shape (stages and the invoice
shape, a panel and sources, combine and reducer, agent and function critics,
named panels with a topology and N copies, one agent on several routes, desks of
different agents). Each comes with its input and the responders that answer its
agents on the scripted model; `tests/adapters/test_equivalence.py` runs every one
on every framework and compares the output with LangGraph's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from patterns import Agent
from patterns.flows import debate, handoff, map_reduce, pipeline, refinement, routing, scatter_gather
from patterns.flows.debate import Position, Ruling
from patterns.flows.handoff import DeskReply
from patterns.flows.map_reduce import MapReduceOutput, MapReply, combine_partials
from patterns.flows.pipeline import Extracted, Record, Validation
from patterns.flows.refinement import Draft, Turn
from patterns.flows.routing import Answer, Classification
from patterns.flows.scatter_gather import Merged, SourceFindings
from patterns.runtime import PatternSpec

Payload = dict[str, Any]
Responder = Callable[[Payload], Payload]


@dataclass(frozen=True)
class Declared:
    """A declared flow, its input, and the scripted answers of its agents."""

    id: str
    flow: PatternSpec
    input: Payload
    responders: Mapping[str, Responder]


# -- pipeline ------------------------------------------------------------------------


class Article(BaseModel):
    title: str
    body: str


class Verdict(Validation):
    """A gate schema of the user's own: the builder's contract plus a field."""

    checked_by: str


DRAFTER = Agent("drafter", "Draft an article on the brief. Keys: title, body.", output=Article)
FACT_CHECKER = Agent(
    "fact_checker", "Reject claims you cannot source. Keys: valid, reasons, checked_by.", output=Verdict
)
PUBLISHER = Agent("publisher", "Publish: keep the title, trim the body. Keys: title, body.", output=Article)


async def tidy(article: Payload) -> Payload:
    """A plain function stage: no model call."""
    return {"title": article["title"].title(), "body": " ".join(article["body"].split())}


def _draft(p: Payload) -> Payload:
    brief = p["brief"]
    return {"title": brief, "body": f"  {brief}  is   {'always' if 'sure' in brief else 'often'} true. "}


def _check(p: Payload) -> Payload:
    unsourced = "always" in p["body"]
    return {
        "valid": not unsourced,
        "reasons": ["'always' is unsourced"] if unsourced else [],
        "checked_by": "desk",
    }


STAGES = pipeline.SPEC.flow(stages=[DRAFTER, tidy, PUBLISHER], gate=FACT_CHECKER)
_PIPELINE_RESPONDERS: dict[str, Responder] = {
    "drafter": _draft,
    "fact_checker": _check,
    "publisher": lambda p: {"title": p["title"], "body": p["body"][:24]},
}


def _read_order(p: Payload) -> Payload:
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


def _approve(p: Payload) -> Payload:
    over = p["record"]["total"] > 1000
    return {"valid": not over, "reasons": ["over the limit"] if over else [], "checked_by": "policy"}


def _ledger(p: Payload) -> Payload:
    r = p["record"]
    return {
        "invoice_id": r["invoice_id"].upper(),
        "customer": r["customer"].title(),
        "date": None,
        "currency": r["currency"],
        "items": [],
        "total_cents": int(r["total"] * 100),
        "line_count": len(r["items"]),
    }


PURCHASE_ORDERS = pipeline.SPEC.flow(
    extractor=Agent("reader", "Read the purchase order. Keys: invoice_id, customer, ...", output=Extracted),
    validator=Agent("approver", "Reject orders over 1000. Keys: valid, reasons, checked_by.", output=Verdict),
    transformer=Agent("bookkeeper", "Write the ledger record.", output=Record),
)
_ORDER_RESPONDERS: dict[str, Responder] = {"reader": _read_order, "approver": _approve, "bookkeeper": _ledger}


# -- scatter-gather ------------------------------------------------------------------


class Costing(BaseModel):
    choice: str
    cost_keur: int


class Risk(BaseModel):
    choice: str
    risks: list[str]


class Recommendation(BaseModel):
    choice: str
    votes: int


ECONOMIST = Agent("economist", "Cost both options. Keys: choice, cost_keur.", output=Costing)
ENGINEER = Agent("engineer", "Judge the build effort. Keys: choice, cost_keur.", output=Costing)
LAWYER = Agent("lawyer", "List the legal risks. Keys: choice, risks.", output=Risk)
CHAIR = Agent("chair", "Recommend from the answers. Keys: choice, votes.", output=Recommendation)


def _recommend(p: Payload) -> Payload:
    choices = [a["choice"] for a in p["answers"].values()]
    best = max(sorted(set(choices)), key=choices.count)
    return {"choice": best, "votes": choices.count(best)}


PANEL = scatter_gather.SPEC.flow(workers=[ECONOMIST, ENGINEER, LAWYER], merge=CHAIR, quorum=2)
PANEL_BY_FUNCTION = scatter_gather.SPEC.flow(
    workers=[ECONOMIST, LAWYER], merge=lambda answers: {"asked": sorted(answers)}
)
_PANEL_RESPONDERS: dict[str, Responder] = {
    "economist": lambda p: {"choice": "buy", "cost_keur": 120 + len(p["question"])},
    "engineer": lambda p: {"choice": "build", "cost_keur": 300},
    "lawyer": lambda p: {"choice": "buy", "risks": ["licence terms"]},
    "chair": _recommend,
}

ANALYSTS = scatter_gather.SPEC.flow(
    researcher=Agent("analyst", "Quote what answers. Keys: findings [{text, score}].", output=SourceFindings),
    aggregator=Agent("editor", "Merge the quotes. Keys: findings, summary.", output=Merged),
)


def _merge_quotes(p: Payload) -> Payload:
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


_ANALYST_RESPONDERS: dict[str, Responder] = {
    "analyst": lambda p: {"findings": [{"text": p["documents"][0], "score": 1.0}]},
    "editor": _merge_quotes,
}


# -- map-reduce ----------------------------------------------------------------------


class TicketCount(BaseModel):
    tickets: int
    urgent: int


def add(a: Payload, b: Payload) -> Payload:
    return {"tickets": a["tickets"] + b["tickets"], "urgent": a["urgent"] + b["urgent"]}


TICKETS = map_reduce.SPEC.flow(
    mapper=Agent(
        "ticket_counter", "Count tickets and urgent ones. Keys: tickets, urgent.", output=TicketCount
    ),
    combine=add,
)
URGENCY = map_reduce.SPEC.flow(
    mapper=Agent(
        "scorer", "Score each ticket's urgency. Keys: results [{id, score, label}].", output=MapReply
    ),
    reducer=Agent("summariser", "Combine the partials. Keys: count, score_sum, ...", output=MapReduceOutput),
)


def _score(p: Payload) -> Payload:
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


_TICKET_ITEMS = [{"id": f"t{i}", "text": "down!" if i % 3 == 0 else "fine"} for i in range(10)]
_MAP_RESPONDERS: dict[str, Responder] = {
    "ticket_counter": lambda p: {
        "tickets": len(p["items"]),
        "urgent": sum("!" in i["text"] for i in p["items"]),
    },
    "scorer": _score,
    "summariser": lambda p: combine_partials(p["partials"]),
}


# -- refinement ----------------------------------------------------------------------


class Grade(BaseModel):
    """A critique of the user's own: a 0-10 grade and what is lacking, no `score` field."""

    grade: int
    lacking: list[str]


COPYWRITER = Agent("copywriter", "Write the tagline. Keys: draft.", output=Draft)
TAGLINES = refinement.SPEC.flow(
    generator=COPYWRITER,
    critic=Agent("copy_editor", "Grade it from 0 to 10. Keys: grade, lacking.", output=Grade),
    score=lambda c: c["grade"] / 10,
)


def _write(p: Payload) -> Payload:
    said = (
        []
        if p["feedback"] is None
        else [x for x in p["must_say"] if x not in p["feedback"].get("lacking", [])]
    )
    return {"draft": " ".join([*said, p["must_say"][len(said)]])}


def _grade(p: Payload) -> Payload:
    lacking = [x for x in p["must_say"] if x not in p["draft"]]
    return {"grade": round(10 * (1 - len(lacking) / len(p["must_say"]))), "lacking": lacking}


def word_limit(turn: Turn) -> dict[str, Any]:
    """A function critic: the share of required words said, and the words lacking."""
    must = turn.brief["must_say"]
    lacking = [x for x in must if x not in str(turn.draft)]
    return {"score": round(1 - len(lacking) / len(must), 4), "lacking": lacking}


TAGLINES_BY_FUNCTION = refinement.SPEC.flow(generator=COPYWRITER, critic=word_limit)
_TAGLINE_INPUT = {
    "product": "a bike",
    "must_say": ["fast", "cheap", "green"],
    "threshold": 1.0,
    "epsilon": 0.0,
}
_REFINEMENT_RESPONDERS: dict[str, Responder] = {"copywriter": _write, "copy_editor": _grade}


# -- debate --------------------------------------------------------------------------


def _stance(name: str, rounds: dict[int, str]) -> Responder:
    def argue(p: Payload) -> Payload:
        position = rounds.get(p["round"], rounds[max(rounds)])
        return {"position": position, "confidence": 0.7, "argument": f"{name}: {len(p['peers'])} peers heard"}

    return argue


OPEN_QUESTION = debate.SPEC.flow(
    debaters=[
        Agent("optimist", "Answer the question. Keys: position, confidence, argument.", output=Position),
        Agent("skeptic", "Answer the question. Keys: position, confidence, argument.", output=Position),
        Agent("pragmatist", "Answer the question. Keys: position, confidence, argument.", output=Position),
    ],
    judge=Agent("moderator", "Decide. Keys: decision, rationale.", output=Ruling),
    topology={"optimist": ["skeptic"], "skeptic": ["pragmatist"], "pragmatist": ["optimist"]},
)
_OPEN_RESPONDERS: dict[str, Responder] = {
    "optimist": _stance("optimist", {1: "Ship  Friday"}),
    "skeptic": _stance("skeptic", {1: "wait a week", 2: "ship friday"}),
    "pragmatist": _stance("pragmatist", {1: "wait a week"}),
    "moderator": lambda p: {"decision": "ship friday", "rationale": f"{len(p['transcript'])} turns read"},
}


def _panelist(p: Payload) -> Payload:
    pick = p["evidence"][0]["supports"] if p["evidence"] else p["options"][0]
    return {"position": pick, "confidence": 0.8, "argument": "my evidence"}


COPIES = debate.SPEC.flow(
    debater=Agent("panelist", "Pick an option. Keys: position, confidence, argument.", output=Position),
    judge=Agent("chair", "Decide. Keys: decision, rationale.", output=Ruling),
)
_COPIES_INPUT = {
    "question": "x or y?",
    "options": ["x", "y"],
    "debaters": 2,
    "rounds": 2,
    "arbitration": "judge",
    "evidence": [{"claim": "c1", "supports": "x"}, {"claim": "c2", "supports": "y"}],
}
_COPIES_RESPONDERS: dict[str, Responder] = {
    "panelist": _panelist,
    "chair": lambda p: {"decision": "y", "rationale": f"{len(p['evidence'])} claims weighed"},
}


# -- routing -------------------------------------------------------------------------


TRIAGER = Agent(
    "triager", "Classify: sales, refunds or other. Keys: route, confidence.", output=Classification
)
SALES_DESK = routing.SPEC.flow(
    router=TRIAGER,
    routes={
        "sales": Agent("seller", "Sell. Keys: answer.", output=Answer),
        "refunds": Agent("refunder", "Refund. Keys: answer.", output=Answer),
        "other": Agent("helper", "Help. Keys: answer.", output=Answer),
    },
    default="other",
)
_WORDS = {"buy": "sales", "refund": "refunds"}
_SALES_RESPONDERS: dict[str, Responder] = {
    "triager": lambda p: {
        "route": next((r for w, r in _WORDS.items() if w in p["message"]), "legal"),
        "confidence": 0.75,
    },
    "seller": lambda p: {"answer": f"seller on {p['speciality']}: 12 EUR a seat"},
    "refunder": lambda p: {"answer": f"refunder on {p['speciality']}: refunded"},
    "helper": lambda p: {"answer": f"helper on {p['speciality']}: noted"},
}

EXPERT = Agent("expert", "Answer within your speciality. Keys: answer.", output=Answer)
ONE_EXPERT = routing.SPEC.flow(
    router=Agent("sorter", "Classify. Keys: route, confidence.", output=Classification),
    routes={"technical": EXPERT, "general": EXPERT},
)
_EXPERT_RESPONDERS: dict[str, Responder] = {
    "sorter": lambda p: {"route": "technical" if "error" in p["message"] else "general", "confidence": 0.9},
    "expert": lambda p: {"answer": f"[{p['speciality']}] we are on it"},
}


# -- handoff -------------------------------------------------------------------------


def _concierge(p: Payload) -> Payload:
    if p["speciality"] == "triage":
        return {"action": "handoff", "to": "billing", "reason": "money", "answer": None}
    return {"action": "answer", "to": None, "reason": "mine", "answer": f"{p['speciality']} will refund you"}


CONCIERGE = handoff.SPEC.flow(
    desks=dict.fromkeys(
        ("triage", "billing", "general"),
        Agent(
            "concierge",
            "Answer or hand off to billing or general. Keys: action, to, reason, answer.",
            output=DeskReply,
        ),
    )
)

SHOP = handoff.SPEC.flow(
    desks={
        "front": Agent(
            "greeter", "Greet; hand off to sales or help. Keys: action, to, reason, answer.", output=DeskReply
        ),
        "sales": Agent(
            "seller_desk", "Sell, or hand off to help. Keys: action, to, reason, answer.", output=DeskReply
        ),
        "help": Agent("help_desk", "Always answer. Keys: action, to, reason, answer.", output=DeskReply),
    },
    entry="front",
    fallback="help",
)
_SHOP_RESPONDERS: dict[str, Responder] = {
    "greeter": lambda p: {"action": "handoff", "to": "sales", "reason": "wants to buy", "answer": None},
    "seller_desk": lambda p: (
        {"action": "handoff", "to": "front", "reason": "back to the start?", "answer": None}
        if not p["visited"][1:]
        else {"action": "answer", "to": None, "reason": "", "answer": "sold"}
    ),
    "help_desk": lambda p: {
        "action": "answer",
        "to": None,
        "reason": "",
        "answer": f"help after {len(p['history'])} notes",
    },
}


DECLARED: list[Declared] = [
    Declared(
        "pipeline-stages-rejected", STAGES, {"input": {"brief": "rust is sure to win"}}, _PIPELINE_RESPONDERS
    ),
    Declared("pipeline-stages-published", STAGES, {"input": {"brief": "tests help"}}, _PIPELINE_RESPONDERS),
    Declared("pipeline-purchase-order", PURCHASE_ORDERS, {"document": "PO total 500"}, _ORDER_RESPONDERS),
    Declared(
        "scatter_gather-panel-chair", PANEL, {"input": {"question": "build or buy?"}}, _PANEL_RESPONDERS
    ),
    Declared(
        "scatter_gather-panel-function",
        PANEL_BY_FUNCTION,
        {"input": {"question": "which?"}},
        _PANEL_RESPONDERS,
    ),
    Declared(
        "scatter_gather-analysts",
        ANALYSTS,
        {
            "question": "q?",
            "sources": [
                {"name": "a", "documents": ["yes"]},
                {"name": "b", "documents": ["yes"]},
                {"name": "c", "documents": ["no"]},
            ],
        },
        _ANALYST_RESPONDERS,
    ),
    Declared(
        "map_reduce-combine",
        TICKETS,
        {"items": _TICKET_ITEMS, "batch_size": 3, "max_concurrency": 2},
        _MAP_RESPONDERS,
    ),
    Declared(
        "map_reduce-reducer",
        URGENCY,
        {"items": _TICKET_ITEMS, "batch_size": 4, "max_concurrency": 3},
        _MAP_RESPONDERS,
    ),
    Declared("refinement-own-critique", TAGLINES, _TAGLINE_INPUT, _REFINEMENT_RESPONDERS),
    Declared("refinement-function-critic", TAGLINES_BY_FUNCTION, _TAGLINE_INPUT, _REFINEMENT_RESPONDERS),
    Declared(
        "debate-open-question-ring",
        OPEN_QUESTION,
        {"question": "When do we ship?", "rounds": 2, "arbitration": "judge"},
        _OPEN_RESPONDERS,
    ),
    Declared("debate-copies-judge", COPIES, _COPIES_INPUT, _COPIES_RESPONDERS),
    Declared("routing-own-routes", SALES_DESK, {"message": "I want a refund"}, _SALES_RESPONDERS),
    Declared("routing-unknown-route-to-default", SALES_DESK, {"message": "a lawsuit"}, _SALES_RESPONDERS),
    Declared(
        "routing-one-agent-two-routes", ONE_EXPERT, {"message": "an error at login"}, _EXPERT_RESPONDERS
    ),
    Declared(
        "handoff-one-agent-three-desks",
        CONCIERGE,
        {"message": "refund please", "max_handoffs": 2},
        {"concierge": _concierge},
    ),
    Declared("handoff-own-desks", SHOP, {"message": "I want to buy", "max_handoffs": 3}, _SHOP_RESPONDERS),
]
