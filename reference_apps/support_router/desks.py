"""The desks file: who can take a customer's message, declared in a capability registry.

`desks.json` names every desk (its description, the keywords the offline
classifier looks for, its capabilities, the scripted answer) and the fallback
desk. Each desk becomes an agent of the flow (`support.py`) and a handoff
receiver that acknowledges a handoff only if it has the capability the handoff
requires (`CapabilityReceiver`). A desk can be made unavailable to see the
fallback at work: `offline` rejects every handoff, `slow` never acknowledges
within the protocol's timeout. The fallback desk accepts whatever reaches it.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path

from patterns import UsageError
from patterns.coordination import CapabilityReceiver, CapabilityRegistry, Embedder, HandoffAck, HandoffMessage
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = [
    "GENERAL",
    "RESERVED",
    "Desk",
    "DeskBook",
    "DeskSpec",
    "FallbackDesk",
    "load_desks",
    "registry_for",
    "words",
]

#: The fallback desk when the desks file names none.
GENERAL = "general"
#: Names a desk cannot have: the router agent's and the routing graph's classify node.
RESERVED = ("router", "classify")


def words(text: str) -> list[str]:
    """Lower-case words of `text`, as the keyword classifier compares them."""
    return re.findall(r"[a-z0-9]+", text.lower())


class DeskSpec(BaseModel):
    """One desk of `desks.json`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    #: What the desk handles; in its agent's instructions and the router's list of desks.
    description: str | None = Field(default=None, min_length=1)
    #: Words or phrases the scripted (offline) router counts as evidence for this desk.
    keywords: list[str] = Field(default_factory=list)
    #: "name" or "name: description"; default: "<name>_support: <description>".
    capabilities: list[str] | None = Field(default=None, min_length=1)
    #: What the scripted model's desk agent answers; a real model writes its own answer.
    reply: str | None = Field(default=None, min_length=1)

    @field_validator("keywords")
    @classmethod
    def _normalise_keywords(cls, keywords: list[str]) -> list[str]:
        normalised = [" ".join(words(k)) for k in keywords]
        if bad := [k for k, n in zip(keywords, normalised, strict=True) if not n]:
            raise ValueError(f"keyword {bad[0]!r} has no letters or digits")
        return normalised

    @model_validator(mode="after")
    def _default_capabilities(self) -> DeskSpec:
        if self.capabilities is None:
            if self.description is None:
                raise ValueError("a desk needs a description (or capabilities)")
            self.capabilities = [f"{self.name}_support: {self.description}"]
        return self

    @property
    def about(self) -> str:
        """What the desk handles: its description, else its capabilities' descriptions."""
        if self.description:
            return self.description
        return "; ".join(c.partition(":")[2].strip() or c for c in self.capabilities or [])

    @property
    def capability_names(self) -> frozenset[str]:
        return frozenset(c.split(":")[0].strip() for c in self.capabilities or [])


class DeskBook(BaseModel):
    """The whole desks file: the desks, and the one that takes whatever no other desk can."""

    model_config = ConfigDict(extra="forbid")

    fallback: str = GENERAL
    desks: list[DeskSpec] = Field(min_length=1)

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.desks]


def load_desks(path: Path) -> DeskBook:
    """The desks declared in `path` (JSON); the fallback desk it names must be one of them."""
    where = f"desks file {str(path)!r}"
    try:
        book = DeskBook.model_validate_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read {where}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"cannot read {where}: not UTF-8 text ({exc.reason})") from None
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        at = ".".join(map(str, first["loc"])) or "file"
        raise UsageError(f"{where} is invalid at {at}: {first['msg']}") from None
    names = book.names
    if len(set(names)) != len(names):
        raise UsageError(f"{where} declares a desk twice: {names}")
    if reserved := [n for n in names if n in RESERVED]:
        raise UsageError(f"{where}: {reserved[0]!r} cannot be a desk name, the flow uses it; rename the desk")
    if book.fallback not in names:
        raise UsageError(
            f"{where} has no {book.fallback!r} desk; it is the fallback, declare it "
            f"(desks are {', '.join(names)})"
        )
    return book


def registry_for(book: DeskBook, embedder: Embedder) -> CapabilityRegistry:
    registry = CapabilityRegistry(embedder=embedder)
    for desk in book.desks:
        registry.declare(desk.name, desk.capabilities or [])
    return registry


@dataclass(frozen=True)
class Desk(CapabilityReceiver):
    """A specialist desk: accepts the handoffs it has the capabilities for, unless it is unavailable."""

    offline: bool = False
    ack_delay_seconds: float = 0.0

    async def acknowledge(self, message: HandoffMessage) -> HandoffAck:
        if self.offline:
            return HandoffAck.reject(message, "desk is offline", agent=self.name)
        if self.ack_delay_seconds:
            await asyncio.sleep(self.ack_delay_seconds)  # longer than the protocol waits: a timeout
        return await super().acknowledge(message)


@dataclass(frozen=True)
class FallbackDesk:
    """The fallback desk: takes any handoff, whatever capability it asked for."""

    name: str = GENERAL
    capabilities: frozenset[str] = frozenset({f"{GENERAL}_support"})

    async def acknowledge(self, message: HandoffMessage) -> HandoffAck:
        why = (
            f"fallback for {message.context.error_context.failed_agent}"
            if message.context.error_context
            else None
        )
        return HandoffAck.accept(message, agent=self.name, reason=why)
