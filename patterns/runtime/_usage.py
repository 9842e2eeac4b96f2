"""Per-agent accounting of model calls, tokens and cost: the runner, the adapters and the scripted model share it."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

__all__ = ["AgentUsage", "UsageLedger", "UsageMeter"]


class AgentUsage(BaseModel):
    """What one agent consumed: successful calls, failed calls and tokens."""

    calls: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: AgentUsage) -> AgentUsage:
        return AgentUsage(
            calls=self.calls + other.calls,
            failures=self.failures + other.failures,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
        )


@dataclass
class UsageLedger:
    """Thread-safe totals per agent; shared by everything that calls one model."""

    def __post_init__(self) -> None:
        self._by_agent: dict[str, AgentUsage] = {}
        self._lock = threading.Lock()

    def record(self, agent: str, prompt_tokens: int, completion_tokens: int, *, failed: bool = False) -> None:
        with self._lock:
            usage = self._by_agent.setdefault(agent, AgentUsage())
            if failed:
                usage.failures += 1
            else:
                usage.calls += 1
                usage.prompt_tokens += prompt_tokens
                usage.completion_tokens += completion_tokens

    def snapshot(self) -> dict[str, AgentUsage]:
        """A copy of the per-agent totals, sorted by agent name."""
        with self._lock:
            return {name: u.model_copy() for name, u in sorted(self._by_agent.items())}

    def total(self) -> AgentUsage:
        total = AgentUsage()
        for usage in self.snapshot().values():
            total.calls += usage.calls
            total.failures += usage.failures
            total.prompt_tokens += usage.prompt_tokens
            total.completion_tokens += usage.completion_tokens
        return total

    def reset(self) -> None:
        with self._lock:
            self._by_agent.clear()


class UsageMeter:
    """A run's usage and cost, counted where agents call their models.

    Every `AgentContext` has one (`context.usage`): `call_agent` and the tool
    agents' model turns record each call in it, so a run's accounting costs a
    few dictionary updates, not a LangChain callback on every call. Prices come
    from the active pricing table (`patterns.observability.set_pricing`).
    """

    def __init__(self) -> None:
        self.ledger = UsageLedger()
        self._cost = 0.0
        self._unpriced = False
        self._names: dict[int, str] = {}  # by the model object's id: a run's models live as long as it

    @property
    def cost_usd(self) -> float | None:
        """USD for the tokens counted so far; None once a model without a price was called."""
        return None if self._unpriced else round(self._cost, 10)

    def record(self, agent: str, model: Any, message: Any) -> None:
        """One answered call of `agent` to chat model `model`, with the usage `message` reports."""
        from patterns.observability._hooks import describe_model
        from patterns.observability._pricing import active_pricing

        usage = getattr(message, "usage_metadata", None) or {}
        prompt, completion = int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))
        self.ledger.record(agent, prompt, completion)
        name = self._names.get(id(model))
        if name is None:  # LangChain's ls params: a few microseconds, once per model and run
            name = self._names[id(model)] = describe_model(model)[1]
        cost = active_pricing().cost(name, prompt, completion)
        if cost is None:
            self._unpriced = True
        else:
            self._cost += cost

    def failed(self, agent: str) -> None:
        """One call of `agent` that raised (or was cancelled) before the model answered."""
        self.ledger.record(agent, 0, 0, failed=True)
