"""Place an order as a saga over PostgreSQL, and recover sagas a crash left half-done.

Built on `patterns.resilience.saga`: each order step becomes a `SagaStep` whose
action and compensation each run in one transaction that also writes the
step's saga-log row. On a failure the `Saga` runs the compensations of the
completed steps newest first. After a crash, `recover` rebuilds the saga from
the log (completed steps are replayed from their logged results, with no side
effects) and asks it to compensate; a saga that got past its non-compensable
confirmation is marked completed instead.

Each saga is owned, while it runs, by the session that holds its lease (see
`lease`): `recover` only touches sagas whose owner is gone, and `live` names
the ones still running in a live process.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import psycopg
from patterns.resilience import Saga, SagaResult, SagaStatus, SagaStep
from pydantic import BaseModel

import lease
import saga_log
from faults import FaultPlan
from order_steps import STEPS, StepSpec

__all__ = ["Order", "OrderOutcome", "live", "place_order", "recover"]

Context = dict[str, Any]
Closed = Literal["completed", "compensated", "compensation_failed"]


@dataclass(frozen=True, slots=True)
class Order:
    customer: str
    sku: str
    quantity: int
    order_id: str = field(default_factory=lambda: f"ord-{uuid.uuid4().hex[:10]}")


class OrderOutcome(BaseModel):
    order_id: str
    status: Closed
    failed_step: str | None
    error: str | None
    completed: list[str]
    compensated: list[str]
    """Steps undone, in the order their compensations ran."""


async def place_order(
    conn: psycopg.AsyncConnection, order: Order, faults: FaultPlan | None = None
) -> OrderOutcome:
    """Run the order saga; on a failure, undo what was done. Never leaves the order half-done
    (except when a `SimulatedCrash` escapes: then `recover` finishes the job)."""
    faults = faults or FaultPlan()
    # The lease is taken before the saga's first row exists and given back after its last:
    # whenever the saga is marked running, either its owner holds the lease or the owner is gone.
    async with lease.held(conn, order.order_id):
        await saga_log.start(conn, order.order_id)
        saga = Saga([_saga_step(conn, order.order_id, spec, faults) for spec in STEPS])
        context: Context = {
            "order_id": order.order_id,
            "customer": order.customer,
            "sku": order.sku,
            "quantity": order.quantity,
        }
        return await _close(conn, order.order_id, await saga.run(context))


async def recover(conn: psycopg.AsyncConnection) -> list[OrderOutcome]:
    """Finish every saga still marked running whose owner is gone, from its log alone.

    A saga whose lease a live session holds (its owner, or another `recover`) is
    left alone, so this is safe to run at any time, next to working placers.
    """
    outcomes = []
    for saga_id in await saga_log.unfinished(conn):
        # Advisory locks are re-entrant within a session, so the claim alone would succeed on a saga
        # this very connection is running (a placer task sharing it): look at who holds it first.
        if await lease.owner_alive(conn, saga_id) or not await lease.try_claim(conn, saga_id):
            continue  # its owner is alive: undoing its steps now would pull them from under it
        try:
            # Re-read under the lease: the owner may have finished between the listing and the claim.
            if await saga_log.status(conn, saga_id) == "running":
                outcomes.append(await _recover_one(conn, saga_id))
        finally:
            await lease.release(conn, saga_id)
    return outcomes


async def live(conn: psycopg.AsyncConnection) -> list[str]:
    """Sagas still running in a live process (their owner holds the lease): not crashed, not to undo."""
    return [saga_id for saga_id in await saga_log.unfinished(conn) if await lease.owner_alive(conn, saga_id)]


async def _recover_one(conn: psycopg.AsyncConnection, saga_id: str) -> OrderOutcome:
    log = await saga_log.entries(conn, saga_id)
    undone = {e.step for e in log if e.phase == "compensation" and e.outcome == "ok"}
    done = {e.step: e.detail for e in log if e.phase == "action" and e.outcome == "ok"}
    if all(spec.name in done for spec in STEPS):
        # Past the point of no return (the confirmation went out): roll forward, not back.
        await saga_log.finish(conn, saga_id, "completed", None, None)
        return OrderOutcome(
            order_id=saga_id,
            status="completed",
            failed_step=None,
            error=None,
            completed=list(done),
            compensated=[],
        )
    replay = [
        SagaStep(spec.name, _replayed(done[spec.name]), _compensation(conn, saga_id, spec))
        for spec in STEPS
        if spec.name in done and spec.name not in undone
    ]
    saga = Saga(replay)
    await saga.run({"order_id": saga_id})
    result = await saga.compensate()
    crashed_before = next(spec.name for spec in STEPS if spec.name not in done)
    return await _close(
        conn, saga_id, result, failed_step=crashed_before, error="process crashed; undone by recover"
    )


def _saga_step(conn: psycopg.AsyncConnection, saga_id: str, spec: StepSpec, faults: FaultPlan) -> SagaStep:
    async def action(ctx: Context) -> dict[str, Any]:
        try:
            async with conn.transaction():
                detail = await spec.action(conn, ctx)
                faults.before_commit(spec.name)  # an injected failure rolls the step's writes back
                await saga_log.record(conn, saga_id, spec.name, "action", "ok", detail)
        except Exception as exc:
            await saga_log.record(conn, saga_id, spec.name, "action", "failed", {"error": str(exc)})
            raise
        faults.after_commit(spec.name)
        return detail

    if spec.compensation is None:
        return SagaStep(spec.name, action, compensable=False)
    return SagaStep(spec.name, action, _compensation(conn, saga_id, spec))


def _compensation(
    conn: psycopg.AsyncConnection, saga_id: str, spec: StepSpec
) -> Callable[[Context], Awaitable[None]]:
    undo = spec.compensation
    if undo is None:
        raise ValueError(f"step {spec.name} cannot be undone; only steps before it are compensated")

    async def compensate(ctx: Context) -> None:
        try:
            async with conn.transaction():
                detail = await undo(conn, ctx)
                await saga_log.record(conn, saga_id, spec.name, "compensation", "ok", detail)
        except Exception as exc:
            await saga_log.record(conn, saga_id, spec.name, "compensation", "failed", {"error": str(exc)})
            raise

    return compensate


def _replayed(detail: dict[str, Any]) -> Callable[[Context], Awaitable[dict[str, Any]]]:
    async def replay(ctx: Context) -> dict[str, Any]:
        return detail  # already committed before the crash: only its logged result is needed

    return replay


_STATUS: dict[SagaStatus, Closed] = {
    SagaStatus.COMPLETED: "completed",
    SagaStatus.COMPENSATED: "compensated",
    SagaStatus.COMPENSATION_FAILED: "compensation_failed",
}


async def _close(
    conn: psycopg.AsyncConnection,
    saga_id: str,
    result: SagaResult,
    *,
    failed_step: str | None = None,
    error: str | None = None,
) -> OrderOutcome:
    status = _STATUS[result.status]
    failed_step = result.failed_step or (failed_step if status != "completed" else None)
    error = str(result.error) if result.error else (error if status != "completed" else None)
    await saga_log.finish(conn, saga_id, status, failed_step, error)
    return OrderOutcome(
        order_id=saga_id,
        status=status,
        failed_step=failed_step,
        error=error,
        completed=list(result.completed),
        compensated=[record.step for record in result.compensations],
    )
