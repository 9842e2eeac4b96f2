"""The scripted model: deterministic, role-aware, accountable, and a proper LangChain chat model."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage, ToolMessage
from pydantic import BaseModel

from patterns.errors import (
    MalformedOutput,
    ModelTimeout,
    PermanentModelError,
    RateLimited,
    ServerError,
    is_transient,
)
from patterns.flows.map_reduce import combine_partials
from patterns.presets import AGENTS, sentiment
from patterns.runtime import Agent, parse_reply, wire
from patterns.testing import (
    TOOL_RESULTS,
    FaultPolicy,
    LatencyPolicy,
    ScriptedBrain,
    ScriptedChatModel,
    ToolCall,
    count_tokens,
    split_tokens,
)


def _messages(
    role: str, payload: dict[str, object], name: str | None = None
) -> list[SystemMessage | HumanMessage]:
    system, user = wire.render(AGENTS[role], payload, label=name)
    return [SystemMessage(system), HumanMessage(user)]


class Route(BaseModel):
    route: str
    confidence: float


MESSAGE = {"message": "I was charged twice on my invoice"}


def test_same_prompt_same_answer_and_usage() -> None:
    a = ScriptedChatModel().invoke(_messages("router", MESSAGE))
    b = ScriptedChatModel().invoke(_messages("router", MESSAGE))
    assert a.content == b.content
    assert json.loads(str(a.content)) == {"route": "billing", "confidence": 1.0}
    assert a.usage_metadata == b.usage_metadata
    assert a.usage_metadata and a.usage_metadata["input_tokens"] > 10


async def test_stream_reassembles_the_same_content_with_usage() -> None:
    model = ScriptedChatModel()
    whole = await model.ainvoke(_messages("router", MESSAGE))
    chunks = [c async for c in model.astream(_messages("router", MESSAGE))]
    assert len(chunks) > 3
    assert "".join(str(c.content) for c in chunks) == whole.content
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk
    assert merged.usage_metadata == whole.usage_metadata


def test_structured_output_and_bind_tools() -> None:
    model = ScriptedChatModel()
    routed = model.with_structured_output(Route).invoke(_messages("router", MESSAGE))
    assert routed == Route(route="billing", confidence=1.0)
    forced = model.bind_tools([Route], tool_choice="Route").invoke(_messages("router", MESSAGE))
    assert forced.tool_calls[0]["name"] == "Route"
    assert forced.tool_calls[0]["args"] == {"route": "billing", "confidence": 1.0}
    # With tool_choice auto and no handoff to make, the model answers in text.
    auto = model.bind_tools([Route]).invoke(_messages("router", MESSAGE))
    assert auto.tool_calls == [] and json.loads(str(auto.content))["route"] == "billing"


def test_per_agent_accounting() -> None:
    model = ScriptedChatModel()
    model.invoke(_messages("researcher", {"question": "q", "documents": []}, name="journal"))
    model.invoke(_messages("researcher", {"question": "q", "documents": []}, name="news"))
    model.invoke(_messages("router", MESSAGE))
    usage = model.brain.ledger.snapshot()
    assert set(usage) == {"journal", "news", "router"}
    assert all(u.calls == 1 and u.prompt_tokens > 0 and u.completion_tokens > 0 for u in usage.values())


@pytest.mark.parametrize(
    ("policy", "error"),
    [
        (FaultPolicy(timeout=1.0), ModelTimeout),
        (FaultPolicy(rate_limit=1.0, retry_after=0.3), RateLimited),
        (FaultPolicy(server_error=1.0), ServerError),
    ],
)
def test_injected_faults_raise_transient_errors(policy: FaultPolicy, error: type[Exception]) -> None:
    model = ScriptedChatModel(brain=ScriptedBrain(faults=policy))
    with pytest.raises(error) as caught:
        model.invoke(_messages("router", MESSAGE))
    assert is_transient(caught.value)
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after == 0.3
    assert model.brain.ledger.snapshot()["router"].failures == 1


def test_malformed_output_is_detected_by_the_agent() -> None:
    model = ScriptedChatModel(brain=ScriptedBrain(faults=FaultPolicy(malformed=1.0)))
    reply = model.invoke(_messages("router", MESSAGE))
    with pytest.raises(MalformedOutput):
        parse_reply(reply, Route, agent="router")


def test_faults_are_seeded_and_independent_of_call_order() -> None:
    policy = FaultPolicy.transient(0.5)
    prompts_ = [_messages("router", {"message": f"message {i}"}) for i in range(40)]

    def outcomes(order: list[int]) -> dict[int, str]:
        model = ScriptedChatModel(brain=ScriptedBrain(seed=3, faults=policy))
        seen = {}
        for i in order:
            try:
                model.invoke(prompts_[i])
                seen[i] = "ok"
            except Exception as exc:
                seen[i] = type(exc).__name__
        return seen

    forward = outcomes(list(range(40)))
    assert outcomes(list(reversed(range(40)))) == forward
    assert 5 < sum(v != "ok" for v in forward.values()) < 35


def test_a_retried_prompt_can_succeed() -> None:
    model = ScriptedChatModel(brain=ScriptedBrain(seed=1, faults=FaultPolicy(server_error=0.5)))
    results = []
    for _ in range(20):
        try:
            model.invoke(_messages("router", MESSAGE))
            results.append(True)
        except ServerError:
            results.append(False)
    assert True in results and False in results


def test_latency_is_seeded() -> None:
    brain = ScriptedBrain(seed=5, latency=LatencyPolicy(mean=0.1, spread=0.05, distribution="uniform"))
    wire = [{"role": "system", "content": "x"}, {"role": "user", "content": "y"}]
    delays = [brain.plan(wire).delay for _ in range(20)]
    again = ScriptedBrain(seed=5, latency=brain.latency)
    assert delays == [again.plan(wire).delay for _ in range(20)]
    assert all(0.05 <= d <= 0.15 for d in delays) and len(set(delays)) > 1


def test_unrecognised_prompt_gets_an_explanation_not_a_crash() -> None:
    reply = ScriptedChatModel().invoke("hello")
    assert "did not recognise" in str(reply.content)


@given(st.text(max_size=300))
def test_tokenizer_round_trips(text: str) -> None:
    assert "".join(split_tokens(text)) == text
    assert count_tokens(text) == len(split_tokens(text))


def test_sentiment_lexicon_and_negation() -> None:
    assert sentiment("great, I love it") == 1.0
    assert sentiment("terrible and broken") == -1.0
    assert sentiment("not good") == -1.0
    assert sentiment("arrived on Tuesday") == 0.0


_partial = st.builds(
    lambda c, s, i: {
        "count": c,
        "score_sum": s,
        "histogram": {"positive": c},
        "most_positive": [f"r{i}", s],
        "most_negative": [f"r{i}", s],
    },
    st.integers(1, 50),
    st.integers(-50, 50).map(float),
    st.integers(0, 999),
)


@settings(max_examples=80)
@given(st.lists(_partial, min_size=1, max_size=8), st.randoms())
def test_reduce_is_associative_and_commutative(partials: list[dict[str, object]], rnd: object) -> None:
    whole = combine_partials(partials)
    shuffled = list(partials)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    cut = len(shuffled) // 2
    regrouped = combine_partials(
        [combine_partials(shuffled[:cut]) if cut else combine_partials([]), combine_partials(shuffled[cut:])]
    )
    assert combine_partials(shuffled) == whole
    assert regrouped == whole


# --------------------------------------------------------------------------- responders that call tools

ADD_TOOL = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "Add two numbers.",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
            "required": ["a", "b"],
        },
    },
}


class Total(BaseModel):
    total: float


ADDER = Agent("adder", "Add with the tool. Keys: total.", output=Total)


def _adder(payload: dict[str, Any]) -> dict[str, Any] | list[ToolCall]:
    done = payload.get(TOOL_RESULTS)
    if not done:
        return [ToolCall("add", {"a": payload["a"], "b": payload["b"]}), ToolCall("add", {"a": 0, "b": 0})]
    return {"total": float(done[0]["content"]), "seen": done}


def _adder_messages() -> list[BaseMessage]:
    return [
        SystemMessage(s) if i == 0 else HumanMessage(s)
        for i, s in enumerate(wire.render(ADDER, {"a": 2, "b": 3}))
    ]


def test_a_responder_calls_tools_and_reads_their_results_on_the_next_turn() -> None:
    model = ScriptedChatModel(brain=ScriptedBrain(responders={"adder": _adder}))
    bound = model.bind_tools([ADD_TOOL])
    first = bound.invoke(_adder_messages())
    assert first.content == "" and [(c["name"], c["args"]) for c in first.tool_calls] == [
        ("add", {"a": 2, "b": 3}),
        ("add", {"a": 0, "b": 0}),
    ]
    ids = [c["id"] for c in first.tool_calls]
    assert len(set(ids)) == 2 and ids == [c["id"] for c in bound.invoke(_adder_messages()).tool_calls]
    results = [ToolMessage("5", tool_call_id=ids[0]), ToolMessage("0", tool_call_id=ids[1])]
    second = bound.invoke([*_adder_messages(), first, *results])
    assert second.tool_calls == []
    assert json.loads(str(second.content)) == {
        "total": 5.0,
        "seen": [
            {"name": "add", "arguments": {"a": 2, "b": 3}, "content": "5"},
            {"name": "add", "arguments": {"a": 0, "b": 0}, "content": "0"},
        ],
    }
    usage = model.brain.ledger.snapshot()["adder"]
    assert usage.calls == 3 and usage.completion_tokens > 0


async def test_tool_calls_stream_like_the_whole_reply() -> None:
    bound = ScriptedChatModel(brain=ScriptedBrain(responders={"adder": _adder})).bind_tools([ADD_TOOL])
    whole = await bound.ainvoke(_adder_messages())
    chunks = [c async for c in bound.astream(_adder_messages())]
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk
    assert merged.tool_calls == whole.tool_calls and merged.usage_metadata == whole.usage_metadata


def test_a_responder_calling_tools_on_a_request_without_tools_fails_at_once() -> None:
    model = ScriptedChatModel(brain=ScriptedBrain(responders={"adder": _adder}))
    with pytest.raises(
        PermanentModelError, match="responder for agent 'adder' called tools, but the request offers no tools"
    ):
        model.invoke(_adder_messages())
    with pytest.raises(PermanentModelError, match=r"forbids tool calls \(tool_choice='none'\)"):
        model.bind_tools([ADD_TOOL], tool_choice="none").invoke(_adder_messages())
    assert model.brain.ledger.snapshot()["adder"].failures == 2


def test_an_input_that_already_has_the_tool_results_key_is_refused() -> None:
    system, user = wire.render(ADDER, {TOOL_RESULTS: "mine"})
    history = [SystemMessage(system), HumanMessage(user), ToolMessage("5", tool_call_id="c1")]
    with pytest.raises(PermanentModelError, match="has a 'tool_results' key"):
        ScriptedChatModel(brain=ScriptedBrain(responders={"adder": _adder})).invoke(history)


def test_a_malformed_fault_cuts_a_tool_calling_reply_too() -> None:
    model = ScriptedChatModel(
        brain=ScriptedBrain(responders={"adder": _adder}, faults=FaultPolicy(malformed=1.0))
    )
    reply = model.bind_tools([ADD_TOOL]).invoke(_adder_messages())
    assert reply.tool_calls == [] and str(reply.content).startswith('[{"arguments"')
    with pytest.raises(MalformedOutput):
        parse_reply(reply, Total, agent="adder")
