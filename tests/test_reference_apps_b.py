"""Reference apps code_refinement, decision_council and order_saga work once copied out of the repo.

Each app folder is copied to a temporary directory outside the repository, as
a user would copy it into their project; its own test suite and its main
command run there, and its imports are checked: `patterns`, its own modules,
the standard library and its declared third-party dependencies, nothing else.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ._apps import check_app, check_imports, scratch_schema

THIRD_PARTY = {"langchain_core", "langgraph", "patterns", "psycopg", "pydantic", "pytest", "rich"}

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", ["code_refinement", "decision_council", "order_saga"])
def test_app_imports_only_patterns_its_own_modules_and_declared_dependencies(name: str) -> None:
    # code_refinement's tasks/ hold candidate solutions the critic runs, not the app's code.
    check_imports(name, THIRD_PARTY, skip={"tasks"})


def test_code_refinement_runs_from_a_copy(tmp_path: Path) -> None:
    check_app("code_refinement", tmp_path, ["--json"])


def test_decision_council_runs_from_a_copy(tmp_path: Path) -> None:
    check_app("decision_council", tmp_path, [])


@pytest.mark.postgres
def test_order_saga_runs_from_a_copy(tmp_path: Path, postgres_url: str) -> None:
    with scratch_schema(postgres_url, "order_saga_copy") as schema:
        check_app("order_saga", tmp_path, ["--schema", schema], {"ORDER_SAGA_DB": postgres_url})
