"""The distributed commands' refusals: `UsageError`s (exit 2 on the command line) that the front door tells apart.

A full queue is the kit's `patterns.flow_control.Overloaded` (HTTP 503 with `Retry-After`).
"""

from __future__ import annotations

from patterns.errors import UsageError

__all__ = ["RunConflict", "UnknownRun", "Unreachable"]


class UnknownRun(UsageError):
    """No run has this thread id (HTTP 404)."""


class RunConflict(UsageError):
    """The run exists but is not in a state for this request: already submitted, not waiting, not finished (HTTP 409)."""


class Unreachable(UsageError):
    """The broker or the database cannot be reached: the caller can do nothing but wait (HTTP 503)."""
