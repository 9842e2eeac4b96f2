"""Fallback chain: try levels in order until one answers, and say which one did.

The usual levels are primary -> secondary -> degraded (cached or heuristic) ->
static answer or human escalation. A level fails by raising; the chain records
the error and moves on. The result names the level that answered, so a caller
can tell a full answer from a degraded one.

Human escalation inside a LangGraph node: make the last level call
`langgraph.types.interrupt(...)`. The chain never swallows LangGraph's control
flow exceptions (`GraphBubbleUp`: interrupts, parent commands), so the graph
pauses as it should.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from langgraph.errors import GraphBubbleUp

from patterns.errors import OrchError, UsageError

__all__ = [
    "FallbackChain",
    "FallbackExhausted",
    "FallbackLevel",
    "FallbackResult",
    "LevelFailure",
    "LevelKind",
]

In = TypeVar("In")
T = TypeVar("T")


class LevelKind(StrEnum):
    PRIMARY = "primary"
    SECONDARY = "secondary"
    DEGRADED = "degraded"
    STATIC = "static"
    ESCALATION = "escalation"


@dataclass(frozen=True)
class FallbackLevel(Generic[In, T]):
    """One level: `fn(input)` returns the answer (sync or async) or raises to fall through.

    `kind` defaults by position: first primary, second secondary, later degraded.
    """

    name: str
    fn: Callable[[In], Awaitable[T] | T]
    kind: LevelKind | None = None

    @staticmethod
    def static(value: T, *, name: str = "static") -> FallbackLevel[Any, T]:
        """A last level that always answers `value`."""
        return FallbackLevel(name, lambda _input: value, LevelKind.STATIC)


@dataclass(frozen=True)
class LevelFailure:
    name: str
    index: int
    kind: LevelKind
    error: BaseException


@dataclass(frozen=True)
class FallbackResult(Generic[T]):
    """The answer, the level that gave it (`level`, `index`, `kind`) and the failures before it."""

    value: T
    level: str
    index: int
    kind: LevelKind
    failures: tuple[LevelFailure, ...]

    @property
    def degraded(self) -> bool:
        """True when the primary level did not answer."""
        return self.index > 0


class FallbackExhausted(OrchError):
    """Every level failed; `failures` holds each level's error, in order."""

    def __init__(self, failures: tuple[LevelFailure, ...]) -> None:
        detail = "; ".join(f"{f.name}: {type(f.error).__name__}: {f.error}" for f in failures)
        super().__init__(
            f"all {len(failures)} fallback levels failed ({detail}). End the chain with "
            "FallbackLevel.static(...) or a human-escalation level so it always answers."
        )
        self.failures = failures


def _default_kind(index: int) -> LevelKind:
    return (LevelKind.PRIMARY, LevelKind.SECONDARY)[index] if index < 2 else LevelKind.DEGRADED


class FallbackChain(Generic[In, T]):
    """Levels tried in order; `run(input)` returns the first answer as a `FallbackResult`."""

    def __init__(
        self,
        levels: Sequence[FallbackLevel[In, T]],
        *,
        falls_through: Callable[[Exception], bool] = lambda _exc: True,
    ) -> None:
        if not levels:
            raise UsageError("a FallbackChain needs at least one level")
        names = [level.name for level in levels]
        if len(set(names)) != len(names):
            raise UsageError(f"fallback level names must be unique so results can name them, got {names}")
        self.levels = tuple(levels)
        self._falls_through = falls_through

    async def run(self, value: In) -> FallbackResult[T]:
        """Try each level with `value`; raise `FallbackExhausted` if none answers.

        An error that `falls_through` rejects is raised at once, from any level.
        """
        failures: list[LevelFailure] = []
        for index, level in enumerate(self.levels):
            kind = level.kind or _default_kind(index)
            try:
                answer = level.fn(value)
                if inspect.isawaitable(answer):
                    answer = await answer
            except GraphBubbleUp:
                raise
            except Exception as exc:
                if not self._falls_through(exc):
                    raise
                failures.append(LevelFailure(level.name, index, kind, exc))
                continue
            return FallbackResult(answer, level.name, index, kind, tuple(failures))
        raise FallbackExhausted(tuple(failures))
