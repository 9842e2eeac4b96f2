"""PostgreSQL storage: transformed invoices upserted by id, rejected documents in a dead-letter table.

The target database is the record of what is done. Every row carries the
`source` file name and the `content_hash` of the document text it was made
from, written by the same statement as the row, so "this document is done"
and "its row is stored here" cannot disagree: a new schema, an emptied table
or a deleted row means the document is processed again, and a row overwritten
by another version of the document no longer counts for the old one.

Both writes are idempotent, so storing the same document twice (two runs at
once, or a duplicate invoice id in two files) leaves one row, not two:
`writes` counts how often a row was written, which is how the tests tell a
skipped document from a re-stored one.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

import psycopg
from patterns import UsageError

__all__ = ["DEFAULT_DB", "StoreError", "InvoiceStore", "content_hash"]

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
    content_hash text,
    writes       integer NOT NULL DEFAULT 1,
    stored_at    timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS invoice_dead_letters (
    source       text PRIMARY KEY,
    reasons      jsonb NOT NULL,
    extracted    jsonb NOT NULL,
    content_hash text,
    writes       integer NOT NULL DEFAULT 1,
    rejected_at  timestamptz NOT NULL DEFAULT now()
);
-- Tables made before the rows recorded their document get the column. It is nullable because
-- their old rows have no hash: those documents are processed once more, and the upsert fills it in.
ALTER TABLE invoices ADD COLUMN IF NOT EXISTS content_hash text;
ALTER TABLE invoice_dead_letters ADD COLUMN IF NOT EXISTS content_hash text;
-- Every document is looked up by (source, content_hash) before it is processed.
CREATE INDEX IF NOT EXISTS invoices_document ON invoices (source, content_hash);
"""

_UPSERT_INVOICE = """
INSERT INTO invoices (invoice_id, customer, invoice_date, currency, total_cents, line_count, items, source,
                      content_hash)
VALUES (%(invoice_id)s, %(customer)s, %(date)s, %(currency)s, %(total_cents)s, %(line_count)s,
        %(items)s, %(source)s, %(content_hash)s)
ON CONFLICT (invoice_id) DO UPDATE SET
    customer = EXCLUDED.customer, invoice_date = EXCLUDED.invoice_date, currency = EXCLUDED.currency,
    total_cents = EXCLUDED.total_cents, line_count = EXCLUDED.line_count, items = EXCLUDED.items,
    source = EXCLUDED.source, content_hash = EXCLUDED.content_hash,
    writes = invoices.writes + 1, stored_at = now()
"""

_UPSERT_DEAD_LETTER = """
INSERT INTO invoice_dead_letters (source, reasons, extracted, content_hash)
VALUES (%(source)s, %(reasons)s, %(extracted)s, %(content_hash)s)
ON CONFLICT (source) DO UPDATE SET
    reasons = EXCLUDED.reasons, extracted = EXCLUDED.extracted, content_hash = EXCLUDED.content_hash,
    writes = invoice_dead_letters.writes + 1, rejected_at = now()
"""


def content_hash(text: str) -> str:
    """The identity of one version of a document: editing the file changes it, re-reading does not."""
    return hashlib.sha256(text.encode()).hexdigest()


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

    async def store_invoice(self, record: dict[str, Any], source: str, *, content_hash: str) -> None:
        """Upsert a transformed record; a document stored at last leaves the dead-letter table."""
        params = {
            **record,
            "items": json.dumps(record["items"]),
            "source": source,
            "content_hash": content_hash,
        }
        async with self.conn.transaction():
            await self.conn.execute(_UPSERT_INVOICE, params)
            await self.conn.execute("DELETE FROM invoice_dead_letters WHERE source = %s", (source,))

    async def dead_letter(
        self, source: str, reasons: list[str], extracted: dict[str, Any], *, content_hash: str
    ) -> None:
        """Record why a document was rejected, with what the extractor read from it."""
        params = {
            "source": source,
            "reasons": json.dumps(reasons),
            "extracted": json.dumps(extracted),
            "content_hash": content_hash,
        }
        await self.conn.execute(_UPSERT_DEAD_LETTER, params)

    async def stored(self, source: str, content_hash: str) -> dict[str, Any] | None:
        """What this database holds for this version of the document; None: it is not done here.

        The answer has the flow's state shape (`stored`, `result`), so a skipped
        document is reported from its rows, not from a checkpoint, which may have
        been written for another database or for rows deleted since.
        """
        cur = await self.conn.execute(
            "SELECT invoice_id, customer, total_cents, currency FROM invoices"
            " WHERE source = %s AND content_hash = %s LIMIT 1",
            (source, content_hash),
        )
        if row := await cur.fetchone():
            record = dict(zip(("invoice_id", "customer", "total_cents", "currency"), row, strict=True))
            return {
                "stored": "invoices",
                "result": {"status": "transformed", "record": record, "reasons": []},
            }
        cur = await self.conn.execute(
            "SELECT reasons, extracted FROM invoice_dead_letters WHERE source = %s AND content_hash = %s",
            (source, content_hash),
        )
        if row := await cur.fetchone():
            reasons, extracted = row
            return {
                "stored": "invoice_dead_letters",
                "result": {"status": "rejected", "record": extracted, "reasons": reasons},
            }
        return None

    async def counts(self) -> dict[str, int]:
        """Rows in each table: what a person checks after a batch."""
        out = {}
        for table in ("invoices", "invoice_dead_letters"):
            cur = await self.conn.execute(f"SELECT count(*) FROM {table}")
            row = await cur.fetchone()
            out[table] = int(row[0]) if row else 0
        return out
