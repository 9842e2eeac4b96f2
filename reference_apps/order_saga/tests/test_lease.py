"""A saga running in a live process is left alone; once its owner is killed, `recover` undoes it.

The owner is a real second process, paused between two steps with its
connection (and so its lease) open; another placer and `recover` run next to
it. Nothing here measures time: the test waits for what the owner prints, and
for PostgreSQL to drop the killed owner's lease, with a generous deadline only
as a safety stop.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import lease
from conftest import Shop
from orders import Order, live, place_order, recover
from store import audit

APP = Path(__file__).resolve().parents[1]
SAFETY_STOP = 120.0  # seconds; never reached unless something hangs

# Places one order and stops right after STEP commits, until a line arrives on stdin: a saga
# alive mid-way. It prints "paused" once stopped, and the saga's status once it finished.
OWNER = """
import asyncio, sys
from dataclasses import dataclass

sys.path.insert(0, sys.argv[1])
from faults import FaultPlan
from orders import Order, place_order
from store import connect, ensure_schema


@dataclass
class PauseAfter(FaultPlan):
    pause_after: str = ""

    def after_commit(self, step: str) -> None:
        super().after_commit(step)
        if step == self.pause_after:
            print("paused", flush=True)
            sys.stdin.readline()  # blocks the whole process; its connection and lease stay open


async def main(url: str, schema: str, order_id: str, step: str) -> None:
    conn = await connect(url, schema)
    await ensure_schema(conn)
    outcome = await place_order(conn, Order("dave", "WIDGET-1", 2, order_id=order_id), PauseAfter(pause_after=step))
    print(outcome.status, flush=True)
    await conn.close()


asyncio.run(main(*sys.argv[2:]))
"""


@pytest.fixture
def owner(shop: Shop) -> Iterator[subprocess.Popen[str]]:
    """The owner process, started and paused after charge_payment as order `live-1`."""
    proc = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(APP), shop.url, shop.schema, "live-1", "charge_payment"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(SAFETY_STOP, proc.kill)  # a hung owner must not hang the suite
    watchdog.start()
    try:
        assert read_line(proc) == "paused"
        yield proc
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()


def read_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    return proc.stdout.readline().strip()


def state(shop: Shop) -> list[tuple[object, ...]]:
    return shop.query(
        """
        SELECT o.status, r.status, p.status, s.status
        FROM orders o JOIN reservations r ON r.order_id = o.id JOIN payments p ON p.order_id = o.id
        JOIN saga_runs s ON s.saga_id = o.id WHERE o.id = 'live-1'
        """
    )


def cli(shop: Shop, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(APP / "app.py"), *args, "--db", shop.url, "--schema", shop.schema, "--json"],
        capture_output=True,
        text=True,
        timeout=SAFETY_STOP,
    )


def test_a_live_saga_is_neither_undone_nor_reported_as_crashed(
    shop: Shop, owner: subprocess.Popen[str]
) -> None:
    half_done = [("pending", "held", "charged", "running")]
    assert state(shop) == half_done
    assert shop.run(audit) == []  # pending, but its process is alive: legal
    assert shop.run(live) == ["live-1"]

    placed = cli(shop, "place")  # a second placer, concurrently: its audit must not blame live-1
    assert placed.returncode == 0, placed.stdout + placed.stderr
    report = json.loads(placed.stdout)
    assert (report["audit"], report["running"]) == ([], ["live-1"])
    assert [o["status"] for o in report["orders"]] == ["completed"]

    assert shop.run(recover) == []  # in-process recover: the owner's lease keeps it off
    recovered = cli(shop, "recover")
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert json.loads(recovered.stdout) == {"orders": [], "audit": [], "running": ["live-1"]}
    assert state(shop) == half_done  # untouched all along

    # Let the owner go on: it finishes its saga as if nobody had been there.
    assert owner.stdin is not None
    owner.stdin.write("\n")
    owner.stdin.flush()
    assert read_line(owner) == "completed"
    assert owner.wait(timeout=SAFETY_STOP) == 0
    assert state(shop) == [("confirmed", "held", "charged", "completed")]
    assert shop.run(audit) == [] and shop.run(live) == []


def test_once_the_owner_is_killed_recover_undoes_its_saga(shop: Shop, owner: subprocess.Popen[str]) -> None:
    assert shop.run(recover) == []
    os.kill(owner.pid, signal.SIGKILL)  # no finally, no goodbye: only PostgreSQL notices
    assert owner.wait(timeout=SAFETY_STOP) == -signal.SIGKILL
    wait_until_the_lease_is_dropped(shop, "live-1")

    assert shop.run(audit) == ["order live-1 is half-done: its saga is still running (crashed? run recover)"]
    outcomes = shop.run(recover)
    assert [(o.order_id, o.status, o.failed_step) for o in outcomes] == [
        ("live-1", "compensated", "confirm_order")
    ]
    assert outcomes[0].compensated == ["charge_payment", "reserve_inventory", "create_order"]
    assert state(shop) == [("cancelled", "released", "refunded", "compensated")]
    assert shop.run(audit) == [] and shop.run(recover) == []


def test_a_saga_owned_by_another_live_session_is_not_started_twice(shop: Shop) -> None:
    async def scenario(conn: psycopg.AsyncConnection) -> None:
        other = await psycopg.AsyncConnection.connect(shop.url, autocommit=True)
        try:
            await other.execute(f'SET search_path TO "{shop.schema}"')
            assert await lease.try_claim(other, "o1")
            with pytest.raises(lease.SagaBusy, match="saga o1 is already running in another live process"):
                await place_order(conn, Order("erin", "WIDGET-1", 1, order_id="o1"))
        finally:
            await other.close()

    shop.run(scenario)
    assert shop.query("SELECT count(*) FROM saga_runs") == [(0,)]  # refused before writing anything


def wait_until_the_lease_is_dropped(shop: Shop, saga_id: str) -> None:
    # PostgreSQL ends the killed owner's session when it reads the closed socket: soon, but not
    # synchronously with the kill. Poll for that event; the deadline only stops a hang.
    deadline = time.monotonic() + SAFETY_STOP
    while shop.run(lambda conn: lease.owner_alive(conn, saga_id)):
        assert time.monotonic() < deadline, f"the killed owner's lease on {saga_id} was never dropped"
        time.sleep(0.05)
