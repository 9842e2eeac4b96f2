"""Saga: multi-step work with side effects, undone by compensations when a step fails.

Steps run in order, sharing a context dict: each action's result is stored under
its step's name, so later steps and compensations can use it. When a step
fails, the compensations of the steps that completed run in reverse order.
Every step must either have a compensation or say `compensable=False` (an email
cannot be unsent): the BRIEF asks for such steps to be documented, and this
makes the omission explicit. The failed step itself is not compensated; its
action must clean up after itself.

A `Saga` is one execution. It never runs a compensation twice: calling
`compensate()` again returns the recorded outcomes, and only retries failed
compensations when asked (`retry_failed=True`), which is safe because
compensations must be idempotent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from patterns.errors import UsageError

__all__ = [
    "CompensationOutcome",
    "CompensationRecord",
    "Saga",
    "SagaResult",
    "SagaStatus",
    "SagaStep",
]

Context = dict[str, Any]
Action = Callable[[Context], Awaitable[Any]]
Compensation = Callable[[Context], Awaitable[None]]


@dataclass(frozen=True)
class SagaStep:
    """An action and the compensation that semantically undoes it."""

    name: str
    action: Action
    compensation: Compensation | None = None
    compensable: bool = True

    def __post_init__(self) -> None:
        if self.compensable and self.compensation is None:
            raise UsageError(
                f"saga step {self.name!r} has no compensation: pass compensation=... or declare "
                "compensable=False to document that it cannot be undone"
            )
        if not self.compensable and self.compensation is not None:
            raise UsageError(f"saga step {self.name!r} is declared compensable=False but has a compensation")


class SagaStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    COMPENSATED = "compensated"
    COMPENSATION_FAILED = "compensation_failed"


class CompensationOutcome(StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"  # the step was declared compensable=False


@dataclass(frozen=True)
class CompensationRecord:
    step: str
    outcome: CompensationOutcome
    error: BaseException | None = None


@dataclass(frozen=True)
class SagaResult:
    """Where the saga ended: completed steps, the failure if any, and each compensation's outcome.

    `compensations` lists steps in the order they were compensated (reverse of completion).
    """

    status: SagaStatus
    completed: tuple[str, ...]
    failed_step: str | None
    error: BaseException | None
    compensations: tuple[CompensationRecord, ...]
    context: Context


class Saga:
    """One run of `steps`: `await saga.run(context)`, and `await saga.compensate()` to undo."""

    def __init__(self, steps: Sequence[SagaStep]) -> None:
        names = [step.name for step in steps]
        if len(set(names)) != len(names):
            raise UsageError(f"saga step names must be unique (results are keyed by name), got {names}")
        self.steps = tuple(steps)
        self._context: Context = {}
        self._started = False
        self._completed: list[SagaStep] = []
        self._failed_step: str | None = None
        self._error: BaseException | None = None
        self._records: dict[str, CompensationRecord] = {}
        self._order: list[str] = []
        self._compensating = False
        self._lock = asyncio.Lock()

    async def run(self, context: Context | None = None) -> SagaResult:
        """Run the steps; on a failure, compensate and return the result (it does not raise)."""
        if self._started:
            raise UsageError("a Saga runs once; build a new Saga for new work")
        self._started = True
        self._context = context if context is not None else {}
        for step in self.steps:
            try:
                self._context[step.name] = await step.action(self._context)
            except Exception as exc:
                self._failed_step = step.name
                self._error = exc
                return await self.compensate()
            self._completed.append(step)
        return self.result()

    async def compensate(self, *, retry_failed: bool = False) -> SagaResult:
        """Undo the completed steps, newest first; each compensation runs at most once.

        Callable after a successful run too, to undo the whole saga later.
        """
        if not self._started:
            raise UsageError("nothing to compensate: the saga has not run")
        async with self._lock:
            self._compensating = True
            for step in reversed(self._completed):
                done = self._records.get(step.name)
                if done is not None and not (retry_failed and done.outcome is CompensationOutcome.FAILED):
                    continue
                self._record(step.name, await self._undo(step))
        return self.result()

    async def _undo(self, step: SagaStep) -> CompensationRecord:
        if step.compensation is None:
            return CompensationRecord(step.name, CompensationOutcome.SKIPPED)
        try:
            await step.compensation(self._context)
        except Exception as exc:
            return CompensationRecord(step.name, CompensationOutcome.FAILED, exc)
        return CompensationRecord(step.name, CompensationOutcome.OK)

    def _record(self, name: str, record: CompensationRecord) -> None:
        if name not in self._records:
            self._order.append(name)
        self._records[name] = record

    def result(self) -> SagaResult:
        """A snapshot of the saga as it stands."""
        records = tuple(self._records[name] for name in self._order)
        if any(r.outcome is CompensationOutcome.FAILED for r in records):
            status = SagaStatus.COMPENSATION_FAILED
        elif self._compensating:
            status = SagaStatus.COMPENSATED
        elif self._started and len(self._completed) == len(self.steps):
            status = SagaStatus.COMPLETED
        else:
            status = SagaStatus.RUNNING
        return SagaResult(
            status=status,
            completed=tuple(step.name for step in self._completed),
            failed_step=self._failed_step,
            error=self._error,
            compensations=records,
            context=self._context,
        )
