"""document_processing asks the target database what is done, not its checkpoint file (issue 11).

The checkpoint file is shared by every `--db` and `--schema` and outlives
tables that are emptied or dropped, so a finished checkpoint must never make a
run skip a document whose rows the target does not hold. Each test runs the
app as a user does (`python app.py`, a persistent SQLite checkpoint file kept
across the runs) against the real PostgreSQL, in schemas of its own that are
dropped afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ._apps import APPS

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

APP = APPS / "document_processing"
VALID = 7
INVALID = 4
# Everything a re-store would change: the values, how often the row was written, and when.
INVOICE_ROWS = "SELECT invoice_id, total_cents, content_hash, writes, stored_at FROM invoices ORDER BY 1"
DEAD_LETTER_ROWS = (
    "SELECT source, reasons, content_hash, writes, rejected_at FROM invoice_dead_letters ORDER BY 1"
)


class Target:
    """One run setup: the real database, a checkpoint file shared by every run, fresh schema names."""

    def __init__(self, url: str, workdir: Path) -> None:
        self.url = url
        self.workdir = workdir
        self.checkpoint = f"sqlite:///{workdir}/checkpoints.sqlite"
        self.schemas: list[str] = []

    def new_schema(self) -> str:
        schema = f"docproc_target_{uuid.uuid4().hex[:10]}"
        self.schemas.append(schema)
        return schema

    def app(self, schema: str, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [
                sys.executable,
                str(APP / "app.py"),
                "--db",
                self.url,
                "--schema",
                schema,
                "--checkpoint",
                self.checkpoint,
                *args,
            ],
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done

    def app_json(self, schema: str) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.app(schema, "--json").stdout)
        return out

    def sql(self, schema: str, statement: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{schema}"')
            cur = conn.execute(statement)
            return cur.fetchall() if cur.description else []


@pytest.fixture
def target(postgres_url: str, tmp_path: Path) -> Iterator[Target]:
    setup = Target(postgres_url, tmp_path)
    try:
        yield setup
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            for schema in setup.schemas:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def statuses(out: dict[str, Any]) -> dict[str, int]:
    found: dict[str, int] = {}
    for document in out["documents"]:
        found[document["status"]] = found.get(document["status"], 0) + 1
    return found


def test_a_new_schema_gets_every_row_and_nothing_is_done_earlier(target: Target) -> None:
    a, b = target.new_schema(), target.new_schema()
    assert target.app_json(a)["tables"] == {"invoices": VALID, "invoice_dead_letters": INVALID}

    # The run the issue reported: same files, same checkpoint file, a schema that holds nothing yet.
    text = target.app(b).stdout
    assert f"stored {VALID}, rejected {INVALID}, done earlier 0, failed 0" in text
    # Only the summary line may say "done earlier"; a skipped document would add a table row saying it.
    assert text.count("done earlier") == 1, text
    assert target.sql(b, "SELECT count(*) FROM invoices") == [(VALID,)]
    assert target.sql(b, "SELECT count(*) FROM invoice_dead_letters") == [(INVALID,)]


def test_a_rerun_into_the_same_schema_skips_and_leaves_the_rows_as_they_were(target: Target) -> None:
    a = target.new_schema()
    target.app_json(a)
    invoices, dead_letters = target.sql(a, INVOICE_ROWS), target.sql(a, DEAD_LETTER_ROWS)

    again = target.app_json(a)
    assert statuses(again) == {"done_earlier": VALID + INVALID}
    assert sum(d["model_calls"] for d in again["documents"]) == 0
    # A skipped document is reported from its row: the table still shows what it holds.
    acme = next(d for d in again["documents"] if d["source"] == "inv-001-acme.txt")
    assert (acme["invoice_id"], acme["total_cents"]) == ("INV-2026-001", 214_900)
    assert target.sql(a, INVOICE_ROWS) == invoices
    assert target.sql(a, DEAD_LETTER_ROWS) == dead_letters


def _truncate(target: Target, schema: str) -> None:
    target.sql(schema, "TRUNCATE invoices, invoice_dead_letters")


def _recreate(target: Target, schema: str) -> None:
    target.sql(schema, f'DROP SCHEMA "{schema}" CASCADE; CREATE SCHEMA "{schema}"')


@pytest.mark.parametrize("empty", [_truncate, _recreate], ids=["truncated tables", "recreated schema"])
def test_an_emptied_schema_gets_its_rows_back(target: Target, empty: Callable[[Target, str], None]) -> None:
    a = target.new_schema()
    target.app_json(a)
    empty(target, a)

    out = target.app_json(a)
    assert statuses(out) == {"stored": VALID, "rejected": INVALID}
    assert out["tables"] == {"invoices": VALID, "invoice_dead_letters": INVALID}
    assert target.sql(a, "SELECT DISTINCT writes FROM invoices") == [(1,)]


def test_a_deleted_row_is_stored_again_and_only_that_one(target: Target) -> None:
    a = target.new_schema()
    target.app_json(a)
    target.sql(a, "DELETE FROM invoices WHERE invoice_id = 'INV-2026-003'")

    out = target.app_json(a)
    redone = [d["source"] for d in out["documents"] if d["status"] != "done_earlier"]
    assert redone == ["inv-003-initech.txt"]
    assert out["tables"] == {"invoices": VALID, "invoice_dead_letters": INVALID}
