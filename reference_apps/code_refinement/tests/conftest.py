"""Shared fixtures: the bundled task, and tasks whose candidates misbehave on purpose."""

from __future__ import annotations

from pathlib import Path

import pytest

from task import CodeTask, load_task

APP = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def slugify_task() -> CodeTask:
    return load_task(APP / "tasks" / "slugify")
