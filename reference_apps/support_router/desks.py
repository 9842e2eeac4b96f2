"""The desks: who can take a customer's message, declared in a capability registry.

Each desk is a handoff receiver that acknowledges a handoff only if it has the
capability the handoff requires (`CapabilityReceiver`). A desk can be made
unavailable to see the fallback at work: `offline` rejects every handoff,
`slow` never acknowledges within the protocol's timeout. The general desk is
the fallback of last resort and accepts whatever reaches it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from patterns import UsageError
from patterns.coordination import CapabilityReceiver, CapabilityRegistry, Embedder, HandoffAck, HandoffMessage
from pydantic import BaseModel, Field, ValidationError

__all__ = ["GENERAL", "Desk", "DeskSpec", "GeneralDesk", "load_desks", "registry_for"]

GENERAL = "general"


class DeskSpec(BaseModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    capabilities: list[str] = Field(min_length=1, description='"name" or "name: description"')


class DeskFile(BaseModel):
    desks: list[DeskSpec] = Field(min_length=1)


def load_desks(path: Path) -> list[DeskSpec]:
    """The desks declared in `path` (JSON); one of them must be the general desk."""
    try:
        desks = DeskFile.model_validate_json(path.read_text(encoding="utf-8")).desks
    except OSError as exc:
        raise UsageError(f"cannot read desks file {str(path)!r}: {exc.strerror or exc}") from None
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(map(str, first["loc"])) or "file"
        raise UsageError(f"desks file {str(path)!r} is invalid at {where}: {first['msg']}") from None
    names = [d.name for d in desks]
    if GENERAL not in names:
        raise UsageError(f"desks file {str(path)!r} has no {GENERAL!r} desk; it is the fallback, declare it")
    if len(set(names)) != len(names):
        raise UsageError(f"desks file {str(path)!r} declares a desk twice: {names}")
    return desks


def registry_for(desks: list[DeskSpec], embedder: Embedder) -> CapabilityRegistry:
    registry = CapabilityRegistry(embedder=embedder)
    for desk in desks:
        registry.declare(desk.name, desk.capabilities)
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
class GeneralDesk:
    """The fallback desk: takes any handoff, whatever capability it asked for."""

    name: str = GENERAL
    capabilities: frozenset[str] = frozenset({"general_support"})

    async def acknowledge(self, message: HandoffMessage) -> HandoffAck:
        why = (
            f"fallback for {message.context.error_context.failed_agent}"
            if message.context.error_context
            else None
        )
        return HandoffAck.accept(message, agent=self.name, reason=why)
