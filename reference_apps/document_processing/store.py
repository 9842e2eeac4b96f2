"""PostgreSQL storage: transformed invoices upserted by id, rejected documents in a dead-letter table.

Both writes are idempotent, so storing the same document twice (a re-run, or
a resume that repeats the store step after a crash between the commit and the
checkpoint) leaves one row, not two: `writes` counts how often a row was
written, which is how the tests tell a skipped document from a re-stored one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import psycopg
from patterns import UsageError

__all__ = ["DEFAULT_DB", "StoreError", "InvoiceStore"]

DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/test"

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

_TABLES = """
CREATE TABLE IF NOT EXISTS invoices (
    invoice_id   text PRIMARY KEY,
    customer     text NOT NULL,
    invoice_date date,
    currency     char(3) NOT NULL,
    total_cents  bigint NOT NULL,
    line_count   integer NOT NULL,
    items        jsonb NOT NULL,
    source       text NOT NULL,
    writes       integer NOT NULL DEFAULT 1,
    stored_at    timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS invoice_dead_letters (
    source      text PRIMARY KEY,
    reasons     jsonb NOT NULL,
    extracted   jsonb NOT NULL,
    writes      integer NOT NULL DEFAULT 1,
    rejected_at timestamptz NOT NULL DEFAULT now()
);
"""

_UPSERT_INVOICE = """
INSERT INTO invoices (invoice_id, customer, invoice_date, currency, total_cents, line_count, items, source)
VALUES (%(invoice_id)s, %(customer)s, %(date)s, %(currency)s, %(total_cents)s, %(line_count)s,
        %(items)s, %(source)s)
ON CONFLICT (invoice_id) DO UPDATE SET
    customer = EXCLUDED.customer, invoice_date = EXCLUDED.invoice_date, currency = EXCLUDED.currency,
    total_cents = EXCLUDED.total_cents, line_count = EXCLUDED.line_count, items = EXCLUDED.items,
    source = EXCLUDED.source, writes = invoices.writes + 1, stored_at = now()
"""

_UPSERT_DEAD_LETTER = """
INSERT INTO invoice_dead_letters (source, reasons, extracted)
VALUES (%(source)s, %(reasons)s, %(extracted)s)
ON CONFLICT (source) DO UPDATE SET
    reasons = EXCLUDED.reasons, extracted = EXCLUDED.extracted,
    writes = invoice_dead_letters.writes + 1, rejected_at = now()
"""


class StoreError(Exception):
    """The database cannot be reached or used; the message says what to check."""


@dataclass
class InvoiceStore:
    """The two tables in one schema of one database, over one async connection."""

    conn: psycopg.AsyncConnection[Any]
    schema: str

    @classmethod
    async def open(cls, url: str, schema: str) -> InvoiceStore:
        """Connect, create the schema and tables if missing, and work inside that schema."""
        if not _SCHEMA_NAME.match(schema):
            raise UsageError(f"schema {schema!r} is not a plain lowercase SQL name (letters, digits, _)")
        try:
            conn = await psycopg.AsyncConnection.connect(url, connect_timeout=5, autocommit=True)
        except psycopg.Error as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise StoreError(
                f"cannot connect to {url}: {reason} (set --db or $DOCUMENT_PROCESSING_DB)"
            ) from None
        try:
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            await conn.execute(f'SET search_path TO "{schema}"')
            await conn.execute(_TABLES)
        except psycopg.Error as exc:
            await conn.close()
            raise StoreError(f"cannot create the tables in schema {schema!r}: {exc}") from None
        return cls(conn, schema)

    async def close(self) -> None:
        await self.conn.close()

    async def store_invoice(self, record: dict[str, Any], source: str) -> None:
        """Upsert a transformed record; a document stored at last leaves the dead-letter table."""
        params = {**record, "items": json.dumps(record["items"]), "source": source}
        async with self.conn.transaction():
            await self.conn.execute(_UPSERT_INVOICE, params)
            await self.conn.execute("DELETE FROM invoice_dead_letters WHERE source = %s", (source,))

    async def dead_letter(self, source: str, reasons: list[str], extracted: dict[str, Any]) -> None:
        """Record why a document was rejected, with what the extractor read from it."""
        params = {"source": source, "reasons": json.dumps(reasons), "extracted": json.dumps(extracted)}
        await self.conn.execute(_UPSERT_DEAD_LETTER, params)

    async def counts(self) -> dict[str, int]:
        """Rows in each table: what a person checks after a batch."""
        out = {}
        for table in ("invoices", "invoice_dead_letters"):
            cur = await self.conn.execute(f"SELECT count(*) FROM {table}")
            row = await cur.fetchone()
            out[table] = int(row[0]) if row else 0
        return out
