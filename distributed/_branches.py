"""A map's batches asked across the workers, their replies kept by key so none is asked twice.

With `orch worker --spread-branches`, the worker running a map-reduce does not
ask every batch itself. Each batch (`call_branch`, keyed by its
`idempotency_key`: the thread and the task's checkpoint namespace) is
published on `PREFIX.branches`, which every worker consumes, and its reply is
kept in the `orch_branches` table under that key. The map waits for the
replies, and asks a batch itself when no worker took it within `claim_wait`
seconds, so a cluster whose workers all run maps still moves.

Who asks a batch is settled by a PostgreSQL advisory lock on its key, taken
before the look for a kept reply and held through the model call: one asker at
a time, and the lock goes with its session when a worker dies. So:

- the worker running the map dies: its successor resumes the map, and each
  batch another worker answered meanwhile (or is answering) is taken from the
  table, not asked again;
- a worker asking a batch dies: the map (or the next worker the message
  reaches) asks it again, once.

Replies are counted in the usage of the run that uses them, as the call they
were. A finished run's rows are deleted with it (`Runs.finish`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypeVar

import psycopg
from langchain_core.messages import AIMessage
from pydantic import BaseModel

from patterns.errors import UsageError
from patterns.flow_control import Overloaded
from patterns.runtime import Agent, AgentContext, PatternSpec, call_agent

__all__ = ["Kept", "SpreadBranches", "ask_once", "find_agent"]

OutputT = TypeVar("OutputT", bound=BaseModel)

#: publish(key, agent name, payload, label): puts one branch on the branch queue.
Publish = Callable[[str, str, dict[str, Any], str | None], None]


@dataclass(frozen=True)
class Kept:
    """A branch's reply as the table keeps it, with what asking for it cost."""

    reply: dict[str, Any]
    prompt_tokens: int
    completion_tokens: int
    worker: str


class SpreadBranches:
    """`Branches` for one run on a worker: publish each batch, wait for its kept reply, ask it if nobody did.

    Args:
        url: The cluster's PostgreSQL (the `orch_branches` table).
        thread_id: The run's thread.
        worker: This worker's name, kept with the replies it asks.
        publish: Puts a branch on the branch queue (`distributed._app.publish_branch`);
            may raise `Overloaded`, and then the branch is asked here at once.
        claim_wait: Seconds a published branch may wait for another worker before it is asked here.
        poll: Seconds between looks for the replies awaited.
    """

    def __init__(
        self,
        url: str,
        thread_id: str,
        worker: str,
        publish: Publish,
        *,
        claim_wait: float = 1.0,
        poll: float = 0.02,
    ) -> None:
        self.url, self.thread_id, self.worker = url, thread_id, worker
        self.claim_wait, self.poll = claim_wait, poll
        self._publish = publish
        self._db: psycopg.AsyncConnection[Any] | None = None
        self._awaited: dict[str, asyncio.Future[Kept]] = {}
        self._poller: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        # One session for the looks and for the locks of the batches asked here: a session
        # lock is per session, and all of them go when this process dies.
        self._db = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
        if self._db is not None:
            await self._db.close()

    async def __call__(
        self,
        context: AgentContext,
        agent: Agent[OutputT],
        payload: dict[str, Any],
        *,
        label: str | None,
        key: str,
    ) -> OutputT:
        db = self._connection()
        kept = (await _look(db, [key])).get(key)
        if kept is None:
            try:
                await asyncio.to_thread(self._publish, key, agent.name, payload, label)
                patience = self.claim_wait
            except Overloaded:  # the branch queue is full: no worker will take it soon
                patience = 0.0
            kept = await self._wait(db, key, context, agent, payload, label, patience)
        return _used(context, agent, label, kept)

    async def _wait(
        self,
        db: psycopg.AsyncConnection[Any],
        key: str,
        context: AgentContext,
        agent: Agent[Any],
        payload: dict[str, Any],
        label: str | None,
        patience: float,
    ) -> Kept:
        awaited = self._awaited.setdefault(key, asyncio.get_running_loop().create_future())
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._look_while_awaited(db))
        try:
            while True:
                try:
                    return await asyncio.wait_for(asyncio.shield(awaited), patience)
                except TimeoutError:
                    pass
                # Nobody answered in time: ask it here, unless a worker is asking it now.
                asked = await ask_once(db, key, self.thread_id, self.worker, context, agent, payload, label)
                if asked is not None:
                    return asked
                patience = max(self.claim_wait, self.poll)  # its asker may die: look at the lock again later
        finally:
            self._awaited.pop(key, None)

    async def _look_while_awaited(self, db: psycopg.AsyncConnection[Any]) -> None:
        while self._awaited:
            for key, kept in (await _look(db, list(self._awaited))).items():
                awaited = self._awaited.get(key)
                if awaited is not None and not awaited.done():
                    awaited.set_result(kept)
            await asyncio.sleep(self.poll)

    def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._db is None:
            raise UsageError("SpreadBranches is used as `async with SpreadBranches(...) as branches:`")
        return self._db


async def ask_once(
    db: psycopg.AsyncConnection[Any],
    key: str,
    thread_id: str,
    worker: str,
    context: AgentContext,
    agent: Agent[Any],
    payload: dict[str, Any],
    label: str | None,
) -> Kept | None:
    """Ask the branch `key` and keep its reply, under its lock; None if another session holds the lock.

    The reply is asked in a context of its own, so its tokens are the call's own
    even when other branches share `context`'s model; the caller counts them once
    it uses the reply (`_used`).
    """
    cursor = await db.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (f"orch-branch:{key}",))
    row = await cursor.fetchone()
    if not (row and row[0]):
        return None
    try:
        kept = (await _look(db, [key])).get(key)  # answered between our look and our lock
        if kept is not None:
            return kept
        own = AgentContext(model=context.model, policies=context.policies)
        try:
            reply = await call_agent(own, agent, payload, label=label)
        finally:
            for _ in range(own.usage.ledger.total().failures):
                context.usage.failed(label or agent.name)
        spent = own.usage.ledger.total()
        kept = Kept(reply.model_dump(mode="json"), spent.prompt_tokens, spent.completion_tokens, worker)
        await db.execute(
            "INSERT INTO orch_branches (key, thread_id, agent, reply, prompt_tokens, completion_tokens, worker)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (key) DO NOTHING",
            (
                key,
                thread_id,
                agent.name,
                json.dumps(kept.reply),
                kept.prompt_tokens,
                kept.completion_tokens,
                worker,
            ),
        )
        return kept
    finally:
        await db.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (f"orch-branch:{key}",))


async def _look(db: psycopg.AsyncConnection[Any], keys: list[str]) -> dict[str, Kept]:
    cursor = await db.execute(
        "SELECT key, reply, prompt_tokens, completion_tokens, worker FROM orch_branches WHERE key = ANY(%s)",
        (keys,),
    )
    return {key: Kept(reply, p, c, w) for key, reply, p, c, w in await cursor.fetchall()}


def _used(context: AgentContext, agent: Agent[OutputT], label: str | None, kept: Kept) -> OutputT:
    """The kept reply validated as the agent's, its call counted in this run's usage."""
    usage = {
        "input_tokens": kept.prompt_tokens,
        "output_tokens": kept.completion_tokens,
        "total_tokens": kept.prompt_tokens + kept.completion_tokens,
    }
    context.usage.record(
        label or agent.name, agent.model or context.model, AIMessage("", usage_metadata=usage)
    )
    return agent.output.model_validate(kept.reply)


def find_agent(spec: PatternSpec, name: str) -> Agent[Any]:
    """The agent called `name` among a declared flow's agents (a worker asking one of its branches)."""
    found = [agent for agent in spec.agents() if agent.name == name]
    if not found:
        raise UsageError(f"flow {spec.name!r} has no agent called {name!r}")
    return found[0]
