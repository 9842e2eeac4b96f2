"""A map's batches asked across workers (`--spread-branches`), their replies kept by key.

First `SpreadBranches` on the real PostgreSQL, in this process, with the
"other workers" played by code that answers what the map publishes: asked
here when nobody takes them; used, not asked, when another worker answered;
and the key is the batch's across a crash: a map cancelled while it waited,
whose batches were answered meanwhile, is resumed and asks none of them. Then
real workers on RabbitMQ: one runs the map, another asks its batches, the
first is SIGKILLed mid-map, and its replacement asks no batch again.

Which model answered which call is read from each model's call log; order,
counts and causality are asserted, never durations.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from distributed._branches import SpreadBranches, ask_once, find_agent
from distributed._client import submit
from distributed._runs import Runs
from distributed._settings import Settings
from distributed._worker import prepare_database
from patterns import AgentContext
from patterns.presets import SAMPLES
from patterns.runtime import RunResult, arun, get_flow, resolve_model

from .conftest import Workers, delete_layout, make_settings, wait_for

BATCHES = 8


def reviews(tag: str) -> dict[str, Any]:
    """Eight one-review batches, with ids of this test's own (so its prompts are its own)."""
    items = [{**item, "id": f"{tag}-{item['id']}"} for item in SAMPLES["map_reduce"]["items"][:BATCHES]]
    return {"items": items, "batch_size": 1, "max_concurrency": BATCHES}  # all in flight at once


def calls_of(path: Path, agent: str) -> Counter[str]:
    if not path.exists():
        return Counter()
    entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return Counter(e["prompt_sha"] for e in entries if e["agent"] == agent)


@pytest.fixture
def db(cluster_db: str) -> Iterator[str]:
    prepare_database(cluster_db)  # the runs and branches tables, the checkpoints' migrations
    yield cluster_db


async def plain_run(data: dict[str, Any], log: Path) -> RunResult:
    result = await arun(
        "map_reduce", data, model=resolve_model("scripted", log_path=log), checkpoint="memory"
    )
    assert result.status == "completed", result.error
    return result


def kept_rows(url: str, thread_id: str) -> list[tuple[str, str]]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT agent, worker FROM orch_branches WHERE thread_id = %s", (thread_id,)
        ).fetchall()
    return [(str(a), str(w)) for a, w in rows]


async def test_batches_nobody_takes_are_asked_by_the_map_itself(db: str, tmp_path: Path) -> None:
    data = reviews("alone")
    plain = await plain_run(data, tmp_path / "plain.jsonl")
    published: list[str] = []
    thread = f"alone-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "here.jsonl"
    async with SpreadBranches(db, thread, "here", lambda key, *_: published.append(key), claim_wait=0) as b:
        result = await arun(
            "map_reduce",
            data,
            model=resolve_model("scripted", log_path=log),
            checkpoint="memory",
            thread_id=thread,
            branches=b,
        )
    assert result.status == "completed" and result.output == plain.output
    assert len(published) == len(set(published)) == BATCHES  # one key per batch
    assert calls_of(log, "mapper") == calls_of(tmp_path / "plain.jsonl", "mapper")
    assert kept_rows(db, thread) == [("mapper", "here")] * BATCHES
    # Each kept reply is counted once, as the call it was.
    assert (result.calls, result.prompt_tokens, result.completion_tokens) == (
        plain.calls,
        plain.prompt_tokens,
        plain.completion_tokens,
    )


async def test_batches_another_worker_answered_are_used_not_asked(db: str, tmp_path: Path) -> None:
    data = reviews("elsewhere")
    plain = await plain_run(data, tmp_path / "plain.jsonl")
    thread = f"elsewhere-{uuid.uuid4().hex[:8]}"
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[tuple[str, str, dict[str, Any], str | None]] = asyncio.Queue()
    mapper = find_agent(get_flow("map_reduce"), "mapper")
    other_log, here_log = tmp_path / "other.jsonl", tmp_path / "here.jsonl"

    async def other_worker() -> None:
        context = AgentContext(model=resolve_model("scripted", log_path=other_log))
        async with await psycopg.AsyncConnection.connect(db, autocommit=True) as connection:
            while True:
                key, _agent, payload, label = await inbox.get()
                await ask_once(connection, key, thread, "other", context, mapper, payload, label)

    def publish(key: str, agent: str, payload: dict[str, Any], label: str | None) -> None:
        loop.call_soon_threadsafe(inbox.put_nowait, (key, agent, payload, label))

    answering = asyncio.create_task(other_worker())
    try:
        async with SpreadBranches(db, thread, "here", publish, claim_wait=60) as branches:
            result = await arun(
                "map_reduce",
                data,
                model=resolve_model("scripted", log_path=here_log),
                checkpoint="memory",
                thread_id=thread,
                branches=branches,
            )
    finally:
        answering.cancel()
    assert result.status == "completed" and result.output == plain.output
    assert not calls_of(here_log, "mapper"), "the map asked a batch another worker answered"
    assert calls_of(other_log, "mapper") == calls_of(tmp_path / "plain.jsonl", "mapper")
    assert calls_of(here_log, "reducer") == calls_of(tmp_path / "plain.jsonl", "reducer")
    assert result.calls == plain.calls and result.prompt_tokens == plain.prompt_tokens


