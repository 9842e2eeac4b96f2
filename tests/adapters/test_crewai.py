"""What the CrewAI adapter promises beyond equivalence: the prompt CrewAI sends, its retries
under faults, partial failure, the concurrency bound, human arbitration, checkpoints and
resume, and no network."""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from adapters import arun
from patterns import Agent
from patterns.errors import ServerError, UsageError
from patterns.flows import handoff, pipeline, routing
from patterns.flows.handoff import DeskReply
from patterns.flows.routing import Answer, Classification
from patterns.presets import AGENTS, SAMPLES, reviews
from patterns.runtime import wire
from patterns.testing import FaultPolicy, LatencyPolicy, Plan, ScriptedBrain, running_server

from .._samples import SPLIT_VOTE
from ._declared import DECLARED, DRAFTER, OPEN_QUESTION, PUBLISHER


@pytest.fixture(autouse=True, scope="module")
def _collect_crewai_garbage() -> Iterator[None]:
    """Collect the cyclic garbage CrewAI's runs leave (Flows, Crews, pydantic models) once, here.

    Left to the collector, a full collection (~0.3 s in this process) lands in whichever
    test runs next: twice in three runs of tests/adapters it broke Semantic Kernel's
    wall-time assertions.
    """
    yield
    gc.collect()


BATCHES: dict[str, Any] = {"items": reviews(40), "batch_size": 4, "max_concurrency": 3}  # 10 batches
#: drafter -> tidy (a function) -> gate fact_checker -> publisher, on a brief that passes the gate.
PUBLISHED = next(case for case in DECLARED if case.id == "pipeline-stages-published")


@dataclasses.dataclass
class _Recording(ScriptedBrain):
    """A brain that keeps every prompt it is asked, as the framework sent it."""

    prompts: list[list[dict[str, Any]]] = dataclasses.field(default_factory=list)

    def plan(self, messages: Sequence[Mapping[str, Any]]) -> Plan:
        self.prompts.append([dict(m) for m in messages])
        return super().plan(messages)


@dataclasses.dataclass
class _FailOnce(ScriptedBrain):
    """A brain whose first call carrying `needle` in its prompt fails with a 503 (one map batch)."""

    needle: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._lock = threading.Lock()
        self._failed = False

    def plan(self, messages: Sequence[Mapping[str, Any]]) -> Plan:
        planned = super().plan(messages)
        with self._lock:
            if self._failed or not any(self.needle in str(m.get("content")) for m in messages):
                return planned
            self._failed = True
        return dataclasses.replace(planned, fault="server_error")


@pytest.fixture
def fast_rate_limit_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """CrewAI's rate-limit retry waits 1 s then 2 s; the count is what these tests measure."""
    import crewai.llms.retry

    monkeypatch.setattr(crewai.llms.retry, "get_retry_delay_seconds", lambda *a, **k: 0.0)


# -- the prompt: CrewAI's framing around the pattern's two messages, no ReAct format needed


async def test_crewai_frames_the_patterns_prompt_and_takes_the_reply_as_the_final_answer() -> None:
    brain = _Recording()
    result = await arun("crewai", "routing", brain=brain)
    reference = await arun("langgraph", "routing")
    assert result.status == "completed" and result.output == reference.output
    system, user = (m["content"] for m in brain.prompts[0])
    ours_system, ours_user = wire.render(AGENTS["router"], {"message": SAMPLES["routing"]["message"]})
    assert system.startswith(ours_system + "\nYour personal goal is: ")  # "You are {role}. {backstory}"
    assert user.startswith("\nCurrent Task: " + ours_user + "\n")  # our INPUT block, then CrewAI's text
    parsed = wire.parse(system, user)
    assert parsed is not None and parsed.role == "router"
    assert parsed.payload == {"message": SAMPLES["routing"]["message"]}
    assert "Final Answer" not in system + user  # a tool-less agent is not asked for the ReAct format
    assert result.completion_tokens == reference.completion_tokens  # the brain's reply, unchanged
    assert result.prompt_tokens - reference.prompt_tokens == 2 * 68  # CrewAI's framing, per call


