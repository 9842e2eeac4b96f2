"""A real PostgreSQL schema per test (dropped afterwards) and a helper to run the CLI in-process.

Without a reachable server the tests skip on a developer machine and fail
under CI=true, where the database is part of the contract.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from app import main
from store import DEFAULT_DB

APP = Path(__file__).resolve().parents[1]
INVOICES = APP / "invoices"


@dataclass(frozen=True)
class Db:
    url: str
    schema: str

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url) as conn:
            conn.execute(f'SET search_path TO "{self.schema}"')
            return conn.execute(query).fetchall()

    def execute(self, statement: str) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{self.schema}"')
            conn.execute(statement)


@pytest.fixture(scope="session")
def db_url() -> str:
    url = os.environ.get("DOCUMENT_PROCESSING_DB") or DEFAULT_DB
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        reason = f"PostgreSQL at {url} is unreachable: {' '.join(str(exc).split())}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: the database is required)", pytrace=False)
        pytest.skip(reason)
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[Db]:
    schema = f"docproc_test_{uuid.uuid4().hex[:10]}"
    yield Db(db_url, schema)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def run_cli(db: Db, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    """Run `python app.py ARGS --json` in this process; return the exit code and the JSON outcome."""
    code = main([*args, "--db", db.url, "--schema", db.schema, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}
