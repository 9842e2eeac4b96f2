"""What the AutoGen adapter promises beyond equivalence: faults, partial failure, human
arbitration, saved state, quiet logs, step records, declared names and the concurrency bound."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adapters import PORTABLE, arun
from adapters.autogen import ScriptedChatCompletionClient, load_saved
from patterns import Agent
from patterns.errors import UsageError
from patterns.flows import handoff, pipeline
from patterns.flows.handoff import DeskReply
from patterns.presets import SAMPLES, reviews
from patterns.runtime import PatternSpec
from patterns.testing import FaultPolicy, LatencyPolicy, ScriptedBrain

from .._samples import SPLIT_VOTE
from ._declared import DECLARED, DRAFTER, PANEL, SALES_DESK, Declared


async def test_an_injected_fault_fails_the_run_with_the_original_error_and_no_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    brain = ScriptedBrain(faults=FaultPolicy(down_agents=frozenset({"validator"})))
    with caplog.at_level(logging.DEBUG, logger="autogen_core"):
        result = await arun("autogen", "pipeline", brain=brain)
    assert result.status == "failed" and result.output is None
    assert (result.error or "").startswith("ServerError: ") and "'validator'" in (result.error or "")
    assert result.failed_calls == 1 and result.calls == 1  # no retries: AutoGen has no retry policy
    assert [s.status for s in result.steps] == ["ok", "error"]
    assert not [r for r in caplog.records if r.exc_info], "AutoGen logged the reported error again"


async def test_a_source_that_is_down_is_reported_and_the_quorum_holds() -> None:
    brain = ScriptedBrain(faults=FaultPolicy(down_agents=frozenset({"forum"})))
    result = await arun("autogen", "scatter_gather", brain=brain)
    assert result.status == "completed", result.error
    assert result.output is not None
    assert [f["source"] for f in result.output["sources_failed"]] == ["forum"]
    assert "forum" not in result.output["sources_ok"] and result.output["quorum_met"]


async def test_below_the_quorum_the_run_fails_naming_the_sources() -> None:
    names = [s["name"] for s in SAMPLES["scatter_gather"]["sources"]][:3]
    brain = ScriptedBrain(faults=FaultPolicy(down_agents=frozenset(names)))
    result = await arun("autogen", "scatter_gather", brain=brain)
    assert result.status == "failed" and "QuorumNotMet" in (result.error or "")
    assert all(name in (result.error or "") for name in names)


async def test_a_panel_worker_that_is_down_is_reported_as_on_langgraph() -> None:
    data = {"input": {"question": "build or buy?"}}
    down = FaultPolicy(down_agents=frozenset({"lawyer"}))
    responders = next(d.responders for d in DECLARED if d.flow is PANEL)
    reference = await arun("langgraph", PANEL, data, brain=ScriptedBrain(responders=responders, faults=down))
    result = await arun("autogen", PANEL, data, brain=ScriptedBrain(responders=responders, faults=down))
    assert result.status == "completed", result.error
    assert result.output is not None and [f["source"] for f in result.output["failed"]] == ["lawyer"]
    assert "lawyer" not in result.output["answers"]
    assert result.output == reference.output


async def test_a_nested_pattern_stage_is_refused_before_any_model_call() -> None:
    inner = pipeline.SPEC.flow(stages=[DRAFTER]).compile()
    flow = pipeline.SPEC.flow(stages=[DRAFTER, inner])
    brain = ScriptedBrain()
    with pytest.raises(UsageError, match="'pipeline' is a compiled LangGraph pattern"):
        await arun("autogen", flow, {"input": {"brief": "tests help"}}, brain=brain)
    assert brain.ledger.snapshot() == {}


async def test_human_arbitration_takes_the_answer_and_refuses_to_run_without_one() -> None:
    decided = await arun("autogen", "debate", SPLIT_VOTE, answer="rabbitmq")
    assert decided.status == "completed", decided.error
    assert decided.output is not None and decided.output["decided_by"] == "human"
    assert decided.output["decision"] == "rabbitmq"
    asked: list[str] = []
    by_callable = await arun("autogen", "debate", SPLIT_VOTE, input_func=lambda q: asked.append(q) or "kafka")
    assert by_callable.output is not None and by_callable.output["decision"] == "kafka" and asked
    with pytest.raises(UsageError, match="answer='OPTION'"):
        await arun("autogen", "debate", SPLIT_VOTE)


async def test_an_answer_that_is_not_an_option_is_refused_before_any_model_call() -> None:
    brain = ScriptedBrain()
    with pytest.raises(UsageError, match="zookeeper") as refused:
        await arun("autogen", "debate", SPLIT_VOTE, brain=brain, answer="zookeeper")
    assert "kafka" in str(refused.value)
    assert brain.ledger.snapshot() == {}


async def test_saved_state_rebuilds_the_team_with_the_flow_state(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    result = await arun("autogen", "refinement", state_path=str(path))
    assert result.status == "completed"
    team, state = await load_saved(path)
    assert state["result"] == result.output
    saved = await team.save_state()
    assert saved["type"] == "TeamState" and saved["agent_states"]


async def test_a_saved_run_of_a_declared_flow_is_rebuilt_from_that_flow(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    responders = next(d.responders for d in DECLARED if d.flow is SALES_DESK)
    brain = ScriptedBrain(responders=responders)
    result = await arun(
        "autogen", SALES_DESK, {"message": "I want to buy"}, brain=brain, state_path=str(path)
    )
    assert result.status == "completed", result.error
    team, state = await load_saved(path, flow=SALES_DESK)
    assert state["result"] == result.output
    assert set((await team.save_state())["agent_states"]) >= {"classify", "sales", "refunds", "other"}
    with pytest.raises(UsageError, match="pass it, load_saved"):
        await load_saved(path)
    with pytest.raises(UsageError, match="not of a handoff flow"):
        await load_saved(path, flow="handoff")


async def test_a_saved_human_arbitration_is_rebuilt_with_its_answer(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    result = await arun("autogen", "debate", SPLIT_VOTE, answer="kafka", state_path=str(path))
    assert result.status == "completed", result.error
    _, state = await load_saved(path)  # the answer is kept with the run; no other is needed
    assert state["result"]["decided_by"] == "human" and state["result"]["decision"] == "kafka"


async def test_unknown_options_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="does not take checkpoint"):
        await arun("autogen", "pipeline", checkpoint="memory")


async def test_handoff_without_tools_matches_langgraph_to_the_token() -> None:
    reference = await arun("langgraph", "handoff")
    plain = await arun("autogen", "handoff", handoff_tools=False)
    assert plain.output == reference.output and plain.usage == reference.usage


async def test_handoff_starts_at_the_entry_desk_and_hands_off_by_tool_to_any_desk_name() -> None:
    # The entry is not the first desk listed, and the desks' names are not lowercase.
    desk = Agent("desk", "Answer or hand off. Keys: action, to, reason, answer.", output=DeskReply)
    flow = handoff.SPEC.flow(
        desks={"Help": desk, "Front": desk, "Sales": desk}, entry="Front", fallback="Help"
    )

    def answer(payload: dict[str, Any]) -> dict[str, Any]:
        if payload["speciality"] == "Front":
            return {"action": "handoff", "to": "Sales", "reason": "wants to buy", "answer": None}
        return {"action": "answer", "to": None, "reason": "", "answer": f"{payload['speciality']} sold it"}

    data = {"message": "I want to buy"}
    reference = await arun("langgraph", flow, data, brain=ScriptedBrain(responders={"desk": answer}))
    result = await arun("autogen", flow, data, brain=ScriptedBrain(responders={"desk": answer}))
    assert result.status == "completed", result.error
    assert result.output == reference.output and result.output is not None
    assert result.output["handled_by"] == "Sales"
    assert [s.agent for s in result.steps] == ["Front", "Sales"]
    assert result.completion_tokens < reference.completion_tokens  # Front called transfer_to_Sales


async def test_a_declared_name_autogen_cannot_take_is_a_usage_error() -> None:
    drafter = Agent("draft-writer", "Draft. Keys: title, body.", output=DRAFTER.output)
    flow = pipeline.SPEC.flow(stages=[drafter])
    with pytest.raises(UsageError, match="'draft-writer' of this pipeline flow is not one"):
        await arun("autogen", flow, {"input": {"brief": "tests help"}})


def _case(case: str | Declared) -> tuple[str | PatternSpec, Any, Callable[[], ScriptedBrain]]:
    if isinstance(case, str):
        return case, None, ScriptedBrain
    return case.flow, case.input, lambda: ScriptedBrain(responders=case.responders)


@pytest.mark.parametrize(
    "case", [*PORTABLE, *DECLARED], ids=lambda case: case if isinstance(case, str) else case.id
)
async def test_steps_are_recorded_as_langgraph_records_them(case: str | Declared) -> None:
    flow, data, brain = _case(case)
    reference = await arun("langgraph", flow, data, brain=brain())
    result = await arun("autogen", flow, data, brain=brain())
    assert result.status == "completed", result.error
    # Branches run concurrently, so compare the names, not the order.
    assert sorted(s.agent for s in result.steps) == sorted(s.agent for s in reference.steps)


async def test_map_batches_respect_max_concurrency(monkeypatch: pytest.MonkeyPatch) -> None:
    # 20 batches, 4 at a time: the model never has more than 4 calls in flight.
    in_flight, peak = 0, 0
    create = ScriptedChatCompletionClient.create

    async def counted(self: ScriptedChatCompletionClient, *args: Any, **kwargs: Any) -> Any:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            return await create(self, *args, **kwargs)
        finally:
            in_flight -= 1

    monkeypatch.setattr(ScriptedChatCompletionClient, "create", counted)
    data = {"items": reviews(40), "batch_size": 2, "max_concurrency": 4}
    result = await arun("autogen", "map_reduce", data, brain=ScriptedBrain(latency=LatencyPolicy(mean=0.05)))
    assert result.status == "completed", result.error
    assert len([s for s in result.steps if s.agent == "map_batch"]) == 20
    assert peak == 4
