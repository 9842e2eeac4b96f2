from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from patterns.errors import ServerError, UsageError
from patterns.resilience import DeadLetterQueue, DeadLetterStatus, DeadLetterStore, SQLiteDeadLetterStore


class WallClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "sub" / "dead.sqlite"


def test_sqlite_store_satisfies_the_protocol(db: Path) -> None:
    store: DeadLetterStore = SQLiteDeadLetterStore(db)
    assert store.list() == []


def test_records_survive_a_reopen(db: Path) -> None:
    clock = WallClock()
    queue = DeadLetterQueue.sqlite(db, clock=clock)
    record = queue.put(
        flow="pipeline",
        agent="extractor",
        input={"doc": "x", "n": [1, 2]},
        error=ServerError("503"),
        attempts=3,
    )
    reopened = DeadLetterQueue.sqlite(db)
    stored = reopened.get(record.id)
    assert stored == record
    assert stored is not None
    assert (stored.error_type, stored.error_message, stored.attempts) == ("ServerError", "503", 3)
    assert stored.status is DeadLetterStatus.PENDING
    assert stored.input == {"doc": "x", "n": [1, 2]}
    assert stored.first_failed_at == stored.last_failed_at == clock.now


def test_list_filters_by_status_and_flow_oldest_first(db: Path) -> None:
    queue = DeadLetterQueue.sqlite(db, clock=WallClock())
    a = queue.put(flow="pipeline", input=1, error=ValueError("a"))
    b = queue.put(flow="debate", input=2, error=ValueError("b"))
    c = queue.put(flow="pipeline", input=3, error=ValueError("c"))
    assert [r.id for r in queue.list()] == [a.id, b.id, c.id]
    assert [r.id for r in queue.list(flow="pipeline")] == [a.id, c.id]
    assert [r.id for r in queue.list(status=DeadLetterStatus.RESOLVED)] == []
    assert len(queue.list(limit=1)) == 1


def test_putting_the_same_id_again_counts_more_attempts(db: Path) -> None:
    queue = DeadLetterQueue.sqlite(db, clock=WallClock())
    first = queue.put(flow="f", input={}, error=ValueError("one"), id="job-1", attempts=2)
    again = queue.put(flow="f", input={}, error=KeyError("two"), id="job-1")
    assert again.attempts == 3
    assert again.first_failed_at == first.first_failed_at < again.last_failed_at
    assert again.error_type == "KeyError"
    assert len(queue.list()) == 1


def test_non_json_input_is_refused(db: Path) -> None:
    queue = DeadLetterQueue.sqlite(db)
    with pytest.raises(UsageError, match="JSON"):
        queue.put(flow="f", input={"when": datetime.now()}, error=ValueError("x"))
    assert queue.list() == []


async def test_redrive_failure_keeps_the_record_and_counts_the_attempt(db: Path) -> None:
    queue = DeadLetterQueue.sqlite(db, clock=WallClock())
    record = queue.put(flow="f", input={"n": 1}, error=ServerError("503"))

    async def still_down(payload: object) -> None:
        raise ServerError("still 503")

    updated = await queue.redrive(record.id, still_down)
    assert updated.status is DeadLetterStatus.PENDING
    assert updated.attempts == 2
    assert updated.error_message == "still 503"
    assert updated.last_failed_at > record.last_failed_at
    assert DeadLetterQueue.sqlite(db).get(record.id) == updated


async def test_redrive_success_resolves_and_is_idempotent(db: Path) -> None:
    queue = DeadLetterQueue.sqlite(db, clock=WallClock())
    record = queue.put(flow="f", input={"n": 41}, error=ServerError("503"))
    seen: list[object] = []

    async def works(payload: dict[str, int]) -> int:
        seen.append(payload)
        return payload["n"] + 1

    resolved = await queue.redrive(record.id, works)
    assert resolved.status is DeadLetterStatus.RESOLVED
    assert resolved.resolved_at is not None
    assert resolved.attempts == 1
    assert seen == [{"n": 41}]
    again = await queue.redrive(record.id, works)
    assert again == resolved
    assert seen == [{"n": 41}]
    assert [r.id for r in queue.list(status=DeadLetterStatus.RESOLVED)] == [record.id]


async def test_redrive_of_an_unknown_id_says_where_to_look(db: Path) -> None:
    queue = DeadLetterQueue.sqlite(db)

    async def noop(payload: object) -> None:
        return None

    with pytest.raises(UsageError, match=r"list\(\)"):
        await queue.redrive("missing", noop)
