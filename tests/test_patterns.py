"""Each pattern's semantics on the scripted model, through the common runner."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patterns import (
    DEFAULT_RETRY,
    AgentContext,
    FaultPolicy,
    LatencyPolicy,
    ScriptedBrain,
    ScriptedChatModel,
    arun,
    presets,
)
from patterns.errors import UsageError
from patterns.presets import PATTERNS, SAMPLES, reviews, sentiment
from patterns.runtime import validate_input

from ._samples import UNATTENDED


def _model(**faults: Any) -> ScriptedChatModel:
    return ScriptedChatModel(brain=ScriptedBrain(faults=FaultPolicy(**faults)))


async def _run(pattern: str, data: Any = None, **faults: Any) -> Any:
    result = await arun(pattern, data, model=_model(**faults), checkpoint="memory")
    assert result.status == "completed", result.error
    return result


@pytest.mark.parametrize("pattern", UNATTENDED)
async def test_every_pattern_returns_the_common_result(pattern: str) -> None:
    result = await _run(pattern)
    assert result.framework == "langgraph" and result.pattern == pattern and result.thread_id
    assert result.output is not None
    assert result.calls == sum(u.calls for u in result.usage.values()) > 0
    assert result.prompt_tokens > 0 and result.completion_tokens > 0
    assert result.steps and all(s.end >= s.start for s in result.steps)
    assert result.wall_time_s > 0


async def test_pipeline_transforms_a_valid_invoice() -> None:
    out = (await _run("pipeline")).output
    assert out["status"] == "transformed"
    assert out["record"]["invoice_id"] == "INV-2026-0042"
    assert out["record"]["date"] == "2026-11-05"
    assert out["record"]["total_cents"] == 36150 == sum(i["amount_cents"] for i in out["record"]["items"])


async def test_pipeline_gate_rejects_with_reasons_and_skips_transform() -> None:
    document = "Invoice: x-1\nCustomer: a\nDate: 31/02/2026\n- Thing x 2 @ 5.00\nTotal: 11.00\n"
    result = await _run("pipeline", {"document": document})
    assert result.output["status"] == "rejected"
    assert any("unparseable date" in r for r in result.output["reasons"])
    assert any("add up to 10.00" in r for r in result.output["reasons"])
    assert "transformer" not in result.usage


async def test_scatter_gather_merges_with_provenance() -> None:
    out = (await _run("scatter_gather")).output
    texts = [f["text"] for f in out["findings"]]
    assert len(texts) == len(set(texts))
    top = out["findings"][0]
    assert len(top["sources"]) == 2  # a finding reported by two sources is merged, with both named
    assert out["sources_failed"] == [] and out["quorum_met"]


async def test_scatter_gather_tolerates_partial_failure_down_to_quorum() -> None:
    result = await _run("scatter_gather", down_agents=frozenset({"news", "patents"}))
    out = result.output
    assert out["sources_ok"] == ["encyclopedia", "forum", "journal"]
    assert [f["source"] for f in out["sources_failed"]] == ["news", "patents"]
    assert all("ServerError" in f["error"] for f in out["sources_failed"])
    assert result.usage["news"].failures == DEFAULT_RETRY.max_attempts  # every attempt the policy allows


async def test_scatter_gather_below_quorum_fails_naming_the_sources() -> None:
    result = await arun(
        "scatter_gather",
        model=_model(down_agents=frozenset({"news", "patents", "forum"})),
        checkpoint="memory",
    )
    assert result.status == "failed"
    assert "QuorumNotMet" in (result.error or "") and "2 of 5 sources answered, quorum is 3" in (
        result.error or ""
    )


async def test_map_reduce_on_1000_items_matches_a_direct_computation() -> None:
    items = reviews(1000)
    out = (await _run("map_reduce", {"items": items, "batch_size": 40, "max_concurrency": 10})).output
    scores = [sentiment(i["text"]) for i in items]
    assert out["count"] == 1000 and out["batches"] == 25
    assert out["mean_sentiment"] == round(sum(scores) / 1000, 4)
    assert sum(out["histogram"].values()) == 1000


class _CountingModel(ScriptedChatModel):
    """Records the most model calls in flight at once."""

    in_flight: int = 0
    most: int = 0

    async def ainvoke(self, *args: Any, **kwargs: Any) -> Any:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            return await super().ainvoke(*args, **kwargs)
        finally:
            self.in_flight -= 1


async def test_map_reduce_keeps_at_most_max_concurrency_batches_in_flight() -> None:
    model = _CountingModel(brain=ScriptedBrain(latency=LatencyPolicy(mean=0.01)))
    data = {"items": reviews(60), "batch_size": 5, "max_concurrency": 3}  # 12 batches
    result = await arun("map_reduce", data, model=model, checkpoint="memory")
    assert result.status == "completed", result.error
    assert model.most == 3


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.integers(1, 60), concurrency=st.integers(1, 16))
async def test_map_reduce_result_does_not_depend_on_batching(batch: int, concurrency: int) -> None:
    items = reviews(120, seed=11)
    base = (await _run("map_reduce", {"items": items, "batch_size": 120})).output
    out = (
        await _run("map_reduce", {"items": items, "batch_size": batch, "max_concurrency": concurrency})
    ).output
    assert {k: v for k, v in out.items() if k != "batches"} == {
        k: v for k, v in base.items() if k != "batches"
    }


async def test_batches_per_task_runs_the_same_batches_in_fewer_tasks() -> None:
    data = {"items": reviews(120, seed=3), "batch_size": 5, "max_concurrency": 4}  # 24 batches
    one_each = await _run("map_reduce", data)
    grouped = await _run("map_reduce", {**data, "batches_per_task": 5})
    assert grouped.output == one_each.output
    assert grouped.calls == one_each.calls == 24 + 1  # one model call per batch, and the reducer's
    assert [s.agent for s in one_each.steps].count("map_batch") == 24
    assert [s.agent for s in grouped.steps].count("map_batches") == 5  # ceil(24 / 5) tasks


async def test_batches_per_task_keeps_max_concurrency_across_tasks() -> None:
    model = _CountingModel(brain=ScriptedBrain(latency=LatencyPolicy(mean=0.01)))
    data = {"items": reviews(60), "batch_size": 5, "max_concurrency": 3, "batches_per_task": 4}
    result = await arun("map_reduce", data, model=model, checkpoint="memory")
    assert result.status == "completed", result.error
    assert model.most == 3


async def test_a_batch_of_a_grouped_task_is_retried_alone() -> None:
    data = {"items": reviews(120, seed=3), "batch_size": 5, "max_concurrency": 4, "batches_per_task": 6}
    clean = await _run("map_reduce", data)
    flaky = await _run("map_reduce", data, rate_limit=0.3)
    assert flaky.output == clean.output
    assert flaky.failed_calls > 0
    # Each batch was answered once: a 429 on one batch redid no other batch of its task.
    assert flaky.calls == clean.calls == 24 + 1


async def test_a_batch_failing_for_good_cancels_the_rest_of_its_task() -> None:
    from patterns.errors import PermanentModelError

    class Unauthorized(ScriptedChatModel):
        async def _agenerate(self, *args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(0.05)
            raise PermanentModelError("401 unauthorized")  # never retried

    # 80 batches, 8 at a time, in 4 tasks of 20: the first failure ends the run.
    data = {"items": reviews(80), "batch_size": 1, "max_concurrency": 8, "batches_per_task": 20}
    result = await arun("map_reduce", data, model=Unauthorized(), checkpoint="memory")
    assert result.status == "failed" and "401" in (result.error or "")
    assert not [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    # The first wave, and the batches let into the slots it freed before the cancellation reached
    # them (counted, not timed): most of the 80 never called the model.
    assert 1 <= result.failed_calls <= 3 * 8


async def test_refinement_stops_on_threshold_and_keeps_the_best() -> None:
    out = (await _run("refinement")).output
    assert out["stop_reason"] == "threshold" and out["best_score"] >= 0.95
    assert out["scores"] == sorted(out["scores"])
    assert out["iterations"] == 3


async def test_refinement_stops_on_max_iterations() -> None:
    out = (await _run("refinement", {**SAMPLES["refinement"], "max_iterations": 2})).output
    assert out["stop_reason"] == "max_iterations" and out["iterations"] == 2


async def test_refinement_stops_on_convergence() -> None:
    # Over the word limit every draft loses the same 0.2: the score stops moving.
    data = {**SAMPLES["refinement"], "required_points": ["a rock plate"], "max_words": 5, "threshold": 1.0}
    out = (await _run("refinement", data)).output
    assert out["stop_reason"] == "converged" and out["iterations"] == 2


def test_refinement_recursion_limit_is_derived_from_the_bound() -> None:
    assert PATTERNS["refinement"].recursion_limit({"task": {"max_iterations": 7}}) == 18
    assert presets.product_refinement() is not None


async def test_debate_reaches_majority_consensus() -> None:
    out = (await _run("debate")).output
    assert out["decision"] == "postgresql" and out["decided_by"] == "vote" and out["consensus"]
    assert len(out["transcript"]) == 3 * 2
    assert sum(out["vote"]["distribution"].values()) == 3


_SPLIT = {
    "question": "Which?",
    "options": ["a", "b"],
    "debaters": 2,
    "rounds": 1,
    "evidence": [
        {"claim": "x", "supports": "a", "weight": 1},
        {"claim": "y", "supports": "b", "weight": 1},
        {"claim": "z", "supports": "b", "weight": 1},
    ],
}


async def test_debate_without_consensus_goes_to_the_judge() -> None:
    out = (await _run("debate", _SPLIT)).output
    assert not out["consensus"] and out["decided_by"] == "judge" and out["decision"] == "b"


async def test_debate_plurality_arbitration_and_weighted_vote() -> None:
    out = (await _run("debate", {**_SPLIT, "arbitration": "plurality"})).output
    assert out["decided_by"] == "plurality" and out["decision"] == "a"  # tie: first listed option
    weighted = (await _run("debate", {**_SPLIT, "voting": "weighted", "weights": {"debater_2": 3.0}})).output
    assert weighted["decided_by"] == "vote" and weighted["decision"] == "b"


async def test_debate_quorum_vote() -> None:
    out = (await _run("debate", {**SAMPLES["debate"], "voting": "quorum", "quorum": 3})).output
    assert out["vote"]["method"] == "quorum"
    assert out["consensus"] is (max(out["vote"]["distribution"].values()) >= 3)


@pytest.mark.parametrize(
    ("message", "route"),
    [
        ("I was charged twice, refund please", "billing"),
        ("The app crashes at login with an error", "technical"),
        ("Do you have a store in Lisbon?", "general"),
    ],
)
async def test_routing(message: str, route: str) -> None:
    out = (await _run("routing", {"message": message})).output
    assert out["route"] == route == out["handled_by"]


async def test_handoff_carries_context_to_the_right_desk() -> None:
    out = (await _run("handoff", {"message": "My card was charged twice, I need a refund"})).output
    assert out["handled_by"] == "billing"
    assert out["handoffs"] == [
        {"from_agent": "triage", "to_agent": "billing", "reason": "message is about billing"}
    ]
    assert [h["agent"] for h in out["history"]] == ["triage", "billing"]


async def test_transient_faults_do_not_change_the_answer() -> None:
    clean = (await _run("pipeline")).output
    faulty = await arun(
        "pipeline",
        model=ScriptedChatModel(brain=ScriptedBrain(faults=FaultPolicy.transient(0.3))),
        checkpoint="memory",
    )
    assert faulty.status == "completed" and faulty.output == clean


async def test_permanent_failure_fails_fast_without_retries() -> None:
    from patterns.errors import PermanentModelError

    class Broken(ScriptedChatModel):
        async def _agenerate(self, *args: Any, **kwargs: Any) -> Any:
            raise PermanentModelError("401 unauthorized")

    result = await arun("pipeline", model=Broken(), checkpoint="memory")
    assert result.status == "failed" and "401" in (result.error or "")
    assert result.failed_calls == 1


@pytest.mark.parametrize(
    ("pattern", "data", "fragment"),
    [
        ("debate", {**_SPLIT, "options": ["a"]}, "options"),
        ("scatter_gather", {**SAMPLES["scatter_gather"], "quorum": 9}, "quorum 9 exceeds"),
        ("map_reduce", {"items": [{"id": "1", "text": "a"}, {"id": "1", "text": "b"}]}, "unique"),
        ("nope", {}, "unknown pattern"),
    ],
)
def test_invalid_input_is_a_usage_error(pattern: str, data: Any, fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment):
        validate_input(pattern, data)


# -- a graph called directly validates its own input -----------------------------------


def _without_defaults(pattern: str) -> dict[str, Any]:
    """The preset's sample with its settings left out (the council still needs its options and evidence)."""
    model, content = PATTERNS[pattern].input_model, {"options", "evidence"}
    return {k: v for k, v in SAMPLES[pattern].items() if model.model_fields[k].is_required() or k in content}


@pytest.mark.parametrize("pattern", UNATTENDED)
async def test_a_graph_called_directly_gets_the_documented_defaults(pattern: str) -> None:
    given = _without_defaults(pattern)
    spec = PATTERNS[pattern]
    # The state form `arun` passes, but before validation: no defaults filled in.
    state_in = (
        {"task": given} if "task" in spec.initial_state(spec.input_model.model_validate(given)) else given
    )
    state = await spec.compile().ainvoke(state_in, context=AgentContext(model=ScriptedChatModel()))
    expected = await _run(pattern, given)
    assert spec.output_model.model_validate(state["result"]).model_dump(mode="json") == expected.output


async def test_a_graph_called_directly_refuses_bad_input_naming_the_field() -> None:
    graph = PATTERNS["debate"].compile()
    with pytest.raises(
        UsageError, match=r"invalid DebateInput: rounds: Input should be less than or equal to 10"
    ):
        await graph.ainvoke(
            {"task": {"question": "q?", "rounds": 99}}, context=AgentContext(model=ScriptedChatModel())
        )
    with pytest.raises(UsageError, match="invalid MapReduceInput: items: Field required"):
        await PATTERNS["map_reduce"].compile().ainvoke({}, context=AgentContext(model=ScriptedChatModel()))
