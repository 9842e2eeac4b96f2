from __future__ import annotations

import pytest
from langgraph.errors import GraphInterrupt

from patterns.errors import PermanentModelError, ServerError
from patterns.resilience import (
    FallbackChain,
    FallbackExhausted,
    FallbackLevel,
    LevelKind,
)


async def primary(doc: str) -> str:
    raise ServerError("primary model down")


async def secondary(doc: str) -> str:
    raise PermanentModelError("secondary rejected the prompt")


def first_sentence(doc: str) -> str:
    return doc.split(".")[0] + "."


def summarisation_chain(*, degraded_works: bool = True) -> FallbackChain[str, str]:
    def heuristic(doc: str) -> str:
        if not degraded_works:
            raise ValueError("no sentence found")
        return first_sentence(doc)

    return FallbackChain(
        [
            FallbackLevel("gpt-large", primary),
            FallbackLevel("gpt-small", secondary),
            FallbackLevel("first-sentence", heuristic),
            FallbackLevel.static("Summary unavailable, please retry later"),
        ]
    )


async def test_primary_answers_when_healthy() -> None:
    async def good(doc: str) -> str:
        return "summary"

    result = await FallbackChain([FallbackLevel("primary", good), FallbackLevel.static("x")]).run("doc")
    assert (result.value, result.level, result.index, result.kind) == (
        "summary",
        "primary",
        0,
        LevelKind.PRIMARY,
    )
    assert result.failures == ()
    assert not result.degraded


async def test_falls_through_to_the_degraded_level_and_records_failures() -> None:
    result = await summarisation_chain().run("Cats sleep. Dogs bark.")
    assert result.value == "Cats sleep."
    assert (result.level, result.index, result.kind) == ("first-sentence", 2, LevelKind.DEGRADED)
    assert result.degraded
    assert [(f.name, f.index, f.kind) for f in result.failures] == [
        ("gpt-large", 0, LevelKind.PRIMARY),
        ("gpt-small", 1, LevelKind.SECONDARY),
    ]
    assert isinstance(result.failures[0].error, ServerError)
    assert isinstance(result.failures[1].error, PermanentModelError)


async def test_static_level_is_the_last_resort() -> None:
    result = await summarisation_chain(degraded_works=False).run("doc")
    assert result.value == "Summary unavailable, please retry later"
    assert (result.level, result.index, result.kind) == ("static", 3, LevelKind.STATIC)
    assert len(result.failures) == 3


async def test_all_levels_failing_raises_with_every_error() -> None:
    chain: FallbackChain[str, str] = FallbackChain(
        [FallbackLevel("a", primary), FallbackLevel("b", secondary)]
    )
    with pytest.raises(FallbackExhausted) as info:
        await chain.run("doc")
    assert [f.name for f in info.value.failures] == ["a", "b"]
    assert "FallbackLevel.static" in str(info.value)


async def test_langgraph_interrupts_are_never_swallowed() -> None:
    def escalate(doc: str) -> str:
        raise GraphInterrupt(())

    chain = FallbackChain(
        [
            FallbackLevel("primary", primary),
            FallbackLevel("human", escalate, LevelKind.ESCALATION),
            FallbackLevel.static("never"),
        ]
    )
    with pytest.raises(GraphInterrupt):
        await chain.run("doc")


async def test_errors_rejected_by_falls_through_propagate() -> None:
    chain = FallbackChain(
        [FallbackLevel("primary", primary), FallbackLevel.static("ok")],
        falls_through=lambda exc: not isinstance(exc, ServerError),
    )
    with pytest.raises(ServerError):
        await chain.run("doc")


def test_chain_validation() -> None:
    from patterns.errors import UsageError

    with pytest.raises(UsageError):
        FallbackChain([])
    with pytest.raises(UsageError, match="unique"):
        FallbackChain([FallbackLevel.static(1), FallbackLevel.static(2)])
