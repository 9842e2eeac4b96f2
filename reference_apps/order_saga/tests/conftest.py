"""A fresh schema in the real PostgreSQL per test, dropped afterwards.

Without a reachable server the tests skip on a developer machine and fail
under CI=true, where the database is part of the contract.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
import pytest

from store import DEFAULT_DB, connect, ensure_schema

T = TypeVar("T")


@dataclass(frozen=True)
class Shop:
    url: str
    schema: str

    def run(self, scenario: Callable[[psycopg.AsyncConnection], Awaitable[T]]) -> T:
        """Run `scenario` on a new connection to this shop (each call is a new 'process')."""

        async def go() -> T:
            conn = await connect(self.url, self.schema)
            try:
                await ensure_schema(conn)
                return await scenario(conn)
            finally:
                await conn.close()

        return asyncio.run(go())

    def query(self, text: str, *params: Any) -> list[tuple[Any, ...]]:
        async def fetch(conn: psycopg.AsyncConnection) -> list[tuple[Any, ...]]:
            return await (await conn.execute(text, params or None)).fetchall()

        return self.run(fetch)


@pytest.fixture(scope="session")
def db_url() -> str:
    url = os.environ.get("ORDER_SAGA_DB") or DEFAULT_DB
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
def shop(db_url: str) -> Iterator[Shop]:
    schema = f"order_saga_test_{uuid.uuid4().hex[:10]}"
    yield Shop(db_url, schema)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
