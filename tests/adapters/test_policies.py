"""The kit's `AgentPolicies` on every framework: the same protection as on LangGraph, opt-in per run.

Every agent call of every adapter goes through `FlowState.protected`, the same
`protected_call` composition LangGraph's `call_agent` applies. With 30 % injected
transient faults (timeouts, 429 with Retry-After, 5xx, malformed replies) every
preset and every declared flow completes on every framework with the output of a
fault-free LangGraph run. Without policies, AutoGen and Semantic Kernel fail such
runs with the original error (their own tests); CrewAI retries on its own.
"""

from __future__ import annotations

import pytest

from adapters import FRAMEWORKS, PORTABLE, arun
from patterns.resilience import AgentPolicies, Backoff, BreakerPolicy, BreakerRegistry
from patterns.testing import FaultPolicy, ScriptedBrain

from ._declared import DECLARED, Declared

#: Retries fast and patiently: 30 % faults need a few attempts now and then; a 429 waits its Retry-After.
POLICIES = AgentPolicies(retry=Backoff(max_attempts=8, base_delay=0.005, max_delay=0.5, jitter=0.0))

Case = str | Declared
CASES: list[Case] = [*PORTABLE, *DECLARED]


def _id(case: Case) -> str:
    return case if isinstance(case, str) else case.id


def _brain(case: Case, faults: FaultPolicy | None = None) -> ScriptedBrain:
    responders = None if isinstance(case, str) else case.responders
    return ScriptedBrain(responders=responders, seed=7, faults=faults or FaultPolicy())


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=_id)
@pytest.mark.parametrize("framework", list(FRAMEWORKS))
async def test_every_flow_survives_30_percent_faults_with_the_kits_policies(
    framework: str, case: Case
) -> None:
    flow, data = (case, None) if isinstance(case, str) else (case.flow, case.input)
    clean = await arun("langgraph", flow, data, brain=_brain(case))
    assert clean.status == "completed", clean.error
    brain = _brain(case, FaultPolicy.transient(0.3))
    faulty = await arun(framework, flow, data, brain=brain, policies=POLICIES)
    assert faulty.status == "completed", f"{framework} {_id(case)}: {faulty.error}"
    assert faulty.output == clean.output


@pytest.mark.parametrize("framework", [f for f in FRAMEWORKS if f != "langgraph"])
async def test_the_policies_retry_inside_the_framework_and_count_every_attempt(framework: str) -> None:
    case = next(d for d in DECLARED if d.id == "routing-own-routes")
    brain = ScriptedBrain(responders=case.responders, seed=2, faults=FaultPolicy(server_error=0.6))
    result = await arun(framework, case.flow, case.input, brain=brain, policies=POLICIES)
    assert result.status == "completed", result.error
    assert result.failed_calls > 0, "faults were injected and retried, not avoided"
    assert result.calls == 2  # the router and one route: each logical call succeeded once


@pytest.mark.parametrize("framework", [f for f in FRAMEWORKS if f != "langgraph"])
async def test_an_open_breaker_stops_calls_on_every_framework(framework: str) -> None:
    case = next(d for d in DECLARED if d.id == "routing-own-routes")
    breakers = BreakerRegistry(BreakerPolicy(failure_threshold=1))
    policies = AgentPolicies(breakers=breakers)
    brain = ScriptedBrain(responders=case.responders, faults=FaultPolicy(down_agents=frozenset({"triager"})))
    first = await arun(framework, case.flow, case.input, brain=brain, policies=policies)
    second = await arun(framework, case.flow, case.input, brain=brain, policies=policies)
    assert first.status == second.status == "failed"
    assert first.error is not None and first.error.startswith("ServerError")
    assert second.error is not None and second.error.startswith("CircuitOpenError"), second.error
    assert second.calls + second.failed_calls == 0, "an open circuit refuses before the model is called"
