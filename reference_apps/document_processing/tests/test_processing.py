"""Invoices land in PostgreSQL once: valid ones upserted, invalid ones dead-lettered with reasons."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import INVOICES, Db, run_cli

VALID = 7
INVALID = 4


def test_valid_invoices_are_stored_and_invalid_ones_dead_lettered(
    db: Db, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run_cli(db, str(INVOICES), "--checkpoint", "memory", capsys=capsys)
    assert code == 0
    statuses = {d["source"]: d["status"] for d in out["documents"]}
    assert list(statuses.values()).count("stored") == VALID
    assert out["tables"] == {"invoices": VALID, "invoice_dead_letters": INVALID}

    stored = dict(db.rows("SELECT invoice_id, total_cents FROM invoices"))
    assert stored["INV-2026-001"] == 214_900
    assert stored["INV-2026-002"] == 316_240  # "03/02/2026", "eur", "Globex   Ltd" normalised on the way
    assert db.rows(
        "SELECT customer, currency, invoice_date::text FROM invoices WHERE invoice_id = 'INV-2026-002'"
    ) == [("Globex Ltd", "EUR", "2026-02-03")]
    reasons = dict(db.rows("SELECT source, reasons FROM invoice_dead_letters"))
    assert reasons == {
        "inv-008-missing-date.txt": ["missing field: date"],
        "inv-009-wrong-total.txt": ["line items add up to 2800.00, not the stated total 3000.00"],
        "inv-010-negative-quantity.txt": ["non-positive quantity for 'Replicant maintenance kit'"],
        "inv-011-no-items.txt": ["no line items"],
    }


def test_without_checkpoints_the_database_still_says_what_is_done(
    db: Db, capsys: pytest.CaptureFixture[str]
) -> None:
    # In-memory checkpoints forget everything; the rows, which record their document, do not.
    run_cli(db, str(INVOICES), "--checkpoint", "memory", capsys=capsys)
    code, again = run_cli(db, str(INVOICES), "--checkpoint", "memory", capsys=capsys)
    assert code == 0
    assert {d["status"] for d in again["documents"]} == {"done_earlier"}
    assert sum(d["model_calls"] for d in again["documents"]) == 0
    assert db.rows("SELECT DISTINCT writes FROM invoices") == [(1,)]


def test_storing_twice_upserts_instead_of_duplicating(db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    run_cli(db, str(INVOICES), "--checkpoint", "memory", capsys=capsys)
    # Rows with no content hash, as tables from before the rows recorded their document have:
    # every document is stored again, over its own row.
    db.execute("UPDATE invoices SET content_hash = NULL; UPDATE invoice_dead_letters SET content_hash = NULL")
    code, out = run_cli(db, str(INVOICES), "--checkpoint", "memory", capsys=capsys)
    assert code == 0
    assert out["tables"] == {"invoices": VALID, "invoice_dead_letters": INVALID}
    assert db.rows("SELECT DISTINCT writes FROM invoices") == [(2,)]
    assert db.rows("SELECT DISTINCT writes FROM invoice_dead_letters") == [(2,)]


def test_a_rerun_with_checkpoints_skips_finished_documents(
    db: Db, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = f"sqlite:///{tmp_path}/checkpoints.sqlite"
    first = run_cli(db, str(INVOICES), "--checkpoint", checkpoint, capsys=capsys)[1]
    assert sum(d["model_calls"] for d in first["documents"]) == VALID * 3 + INVALID * 2

    code, again = run_cli(db, str(INVOICES), "--checkpoint", checkpoint, capsys=capsys)
    assert code == 0
    assert {d["status"] for d in again["documents"]} == {"done_earlier"}
    assert sum(d["model_calls"] for d in again["documents"]) == 0
    assert db.rows("SELECT DISTINCT writes FROM invoices") == [(1,)]


def test_emptied_tables_are_filled_again_although_every_checkpoint_is_finished(
    db: Db, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = f"sqlite:///{tmp_path}/checkpoints.sqlite"
    run_cli(db, str(INVOICES), "--checkpoint", checkpoint, capsys=capsys)
    db.execute("TRUNCATE invoices, invoice_dead_letters")

    code, again = run_cli(db, str(INVOICES), "--checkpoint", checkpoint, capsys=capsys)
    assert code == 0
    assert "done_earlier" not in {d["status"] for d in again["documents"]}
    assert again["tables"] == {"invoices": VALID, "invoice_dead_letters": INVALID}


def test_an_edited_document_is_processed_again_and_leaves_the_dead_letters(
    db: Db, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    broken = (INVOICES / "inv-008-missing-date.txt").read_text()
    (folder / "inv-008.txt").write_text(broken)
    checkpoint = f"sqlite:///{tmp_path}/checkpoints.sqlite"
    assert run_cli(db, str(folder), "--checkpoint", checkpoint, capsys=capsys)[1]["tables"] == {
        "invoices": 0,
        "invoice_dead_letters": 1,
    }

    (folder / "inv-008.txt").write_text(broken.replace("Currency:", "Date: 2026-04-09\nCurrency:"))
    code, out = run_cli(db, str(folder), "--checkpoint", checkpoint, capsys=capsys)
    assert code == 0
    assert [d["status"] for d in out["documents"]] == ["stored"]
    assert out["tables"] == {"invoices": 1, "invoice_dead_letters": 0}
