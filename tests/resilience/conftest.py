"""Fixtures giving each test its own fake clock and sleep."""

from __future__ import annotations

import pytest

from ._fakes import FakeClock, FakeSleep


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleep(clock: FakeClock) -> FakeSleep:
    return FakeSleep(clock)
