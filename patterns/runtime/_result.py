"""The one result type every run returns, on any framework: what the benchmarks are built on."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from patterns.runtime._usage import AgentUsage

__all__ = ["RunResult", "StepRecord"]


class StepRecord(BaseModel):
    """One executed step: an agent's node, its start and end in seconds since the run began."""

    agent: str
    start: float
    end: float
    status: Literal["ok", "error", "interrupted"]
    error: str | None = None


class RunResult(BaseModel):
    framework: str
    pattern: str
    thread_id: str | None = None
    #: "interrupted": waiting for an answer (`interrupt`); "drained": stopped between supersteps
    #: when the caller's `RunControl` asked, and saved (resume the thread to go on).
    status: Literal["completed", "interrupted", "failed", "drained"]
    output: dict[str, Any] | None = None
    error: str | None = None
    interrupt: Any = None
    steps: list[StepRecord] = Field(default_factory=list)
    calls: int = 0
    failed_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usage: dict[str, AgentUsage] = Field(default_factory=dict)
    #: USD for the run's tokens by the pricing table (`patterns.observability.Pricing`);
    #: None when a model the table does not price was called.
    cost_usd: float | None = None
    wall_time_s: float = 0.0
    resumed: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens
