"""Orchestrator-workers: a plan made at run time, one `Send` per subtask, a quorum, and a plan that is never redone.

The preset plans a trip; the user's own agents plan a small report. The
witnesses are the outputs, the plan, and the scripted model's call counts per
agent (`brain.ledger`), across a failed run and its resume.
"""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.errors import GraphDrained
from langgraph.types import RetryPolicy
from pydantic import BaseModel

from patterns import AgentContext, AgentPolicies, FaultPolicy, ScriptedBrain, ScriptedChatModel, arun
from patterns.errors import MalformedOutput, ServerError, UsageError, is_transient
from patterns.flows import orchestrator
from patterns.flows.orchestrator import Plan, build_orchestrator
from patterns.presets import planning
from patterns.resilience.retry import Backoff
from patterns.runtime import Agent

Payload = dict[str, Any]

#: Retries a malformed plan at once: what `DEFAULT_RETRY` does, without its backoff.
QUICK_RETRY = RetryPolicy(initial_interval=0.0, max_attempts=3, jitter=False, retry_on=is_transient)
#: One attempt per call, through the run's policies, so `arun` builds the graph without node retries.
NO_RETRY = AgentPolicies(retry=Backoff(max_attempts=1))


def trip_model(*down: str) -> ScriptedChatModel:
    brain = ScriptedBrain(responders=planning.RESPONDERS, faults=FaultPolicy(down_agents=frozenset(down)))
    return ScriptedChatModel(brain=brain)


def calls(model: BaseChatModel) -> dict[str, int]:
    assert isinstance(model, ScriptedChatModel)
    return {agent: usage.calls for agent, usage in model.brain.ledger.snapshot().items() if usage.calls}


def failures(model: BaseChatModel) -> dict[str, int]:
    assert isinstance(model, ScriptedChatModel)
    return {a: u.failures for a, u in model.brain.ledger.snapshot().items() if u.failures}


def sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'checkpoints.sqlite'}"


# -- the preset ------------------------------------------------------------------------


async def test_the_trip_is_planned_into_subtasks_each_done_by_its_worker() -> None:
    model = trip_model()
    result = await arun(planning.SPEC, model=model, checkpoint="memory")

    assert result.status == "completed", result.error
    output = result.output
    assert [(s["id"], s["worker"]) for s in output["plan"]] == [
        ("flight", "flight_finder"),
        ("hotel", "hotel_finder"),
        ("day_1", "day_planner"),
        ("day_2", "day_planner"),
        ("day_3", "day_planner"),
    ]
    # The cheapest flight at or after 08:00, the best hotel within half the budget a night.
    assert output["results"]["flight"] == {
        "carrier": "Ryanair",
        "departs": "09:30",
        "price_eur": 139.0,
        "total_eur": 278.0,
    }
    assert output["results"]["hotel"]["hotel"] == "Baixa Suites"
    assert output["results"]["hotel"]["total_eur"] == 555.0
    itinerary = output["output"]
    assert [[slot["activity"] for slot in day["schedule"]] for day in itinerary["days"]] == [
        ["Belem Tower", "Cooking class", "Tram 28 ride", "Fado dinner in Alfama"],
        ["Jeronimos Monastery", "Pasteis de Belem tasting", "Miradouro da Senhora do Monte"],
        ["Sao Jorge Castle", "Time Out Market lunch"],
    ]
    assert itinerary["total_eur"] == 278 + 555 + 276 + 40 + 80
    assert itinerary["within_budget"] and itinerary["missing"] == [] and output["failed"] == []
    assert output["quorum"] == 5
    assert calls(model) == {
        "day_planner": 3,
        "flight_finder": 1,
        "hotel_finder": 1,
        "itinerary_writer": 1,
        "trip_planner": 1,
    }
    # One superstep ran every subtask: the five `work` steps sit between the plan and the gather.
    assert [s.agent for s in result.steps] == ["plan", *["work"] * 5, "gather", "synthesize"]


