"""A crash between steps leaves a half-done order; `recover` undoes it from the saga log alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from conftest import Shop
from faults import FaultPlan, SimulatedCrash
from orders import Order, OrderOutcome, place_order, recover
from store import audit

APP = Path(__file__).resolve().parents[1]


def crash(shop: Shop, after: str) -> None:
    async def scenario(conn: psycopg.AsyncConnection) -> None:
        await place_order(conn, Order("carol", "WIDGET-1", 2, order_id="o1"), FaultPlan(crash_after=after))

    with pytest.raises(SimulatedCrash):
        shop.run(scenario)


def test_a_crash_between_steps_is_recovered_from_the_log(shop: Shop) -> None:
    crash(shop, after="charge_payment")
    assert shop.run(audit) == ["order o1 is half-done: its saga is still running (crashed? run recover)"]

    outcomes: list[OrderOutcome] = shop.run(recover)  # a new connection: nothing survives but the log
    assert [(o.order_id, o.status, o.failed_step) for o in outcomes] == [
        ("o1", "compensated", "confirm_order")
    ]
    assert outcomes[0].compensated == ["charge_payment", "reserve_inventory", "create_order"]
    assert shop.run(audit) == []
    assert shop.run(recover) == []  # nothing left to do: recovery is idempotent too


def test_a_crash_after_the_confirmation_rolls_forward(shop: Shop) -> None:
    crash(shop, after="confirm_order")
    outcomes = shop.run(recover)
    assert [o.status for o in outcomes] == ["completed"]
    assert shop.query("SELECT status FROM orders WHERE id = 'o1'") == [("confirmed",)]
    assert shop.run(audit) == []


def cli(shop: Shop, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(APP / "app.py"), *args, "--db", shop.url, "--schema", shop.schema],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_cli_crashes_and_a_second_process_recovers(shop: Shop) -> None:
    crashed = cli(shop, "place", "--crash-after", "reserve_inventory")
    assert crashed.returncode == 75, crashed.stderr
    assert "run `python app.py recover" in crashed.stderr
    assert shop.query("SELECT available FROM inventory WHERE sku = 'WIDGET-1'") == [(8,)]

    recovered = cli(shop, "recover", "--json")
    assert recovered.returncode == 0, recovered.stderr
    report = json.loads(recovered.stdout)
    assert report["audit"] == []
    assert report["orders"][0]["compensated"] == ["reserve_inventory", "create_order"]
    assert shop.query("SELECT available FROM inventory WHERE sku = 'WIDGET-1'") == [(10,)]


def test_cli_failure_injection_and_bad_input(shop: Shop) -> None:
    failed = cli(shop, "--fail-at", "charge_payment", "--json")
    assert failed.returncode == 0, failed.stderr  # consistent: the order was undone
    assert json.loads(failed.stdout)["orders"][0]["compensated"] == ["reserve_inventory", "create_order"]
    bad = cli(shop, "--fail-at", "ship_it")
    assert bad.returncode == 2
    assert "invalid choice: 'ship_it'" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
