"""The research flow: load the sources, ask them all in parallel, merge what they found.

Each source is a folder of text documents and becomes one source agent of the
scatter-gather pattern. Sources answer in parallel; one that still fails after
its retries is reported, not fatal, as long as `quorum` sources answered.
Identical findings from several sources are merged into one, which keeps the
name of every source that reported it (its provenance).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from patterns import RunResult, UsageError, arun
from patterns.resilience import AgentPolicies
from patterns.resilience.retry import Backoff
from patterns.runtime import StepEvent
from pydantic import BaseModel

__all__ = ["Report", "SourceReport", "load_sources", "research", "report"]

#: A down source fails fast: three quick attempts, then the flow goes on without it.
SOURCE_RETRY = Backoff(max_attempts=3, base_delay=0.05, max_delay=0.5)


def load_sources(folder: Path) -> dict[str, list[str]]:
    """Source name -> its documents, one source per sub-folder of `folder` holding *.txt files."""
    if not folder.is_dir():
        raise UsageError(f"{str(folder)!r} is not a folder; give a folder with one sub-folder per source")
    sources: dict[str, list[str]] = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        files = sorted(sub.glob("*.txt"))
        if not files:
            raise UsageError(f"source {sub.name!r} has no .txt documents; add some or remove {sub}")
        try:
            sources[sub.name] = [f.read_text(encoding="utf-8") for f in files]
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read a document of source {sub.name!r}: {exc}") from None
    if not sources:
        raise UsageError(f"no sources in {str(folder)!r}: make one sub-folder of .txt documents per source")
    return sources


async def research(
    question: str,
    sources: dict[str, list[str]],
    *,
    model: BaseChatModel,
    quorum: int | None = None,
    checkpoint: str = "memory",
    timeout: float | None = None,
    on_step: Callable[[StepEvent], None] | None = None,
) -> RunResult:
    """Run the scatter-gather pattern over `sources`; a missed quorum is a failed `RunResult`."""
    if not question.strip():
        raise UsageError("the question is empty; ask something, e.g. 'How do heat pumps save energy?'")
    task = {
        "question": question,
        "sources": [{"name": name, "documents": docs} for name, docs in sources.items()],
        "quorum": quorum,
    }
    policies = AgentPolicies(retry=SOURCE_RETRY, timeout=timeout)
    return await arun(
        "scatter_gather", task, model=model, checkpoint=checkpoint, policies=policies, on_step=on_step
    )


class SourceReport(BaseModel):
    name: str
    status: Literal["answered", "failed"]
    findings: int = 0
    error: str | None = None


class Report(BaseModel):
    """What the CLI prints: findings with provenance, and how every source fared."""

    question: str
    status: Literal["answered", "quorum_not_met", "failed"]
    quorum: int | None = None
    summary: str | None = None
    findings: list[dict[str, Any]] = []
    sources: list[SourceReport] = []
    error: str | None = None
    model_calls: int = 0
    wall_time_s: float = 0.0


def report(question: str, result: RunResult) -> Report:
    calls, wall_time = result.calls, result.wall_time_s
    if result.output is None:
        error = result.error or "the run produced no result"
        status: Literal["quorum_not_met", "failed"] = (
            "quorum_not_met" if error.startswith("QuorumNotMet") else "failed"
        )
        return Report(
            question=question,
            status=status,
            error=error.removeprefix("QuorumNotMet: "),
            model_calls=calls,
            wall_time_s=wall_time,
        )
    out = result.output
    per_source = {name: sum(name in f["sources"] for f in out["findings"]) for name in out["sources_ok"]}
    sources = [SourceReport(name=n, status="answered", findings=k) for n, k in per_source.items()]
    sources += [
        SourceReport(name=f["source"], status="failed", error=f["error"]) for f in out["sources_failed"]
    ]
    return Report(
        status="answered",
        quorum=out["quorum"],
        summary=out["summary"],
        findings=out["findings"],
        sources=sorted(sources, key=lambda s: s.name),
        question=question,
        model_calls=calls,
        wall_time_s=wall_time,
    )
