"""Whatever step fails, the database ends with nothing half-done, and the log says what happened."""

from __future__ import annotations

import psycopg
import pytest

import saga_log
from conftest import Shop
from faults import FaultPlan
from order_steps import STEPS
from orders import Order, OrderOutcome, place_order
from store import audit

STEP_NAMES = [spec.name for spec in STEPS]


def place(shop: Shop, order: Order, faults: FaultPlan | None = None) -> tuple[OrderOutcome, list[str]]:
    async def scenario(conn: psycopg.AsyncConnection) -> tuple[OrderOutcome, list[str]]:
        return await place_order(conn, order, faults), await audit(conn)

    return shop.run(scenario)


def state(shop: Shop, order_id: str) -> tuple[object, ...]:
    return shop.query(
        """
        SELECT o.status, r.status, p.status, i.available
        FROM inventory i
        LEFT JOIN orders o ON o.id = %s
        LEFT JOIN reservations r ON r.order_id = %s
        LEFT JOIN payments p ON p.order_id = %s
        WHERE i.sku = 'WIDGET-1'
        """,
        order_id,
        order_id,
        order_id,
    )[0]


def test_an_order_without_failures_is_confirmed(shop: Shop) -> None:
    outcome, problems = place(shop, Order("alice", "WIDGET-1", 3, order_id="o1"))
    assert outcome.status == "completed"
    assert state(shop, "o1") == ("confirmed", "held", "charged", 7)
    assert problems == []


@pytest.mark.parametrize("step", STEP_NAMES)
def test_a_failure_at_any_step_leaves_nothing_half_done(shop: Shop, step: str) -> None:
    outcome, problems = place(shop, Order("alice", "WIDGET-1", 3, order_id="o1"), FaultPlan(fail_at=step))
    assert (outcome.status, outcome.failed_step) == ("compensated", step)
    assert problems == []
    order, reservation, payment, available = state(shop, "o1")
    assert available == 10  # every unit back on the shelf
    assert order in (None, "cancelled")  # a failed create_order rolled back its own insert
    assert reservation in (None, "released")
    assert payment in (None, "refunded")
    assert shop.query("SELECT status, failed_step FROM saga_runs WHERE saga_id = 'o1'") == [
        ("compensated", step)
    ]


def test_compensations_run_in_reverse_order_and_are_logged(shop: Shop) -> None:
    outcome, _ = place(shop, Order("alice", "WIDGET-1", 1, order_id="o1"), FaultPlan(fail_at="confirm_order"))
    assert outcome.compensated == ["charge_payment", "reserve_inventory", "create_order"]
    log = shop.run(lambda conn: saga_log.entries(conn, "o1"))
    assert [(e.step, e.phase, e.outcome) for e in log] == [
        ("create_order", "action", "ok"),
        ("reserve_inventory", "action", "ok"),
        ("charge_payment", "action", "ok"),
        ("confirm_order", "action", "failed"),
        ("charge_payment", "compensation", "ok"),
        ("reserve_inventory", "compensation", "ok"),
        ("create_order", "compensation", "ok"),
    ]
    assert log[4].detail == {"refunded_cents": 1250}


def test_running_a_compensation_again_changes_nothing(shop: Shop) -> None:
    place(shop, Order("alice", "WIDGET-1", 4, order_id="o1"), FaultPlan(fail_at="confirm_order"))

    async def undo_twice(conn: psycopg.AsyncConnection) -> list[dict[str, object]]:
        context = {"order_id": "o1"}
        details = []
        for spec in reversed(STEPS[:-1]):
            assert spec.compensation is not None
            async with conn.transaction():
                details.append(await spec.compensation(conn, context))
        return details

    assert shop.run(undo_twice) == [{"refunded_cents": 0}, {"released": 0}, {"cancelled": 0}]
    assert state(shop, "o1") == ("cancelled", "released", "refunded", 10)


def test_running_out_of_stock_is_undone_like_any_failure(shop: Shop) -> None:
    outcome, problems = place(shop, Order("alice", "WIDGET-1", 11, order_id="o1"))
    assert (outcome.status, outcome.failed_step) == ("compensated", "reserve_inventory")
    assert "not enough WIDGET-1" in (outcome.error or "")
    assert state(shop, "o1") == ("cancelled", None, None, 10)
    assert problems == []


def test_random_failures_with_a_seed_are_reproducible_and_always_consistent(shop: Shop) -> None:
    def batch() -> list[tuple[str, str | None]]:
        faults = FaultPlan(chaos_rate=0.25, seed=3)
        return [
            (o.status, o.failed_step)
            for o in (place(shop, Order("bob", "GADGET-2", 1), faults)[0] for _ in range(8))
        ]

    first = batch()
    assert {status for status, _ in first} == {"completed", "compensated"}
    # Restock, so the second batch cannot run out where the first did not.
    shop.query("UPDATE inventory SET on_hand = on_hand + 8, available = available + 8 RETURNING sku")
    assert batch() == first
    assert shop.run(audit) == []