async def test_a_resumed_map_uses_the_replies_answered_while_it_was_gone(db: str, tmp_path: Path) -> None:
    data = reviews("resumed")
    plain = await plain_run(data, tmp_path / "plain.jsonl")
    thread = f"resumed-{uuid.uuid4().hex[:8]}"
    loop = asyncio.get_running_loop()
    published: list[tuple[str, str, dict[str, Any], str | None]] = []
    all_published = asyncio.Event()

    def publish(key: str, agent: str, payload: dict[str, Any], label: str | None) -> None:
        published.append((key, agent, payload, label))
        if len(published) == BATCHES:
            loop.call_soon_threadsafe(all_published.set)

    # The map publishes its batches and waits; nobody answers; its worker is gone.
    async with SpreadBranches(db, thread, "gone", publish, claim_wait=60) as branches:
        first = asyncio.create_task(
            arun(
                "map_reduce",
                data,
                model=resolve_model("scripted"),
                checkpoint=db,
                thread_id=thread,
                branches=branches,
            )
        )
        await all_published.wait()
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
    # Meanwhile another worker answers every published batch.
    mapper = find_agent(get_flow("map_reduce"), "mapper")
    context = AgentContext(model=resolve_model("scripted", log_path=tmp_path / "other.jsonl"))
    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as connection:
        for key, _agent, payload, label in published:
            assert await ask_once(connection, key, thread, "other", context, mapper, payload, label)
    # Resumed, the map's batches run again with the same keys: each reply is there.
    resumed_log = tmp_path / "resumed.jsonl"
    async with SpreadBranches(db, thread, "successor", publish, claim_wait=5) as branches:
        result = await arun(
            "map_reduce",
            model=resolve_model("scripted", log_path=resumed_log),
            checkpoint=db,
            thread_id=thread,
            resume=True,
            branches=branches,
        )
    assert result.status == "completed" and result.output == plain.output
    assert not calls_of(resumed_log, "mapper"), "the resumed map asked a batch already answered"
    assert calls_of(tmp_path / "other.jsonl", "mapper") == calls_of(tmp_path / "plain.jsonl", "mapper")


# -- real workers ------------------------------------------------------------


@pytest.fixture
def spread(rabbitmq_url: str, cluster_db: str) -> Iterator[Settings]:
    settings = make_settings(rabbitmq_url, cluster_db, delivery_limit=5)
    yield settings
    delete_layout(settings)


@pytest.mark.slow
async def test_a_killed_map_worker_s_batches_are_not_asked_again(
    spread: Settings, workers: Workers, tmp_path: Path
) -> None:
    data = reviews("cluster")
    plain_log = tmp_path / "plain.jsonl"
    plain = await plain_run(data, plain_log)
    # Batches wait 2 s for another worker before the map asks them itself; each call takes 0.3 s.
    args = ("--pool", "solo", "--latency", "0.3", "--spread-branches", "2")
    first, second = workers.start(spread, "w1", *args), workers.start(spread, "w2", *args)
    first.wait_ready()
    second.wait_ready()
    thread = f"cluster-{uuid.uuid4().hex[:8]}"
    submit(spread, "map_reduce", thread_id=thread, input=data)

    # Once a batch was answered by a worker that is not the map's, SIGKILL the map's worker.
    runs = Runs(spread.database_url)
    deadline = time.monotonic() + 60
    while True:
        assert time.monotonic() < deadline, f"no batch was answered elsewhere: {runs.get(thread)}"
        run = runs.get(thread)
        owner = next(
            (w for w in (first, second) if run and run.status == "running" and w.owns(run.worker)), None
        )
        answered = [w for _agent, w in kept_rows(spread.database_url, thread)]
        if owner is not None and any(not owner.owns(w) for w in answered):
            break
        time.sleep(0.02)
    os.killpg(owner.proc.pid, signal.SIGKILL)
    owner.proc.wait(30)
    survivor = second if owner is first else first
    replacement = workers.start(spread, "w3", *args)

    done = wait_for(spread, thread, "completed", "failed", "dead", timeout=120)
    assert done.status == "completed" and done.result is not None, done
    assert done.result["output"] == plain.output
    expected = calls_of(plain_log, "mapper")
    made = sum((calls_of(w.calls, "mapper") for w in (first, second, replacement)), Counter())
    by_survivor = calls_of(survivor.calls, "mapper")
    assert not expected - made, "a batch was never asked"
    assert by_survivor, "no batch was asked by the other worker"
    # A batch answered by a live worker is never asked again: only one the killed worker was
    # asking itself when it died may be.
    redone = made - expected
    assert all(made[sha] == 1 for sha in by_survivor), f"asked again: {redone}"
    assert set(redone) <= set(calls_of(owner.calls, "mapper")), f"asked again: {redone}"
    assert kept_rows(spread.database_url, thread) == [], "a finished run's replies were kept"
    print(
        f"\nspread map: {sum(by_survivor.values())} of {BATCHES} batches by the other worker, "
        f"{sum(calls_of(replacement.calls, 'mapper').values())} by the replacement, "
        f"{sum(redone.values())} asked twice"
    )
