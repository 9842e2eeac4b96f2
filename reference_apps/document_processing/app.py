"""Command line: process a folder of invoices into PostgreSQL, resumably.

    python app.py                               # the bundled invoices/ folder
    python app.py path/to/invoices --json       # your folder, machine-readable outcome
    python app.py --crash-after 3               # die after 3 documents (exit 75); run again to resume
    python app.py --model openai:gpt-4o-mini    # real extractor, validator and transformer agents

Exit status: 0 every document stored or rejected, 1 some document failed (its
thread resumes on the next run), 2 bad options, folder or database, 75 a
simulated crash.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from patterns import UsageError, open_checkpointer, resolve_model
from patterns.cli import ArgumentParser, number, run_main
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from flow import DocumentOutcome, StoreContext, build_document_flow, process_document
from store import DEFAULT_DB, InvoiceStore, StoreError

HERE = Path(__file__).resolve().parent
PROG = "document_processing"
DEFAULT_CHECKPOINT = "sqlite:///.document_processing/checkpoints.sqlite"
CRASHED = 75  # EX_TEMPFAIL: nothing is lost, run again to resume

_out = Console(highlight=False, width=None if sys.stdout.isatty() else 140)
_err = Console(stderr=True, highlight=False, soft_wrap=True)


def parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog=PROG, description="Extract, validate, transform and store invoices, resumably.")
    p.add_argument("folder", nargs="?", default=str(HERE / "invoices"), help="folder of *.txt invoices")
    p.add_argument(
        "--db",
        default=os.environ.get("DOCUMENT_PROCESSING_DB") or DEFAULT_DB,
        help=f"PostgreSQL URL (default: $DOCUMENT_PROCESSING_DB or {DEFAULT_DB})",
    )
    p.add_argument("--schema", default="document_processing", help="schema holding the tables")
    p.add_argument(
        "--checkpoint",
        default=DEFAULT_CHECKPOINT,
        help=f"checkpoint URL: memory, sqlite:///PATH or postgresql://... (default {DEFAULT_CHECKPOINT})",
    )
    p.add_argument(
        "--model",
        default=os.environ.get("ORCH_MODEL") or "scripted",
        help="'scripted' or PROVIDER:MODEL, e.g. openai:gpt-4o-mini (default: $ORCH_MODEL or scripted)",
    )
    p.add_argument("--base-url", help="OpenAI-compatible endpoint for a real model (Ollama, vLLM)")
    p.add_argument("--crash-after", type=number(int), metavar="N", help="simulate a crash after N documents")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    return p


def documents(folder: str) -> list[Path]:
    path = Path(folder)
    if not path.is_dir():
        raise UsageError(f"{folder!r} is not a folder; give a folder of invoice .txt files")
    found = sorted(path.glob("*.txt"))
    if not found:
        raise UsageError(f"no .txt invoices in {folder!r}; each invoice is one UTF-8 text file")
    for doc in found:
        try:
            doc.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read {doc}: {exc}") from None
    return found


async def process(args: argparse.Namespace) -> tuple[list[DocumentOutcome], dict[str, int]]:
    paths = documents(args.folder)
    model = resolve_model(args.model, base_url=args.base_url)
    store = await InvoiceStore.open(args.db, args.schema)
    outcomes: list[DocumentOutcome] = []
    try:
        async with open_checkpointer(args.checkpoint) as saver:
            graph = build_document_flow(checkpointer=saver)
            context = StoreContext(model=model, store=store)
            with Progress(console=_err, transient=True, disable=args.json) as bar:
                task = bar.add_task("processing invoices", total=len(paths))
                for path in paths:
                    if args.crash_after is not None and len(outcomes) == args.crash_after:
                        _err.print(
                            f"{PROG}: simulated crash after {len(outcomes)} documents; run again to resume"
                        )
                        # A hard exit, like a killed process: no cleanup, no final checkpoint.
                        os._exit(CRASHED)
                    outcomes.append(await process_document(graph, path, context))
                    bar.advance(task)
        counts = await store.counts()
    finally:
        await store.close()
    return outcomes, counts


def render(outcomes: list[DocumentOutcome], counts: dict[str, int], schema: str) -> None:
    table = Table(title="Invoices")
    for column in ("document", "status", "invoice", "customer", "total", "model calls"):
        table.add_column(
            column, justify="right" if column in ("total", "model calls") else "left", no_wrap=True
        )
    table.add_column("reasons")
    style = {"stored": "green", "rejected": "yellow", "done_earlier": "dim", "failed": "red"}
    for o in outcomes:
        total = (
            f"{o.total_cents / 100:,.2f} {o.currency}"
            if o.total_cents is not None and o.status != "rejected"
            else ""
        )
        table.add_row(
            o.source,
            f"[{style[o.status]}]{o.status.replace('_', ' ')}[/]",
            o.invoice_id or "",
            o.customer or "",
            total,
            str(o.model_calls),
            "; ".join(o.reasons),
        )
    _out.print(table)
    tally = {s: sum(o.status == s for o in outcomes) for s in style}
    _out.print(
        f"stored {tally['stored']}, rejected {tally['rejected']}, done earlier {tally['done_earlier']}, "
        f"failed {tally['failed']}; model calls {sum(o.model_calls for o in outcomes)}"
    )
    _out.print(
        f"tables in schema {schema}: invoices {counts['invoices']} rows, "
        f"invoice_dead_letters {counts['invoice_dead_letters']} rows"
    )


async def _run(args: argparse.Namespace) -> int:
    outcomes, counts = await process(args)
    if args.json:
        print(json.dumps({"documents": [o.model_dump() for o in outcomes], "tables": counts}, indent=2))
    else:
        render(outcomes, counts, args.schema)
    failed = [o for o in outcomes if o.status == "failed"]
    for o in failed:
        _err.print(
            f"{PROG}: {o.source} failed: {'; '.join(o.reasons)} (run again to resume it)", markup=False
        )
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(
        PROG,
        lambda: asyncio.run(_run(parser().parse_args(argv))),
        usage_errors=(StoreError,),
        interrupted="interrupted; run again to resume",
    )


if __name__ == "__main__":
    sys.exit(main())
