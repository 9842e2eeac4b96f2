"""A crashed batch resumes: finished documents are neither re-stored nor sent to the model again."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from patterns import open_checkpointer, resolve_model

from app import main
from conftest import APP, INVOICES, Db
from flow import StoreContext, build_document_flow, process_document
from store import InvoiceStore


def cli(db: Db, checkpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            str(APP / "app.py"),
            "--db",
            db.url,
            "--schema",
            db.schema,
            "--checkpoint",
            checkpoint,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_crashed_batch_resumes_without_redoing_finished_documents(db: Db, tmp_path: Path) -> None:
    checkpoint = f"sqlite:///{tmp_path}/checkpoints.sqlite"
    crashed = cli(db, checkpoint, "--crash-after", "4")
    assert crashed.returncode == 75, crashed.stderr
    assert "simulated crash after 4 documents" in crashed.stderr
    assert db.rows("SELECT count(*) FROM invoices") == [(4,)]

    resumed = cli(db, checkpoint, "--json")
    assert resumed.returncode == 0, resumed.stderr
    documents = json.loads(resumed.stdout)["documents"]
    assert [(d["status"], d["model_calls"]) for d in documents[:4]] == [("done_earlier", 0)] * 4
    assert all(d["model_calls"] > 0 for d in documents[4:])
    assert db.rows("SELECT count(*), max(writes) FROM invoices") == [(7, 1)]  # nothing stored twice
    assert db.rows("SELECT count(*), max(writes) FROM invoice_dead_letters") == [(4, 1)]


def test_a_crash_inside_a_document_resumes_at_the_store_stage(db: Db, tmp_path: Path) -> None:
    path = INVOICES / "inv-001-acme.txt"
    crash = {"armed": True}

    def before_store(source: str) -> None:
        if crash.pop("armed", False):
            raise ConnectionError("database went away")

    async def scenario() -> list[tuple[str, int]]:
        store = await InvoiceStore.open(db.url, db.schema)
        try:
            async with open_checkpointer(f"sqlite:///{tmp_path}/checkpoints.sqlite") as saver:
                graph = build_document_flow(checkpointer=saver)
                context = StoreContext(
                    model=resolve_model("scripted"), store=store, before_store=before_store
                )
                first = await process_document(graph, path, context)
                second = await process_document(graph, path, context)
        finally:
            await store.close()
        return [(first.status, first.model_calls), (second.status, second.model_calls)]

    # The first attempt ran extract, validate and transform, then failed to store; the retry only stores.
    assert asyncio.run(scenario()) == [("failed", 3), ("stored", 0)]
    assert db.rows("SELECT invoice_id, writes FROM invoices") == [("INV-2026-001", 1)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/no/such/folder"], "is not a folder"),
        (["--schema", "Robert'); DROP TABLE"], "is not a plain lowercase SQL name"),
        (["--crash-after", "-1"], "expected a whole number"),
        (["--model", "gpt-4"], "is not 'scripted' or PROVIDER:MODEL"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    db: Db, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*args, "--db", db.url]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_an_unreachable_database_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([str(empty)]) == 2
    assert "no .txt invoices" in capsys.readouterr().err
    assert main(["--db", "postgresql://postgres@127.0.0.1:1/test"]) == 2
    err = capsys.readouterr().err
    assert (
        "cannot connect to postgresql://postgres@127.0.0.1:1/test" in err
        and len(err.strip().splitlines()) == 1
    )
