"""Publishing with a human in the loop: draft -> editor's approval -> publish, guarded both ways.

A copywriter drafts an article from a brief; an editor (a person) approves it,
edits it or rejects it before anything is published; the publisher lays the
approved article out for the site. An input guardrail refuses a brief that
carries personal data (an email address or a phone number) before the
copywriter is asked; an output guardrail, the standards editor, refuses a
publication that makes a claim the house style bans ("guaranteed", "risk-free",
...), whoever wrote it, the copywriter or the editor.

The responders write and lay out the article from the brief, and scan for the
banned words, for real, so the outputs are checkable.
"""

from __future__ import annotations

import math
import re
from typing import Any

from langgraph.types import RetryPolicy
from pydantic import BaseModel, Field

from patterns.flows import pipeline
from patterns.flows.approval import approval_step
from patterns.flows.guardrails import Verdict, with_guardrails
from patterns.runtime import DEFAULT_RETRY, Agent, PatternGraph

__all__ = [
    "BANNED_WORDS",
    "COPYWRITER",
    "PIPELINE",
    "PUBLISHER",
    "RESPONDERS",
    "REVIEW",
    "SPEC",
    "STANDARDS_EDITOR",
    "Article",
    "Brief",
    "Publication",
    "PublishingInput",
    "personal_data",
    "publishing_pipeline",
]

Payload = dict[str, Any]


class Brief(BaseModel):
    topic: str = Field(min_length=1, description="What the article is about.")
    points: list[str] = Field(min_length=1, description="What it must say, one point each.")
    audience: str = Field(default="our customers", min_length=1)


class PublishingInput(BaseModel):
    input: Brief


class Article(BaseModel):
    """The draft the editor approves, or edits: every field, as the schema says."""

    title: str = Field(min_length=1)
    summary: str = Field(min_length=1)
    body: str = Field(min_length=1)


class Publication(BaseModel):
    slug: str
    url: str
    title: str
    summary: str
    body: str
    words: int
    reading_minutes: int


COPYWRITER = Agent(
    "copywriter",
    "Write a short article from the brief for its audience, one paragraph per point. "
    "Keys: title, summary, body.",
    output=Article,
)
PUBLISHER = Agent(
    "site_publisher",
    "Lay the approved article out for the site: a URL slug from the title, the URL, "
    "the word count of the body and its reading time at 200 words a minute. "
    "Keys: slug, url, title, summary, body, words, reading_minutes.",
    output=Publication,
)
STANDARDS_EDITOR = Agent(
    "standards_editor",
    "Check the publication (output) against the house style: refuse any claim of a guarantee, "
    "of no risk, or of a cure. Keys: passed (bool), reason (the words at fault).",
    output=Verdict,
)
#: The person's step: approve the draft, edit it (a whole `Article`) or reject it with a reason.
REVIEW = approval_step(
    "editor_review",
    editable=Article,
    ask="Approve this draft for publication, edit it, or reject it with a reason.",
)

#: Claims the house style never makes, as whole words or phrases.
BANNED_WORDS = ("guaranteed", "guarantee", "risk-free", "no risk", "miracle", "cure")
_BANNED = re.compile(r"\b(" + "|".join(re.escape(w) for w in BANNED_WORDS) + r")\b", re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_PHONE = re.compile(r"(?<![\w(+-])[+(]?\d[\d ()-]{7,}\d\b")
_PHONE_DIGITS = 9  # fewer is a number in the text ("1 000 000 users"), not a phone number


def personal_data(value: Payload) -> Verdict:
    """The input guardrail: no email address or phone number in the brief."""
    brief = value.get("input") or {}
    texts = [
        str(brief.get("topic", "")),
        str(brief.get("audience", "")),
        *map(str, brief.get("points") or []),
    ]
    found = [
        f"{kind} {match.group()!r}"
        for text in texts
        for kind, pattern in (("email address", _EMAIL), ("phone number", _PHONE))
        for match in pattern.finditer(text)
        if pattern is _EMAIL or sum(c.isdigit() for c in match.group()) >= _PHONE_DIGITS
    ]
    if found:
        return Verdict(passed=False, reason="the brief carries personal data: " + ", ".join(found))
    return Verdict(passed=True)


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")


def _write(brief: Payload) -> Payload:
    topic = " ".join(str(brief.get("topic", "")).split())
    points = [str(p) for p in brief.get("points") or []]
    audience = str(brief.get("audience") or "our customers")
    return {
        "title": topic[:1].upper() + topic[1:],
        "summary": f"What {audience} should know about {topic.lower()}: {len(points)} points.",
        "body": "\n\n".join(_sentence(point) for point in points),
    }


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _publish(payload: Payload) -> Payload:
    slug, words = _slug(str(payload.get("title", ""))), len(str(payload.get("body", "")).split())
    return {
        "slug": slug,
        "url": f"https://blog.example.com/articles/{slug}",
        "title": payload.get("title", ""),
        "summary": payload.get("summary", ""),
        "body": payload.get("body", ""),
        "words": words,
        "reading_minutes": max(1, math.ceil(words / 200)),
    }


def _check_standards(payload: Payload) -> Payload:
    publication = payload.get("output") or {}
    at_fault = {
        field: sorted({m.group().lower() for m in _BANNED.finditer(str(publication.get(field, "")))})
        for field in ("title", "summary", "body")
    }
    found = [f"{', '.join(words)} (in the {field})" for field, words in at_fault.items() if words]
    if found:
        return {"passed": False, "reason": "banned claims: " + "; ".join(found)}
    return {"passed": True, "reason": ""}


RESPONDERS = {"copywriter": _write, "site_publisher": _publish, "standards_editor": _check_standards}


SAMPLE: dict[str, Any] = {
    "input": {
        "topic": "Faster checkout in the mobile app",
        "points": [
            "checkout now takes two taps instead of five",
            "saved cards are filled in for you",
            "you can pay with Apple Pay and Google Pay",
        ],
        "audience": "app users",
    }
}


def publishing_pipeline(
    *, checkpointer: Any = None, retry_policy: RetryPolicy | None = DEFAULT_RETRY
) -> PatternGraph:
    """draft -> editor's approval -> publish, with a personal-data and a house-style guardrail."""
    return SPEC.compile(checkpointer=checkpointer, retry_policy=retry_policy)


#: The pipeline itself, unguarded: draft -> the editor's review -> publish.
PIPELINE = pipeline.SPEC.preset(
    stages=[COPYWRITER, REVIEW, PUBLISHER],
    summary="draft -> human approval -> publish",
    sample=SAMPLE,
    input_model=PublishingInput,
)
SPEC = with_guardrails(PIPELINE, input=[personal_data], output=[STANDARDS_EDITOR], name="approval")