async def test_the_plan_grows_with_the_trip_up_to_max_subtasks() -> None:
    long_stay = copy.deepcopy(planning.SAMPLE)
    long_stay["input"]["nights"] = 9
    model = trip_model()
    result = await arun(planning.SPEC, long_stay, model=model, checkpoint="memory")

    assert result.status == "completed", result.error
    # The flight and the hotel, then the six days that max_subtasks (8) leaves room for.
    assert [s["id"] for s in result.output["plan"]][2:] == [f"day_{d}" for d in range(1, 7)]
    assert result.output["output"]["free_days"] == [7, 8, 9]
    assert calls(model)["day_planner"] == 6


# -- a quorum, and a resumed run that neither re-plans nor redoes a finished subtask ----------


async def test_below_the_quorum_the_run_stops_and_a_resume_asks_only_the_failed_subtasks(
    tmp_path: Path,
) -> None:
    url, thread = sqlite(tmp_path), "trip-hotel-down"
    healthy = await arun(planning.SPEC, model=trip_model(), checkpoint="memory")

    down = trip_model("hotel_finder")
    first = await arun(planning.SPEC, model=down, checkpoint=url, thread_id=thread, policies=NO_RETRY)
    assert first.status == "failed" and first.output is None
    assert first.error is not None and first.error.startswith("GraphDrained")
    assert "4 of 5 subtasks succeeded, quorum is 5; failed: hotel (ServerError" in first.error
    assert calls(down) == {"day_planner": 3, "flight_finder": 1, "trip_planner": 1}
    assert failures(down) == {"hotel_finder": 1}

    # Still down: the resume asks the hotel again, and only the hotel, then stops again.
    again = await arun(
        planning.SPEC, model=down, checkpoint=url, thread_id=thread, resume=True, policies=NO_RETRY
    )
    assert again.status == "failed" and "failed: hotel" in (again.error or "")
    assert failures(down) == {"hotel_finder": 2}

    fixed = trip_model()
    resumed = await arun(planning.SPEC, model=fixed, checkpoint=url, thread_id=thread, resume=True)
    assert resumed.status == "completed", resumed.error
    assert resumed.output == healthy.output
    # The planner was asked once across the three runs, each finished subtask once.
    assert calls(fixed) == {"hotel_finder": 1, "itinerary_writer": 1}
    assert [s.agent for s in resumed.steps] == ["work", "gather", "synthesize"]


async def test_a_resume_after_a_later_failure_redoes_neither_the_plan_nor_the_subtasks() -> None:
    graph = planning.SPEC.compile(checkpointer=InMemorySaver(), retry_policy=None)
    config: Any = {"configurable": {"thread_id": "writer-down"}}
    down = trip_model("itinerary_writer")
    with pytest.raises(ServerError, match="itinerary_writer"):
        await graph.ainvoke(planning.SAMPLE, config, context=AgentContext(model=down))
    snapshot = await graph.aget_state(config)
    assert snapshot.next == ("synthesize",) and len(snapshot.values["plan"]) == 5

    fixed = trip_model()
    state = await graph.ainvoke(None, config, context=AgentContext(model=fixed))
    assert state["result"]["output"]["total_eur"] == 1229
    assert calls(fixed) == {"itinerary_writer": 1}
    assert calls(down)["trip_planner"] == 1


async def test_within_the_quorum_a_failed_subtask_is_recorded_and_the_synthesis_goes_on() -> None:
    flow = orchestrator.SPEC.flow(**{**planning.SPEC.args, "quorum": 2})
    graph = flow.compile(retry_policy=None)
    model = trip_model("day_planner")
    state = await graph.ainvoke(planning.SAMPLE, context=AgentContext(model=model))

    result = state["result"]
    assert sorted(result["results"]) == ["flight", "hotel"]
    assert [(f["id"], f["worker"]) for f in result["failed"]] == [
        ("day_1", "day_planner"),
        ("day_2", "day_planner"),
        ("day_3", "day_planner"),
    ]
    assert all(f["error"].startswith("ServerError") for f in result["failed"])
    itinerary = result["output"]
    assert itinerary["missing"] == ["day_1", "day_2", "day_3"] and itinerary["free_days"] == []
    assert itinerary["total_eur"] == 278 + 555
    assert result["quorum"] == 2


# -- the plan is checked as it is parsed -------------------------------------------------------


class Count(BaseModel):
    words: int


class Shout(BaseModel):
    text: str


class Report(BaseModel):
    lines: list[str]


