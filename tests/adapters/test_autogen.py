"""What the AutoGen adapter promises beyond equivalence: faults, partial failure, human
arbitration, saved state, quiet logs and the concurrency bound."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from adapters import arun
from adapters.autogen import load_saved
from patterns.errors import UsageError
from patterns.presets import SAMPLES, reviews
from patterns.testing import FaultPolicy, LatencyPolicy, ScriptedBrain

from .._samples import SPLIT_VOTE


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


async def test_an_answer_that_is_not_an_option_fails_clearly() -> None:
    result = await arun("autogen", "debate", SPLIT_VOTE, answer="zookeeper")
    assert result.status == "failed"
    assert "zookeeper" in (result.error or "") and "kafka" in (result.error or "")


async def test_saved_state_rebuilds_the_team_with_the_flow_state(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    result = await arun("autogen", "refinement", state_path=str(path))
    assert result.status == "completed"
    team, state = await load_saved(path)
    assert state["result"] == result.output
    saved = await team.save_state()
    assert saved["type"] == "TeamState" and saved["agent_states"]


async def test_unknown_options_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="does not take checkpoint"):
        await arun("autogen", "pipeline", checkpoint="memory")


async def test_handoff_without_tools_matches_langgraph_to_the_token() -> None:
    reference = await arun("langgraph", "handoff")
    plain = await arun("autogen", "handoff", handoff_tools=False)
    assert plain.output == reference.output and plain.usage == reference.usage


async def test_map_batches_respect_max_concurrency() -> None:
    # 20 batches of 50 ms, 4 at a time: at least 5 waves, whatever else the machine does
    # (a step record spans the wait for a slot too, so the bound shows in the wall time).
    data = {"items": reviews(40), "batch_size": 2, "max_concurrency": 4}
    brain = ScriptedBrain(latency=LatencyPolicy(mean=0.05))
    result = await arun("autogen", "map_reduce", data, brain=brain)
    assert result.status == "completed", result.error
    assert len([s for s in result.steps if s.agent.startswith("map_batch")]) == 20
    assert result.wall_time_s >= 5 * 0.05