async def test_the_llm_bridge_answers_from_the_messages_in_both_call_styles() -> None:
    from adapters.crewai import ScriptedLLM

    system, user = wire.render(AGENTS["router"], {"message": "My invoice is wrong"})
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    llm = ScriptedLLM(ScriptedBrain())
    reply = llm.call(messages)
    assert json.loads(reply)["route"] == "billing" and await llm.acall(messages) == reply
    assert llm.brain.ledger.snapshot()["router"].calls == 2  # keyed on the prompt, not on from_agent
    assert llm.get_input_tokens_count(messages) == llm.brain.plan(messages).prompt_tokens
    down = ScriptedLLM(ScriptedBrain(faults=FaultPolicy(down_agents=frozenset({"router"}))))
    with pytest.raises(ServerError):
        await down.acall(messages)


# -- faults: the original error, after CrewAI's own retries


async def test_an_agent_that_is_down_fails_the_run_with_the_original_error_after_crewais_retries() -> None:
    brain = ScriptedBrain(faults=FaultPolicy(down_agents=frozenset({"validator"})))
    result = await arun("crewai", "pipeline", brain=brain)
    assert result.status == "failed" and result.output is None
    assert (result.error or "").startswith("ServerError: ") and "'validator'" in (result.error or "")
    assert result.calls == 1 and result.usage["validator"].failures == 3  # Agent.max_retry_limit=2
    assert [(s.agent, s.status) for s in result.steps] == [("extract", "ok"), ("validate", "error")]
    once = await arun("crewai", "pipeline", brain=ScriptedBrain(faults=brain.faults), max_retry_limit=0)
    assert once.usage["validator"].failures == 1 and (once.error or "").startswith("ServerError: ")


async def test_a_malformed_reply_is_re_asked_by_the_guardrail_then_fails_as_malformed_output() -> None:
    brain = _Recording(faults=FaultPolicy(malformed=1.0))
    malformed = await arun("crewai", "pipeline", brain=brain)
    assert (malformed.error or "").startswith("MalformedOutput: ")
    assert set(malformed.usage) == {"extractor"} and malformed.calls == 4  # 1 + guardrail_max_retries=3
    retry = brain.prompts[1][-1]["content"]  # CrewAI's feedback follows our INPUT block
    assert "### Previous attempt failed validation: agent 'extractor' replied with invalid JSON" in retry
    assert retry.index("\n\nINPUT:\n") < retry.index("### Previous attempt")


async def test_timeouts_are_not_retried_in_process() -> None:
    timeout = await arun("crewai", "pipeline", brain=ScriptedBrain(faults=FaultPolicy(timeout=1.0)))
    assert (timeout.error or "").startswith("ModelTimeout: ")
    assert timeout.failed_calls == 1  # CrewAI's Agent re-raises a TimeoutError without retrying


@pytest.mark.usefixtures("fast_rate_limit_backoff")
async def test_rate_limits_are_retried_by_crewais_llm_wrapper_then_by_the_agent() -> None:
    faults = FaultPolicy(rate_limit=1.0)
    alone = await arun("crewai", "pipeline", brain=ScriptedBrain(faults=faults), max_retry_limit=0)
    assert (alone.error or "").startswith("RateLimited: ") and alone.failed_calls == 3
    both = await arun("crewai", "pipeline", brain=ScriptedBrain(faults=faults))
    assert (both.error or "").startswith("RateLimited: ") and both.failed_calls == 9


async def test_over_http_the_fault_is_the_openai_clients_error_and_only_crewai_retries(
    tmp_path: Path,
) -> None:
    brain = ScriptedBrain(faults=FaultPolicy(down_agents=frozenset({"validator"})))
    log = tmp_path / "requests.jsonl"
    with running_server(brain, request_log=log) as url:
        result = await arun("crewai", "pipeline", brain=brain, base_url=url)
    assert (result.error or "").startswith("InternalServerError: ")
    statuses = [json.loads(line)["status"] for line in log.read_text(encoding="utf-8").splitlines()]
    assert statuses == [200, 503, 503, 503]  # the SDK's retries are off; the three are the Agent's


# -- partial failure and the concurrency bound


