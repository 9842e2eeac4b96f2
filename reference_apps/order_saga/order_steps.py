"""The order saga's steps and their compensations, as SQL against the shop's tables.

Each function runs inside a transaction its caller opens; each returns the
details worth logging. Compensations are idempotent: they change only rows
still in the state their step left them (`WHERE status = 'held'`), so running
one twice, or after a crash mid-way, undoes the work exactly once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import psycopg

__all__ = ["STEPS", "OrderError", "StepSpec"]

Context = dict[str, Any]
Work = Callable[[psycopg.AsyncConnection, Context], Awaitable[dict[str, Any]]]


class OrderError(RuntimeError):
    """A business failure (unknown product, out of stock): the saga compensates as for any failure."""


async def create_order(conn: psycopg.AsyncConnection, ctx: Context) -> dict[str, Any]:
    row = await (
        await conn.execute("SELECT unit_price_cents FROM inventory WHERE sku = %s", (ctx["sku"],))
    ).fetchone()
    if row is None:
        raise OrderError(f"no product {ctx['sku']!r} in the catalogue")
    amount = row[0] * ctx["quantity"]
    await conn.execute(
        "INSERT INTO orders (id, customer, sku, quantity, amount_cents, status) VALUES (%s, %s, %s, %s, %s, 'pending')",
        (ctx["order_id"], ctx["customer"], ctx["sku"], ctx["quantity"], amount),
    )
    return {"amount_cents": amount}


async def cancel_order(conn: psycopg.AsyncConnection, ctx: Context) -> dict[str, Any]:
    cur = await conn.execute(
        "UPDATE orders SET status = 'cancelled', updated_at = now() WHERE id = %s AND status = 'pending'",
        (ctx["order_id"],),
    )
    return {"cancelled": cur.rowcount}


async def reserve_inventory(conn: psycopg.AsyncConnection, ctx: Context) -> dict[str, Any]:
    # One conditional UPDATE: two sagas can never both take the last unit.
    row = await (
        await conn.execute(
            "UPDATE inventory SET available = available - %s WHERE sku = %s AND available >= %s RETURNING available",
            (ctx["quantity"], ctx["sku"], ctx["quantity"]),
        )
    ).fetchone()
    if row is None:
        raise OrderError(f"not enough {ctx['sku']} in stock for {ctx['quantity']}")
    await conn.execute(
        "INSERT INTO reservations (order_id, sku, quantity, status) VALUES (%s, %s, %s, 'held')",
        (ctx["order_id"], ctx["sku"], ctx["quantity"]),
    )
    return {"reserved": ctx["quantity"], "available_after": row[0]}


async def release_inventory(conn: psycopg.AsyncConnection, ctx: Context) -> dict[str, Any]:
    row = await (
        await conn.execute(
            "UPDATE reservations SET status = 'released' WHERE order_id = %s AND status = 'held' "
            "RETURNING sku, quantity",
            (ctx["order_id"],),
        )
    ).fetchone()
    if row is None:
        return {"released": 0}  # never reserved, or already released
    await conn.execute("UPDATE inventory SET available = available + %s WHERE sku = %s", (row[1], row[0]))
    return {"released": row[1]}


async def charge_payment(conn: psycopg.AsyncConnection, ctx: Context) -> dict[str, Any]:
    # Stands in for a payment provider's charge keyed by order id (its idempotency key).
    amount = ctx["create_order"]["amount_cents"]
    await conn.execute(
        "INSERT INTO payments (order_id, amount_cents, status) VALUES (%s, %s, 'charged')",
        (ctx["order_id"], amount),
    )
    return {"charged_cents": amount}


async def refund_payment(conn: psycopg.AsyncConnection, ctx: Context) -> dict[str, Any]:
    row = await (
        await conn.execute(
            "UPDATE payments SET status = 'refunded' WHERE order_id = %s AND status = 'charged' RETURNING amount_cents",
            (ctx["order_id"],),
        )
    ).fetchone()
    return {"refunded_cents": row[0] if row else 0}


async def confirm_order(conn: psycopg.AsyncConnection, ctx: Context) -> dict[str, Any]:
    cur = await conn.execute(
        "UPDATE orders SET status = 'confirmed', updated_at = now() WHERE id = %s AND status = 'pending'",
        (ctx["order_id"],),
    )
    if cur.rowcount != 1:
        raise OrderError(f"order {ctx['order_id']} is no longer pending")
    return {"confirmed": True}


@dataclass(frozen=True, slots=True)
class StepSpec:
    name: str
    action: Work
    compensation: Work | None
    """None: the step cannot be undone, so it must come last (the point of no return)."""


STEPS: tuple[StepSpec, ...] = (
    StepSpec("create_order", create_order, cancel_order),
    StepSpec("reserve_inventory", reserve_inventory, release_inventory),
    StepSpec("charge_payment", charge_payment, refund_payment),
    # Confirmation tells the customer and the warehouse; that cannot be taken back.
    StepSpec("confirm_order", confirm_order, None),
)
