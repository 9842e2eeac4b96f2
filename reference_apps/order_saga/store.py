"""The shop's PostgreSQL tables: created if missing, one schema per shop, and an audit.

Each shop lives in its own schema (`--schema`), so tests and demos never share
rows. `audit` states the invariants a saga must never break, whatever failed:
an order is either confirmed with its stock held and its payment charged, or
cancelled with its stock released and its payment refunded; and for every SKU,
available + held = on hand. A pending order is only legal while its saga runs
in a live process: one whose owner is gone (see `lease`) is half-done.
"""

from __future__ import annotations

import re

import psycopg
from psycopg import sql

import lease

__all__ = ["CATALOGUE", "DEFAULT_DB", "StoreError", "audit", "connect", "ensure_schema"]

DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/test"

#: sku -> (on hand, unit price in cents): stocked when the schema is new.
CATALOGUE: dict[str, tuple[int, int]] = {"WIDGET-1": (10, 1250), "GADGET-2": (5, 4999)}

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

_TABLES = """
CREATE TABLE IF NOT EXISTS inventory (
    sku text PRIMARY KEY,
    on_hand integer NOT NULL CHECK (on_hand >= 0),
    available integer NOT NULL CHECK (available >= 0),
    unit_price_cents bigint NOT NULL CHECK (unit_price_cents >= 0)
);
CREATE TABLE IF NOT EXISTS orders (
    id text PRIMARY KEY,
    customer text NOT NULL,
    sku text NOT NULL REFERENCES inventory (sku),
    quantity integer NOT NULL CHECK (quantity > 0),
    amount_cents bigint NOT NULL,
    status text NOT NULL CHECK (status IN ('pending', 'confirmed', 'cancelled')),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS reservations (
    order_id text PRIMARY KEY REFERENCES orders (id),
    sku text NOT NULL REFERENCES inventory (sku),
    quantity integer NOT NULL,
    status text NOT NULL CHECK (status IN ('held', 'released'))
);
CREATE TABLE IF NOT EXISTS payments (
    order_id text PRIMARY KEY REFERENCES orders (id),
    amount_cents bigint NOT NULL,
    status text NOT NULL CHECK (status IN ('charged', 'refunded'))
);
CREATE TABLE IF NOT EXISTS saga_runs (
    saga_id text PRIMARY KEY,
    status text NOT NULL CHECK (status IN ('running', 'completed', 'compensated', 'compensation_failed')),
    failed_step text,
    error text,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE TABLE IF NOT EXISTS saga_log (
    id bigserial PRIMARY KEY,
    saga_id text NOT NULL REFERENCES saga_runs (saga_id),
    step text NOT NULL,
    phase text NOT NULL CHECK (phase IN ('action', 'compensation')),
    outcome text NOT NULL CHECK (outcome IN ('ok', 'failed', 'skipped')),
    detail jsonb NOT NULL DEFAULT '{}',
    at timestamptz NOT NULL DEFAULT now()
);
"""


class StoreError(RuntimeError):
    """The database cannot be used; the message says what to fix."""


async def connect(url: str, schema: str) -> psycopg.AsyncConnection:
    """An autocommit connection whose search path is `schema`; each step opens its own transaction."""
    if not _SCHEMA_NAME.match(schema):
        raise StoreError(
            f"schema {schema!r} must be lower-case letters, digits and _ (max 63), e.g. order_saga"
        )
    try:
        conn = await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise StoreError(f"cannot connect to {_masked(url)}: {reason} (set --db or $ORDER_SAGA_DB)") from None
    await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    await conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
    # A saga's lease is this session's advisory lock (see `lease`). If this machine vanishes from
    # the network, the server notices only through TCP keepalives (by default after two hours);
    # these make it drop the session, and the lease, about 25 s after the last answer instead.
    await conn.execute(
        "SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3"
    )
    return conn


async def ensure_schema(conn: psycopg.AsyncConnection) -> None:
    """Create the tables if missing, and stock the catalogue the first time."""
    async with conn.transaction():
        await conn.execute(_TABLES)
        for sku, (on_hand, price) in CATALOGUE.items():
            await conn.execute(
                "INSERT INTO inventory (sku, on_hand, available, unit_price_cents) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (sku) DO NOTHING",
                (sku, on_hand, on_hand, price),
            )


async def audit(conn: psycopg.AsyncConnection) -> list[str]:
    """Every broken invariant, as a sentence; empty when nothing is half-done."""
    problems: list[str] = []
    for row in await _order_rows(conn):
        if _saga_running(row):
            # Its owner may be alive (another placer, right now) or gone. Look at the lease first and
            # only then read the order again: an owner gives its lease back only after writing the
            # final status, so "no lease, then still running" means the owner died, not that it finished.
            if await lease.owner_alive(conn, row[0]):
                continue  # legal: a live process is running it
            (fresh,) = await _order_rows(conn, row[0])
            if _saga_running(fresh):
                problems.append(
                    f"order {row[0]} is half-done: its saga is still running (crashed? run recover)"
                )
                continue
            row = fresh  # it finished meanwhile: check it like any finished order
        if problem := _order_problem(row):
            problems.append(problem)
    stock = await (
        await conn.execute(
            """
            SELECT i.sku, i.on_hand, i.available,
                   COALESCE(SUM(r.quantity) FILTER (WHERE r.status = 'held'), 0)
            FROM inventory i LEFT JOIN reservations r ON r.sku = i.sku
            GROUP BY i.sku, i.on_hand, i.available ORDER BY i.sku
            """
        )
    ).fetchall()
    for sku, on_hand, available, held in stock:
        if available + held != on_hand:
            problems.append(f"{sku}: available {available} + held {held} != on hand {on_hand}")
    return problems


_ORDER_ROWS = """
    SELECT o.id, o.status, r.status, p.status, s.status
    FROM orders o
    LEFT JOIN reservations r ON r.order_id = o.id
    LEFT JOIN payments p ON p.order_id = o.id
    LEFT JOIN saga_runs s ON s.saga_id = o.id
"""
OrderRow = tuple[str, str, str | None, str | None, str | None]
"""order id, order status, reservation status, payment status, saga status"""


async def _order_rows(conn: psycopg.AsyncConnection, order_id: str | None = None) -> list[OrderRow]:
    if order_id is None:
        return await (await conn.execute(_ORDER_ROWS + " ORDER BY o.id")).fetchall()
    return await (await conn.execute(_ORDER_ROWS + " WHERE o.id = %s", (order_id,))).fetchall()


def _saga_running(row: OrderRow) -> bool:
    return row[1] == "pending" and row[4] == "running"


def _order_problem(row: OrderRow) -> str | None:
    """What is wrong with one order whose saga is not running, or None."""
    order_id, order, reservation, payment, saga = row
    if order == "confirmed" and (reservation, payment) != ("held", "charged"):
        return f"order {order_id} is confirmed but stock is {reservation} and payment {payment}"
    if order == "cancelled" and (reservation == "held" or payment == "charged"):
        return f"order {order_id} is cancelled but stock is {reservation} and payment {payment}"
    if order == "pending":
        return f"order {order_id} is pending but its saga is {saga}"
    return None


def _masked(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)
