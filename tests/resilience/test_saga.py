from __future__ import annotations

from typing import Any

import pytest

from patterns.errors import PermanentModelError, UsageError
from patterns.resilience import CompensationOutcome, Saga, SagaStatus, SagaStep

OK, FAILED, SKIPPED = CompensationOutcome.OK, CompensationOutcome.FAILED, CompensationOutcome.SKIPPED


class Shop:
    """An order-processing backend that logs every side effect."""

    def __init__(self, *, payment_fails: bool = False, release_fails: bool = False) -> None:
        self.log: list[str] = []
        self.payment_fails = payment_fails
        self.release_fails = release_fails

    async def create_order(self, ctx: dict[str, Any]) -> str:
        self.log.append("create order")
        return f"order-{ctx['customer']}"

    async def cancel_order(self, ctx: dict[str, Any]) -> None:
        self.log.append(f"cancel {ctx['create_order']}")

    async def reserve(self, ctx: dict[str, Any]) -> int:
        self.log.append("reserve inventory")
        return 3

    async def release(self, ctx: dict[str, Any]) -> None:
        if self.release_fails:
            self.release_fails = False
            raise ConnectionError("inventory service unreachable")
        self.log.append(f"release {ctx['reserve_inventory']} items")

    async def charge(self, ctx: dict[str, Any]) -> str:
        if self.payment_fails:
            raise PermanentModelError("card declined")
        self.log.append("charge payment")
        return "txn-1"

    async def refund(self, ctx: dict[str, Any]) -> None:
        self.log.append("refund")

    async def confirm(self, ctx: dict[str, Any]) -> None:
        self.log.append("send confirmation")

    def saga(self) -> Saga:
        return Saga(
            [
                SagaStep("create_order", self.create_order, self.cancel_order),
                SagaStep("reserve_inventory", self.reserve, self.release),
                SagaStep("charge_payment", self.charge, self.refund),
                SagaStep("confirm", self.confirm, compensable=False),
            ]
        )


async def test_payment_failure_compensates_inventory_then_order() -> None:
    shop = Shop(payment_fails=True)
    result = await shop.saga().run({"customer": "ada"})
    assert shop.log == ["create order", "reserve inventory", "release 3 items", "cancel order-ada"]
    assert result.status is SagaStatus.COMPENSATED
    assert result.failed_step == "charge_payment"
    assert isinstance(result.error, PermanentModelError)
    assert result.completed == ("create_order", "reserve_inventory")
    assert [(c.step, c.outcome) for c in result.compensations] == [
        ("reserve_inventory", OK),
        ("create_order", OK),
    ]


async def test_success_runs_every_step_and_compensates_nothing() -> None:
    shop = Shop()
    result = await shop.saga().run({"customer": "bob"})
    assert result.status is SagaStatus.COMPLETED
    assert result.compensations == ()
    assert result.context["charge_payment"] == "txn-1"
    assert shop.log[-1] == "send confirmation"


async def test_compensate_after_success_skips_the_non_compensable_step() -> None:
    shop = Shop()
    saga = shop.saga()
    await saga.run({"customer": "cy"})
    result = await saga.compensate()
    assert [(c.step, c.outcome) for c in result.compensations] == [
        ("confirm", SKIPPED),
        ("charge_payment", OK),
        ("reserve_inventory", OK),
        ("create_order", OK),
    ]
    assert shop.log[-3:] == ["refund", "release 3 items", "cancel order-cy"]


async def test_compensations_never_run_twice() -> None:
    shop = Shop(payment_fails=True)
    saga = shop.saga()
    first = await saga.run({"customer": "di"})
    second = await saga.compensate()
    third = await saga.compensate(retry_failed=True)
    assert shop.log.count("release 3 items") == 1
    assert shop.log.count("cancel order-di") == 1
    assert first.compensations == second.compensations == third.compensations


async def test_failed_compensation_is_recorded_and_retried_only_on_request() -> None:
    shop = Shop(payment_fails=True, release_fails=True)
    saga = shop.saga()
    result = await saga.run({"customer": "ed"})
    assert result.status is SagaStatus.COMPENSATION_FAILED
    release = result.compensations[0]
    assert (release.step, release.outcome) == ("reserve_inventory", FAILED)
    assert isinstance(release.error, ConnectionError)
    assert result.compensations[1].outcome is OK  # later compensations still ran

    unchanged = await saga.compensate()
    assert unchanged.status is SagaStatus.COMPENSATION_FAILED
    assert shop.log.count("cancel order-ed") == 1

    retried = await saga.compensate(retry_failed=True)
    assert retried.status is SagaStatus.COMPENSATED
    assert [(c.step, c.outcome) for c in retried.compensations] == [
        ("reserve_inventory", OK),
        ("create_order", OK),
    ]
    assert shop.log.count("cancel order-ed") == 1


async def test_a_saga_runs_once() -> None:
    saga = Shop().saga()
    await saga.run({"customer": "x"})
    with pytest.raises(UsageError, match="runs once"):
        await saga.run({"customer": "x"})


async def test_steps_must_declare_how_they_are_undone() -> None:
    async def act(ctx: dict[str, Any]) -> None:
        return None

    with pytest.raises(UsageError, match="compensable=False"):
        SagaStep("email", act)
    with pytest.raises(UsageError, match="unique"):
        Saga([SagaStep("a", act, compensable=False), SagaStep("a", act, compensable=False)])
    with pytest.raises(UsageError, match="has not run"):
        await Saga([]).compensate()