async def test_a_source_that_is_down_is_reported_and_the_quorum_holds() -> None:
    # A source name that is no Python identifier: CrewAI's method names must be, ours need not.
    sources = [
        {**s, "name": "forum.example-1"} if s["name"] == "forum" else s
        for s in SAMPLES["scatter_gather"]["sources"]
    ]
    data = {**SAMPLES["scatter_gather"], "sources": sources}
    brain = ScriptedBrain(faults=FaultPolicy(down_agents=frozenset({"forum.example-1"})))
    result = await arun("crewai", "scatter_gather", data, brain=brain, max_retry_limit=0)
    assert result.status == "completed", result.error
    assert result.output is not None and result.output["quorum_met"]
    assert [f["source"] for f in result.output["sources_failed"]] == ["forum.example-1"]
    assert "forum.example-1" not in result.output["sources_ok"] and len(result.output["sources_ok"]) == 4
    assert ("forum.example-1", "error") in [(s.agent, s.status) for s in result.steps]


async def test_below_the_quorum_the_run_fails_naming_the_sources() -> None:
    names = [s["name"] for s in SAMPLES["scatter_gather"]["sources"]][:3]
    brain = ScriptedBrain(faults=FaultPolicy(down_agents=frozenset(names)))
    result = await arun("crewai", "scatter_gather", brain=brain, max_retry_limit=0)
    assert result.status == "failed" and (result.error or "").startswith("QuorumNotMet: ")
    assert all(name in (result.error or "") for name in names)


async def test_map_batches_run_in_parallel_within_max_concurrency() -> None:
    brain = ScriptedBrain(latency=LatencyPolicy(mean=0.05))
    result = await arun("crewai", "map_reduce", BATCHES, brain=brain)
    assert result.status == "completed", result.error
    spans = [(s.start, s.end) for s in result.steps if s.agent.startswith("map_batch")]
    assert len(spans) == 10
    overlap = max(sum(1 for a, b in spans if a <= t < b) for t, _ in spans)
    assert 1 < overlap <= 3


async def test_a_failed_batch_fails_the_run_once_every_other_batch_has_finished() -> None:
    brain = _FailOnce(needle=BATCHES["items"][9]["id"])  # in the third batch
    result = await arun("crewai", "map_reduce", BATCHES, brain=brain, max_retry_limit=0)
    assert (result.error or "").startswith("ServerError: ")
    assert (result.usage["mapper"].calls, result.usage["mapper"].failures) == (9, 1)
    assert "reducer" not in result.usage


# -- human arbitration through Flow.ask


async def test_human_arbitration_takes_the_answer_and_refuses_to_run_without_one() -> None:
    decided = await arun("crewai", "debate", SPLIT_VOTE, answer="rabbitmq")
    assert decided.status == "completed", decided.error
    assert decided.output is not None and decided.output["decided_by"] == "human"
    assert decided.output["decision"] == "rabbitmq"
    assert "ask_human" in [s.agent for s in decided.steps]
    asked: list[str] = []
    by_callable = await arun("crewai", "debate", SPLIT_VOTE, input_func=lambda q: asked.append(q) or "kafka")
    assert by_callable.output is not None and by_callable.output["decision"] == "kafka"
    assert len(asked) == 1 and '"options": ["kafka", "rabbitmq"]' in asked[0]
    with pytest.raises(UsageError, match="answer='OPTION'"):
        await arun("crewai", "debate", SPLIT_VOTE)


async def test_an_answer_that_is_not_an_option_is_refused() -> None:
    with pytest.raises(UsageError, match="must pick one of kafka, rabbitmq, got 'zookeeper'"):
        await arun("crewai", "debate", SPLIT_VOTE, answer="zookeeper")
    result = await arun("crewai", "debate", SPLIT_VOTE, input_func=lambda q: "zookeeper")
    assert result.status == "failed" and "zookeeper" in (result.error or "")


async def test_an_open_question_takes_any_text_and_refuses_an_empty_answer_before_any_model_call() -> None:
    split = {"question": "When do we ship?", "rounds": 1, "arbitration": "human"}
    stances = {"optimist": "ship friday", "skeptic": "wait a week", "pragmatist": "ship monday"}
    responders = {
        name: (lambda p, position=position: {"position": position, "confidence": 0.7, "argument": "mine"})
        for name, position in stances.items()
    }
    decided = await arun(
        "crewai", OPEN_QUESTION, split, brain=ScriptedBrain(responders=responders), answer="ship in May"
    )
    assert decided.status == "completed", decided.error
    assert decided.output is not None and decided.output["decided_by"] == "human"
    assert decided.output["decision"] == "ship in May"  # no options: the text is the ruling
    brain = ScriptedBrain(responders=responders)
    with pytest.raises(UsageError, match="answer the open question with text"):
        await arun("crewai", OPEN_QUESTION, split, brain=brain, answer="  ")
    assert brain.ledger.snapshot() == {}


