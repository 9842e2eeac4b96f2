"""Cost per flow: the pricing table, `RunResult.cost_usd`, and cost in spans and metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import generate_latest

import adapters
from patterns import arun, observability, resolve_model
from patterns.cli import main
from patterns.errors import UsageError
from patterns.observability import ModelPrice, Pricing
from patterns.testing import ScriptedBrain, ScriptedChatModel

from .conftest import Observed

#: USD per 1M tokens: round numbers, so the expected cost is plain arithmetic.
PROMPT, COMPLETION = 2.0, 8.0


def _expected(prompt_tokens: int, completion_tokens: int) -> float:
    return (prompt_tokens * PROMPT + completion_tokens * COMPLETION) / 1_000_000


def test_the_table_prices_exact_names_then_globs_and_only_the_scripted_model_by_default() -> None:
    table = Pricing({"gpt-4o-mini*": ModelPrice(0.15, 0.60), "gpt-4o-mini": ModelPrice(1.0, 1.0)})
    assert table.price("gpt-4o-mini") == ModelPrice(1.0, 1.0)  # exact beats a glob
    assert table.price("gpt-4o-mini-2024-07-18") == ModelPrice(0.15, 0.60)
    assert table.price("gpt-4o") is None
    assert table.cost("scripted", 10_000, 10_000) == 0.0
    assert Pricing().cost("gpt-4o", 1, 1) is None
    assert ModelPrice(PROMPT, COMPLETION).cost(1_000_000, 500_000) == PROMPT + COMPLETION / 2


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_a_pricing_file_is_toml_or_json(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"prices{suffix}"
    if suffix == ".toml":
        path.write_text('[models."gpt-4o-mini*"]\nprompt = 0.15\ncompletion = 0.6\n')
    else:
        path.write_text(json.dumps({"models": {"gpt-4o-mini*": {"prompt": 0.15, "completion": 0.6}}}))
    assert Pricing.load(path).price("gpt-4o-mini-2024-07-18") == ModelPrice(0.15, 0.6)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{}", "needs a 'models' table"),
        ('{"models": {"m": {"prompt": 1}}}', "needs exactly 'prompt' and 'completion'"),
        ('{"models": {"m": {"prompt": -1, "completion": 1}}}', "cannot be negative"),
        ('{"models": {"m": {"prompt": "cheap", "completion": 1}}}', "must be a number"),
        ("{not json", "not valid JSON"),
    ],
)
def test_a_bad_pricing_file_says_what_is_wrong(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "prices.json"
    path.write_text(text)
    with pytest.raises(UsageError, match=problem):
        Pricing.load(path)


async def test_a_priced_scripted_model_costs_its_tokens_in_result_span_and_metric(
    observe: Observed, tracer_provider: TracerProvider
) -> None:
    observability.configure(
        tracer_provider=tracer_provider,
        metrics_registry=observe.registry,
        pricing={"scripted": {"prompt": PROMPT, "completion": COMPLETION}},
    )
    result = await arun("pipeline", model=resolve_model(), checkpoint="memory")

    assert result.cost_usd == pytest.approx(_expected(result.prompt_tokens, result.completion_tokens))
    workflow = observe.spans.one("invoke_workflow pipeline")
    assert workflow.attributes is not None
    assert workflow.attributes["orch.cost_usd"] == pytest.approx(result.cost_usd)
    chats = observe.spans.named("chat ")
    assert sum(float(c.attributes["orch.cost_usd"]) for c in chats if c.attributes) == pytest.approx(  # type: ignore[arg-type]
        result.cost_usd
    )
    exposed = generate_latest(observe.registry).decode()
    total = sum(
        float(line.rsplit(" ", 1)[1])
        for line in exposed.splitlines()
        if line.startswith("orch_cost_usd_total")
    )
    assert total == pytest.approx(result.cost_usd)


async def test_another_framework_costs_the_same_tokens_the_same() -> None:
    observability.configure(pricing={"scripted": {"prompt": PROMPT, "completion": COMPLETION}})
    result = await adapters.arun("autogen", "pipeline", brain=ScriptedBrain())
    assert result.cost_usd == pytest.approx(_expected(result.prompt_tokens, result.completion_tokens))


async def test_a_model_without_a_price_makes_the_cost_unknown_not_zero() -> None:
    result = await arun("pipeline", model=ScriptedChatModel(model_name="mystery-model"), checkpoint="memory")
    assert result.status == "completed" and result.prompt_tokens > 0
    assert result.cost_usd is None
    priced = await arun("pipeline", model=resolve_model(), checkpoint="memory")
    assert priced.cost_usd == 0.0  # the scripted model is free unless priced


def test_the_cli_and_the_environment_take_a_pricing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(f"[models.scripted]\nprompt = {PROMPT}\ncompletion = {COMPLETION}\n")
    assert main(["--pricing", str(path), "run", "routing", "--checkpoint", "memory", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["cost_usd"] == pytest.approx(_expected(out["prompt_tokens"], out["completion_tokens"]))

    monkeypatch.setenv("ORCH_PRICING", str(path))
    assert main(["run", "routing", "--checkpoint", "memory", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cost_usd"] == pytest.approx(out["cost_usd"])

    assert main(["--pricing", str(tmp_path / "missing.toml"), "run", "routing"]) == 2
    assert "cannot read pricing file" in capsys.readouterr().err
