"""What the scripted (offline) model answers for this app's agents, read from the desks file.

The router counts each desk's keywords in the message: the desk with the most
wins (ties go to the desk declared first), a message with none goes to the
fallback desk. A desk answers with its `reply` and the keywords it recognised.
A real model (`--model openai:...`) reads the agents' instructions instead and
never sees these functions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from desks import DeskBook, DeskSpec, words

__all__ = ["classify", "responders", "topics"]

Payload = dict[str, Any]


def topics(desk: DeskSpec, message: str) -> list[str]:
    """The desk's keywords (words or phrases) found in `message`, sorted."""
    text = f" {' '.join(words(message))} "
    return sorted({k for k in desk.keywords if f" {k} " in text})


def classify(book: DeskBook, message: str) -> tuple[str, float]:
    """The desk with the most keyword evidence, and its share of all the evidence."""
    hits = {desk.name: len(topics(desk, message)) for desk in book.desks}
    total = sum(hits.values())
    if total == 0:
        return book.fallback, 0.5
    route = max(hits, key=hits.__getitem__)  # the first declared of the best
    return route, round(hits[route] / total, 4)


def _answer(desk: DeskSpec) -> Callable[[Payload], Payload]:
    reply = desk.reply or f"{desk.name.replace('_', ' ').capitalize()} desk here: I have noted your request"

    def answer(payload: Payload) -> Payload:
        found = topics(desk, str(payload.get("message", "")))
        about = f" (about: {', '.join(found)})" if found else ""
        return {"answer": f"{reply}{about}."}

    return answer


def responders(book: DeskBook) -> dict[str, Callable[[Payload], Payload]]:
    """The scripted model's responders: the router, and one per desk of `book`."""

    def route(payload: Payload) -> Payload:
        name, confidence = classify(book, str(payload.get("message", "")))
        return {"route": name, "confidence": confidence}

    return {"router": route, **{desk.name: _answer(desk) for desk in book.desks}}