PLANNER = Agent(
    "editor", "Split the report: a count per text, the title shouted. Keys: subtasks.", output=Plan
)
COUNTER = Agent("counter", "Count the words of the text. Keys: words.", output=Count)
SHOUTER = Agent("shouter", "Upper-case the text. Keys: text.", output=Shout, description="shouts a title")
WRITER = Agent("writer", "One line per result. Keys: lines.", output=Report)


def split(p: Payload) -> Payload:
    """The editor's plan: a count per text, then the title shouted (ids left to the flow)."""
    subtasks = [{"worker": "counter", "input": {"text": t}} for t in p["input"]["texts"]]
    return {"subtasks": [*subtasks, {"worker": "shouter", "input": {"text": p["input"]["title"]}}]}


def report_brain(plan: Any = split, **faults: Any) -> ScriptedBrain:
    responders = {
        "editor": plan,
        "counter": lambda p: {"words": len(p["text"].split())},
        "shouter": lambda p: {"text": p["text"].upper()},
        "writer": lambda p: {"lines": [f"{r['id']}: {r['output']}" for r in p["results"]]},
    }
    return ScriptedBrain(responders=responders, faults=FaultPolicy(**faults))


REPORT = {"input": {"title": "q3", "texts": ["one two", "three four five"]}}


async def test_your_own_planner_names_your_own_workers_and_ids_default_to_worker_and_count() -> None:
    seen: list[Payload] = []

    def planner(p: Payload) -> Payload:
        seen.append(p)
        return split(p)

    brain = report_brain(plan=planner)
    graph = build_orchestrator(planner=PLANNER, workers=[COUNTER, SHOUTER], synthesizer=WRITER)
    state = await graph.ainvoke(REPORT, context=AgentContext(model=ScriptedChatModel(brain=brain)))

    assert state["result"]["output"]["lines"] == [
        "counter_1: {'words': 2}",
        "counter_2: {'words': 3}",
        "shouter_1: {'text': 'Q3'}",
    ]
    # The planner is told the workers (a description, else the instructions) and the bound.
    assert seen[0]["workers"] == [
        {"name": "counter", "description": COUNTER.instructions},
        {"name": "shouter", "description": "shouts a title"},
    ]
    assert seen[0]["max_subtasks"] == 8 and seen[0]["input"] == REPORT["input"]


@pytest.mark.parametrize(
    ("plan", "problem"),
    [
        (
            {"subtasks": [{"worker": "translator", "input": {}}]},
            "no worker is named translator: the workers are counter, shouter",
        ),
        ({"subtasks": [{"worker": "counter", "input": {"text": "x"}}] * 3}, "more than max_subtasks=2"),
        ({"subtasks": []}, "the plan has no subtasks"),
        (
            {
                "subtasks": [
                    {"worker": "counter", "input": {}, "id": "a"},
                    {"worker": "shouter", "input": {}, "id": "a"},
                ]
            },
            "subtask ids must differ: a repeated",
        ),
    ],
    ids=["unknown-worker", "too-many", "empty", "same-id"],
)
async def test_a_bad_plan_is_a_malformed_reply_the_node_retry_asks_again(plan: Payload, problem: str) -> None:
    brain = report_brain(plan=lambda p: plan)
    graph = build_orchestrator(
        planner=PLANNER,
        workers=[COUNTER, SHOUTER],
        synthesizer=WRITER,
        max_subtasks=2,
        retry_policy=QUICK_RETRY,
    )
    with pytest.raises(MalformedOutput, match="agent 'editor' reply does not match Plan") as raised:
        await graph.ainvoke(REPORT, context=AgentContext(model=ScriptedChatModel(brain=brain)))
    assert problem in str(raised.value)
    assert {a: u.calls for a, u in brain.ledger.snapshot().items()} == {"editor": 3}


async def test_a_planner_that_mends_its_plan_on_a_retry_goes_on() -> None:
    asked: list[int] = []

    def planner(p: Payload) -> Payload:
        asked.append(1)
        worker = "translator" if len(asked) == 1 else "counter"
        return {"subtasks": [{"worker": worker, "input": {"text": "a b c"}}]}

    brain = report_brain(plan=planner)
    graph = build_orchestrator(
        planner=PLANNER, workers=[COUNTER, SHOUTER], synthesizer=WRITER, retry_policy=QUICK_RETRY
    )
    state = await graph.ainvoke(REPORT, context=AgentContext(model=ScriptedChatModel(brain=brain)))
    assert state["result"]["output"]["lines"] == ["counter_1: {'words': 3}"] and len(asked) == 2


