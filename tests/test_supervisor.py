"""Supervisor / group chat: who speaks next (a manager agent, a function, round-robin), when the chat
ends (done, a stop rule, max_turns), a team nested in a team, and a resumed run that goes on from
its last saved turn.

The witnesses are the order of speakers, the outputs, and the scripted model's call counts per
agent (`brain.ledger`), across a failed run and its resume.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import RetryPolicy
from pydantic import BaseModel

from patterns import AgentContext, AgentPolicies, FaultPolicy, ScriptedBrain, ScriptedChatModel, arun
from patterns.errors import MalformedOutput, ServerError, UsageError, is_transient
from patterns.flows import supervisor
from patterns.flows.supervisor import Chat, Decision, build_supervisor
from patterns.presets import team
from patterns.resilience.retry import Backoff
from patterns.runtime import Agent

Payload = dict[str, Any]

#: Retries a malformed pick at once: what `DEFAULT_RETRY` does, without its backoff.
QUICK_RETRY = RetryPolicy(initial_interval=0.0, max_attempts=3, jitter=False, retry_on=is_transient)
#: One attempt per call, through the run's policies, so `arun` builds the graph without node retries.
NO_RETRY = AgentPolicies(retry=Backoff(max_attempts=1))


def incident_model(*down: str) -> ScriptedChatModel:
    faults = FaultPolicy(down_agents=frozenset(down))
    return ScriptedChatModel(brain=ScriptedBrain(responders=team.RESPONDERS, faults=faults))


def calls(model: ScriptedChatModel) -> dict[str, int]:
    return {agent: usage.calls for agent, usage in model.brain.ledger.snapshot().items() if usage.calls}


# -- the preset: a manager agent picks each speaker -----------------------------------------


async def test_the_lead_gives_the_turn_to_each_analyst_then_the_scribe_then_says_done() -> None:
    model = incident_model()
    result = await arun(team.SPEC, model=model, checkpoint="memory")

    assert result.status == "completed", result.error
    output = result.output
    assert output["speakers"] == ["log_analyst", "metrics_analyst", "deploy_analyst", "scribe"]
    assert (output["stop_reason"], output["turns"], output["final_speaker"]) == ("done", 4, "scribe")
    logs, metrics, deploy, _ = (m["output"] for m in output["transcript"])
    assert logs == {
        "errors": 6,
        "first_error": "10:04:12",
        "top_error": "ConnectionPool exhausted (db-primary)",
        "top_error_count": 4,
    }
    assert [(s["metric"], s["ratio"], s["at"]) for s in metrics["spikes"]] == [
        ("error_rate_pct", 60.0, "10:05"),
        ("p99_ms", 11.4, "10:05"),
    ]
    assert (deploy["suspect"], deploy["minutes_before"]) == ("v2.3.1", 3)
    assert output["final"]["action"] == "roll back v2.3.1"
    assert output["transcript"][2]["reason"] == "the errors have a start: was it a deploy?"
    # One pick per turn and the "done": the lead is asked five times, each member once.
    assert calls(model) == {
        "deploy_analyst": 1,
        "incident_lead": 5,
        "log_analyst": 1,
        "metrics_analyst": 1,
        "scribe": 1,
    }
    assert [s.agent for s in result.steps] == [
        "manage",
        "log_analyst",
        "manage",
        "metrics_analyst",
        "manage",
        "deploy_analyst",
        "manage",
        "scribe",
        "manage",
        "finish",
    ]


async def test_the_lead_skips_the_deploy_analyst_when_the_logs_show_no_errors() -> None:
    quiet = copy.deepcopy(team.SAMPLE)
    quiet["input"]["logs"] = [line.replace("ERROR", "WARN") for line in quiet["input"]["logs"]]
    result = await arun(team.SPEC, quiet, model=incident_model(), checkpoint="memory")

    assert result.status == "completed", result.error
    assert result.output["speakers"] == ["log_analyst", "metrics_analyst", "scribe"]
    assert result.output["final"]["summary"].startswith("checkout: no errors in the logs; error_rate_pct x60")


async def test_a_member_named_by_no_one_is_a_malformed_pick_asked_again() -> None:
    lead = Agent("lead", "Pick. Keys: next, reason.", output=Decision)
    brain = ScriptedBrain(
        responders={"lead": lambda p: {"next": "intern", "reason": "why not"}, "scribe": lambda p: {}}
    )
    graph = build_supervisor(members=[team.SCRIBE], manager=lead, retry_policy=QUICK_RETRY)
    with pytest.raises(MalformedOutput, match="next is 'intern': name a member \\(scribe\\) or 'done'"):
        await graph.ainvoke({"input": {}}, context=AgentContext(model=ScriptedChatModel(brain=brain)))
    assert {a: u.calls for a, u in brain.ledger.snapshot().items()} == {"lead": 3}


# -- checkpoints: every turn saved, a resume goes on from the last one ---------------------------


async def test_every_turn_is_saved_and_a_resume_goes_on_from_the_last_saved_turn() -> None:
    graph = team.SPEC.compile(checkpointer=InMemorySaver(), retry_policy=None)
    config: Any = {"configurable": {"thread_id": "incident"}, "recursion_limit": 16}
    down = incident_model("deploy_analyst")
    with pytest.raises(ServerError, match="deploy_analyst"):
        await graph.ainvoke(team.SAMPLE, config, context=AgentContext(model=down))
    snapshot = await graph.aget_state(config)
    # Saved: two replies and the lead's third pick, which is never asked for again.
    assert snapshot.next == ("deploy_analyst",) and len(snapshot.values["transcript"]) == 2
    assert calls(down) == {"incident_lead": 3, "log_analyst": 1, "metrics_analyst": 1}

    fixed = incident_model()
    state = await graph.ainvoke(None, config, context=AgentContext(model=fixed))
    assert state["result"]["speakers"] == ["log_analyst", "metrics_analyst", "deploy_analyst", "scribe"]
    assert calls(fixed) == {"deploy_analyst": 1, "incident_lead": 2, "scribe": 1}
    # A checkpoint after every reply: the transcript grew one message at a time.
    lengths = {len(s.values.get("transcript", [])) async for s in graph.aget_state_history(config)}
    assert lengths == {0, 1, 2, 3, 4}


async def test_a_resumed_run_through_arun_continues_the_same_chat(tmp_path: Path) -> None:
    url, thread = f"sqlite:///{tmp_path / 'checkpoints.sqlite'}", "incident-arun"
    uninterrupted = await arun(team.SPEC, model=incident_model(), checkpoint="memory")
    down = incident_model("scribe")
    first = await arun(team.SPEC, model=down, checkpoint=url, thread_id=thread, policies=NO_RETRY)
    assert first.status == "failed" and "agent 'scribe'" in (first.error or "")

    fixed = incident_model()
    resumed = await arun(team.SPEC, model=fixed, checkpoint=url, thread_id=thread, resume=True)
    assert resumed.status == "completed", resumed.error
    assert resumed.output == uninterrupted.output
    assert calls(fixed) == {"incident_lead": 1, "scribe": 1}
    assert [s.agent for s in resumed.steps] == ["scribe", "manage", "finish"]


# -- hierarchical teams: a member that is itself a team ----------------------------------------------


async def test_a_nested_team_is_one_member_and_keeps_its_own_transcript() -> None:
    saver = InMemorySaver()
    graph = team.HIERARCHY_SPEC.compile(checkpointer=saver)
    config: Any = {"configurable": {"thread_id": "hierarchy"}, "recursion_limit": 12}
    model = incident_model()
    state = await graph.ainvoke(team.HIERARCHY_SPEC.sample, config, context=AgentContext(model=model))

    result = state["result"]
    assert result["speakers"] == ["investigation", "scribe"]
    nested = result["transcript"][0]["output"]
    assert nested["speakers"] == ["log_analyst", "metrics_analyst", "deploy_analyst"]
    assert nested["stop_reason"] == "until"
    # The scribe read the findings out of the nested team's transcript: the same write-up as the flat team.
    flat = await arun(team.SPEC, model=incident_model(), checkpoint="memory")
    assert result["final"] == flat.output["final"]
    assert calls(model) == {
        "deploy_analyst": 1,
        "incident_lead": 3,
        "log_analyst": 1,
        "metrics_analyst": 1,
        "scribe": 1,
    }
    # The nested team's state stays its own; its steps are saved under the member's namespace.
    assert set(state) == {"input", "max_turns", "pick", "transcript", "result"}
    namespaces = {c.config["configurable"]["checkpoint_ns"] for c in saver.list(None)}
    assert "" in namespaces and any(ns.startswith("investigation:") for ns in namespaces)


async def test_a_run_that_failed_inside_the_nested_team_resumes_inside_it() -> None:
    # A nested pattern keeps the retry policy it was built with: build this one without.
    analysts = [team.LOG_ANALYST, team.METRICS_ANALYST, team.DEPLOY_ANALYST]
    investigation = build_supervisor(
        members=analysts, until=lambda chat: chat.turns == 3, retry_policy=None, name="investigation"
    )
    flow = supervisor.SPEC.flow(members=[investigation, team.SCRIBE], manager=team.INCIDENT_LEAD)
    graph = flow.compile(checkpointer=InMemorySaver(), retry_policy=None)
    config: Any = {"configurable": {"thread_id": "hierarchy-down"}, "recursion_limit": 12}
    down = incident_model("deploy_analyst")
    with pytest.raises(ServerError, match="deploy_analyst"):
        await graph.ainvoke(team.HIERARCHY_SPEC.sample, config, context=AgentContext(model=down))
    snapshot = await graph.aget_state(config, subgraphs=True)
    assert snapshot.next == ("investigation",)
    assert len(snapshot.tasks[0].state.values["transcript"]) == 2  # type: ignore[union-attr]

    fixed = incident_model()
    state = await graph.ainvoke(None, config, context=AgentContext(model=fixed))
    assert state["result"]["final"]["action"] == "roll back v2.3.1"
    # The two analysts who had answered inside the nested team are not asked again.
    assert calls(fixed) == {"deploy_analyst": 1, "incident_lead": 2, "scribe": 1}


# -- your own members: round-robin refinement, a selecting function -------------------------------


class Draft(BaseModel):
    draft: str
    score: float


POINTS = ("fast", "cheap", "green", "quiet")


def improver(name: str) -> Agent[Draft]:
    return Agent(
        name, "Improve the last draft: add the next missing point. Keys: draft, score.", output=Draft
    )


def improve(p: Payload) -> Payload:
    """Each member adds the next point the last draft lacks, and scores the coverage."""
    said = (p["last"] or {"draft": p["input"]["product"]})["draft"]
    missing = [point for point in POINTS if point not in said]
    draft = f"{said}, {missing[0]}" if missing else said
    return {"draft": draft, "score": sum(point in draft for point in POINTS) / len(POINTS)}


WRITERS = [improver("drafter"), improver("editor"), improver("proofreader")]


def writing_model() -> ScriptedChatModel:
    return ScriptedChatModel(brain=ScriptedBrain(responders={w.name: improve for w in WRITERS}))


async def test_round_robin_refinement_each_member_improves_the_last_draft_in_turn() -> None:
    graph = build_supervisor(
        members=WRITERS, until=lambda chat: chat.last is not None and chat.last["score"] >= 1
    )
    model = writing_model()
    state = await graph.ainvoke({"input": {"product": "the Volt bike"}}, context=AgentContext(model=model))

    result = state["result"]
    assert result["speakers"] == ["drafter", "editor", "proofreader", "drafter"]
    assert [m["output"]["score"] for m in result["transcript"]] == [0.25, 0.5, 0.75, 1.0]
    assert result["final"]["draft"] == "the Volt bike, fast, cheap, green, quiet"
    assert (result["stop_reason"], result["turns"]) == ("until", 4)
    assert all(m["reason"] is None for m in result["transcript"])


async def test_max_turns_bounds_the_chat_and_the_recursion_limit_follows_it() -> None:
    flow = supervisor.SPEC.flow(members=WRITERS)
    model = writing_model()
    # 20 turns is 40 supersteps and more: past LangGraph's default limit (25), within the derived one.
    result = await arun(
        flow, {"input": {"product": "a kettle"}, "max_turns": 20}, model=model, checkpoint="memory"
    )
    assert result.status == "completed", result.error
    assert (result.output["stop_reason"], result.output["turns"]) == ("max_turns", 20)
    assert result.output["speakers"][:4] == ["drafter", "editor", "proofreader", "drafter"]
    assert supervisor.SPEC.recursion_limit({"max_turns": 20}) == supervisor.recursion_limit(20) == 44


async def test_a_selecting_function_picks_from_the_chat_and_ends_it() -> None:
    picked: list[Chat] = []

    def select(chat: Chat) -> str:
        picked.append(chat)
        if chat.last is not None and chat.last["score"] >= 0.75:
            return "done"
        return "editor" if chat.last_speaker == "drafter" else "drafter"

    graph = build_supervisor(members=WRITERS, select=select)
    model = writing_model()
    state = await graph.ainvoke(
        {"input": {"product": "a lamp"}, "max_turns": 9}, context=AgentContext(model=model)
    )

    assert state["result"]["speakers"] == ["drafter", "editor", "drafter"]
    assert state["result"]["stop_reason"] == "done"
    assert [c.turns for c in picked] == [0, 1, 2, 3]
    assert picked[-1].members == ("drafter", "editor", "proofreader") and picked[-1].max_turns == 9


async def test_a_selecting_function_that_names_no_member_fails_at_once() -> None:
    graph = build_supervisor(members=WRITERS, select=lambda chat: "critic")
    model = writing_model()
    with pytest.raises(UsageError, match="select returned 'critic'"):
        await graph.ainvoke({"input": {"product": "a lamp"}}, context=AgentContext(model=model))


def test_a_team_that_cannot_work_is_refused_when_declared() -> None:
    lead = Agent("lead", "Pick. Keys: next, reason.", output=Decision)
    with pytest.raises(UsageError, match="distinct names"):
        build_supervisor(members=[WRITERS[0], WRITERS[0]])
    with pytest.raises(UsageError, match="distinct names other than done, finish, manage"):
        build_supervisor(members=[improver("finish")])
    with pytest.raises(UsageError, match="one or more"):
        build_supervisor(members=[])
    with pytest.raises(UsageError, match="not both"):
        build_supervisor(members=WRITERS, manager=lead, select=lambda chat: "done")
    with pytest.raises(UsageError, match="output=Decision"):
        build_supervisor(members=WRITERS, manager=WRITERS[1])  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="members must be agents or compiled patterns"):
        supervisor.SPEC.flow(members=["drafter"])
