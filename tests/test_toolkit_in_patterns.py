"""The resilience and coordination toolkit composed into the pattern graphs, under injected faults."""

from __future__ import annotations

import asyncio
import functools
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import BaseModel, Field

from patterns import Agent, FaultPolicy, ScriptedBrain, ScriptedChatModel, arun, call_agent
from patterns.errors import PermanentModelError, ServerError
from patterns.flow_control import Coalescer, MemoryCache
from patterns.resilience import (
    AgentPolicies,
    Backoff,
    BreakerPolicy,
    BreakerRegistry,
    CircuitOpenError,
    CircuitState,
    DeadLetterQueue,
    DeadLetterStatus,
    RetryBudget,
    RetryBudgetExhausted,
    Saga,
    SagaStatus,
    SagaStep,
)

from ._samples import UNATTENDED


async def _no_sleep(_seconds: float) -> None:
    await asyncio.sleep(0)


def _scripted(rate: float = 0.0) -> ScriptedChatModel:
    return ScriptedChatModel(brain=ScriptedBrain(faults=FaultPolicy.transient(rate)))


def _policies(**overrides: Any) -> AgentPolicies:
    fields: dict[str, Any] = {
        "retry": Backoff(max_attempts=8, base_delay=0.0, max_delay=1.0, jitter=0.0),
        "budget": RetryBudget(10_000),
        "sleep": _no_sleep,
    }
    return AgentPolicies(**(fields | overrides))


async def _arun(pattern: str, model: BaseChatModel, policies: AgentPolicies | None) -> Any:
    return await arun(pattern, model=model, checkpoint="memory", policies=policies)


_BASELINE: dict[str, Any] = {}


def _cases() -> list[Any]:
    return [
        pytest.param(pattern, policies, id=f"{pattern}-{'agent-policies' if policies else 'langgraph-retry'}")
        for pattern in UNATTENDED
        for policies in (False, True)
    ]


async def _baseline(pattern: str) -> Any:
    if pattern not in _BASELINE:
        result = await arun(pattern, model=_scripted(), checkpoint="memory")
        assert result.status == "completed", result.error
        _BASELINE[pattern] = result.output
    return _BASELINE[pattern]


@pytest.mark.parametrize(("pattern", "with_policies"), _cases())
async def test_every_pattern_completes_correctly_at_30_percent_transient_faults(
    pattern: str, with_policies: bool
) -> None:
    model = _scripted(0.3)
    result = await _arun(pattern, model, _policies() if with_policies else None)
    assert result.status == "completed", result.error
    assert result.output == await _baseline(pattern)


class _Fake(BaseChatModel):
    """Answers `{"ok": true}`, or raises what `mode` says; records every prompt."""

    mode: str = "ok"  # ok | transient | permanent
    prompts: list[str] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "fake"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self  # the tool-using agent binds its tools; this model never calls one

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        self.prompts.append("\n".join(str(m.content) for m in messages))
        if self.mode == "permanent":
            raise PermanentModelError("400 bad request")
        if self.mode == "transient":
            raise ServerError("503 unavailable")
        return ChatResult(generations=[ChatGeneration(message=AIMessage('{"ok": true}'))])


class _Ok(BaseModel):
    ok: bool


_ROUTER = Agent("router", "Say whether it is ok. Keys: ok.", output=_Ok)


@pytest.mark.parametrize(("pattern", "with_policies"), _cases())
async def test_permanent_faults_fail_fast_without_retries(pattern: str, with_policies: bool) -> None:
    model = _Fake(mode="permanent", prompts=[])
    result = await _arun(pattern, model, _policies() if with_policies else None)
    assert model.prompts, "the model was never asked"
    # Zero retries: no prompt was sent twice (fan-out patterns ask several agents once each).
    assert max(Counter(model.prompts).values()) == 1
    assert result.status == "failed"
    assert "PermanentModelError" in (result.error or "")


