"""The adapters' common entry point: dispatch, missing extras, the CLI plugin, cheap import."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from adapters import FRAMEWORKS, PORTABLE, arun
from patterns import arun as langgraph_arun
from patterns import resolve_model
from patterns.errors import UsageError
from patterns.presets import PATTERNS
from patterns.testing import ScriptedBrain


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )


def test_import_adapters_loads_no_framework() -> None:
    probe = _python("""
        import sys, adapters, adapters.cli, patterns
        heavy = [m for m in ("crewai", "semantic_kernel", "autogen_agentchat", "autogen_core") if m in sys.modules]
        print(heavy)
    """)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "[]"


@pytest.mark.parametrize("framework", [f for f in FRAMEWORKS if f != "langgraph"])
def test_a_missing_extra_says_how_to_install_it(framework: str) -> None:
    probe_module = FRAMEWORKS[framework][1]
    # Hide the framework as a base install would lack it, then run the real CLI.
    result = _python(f"""
        import importlib.util, sys
        real = importlib.util.find_spec
        importlib.util.find_spec = lambda name, *a: None if name == {probe_module!r} else real(name, *a)
        from patterns.cli import main
        sys.exit(main(["run", "routing", "--framework", {framework!r}]))
    """)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert f"orchestration-patterns[{FRAMEWORKS[framework][2]}]" in lines[0]


async def test_unknown_framework_and_pattern_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="unknown framework"):
        await arun("haystack", "pipeline")
    with pytest.raises(UsageError, match="unknown pattern"):
        await arun("langgraph", "nope")


@pytest.mark.parametrize("framework", [f for f in FRAMEWORKS if f != "langgraph"])
async def test_a_pattern_an_adapter_lacks_is_a_usage_error(
    framework: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pattern registered in patterns.presets that this framework has no flow for yet.
    monkeypatch.setitem(PATTERNS, "newcomer", dataclasses.replace(PATTERNS["routing"], name="newcomer"))
    with pytest.raises(UsageError, match="adapter has no flow for pattern 'newcomer'; it runs: pipeline"):
        await arun(framework, "newcomer")


@pytest.mark.parametrize("pattern", PORTABLE)
async def test_langgraph_adapter_equals_the_runner(pattern: str) -> None:
    brain = ScriptedBrain()
    via_adapter = await arun("langgraph", pattern, brain=brain)
    direct = await langgraph_arun(pattern, model=resolve_model(), checkpoint="memory")
    assert via_adapter.status == "completed"
    assert via_adapter.output == direct.output
    assert (via_adapter.calls, via_adapter.prompt_tokens, via_adapter.completion_tokens) == (
        direct.calls,
        direct.prompt_tokens,
        direct.completion_tokens,
    )


def _own_model_flow() -> tuple[Any, ScriptedBrain]:
    from patterns import Agent, ScriptedChatModel
    from patterns.flows import routing
    from patterns.flows.routing import Answer, Classification

    own = ScriptedBrain(responders={"seller": lambda p: {"answer": f"mine, on {p['speciality']}"}})
    flow = routing.SPEC.flow(
        router=Agent("triager", "Route. Keys: route, confidence.", output=Classification),
        routes={
            "sales": Agent("seller", "Sell. Keys: answer.", output=Answer, model=ScriptedChatModel(brain=own))
        },
    )
    return flow, own


@pytest.mark.parametrize("framework", list(FRAMEWORKS))
async def test_an_agent_with_a_model_of_its_own_gets_a_client_of_its_own(framework: str) -> None:
    flow, own = _own_model_flow()
    run_brain = ScriptedBrain(responders={"triager": lambda p: {"route": "sales", "confidence": 1.0}})
    result = await arun(framework, flow, {"message": "hi"}, brain=run_brain)
    assert result.status == "completed", result.error
    assert result.output is not None and result.output["answer"] == "mine, on sales"
    assert set(run_brain.ledger.snapshot()) == {"triager"} and set(own.ledger.snapshot()) == {"sales"}
    assert result.usage["sales"].calls == 1 and result.calls == 2  # both brains counted


@pytest.mark.parametrize("framework", [f for f in FRAMEWORKS if f != "langgraph"])
async def test_over_http_an_agents_own_model_is_refused_not_ignored(framework: str) -> None:
    flow, _own = _own_model_flow()
    with pytest.raises(UsageError, match=r"agent 'seller' has a model of its own: on .* via HTTP"):
        await arun(framework, flow, {"message": "hi"}, brain=ScriptedBrain(), base_url="http://127.0.0.1:9")


@pytest.mark.parametrize("framework", [f for f in FRAMEWORKS if f != "langgraph"])
async def test_a_real_model_of_an_agents_own_is_refused_before_any_call(framework: str) -> None:
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    from patterns import Agent
    from patterns.flows import routing
    from patterns.flows.routing import Answer, Classification

    flow = routing.SPEC.flow(
        router=Agent("triager", "Route. Keys: route, confidence.", output=Classification),
        routes={"sales": Agent("seller", "Sell.", output=Answer, model=FakeListChatModel(responses=["{}"]))},
    )
    brain = ScriptedBrain(responders={"triager": lambda p: {"route": "sales", "confidence": 1.0}})
    with pytest.raises(UsageError, match=r"agent 'seller' has a model of its own \(FakeListChatModel\)"):
        await arun(framework, flow, {"message": "hi"}, brain=brain)
    assert not brain.ledger.snapshot(), "refused before the router was asked"
