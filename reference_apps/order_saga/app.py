"""Command line: place orders as sagas, inject failures, recover from crashes, read the log.

    python app.py                                   # place one order: create, reserve, charge, confirm
    python app.py --fail-at charge_payment          # the payment step fails: everything is undone
    python app.py --chaos 0.3 --seed 7 --orders 20  # random failures, then an audit of the database
    python app.py --crash-after reserve_inventory   # die between steps, leaving a half-done order
    python app.py recover                           # finish crashed sagas (never live ones) from the log
    python app.py log ORDER_ID                      # what the saga did, step by step

Exit status: 0 the database is consistent (every order confirmed or fully
undone), 1 the audit found half-done work, 2 bad options or database, 75 a
simulated crash (run `recover`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence

import psycopg
from patterns import UsageError
from patterns.cli import ArgumentParser, number, run_main
from rich.console import Console
from rich.table import Table

import saga_log
from faults import FaultPlan, SimulatedCrash
from lease import SagaBusy
from order_steps import STEPS
from orders import Order, OrderOutcome, live, place_order, recover
from store import DEFAULT_DB, StoreError, audit, connect, ensure_schema

PROG = "order_saga"
CRASHED = 75  # EX_TEMPFAIL: the work is not lost, `recover` finishes it

_out = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
_err = Console(stderr=True, highlight=False, soft_wrap=True)
_STEP_NAMES = [spec.name for spec in STEPS]


def parser() -> argparse.ArgumentParser:
    common = ArgumentParser(add_help=False)
    common.add_argument(
        "--db",
        default=os.environ.get("ORDER_SAGA_DB") or DEFAULT_DB,
        help=f"PostgreSQL URL (default: $ORDER_SAGA_DB or {DEFAULT_DB})",
    )
    common.add_argument("--schema", default="order_saga", help="schema holding the shop's tables")
    common.add_argument("--json", action="store_true", help="print the outcome as JSON")

    p = ArgumentParser(
        prog=PROG,
        description="Order processing as a saga over PostgreSQL, with injected failures.",
        # Raw: the epilog below is the commands' own help, already laid out.
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=ArgumentParser, metavar="COMMAND")
    commands: list[argparse.ArgumentParser] = []

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        made = sub.add_parser(name, parents=[common], help=summary, description=summary)
        commands.append(made)
        return made

    place = command("place", "place orders (the default command)")
    place.add_argument("--customer", default="alice", help="customer name on the orders (default alice)")
    place.add_argument("--sku", default="WIDGET-1", help="WIDGET-1 (10 in stock) or GADGET-2 (5)")
    count = number(int, low=1, high=1000)
    place.add_argument("--quantity", type=count, default=2, help="units per order (default 2)")
    place.add_argument("--orders", type=count, default=1, help="how many orders to place in a row")
    faults = place.add_mutually_exclusive_group()
    faults.add_argument("--fail-at", choices=_STEP_NAMES, help="make this step fail")
    faults.add_argument(
        "--chaos",
        type=number(low=0, high=1, expected="a number between 0 and 1"),
        default=0.0,
        help="fail each step with this probability",
    )
    faults.add_argument("--crash-after", choices=_STEP_NAMES, help="die right after this step commits")
    place.add_argument("--seed", type=int, default=0, help="seed for --chaos (same seed, same failures)")
    command("recover", "undo the sagas a crash left half-done; sagas of live processes are left alone")
    log = command("log", "show one saga's log")
    log.add_argument("order_id", help="the order whose saga log to show, e.g. ord-f3518bea8b")
    # `python app.py --help` is what people read first, and `place`'s options work without `place`
    # (see `_argv`): show every command's options there, not only the command names.
    p.epilog = (
        f"place is the default command: `{PROG} --fail-at charge_payment` means "
        f"`{PROG} place --fail-at charge_payment`.\n\n" + "\n".join(c.format_help() for c in commands)
    )
    return p


def _argv(argv: Sequence[str]) -> list[str]:
    # `place` is the default command: `python app.py --fail-at X` means `python app.py place --fail-at X`.
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        return ["place", *argv]
    return list(argv)


def _orders_table(outcomes: list[OrderOutcome]) -> Table:
    table = Table(title="Orders")
    for column in ("order", "status", "failed step", "undone (in order)", "error"):
        table.add_column(column)
    for o in outcomes:
        table.add_row(
            o.order_id, o.status, o.failed_step or "-", ", ".join(o.compensated) or "-", o.error or "-"
        )
    return table


def _report(
    outcomes: list[OrderOutcome], problems: list[str], running: list[str], args: argparse.Namespace
) -> int:
    """`running`: sagas other live processes are working on; neither crashed nor half-done."""
    if args.json:
        report = {"orders": [o.model_dump() for o in outcomes], "audit": problems, "running": running}
        print(json.dumps(report, indent=2))
    else:
        _out.print(_orders_table(outcomes))
        if running:
            _out.print(f"still running in live processes (left alone): {', '.join(running)}")
        _out.print(
            "audit: consistent, nothing half-done" if not problems else "audit: " + "; ".join(problems)
        )
    return 0 if not problems else 1


async def _place(conn: psycopg.AsyncConnection, args: argparse.Namespace) -> int:
    faults = FaultPlan(
        fail_at=args.fail_at, crash_after=args.crash_after, chaos_rate=args.chaos, seed=args.seed
    )
    outcomes = []
    for _ in range(args.orders):
        order = Order(customer=args.customer, sku=args.sku, quantity=args.quantity)
        try:
            outcomes.append(await place_order(conn, order, faults))
        except SimulatedCrash as crash:
            _err.print(
                f"{PROG}: {crash}: order {order.order_id} is half-done; run `python app.py recover "
                f"--schema {args.schema}` to undo it",
                markup=False,
            )
            return CRASHED
    return _report(outcomes, await audit(conn), await live(conn), args)


async def _log(conn: psycopg.AsyncConnection, args: argparse.Namespace) -> int:
    entries = await saga_log.entries(conn, args.order_id)
    if not entries:
        raise UsageError(f"no saga log for order {args.order_id!r} in schema {args.schema!r}")
    if args.json:
        print(json.dumps([e.model_dump(mode="json") for e in entries], indent=2))
        return 0
    table = Table(title=f"Saga log of {args.order_id}")
    for column in ("at", "step", "phase", "outcome", "detail"):
        table.add_column(column)
    for e in entries:
        table.add_row(e.at.strftime("%H:%M:%S.%f")[:-3], e.step, e.phase, e.outcome, json.dumps(e.detail))
    _out.print(table)
    return 0


async def _run(args: argparse.Namespace) -> int:
    conn = await connect(args.db, args.schema)
    try:
        await ensure_schema(conn)
        if args.command == "place":
            return await _place(conn, args)
        if args.command == "recover":
            return _report(await recover(conn), await audit(conn), await live(conn), args)
        return await _log(conn, args)
    finally:
        await conn.close()


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(
        PROG,
        lambda: asyncio.run(_run(parser().parse_args(_argv(sys.argv[1:] if argv is None else argv)))),
        usage_errors=(StoreError, SagaBusy),
        interrupted="interrupted; run `python app.py recover` to undo a half-done order",
    )


if __name__ == "__main__":
    sys.exit(main())