async def test_breaker_opens_at_threshold_refuses_then_half_opens_and_closes() -> None:
    now = [0.0]
    breakers = BreakerRegistry(
        BreakerPolicy(failure_threshold=3, open_timeout=30.0, success_threshold=1), clock=lambda: now[0]
    )
    policies = AgentPolicies(breakers=breakers)
    model = _Fake(mode="transient", prompts=[])
    for _ in range(3):
        with pytest.raises(ServerError):
            await call_agent(model, _ROUTER, {"message": "hi"}, policies=policies)
    assert breakers.get("router").state is CircuitState.OPEN
    with pytest.raises(CircuitOpenError):
        await call_agent(model, _ROUTER, {"message": "hi"}, policies=policies)
    assert len(model.prompts) == 3  # refused without reaching the model

    now[0] += 30.0
    assert breakers.get("router").state is CircuitState.HALF_OPEN
    model.mode = "ok"
    assert (await call_agent(model, _ROUTER, {"message": "hi"}, policies=policies)).ok
    assert breakers.get("router").state is CircuitState.CLOSED


async def test_retry_budget_stops_a_retry_storm() -> None:
    model = _Fake(mode="transient", prompts=[])
    policies = _policies(budget=RetryBudget(3, window=60.0))
    results = await asyncio.gather(
        *(call_agent(model, _ROUTER, {"message": f"m{i}"}, policies=policies) for i in range(20)),
        return_exceptions=True,
    )
    assert all(isinstance(r, ServerError | RetryBudgetExhausted) for r in results)
    assert len(model.prompts) == 20 + 3  # one attempt each, plus the three retries the budget allowed
    assert sum(isinstance(r, RetryBudgetExhausted) for r in results) >= 17


async def test_order_saga_failing_at_payment_compensates_inventory_then_order() -> None:
    undone: list[str] = []

    async def ok(ctx: dict[str, Any]) -> str:
        return "done"

    def undo(name: str) -> Any:
        async def compensation(ctx: dict[str, Any]) -> None:
            undone.append(name)

        return compensation

    async def charge(ctx: dict[str, Any]) -> None:
        raise ServerError("payment provider down")

    saga = Saga(
        [
            SagaStep("create_order", ok, undo("create_order")),
            SagaStep("reserve_inventory", ok, undo("reserve_inventory")),
            SagaStep("charge_payment", charge, undo("charge_payment")),
            SagaStep("confirm", ok, compensable=False),
        ]
    )
    result = await saga.run()
    assert result.status is SagaStatus.COMPENSATED and result.failed_step == "charge_payment"
    assert undone == ["reserve_inventory", "create_order"]
    assert [c.step for c in result.compensations] == ["reserve_inventory", "create_order"]


async def test_cache_and_coalescing_ask_the_model_once() -> None:
    model = _Fake(prompts=[])
    policies = AgentPolicies(cache=MemoryCache(), coalescer=Coalescer())
    ask = functools.partial(call_agent, model, _ROUTER, {"message": "same"}, policies=policies)
    first, second = await asyncio.gather(ask(), ask())  # concurrent: coalesced
    third = await ask()  # later: cached
    assert first == second == third == _Ok(ok=True)
    assert len(model.prompts) == 1


async def test_exhausted_call_is_dead_lettered_and_redriven(tmp_path: Path) -> None:
    model = _Fake(mode="transient", prompts=[])
    dead = DeadLetterQueue.sqlite(tmp_path / "dead.db")
    policies = _policies(retry=Backoff(max_attempts=3, base_delay=0.0, jitter=0.0), dead_letters=dead)
    with pytest.raises(ServerError):
        await call_agent(model, _ROUTER, {"message": "refund"}, label="billing", policies=policies)
    (record,) = dead.list()
    assert record.agent == "billing" and record.attempts == 3 and record.error_type == "ServerError"
    assert record.input == {"agent": "billing", "role": "router", "payload": {"message": "refund"}}

    model.mode = "ok"

    async def again(request: dict[str, Any]) -> _Ok:
        assert request["role"] == _ROUTER.name
        return await call_agent(model, _ROUTER, request["payload"], label=request["agent"])

    assert (await dead.redrive(record.id, again)).status is DeadLetterStatus.RESOLVED
