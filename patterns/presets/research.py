"""Research scatter-gather: N sources asked the same question in parallel, merged with provenance.

The researcher ranks its source's sentences by keyword overlap with the question;
the aggregator merges near-duplicates and keeps which sources support each finding.
"""

from __future__ import annotations

import re
from typing import Any

from langgraph.types import RetryPolicy

from patterns.flows import scatter_gather
from patterns.flows.scatter_gather import Merged, SourceFindings
from patterns.runtime import DEFAULT_RETRY, Agent, PatternGraph

__all__ = ["AGGREGATOR", "RESEARCHER", "RESPONDERS", "SPEC", "research_scatter_gather"]

Payload = dict[str, Any]


RESEARCHER = Agent(
    "researcher",
    "Find the sentences in your source's documents that answer the question, best first, "
    "at most three. Keys: findings [{text, score}].",
    output=SourceFindings,
)
AGGREGATOR = Agent(
    "aggregator",
    "Merge the findings of all sources, remove duplicates, keep which sources support each. "
    "Keys: findings [{text, sources, score}], summary.",
    output=Merged,
)


_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "how",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
    ]
)
_WORD = re.compile(r"[a-z0-9]+")


def _keywords(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS and len(w) > 1}


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]


def _research(payload: Payload) -> Payload:
    wanted = _keywords(str(payload.get("question", "")))
    scored: list[tuple[float, str]] = []
    for document in payload.get("documents") or []:
        for sentence in _sentences(str(document)):
            overlap = len(wanted & _keywords(sentence))
            if overlap:
                scored.append((round(overlap / max(1, len(wanted)), 4), sentence))
    scored.sort(key=lambda pair: (-pair[0], pair[1]))
    return {"findings": [{"text": text, "score": score} for score, text in scored[:3]]}


def _normalise(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def _aggregate(payload: Payload) -> Payload:
    merged: dict[str, Payload] = {}
    for result in payload.get("results") or []:
        for finding in result.get("findings") or []:
            key = _normalise(finding["text"])
            entry = merged.setdefault(key, {"text": finding["text"], "sources": [], "score": 0.0})
            if result["source"] not in entry["sources"]:
                entry["sources"].append(result["source"])
            entry["score"] = max(entry["score"], float(finding["score"]))
    findings = sorted(merged.values(), key=lambda f: (-len(f["sources"]), -f["score"], f["text"]))
    for finding in findings:
        finding["sources"].sort()
    corroborated = sum(1 for f in findings if len(f["sources"]) > 1)
    summary = (
        f"{len(findings)} distinct findings from {len(payload.get('results') or [])} sources; "
        f"{corroborated} corroborated by more than one source."
    )
    return {"findings": findings, "summary": summary}


RESPONDERS = {"researcher": _research, "aggregator": _aggregate}


SAMPLE: dict[str, Any] = {
    "question": "What causes battery degradation in electric vehicles?",
    "sources": [
        {
            "name": "encyclopedia",
            "documents": [
                "Lithium-ion battery degradation is caused by lithium plating and growth of the solid electrolyte "
                "interphase. High temperatures accelerate battery degradation. Cells are sealed in modules."
            ],
        },
        {
            "name": "journal",
            "documents": [
                "Fast charging at low temperature causes lithium plating. High temperatures accelerate battery "
                "degradation. Degradation in electric vehicles averages about two percent per year."
            ],
        },
        {
            "name": "news",
            "documents": [
                "Automakers now warranty electric vehicle batteries for eight years. Deep discharge cycles cause "
                "faster battery degradation in some vehicles."
            ],
        },
        {
            "name": "forum",
            "documents": [
                "Owners report that keeping charge between 20 and 80 percent slows battery degradation. "
                "Degradation in electric vehicles averages about two percent per year."
            ],
        },
        {
            "name": "patents",
            "documents": [
                "A coating on the cathode reduces degradation caused by electrolyte oxidation in electric vehicles."
            ],
        },
    ],
    "quorum": 3,
}


def research_scatter_gather(
    *, checkpointer: Any = None, retry_policy: RetryPolicy | None = DEFAULT_RETRY
) -> PatternGraph:
    """Ask N sources in parallel, merge with provenance, tolerate failures."""
    return SPEC.compile(checkpointer=checkpointer, retry_policy=retry_policy)


SPEC = scatter_gather.SPEC.preset(
    researcher=RESEARCHER,
    aggregator=AGGREGATOR,
    summary="ask N sources in parallel, merge with provenance, tolerate failures",
    sample=SAMPLE,
)
