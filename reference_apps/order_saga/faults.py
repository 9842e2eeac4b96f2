"""Injected failures: fail a chosen step, fail steps at random (seeded), or crash after a step.

A failure is raised inside the step's transaction after its writes, so the
step's own changes roll back and the saga must undo the steps before it. A
crash is a `BaseException`: it escapes the saga without any compensation, the
way a killed process would, leaving the saga for `recover` to finish.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["FaultPlan", "InjectedFailure", "SimulatedCrash"]


class InjectedFailure(RuntimeError):
    """A step failed on purpose."""


class SimulatedCrash(BaseException):
    """The process 'died' right after a step committed (BaseException: no handler catches it)."""


@dataclass
class FaultPlan:
    fail_at: str | None = None
    crash_after: str | None = None
    chaos_rate: float = 0.0
    seed: int = 0
    _random: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def before_commit(self, step: str) -> None:
        """Called inside the step's transaction, after its writes."""
        if step == self.fail_at:
            raise InjectedFailure(f"injected failure at {step}")
        # Drawn for every step, so a seed reproduces the same failures for the same orders.
        if self.chaos_rate and self._random.random() < self.chaos_rate:
            raise InjectedFailure(f"random failure at {step} (seed {self.seed})")

    def after_commit(self, step: str) -> None:
        if step == self.crash_after:
            raise SimulatedCrash(f"simulated crash after {step}")