# -- checkpoints and resume


async def test_a_failed_pipeline_resumes_at_the_step_that_failed(tmp_path: Path) -> None:
    down = ScriptedBrain(faults=FaultPolicy(down_agents=frozenset({"transformer"})))
    failed = await arun("crewai", "pipeline", brain=down, state_path=str(tmp_path), max_retry_limit=0)
    assert failed.status == "failed" and set(failed.usage) == {"extractor", "validator", "transformer"}
    checkpoints = sorted((tmp_path / "main").glob("*.json"))
    assert len(checkpoints) == 3  # extract, validate, gate
    assert sum(p.name.endswith("_p-none.json") for p in checkpoints) == 1  # one chain
    resumed = await arun("crewai", "pipeline", brain=ScriptedBrain(), state_path=str(tmp_path), resume=True)
    assert resumed.status == "completed", resumed.error
    assert set(resumed.usage) == {"transformer"} and [s.agent for s in resumed.steps] == ["transform"]
    assert resumed.output == (await arun("langgraph", "pipeline")).output


async def test_only_the_failed_batch_runs_again_on_resume(tmp_path: Path) -> None:
    brain = _FailOnce(needle=BATCHES["items"][9]["id"])
    failed = await arun(
        "crewai", "map_reduce", BATCHES, brain=brain, state_path=str(tmp_path), max_retry_limit=0
    )
    assert failed.status == "failed"
    resumed = await arun("crewai", "map_reduce", brain=ScriptedBrain(), state_path=str(tmp_path), resume=True)
    assert resumed.status == "completed", resumed.error
    assert {a: u.calls for a, u in resumed.usage.items()} == {"mapper": 1, "reducer": 1}
    assert [s.agent for s in resumed.steps] == ["map_batch_3", "reduce"]
    assert resumed.output == (await arun("langgraph", "map_reduce", BATCHES)).output


async def test_resume_refuses_loops_missing_checkpoints_and_other_patterns(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot resume refinement: its flow loops"):
        await arun("crewai", "refinement", state_path=str(tmp_path), resume=True)
    with pytest.raises(UsageError, match="no CrewAI checkpoint"):
        await arun("crewai", "pipeline", state_path=str(tmp_path), resume=True)
    with pytest.raises(UsageError, match="needs state_path"):
        await arun("crewai", "pipeline", resume=True)
    assert (await arun("crewai", "routing", state_path=str(tmp_path))).status == "completed"
    with pytest.raises(UsageError, match="is of 'routing', not 'pipeline'"):
        await arun("crewai", "pipeline", state_path=str(tmp_path), resume=True)


async def test_unknown_options_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="does not take checkpoint"):
        await arun("crewai", "pipeline", checkpoint="memory")


# -- declared flows: the user's agents, names and stages


async def test_a_nested_pattern_stage_is_a_usage_error_before_any_model_call() -> None:
    nested = pipeline.SPEC.flow(stages=[PUBLISHER]).compile()
    flow = pipeline.SPEC.flow(stages=[DRAFTER, nested])  # the drafter would run first
    brain = ScriptedBrain(responders=PUBLISHED.responders)
    with pytest.raises(UsageError, match="nested patterns run on LangGraph only"):
        await arun("crewai", flow, PUBLISHED.input, brain=brain)
    assert brain.ledger.snapshot() == {}


async def test_user_names_that_are_crewai_flow_attributes_run_and_steps_are_named_as_on_langgraph() -> None:
    # `state`, `ask` and `kickoff` are Flow attributes: the flow methods are not named after them.
    helper = Agent("helper", "Answer. Keys: answer.", output=Answer)
    routes = routing.SPEC.flow(
        router=Agent("sorter", "Classify: state or ask. Keys: route, confidence.", output=Classification),
        routes={"state": helper, "ask": helper},
    )
    front = Agent("front", "Hand off to kickoff. Keys: action, to, reason, answer.", output=DeskReply)
    desks = handoff.SPEC.flow(
        desks={"ask": front, "kickoff": Agent("closer", "Answer. Keys: action, answer.", output=DeskReply)}
    )
    responders = {
        "sorter": lambda p: {"route": "ask", "confidence": 0.9},
        "helper": lambda p: {"answer": f"on {p['speciality']}"},
        "front": lambda p: {"action": "handoff", "to": "kickoff", "reason": "closing", "answer": None},
        "closer": lambda p: {"action": "answer", "to": None, "reason": "", "answer": "done"},
    }
    for flow, data in ((routes, {"message": "hi"}), (desks, {"message": "hi"})):
        crewai = await arun("crewai", flow, data, brain=ScriptedBrain(responders=responders))
        langgraph = await arun("langgraph", flow, data, brain=ScriptedBrain(responders=responders))
        assert crewai.status == "completed", crewai.error
        assert crewai.output == langgraph.output
        assert [s.agent for s in crewai.steps] == [s.agent for s in langgraph.steps]