# -- bounded concurrency ---------------------------------------------------------------------


class Gauge:
    """How many model calls are in flight at once, at most."""

    def __init__(self) -> None:
        self.now = self.most = 0


def gauged(brain: ScriptedBrain, gauge: Gauge) -> ScriptedChatModel:
    class GaugedModel(ScriptedChatModel):
        async def _agenerate(self, *args: Any, **kwargs: Any) -> Any:
            gauge.now += 1
            gauge.most = max(gauge.most, gauge.now)
            try:
                await asyncio.sleep(0.01)  # long enough for the other subtasks to start, if they may
                return await super()._agenerate(*args, **kwargs)
            finally:
                gauge.now -= 1

    return GaugedModel(brain=brain)


@pytest.mark.parametrize("limit", [1, 2, 5])
async def test_max_concurrency_bounds_the_subtasks_asking_a_model_at_once(limit: int) -> None:
    gauge = Gauge()
    graph = build_orchestrator(planner=PLANNER, workers=[COUNTER, SHOUTER], synthesizer=WRITER)
    data = {"input": {"title": "t", "texts": ["a", "b c", "d e f", "g"]}, "max_concurrency": limit}
    state = await graph.ainvoke(data, context=AgentContext(model=gauged(report_brain(), gauge)))
    assert len(state["result"]["results"]) == 5
    assert gauge.most == limit


# -- declaring the flow ------------------------------------------------------------------------


def test_a_flow_that_cannot_work_is_refused_when_declared() -> None:
    with pytest.raises(UsageError, match="output=Plan"):
        build_orchestrator(planner=COUNTER, workers=[SHOUTER], synthesizer=WRITER)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="different names"):
        build_orchestrator(planner=PLANNER, workers=[COUNTER, COUNTER], synthesizer=WRITER)
    with pytest.raises(UsageError, match="different names"):
        build_orchestrator(planner=PLANNER, workers=[], synthesizer=WRITER)
    with pytest.raises(UsageError, match="quorum 9 must be between 1 and max_subtasks"):
        build_orchestrator(planner=PLANNER, workers=[COUNTER], synthesizer=WRITER, quorum=9)
    with pytest.raises(UsageError, match="max_subtasks must be at least 1"):
        orchestrator.SPEC.flow(planner=PLANNER, workers=[COUNTER], synthesizer=WRITER, max_subtasks=0)


async def test_a_bad_input_names_the_field() -> None:
    graph = build_orchestrator(planner=PLANNER, workers=[COUNTER], synthesizer=WRITER)
    with pytest.raises(UsageError, match="max_concurrency"):
        await graph.ainvoke(
            {"input": {}, "max_concurrency": 0},
            context=AgentContext(model=ScriptedChatModel(brain=report_brain())),
        )


async def test_below_the_quorum_the_failed_subtasks_wait_in_the_checkpoint() -> None:
    saver = InMemorySaver()
    graph = build_orchestrator(
        planner=PLANNER,
        workers=[COUNTER, SHOUTER],
        synthesizer=WRITER,
        quorum=2,
        retry_policy=None,
        checkpointer=saver,
    )
    config: Any = {"configurable": {"thread_id": "counter-down"}}
    down = ScriptedChatModel(brain=report_brain(down_agents=frozenset({"counter"})))
    with pytest.raises(
        GraphDrained, match=r"1 of 3 subtasks succeeded, quorum is 2; failed: counter_1 .*counter_2"
    ):
        await graph.ainvoke(REPORT, config, context=AgentContext(model=down))
    snapshot = await graph.aget_state(config)
    # The two counts are queued, not run: the next superstep is theirs.
    assert snapshot.next == ("work", "work")
    assert [r["id"] for r in snapshot.values["results"]] == ["shouter_1"]

    fixed = ScriptedChatModel(brain=report_brain())
    state = await graph.ainvoke(None, config, context=AgentContext(model=fixed))
    assert state["result"]["failed"] == [] and len(state["result"]["results"]) == 3
    assert calls(fixed) == {"counter": 2, "writer": 1}