async def test_a_declared_stages_pipeline_resumes_at_its_unfinished_stage(tmp_path: Path) -> None:
    flow, data, responders = PUBLISHED.flow, PUBLISHED.input, PUBLISHED.responders
    down = ScriptedBrain(responders=responders, faults=FaultPolicy(down_agents=frozenset({"publisher"})))
    failed = await arun("crewai", flow, data, brain=down, state_path=str(tmp_path), max_retry_limit=0)
    assert failed.status == "failed" and (failed.error or "").startswith("ServerError: ")
    assert [(s.agent, s.status) for s in failed.steps] == [
        ("drafter", "ok"),
        ("tidy", "ok"),
        ("gate", "ok"),
        ("publisher", "error"),
    ]
    # A declared flow has no sample: the input is given again (the checkpoint's state is what runs).
    brain = ScriptedBrain(responders=responders)
    resumed = await arun("crewai", flow, data, brain=brain, state_path=str(tmp_path), resume=True)
    assert resumed.status == "completed", resumed.error
    assert set(resumed.usage) == {"publisher"} and [s.agent for s in resumed.steps] == ["publisher", "finish"]
    reference = await arun("langgraph", flow, data, brain=ScriptedBrain(responders=responders))
    assert resumed.output == reference.output


# -- offline


async def test_flows_run_with_every_non_loopback_connection_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[Any] = []
    connect, create_connection, getaddrinfo = (
        socket.socket.connect,
        socket.create_connection,
        socket.getaddrinfo,
    )

    def loopback(host: Any) -> bool:
        return str(host) in ("localhost", "::1") or str(host).startswith("127.")

    def guarded_connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not loopback(address[0]):
            attempts.append(address)
            raise OSError("network blocked by the test")
        connect(self, address)

    def guarded_create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        if not loopback(address[0]):
            attempts.append(address)
            raise OSError("network blocked by the test")
        return create_connection(address, *args, **kwargs)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not loopback(host):
            attempts.append(host)
            raise socket.gaierror("network blocked by the test")
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "create_connection", guarded_create_connection)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    in_process = await arun("crewai", "pipeline")
    brain = ScriptedBrain()
    with running_server(brain) as url:
        over_http = await arun("crewai", "debate", brain=brain, base_url=url)
    assert in_process.status == "completed" and over_http.status == "completed", over_http.error
    assert attempts == []


async def test_the_http_path_leaves_the_applications_logging_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    # CrewAI's OpenAI provider logs through the module-level `logging` functions, which would
    # install a stderr handler on a handler-less root logger for the rest of the process.
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])  # as in an application that configured no logging (not pytest)
    brain = ScriptedBrain()
    with running_server(brain) as url:
        result = await arun("crewai", "routing", brain=brain, base_url=url)
    assert result.status == "completed", result.error
    assert root.handlers == []


def test_crewai_keeps_its_files_in_the_kit_state_dir_not_the_home(tmp_path: Path) -> None:
    """Prompts, outputs, memory, its key and its write test: all under `.orch/crewai`."""
    home, work = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREWAI_STORAGE", "ORCH_STATE"))}
    code = "import adapters; print(adapters.run('crewai', 'pipeline').status)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=work, env={**env, "HOME": str(home)}, capture_output=True, text=True
    )
    assert done.stdout.strip() == "completed", done.stderr
    assert list(home.rglob("*")) == []
    kept = {p.relative_to(work).as_posix() for p in work.rglob("*") if p.is_file()}
    assert ".orch/crewai/latest_kickoff_task_outputs.db" in kept
    assert all(p.startswith(".orch/crewai/") for p in kept), kept
