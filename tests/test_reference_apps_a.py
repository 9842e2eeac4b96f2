"""Reference apps document_processing, research_assistant, review_analytics and support_router work once copied.

Each app folder is copied to a temporary directory outside the repository, as
a user would copy it into their project; its own test suite and its main
command run there. Its imports are checked too: `patterns`, its own modules,
the standard library and its declared third-party dependencies, nothing else.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ._apps import APPS, check_app, check_imports, scratch_schema

THIRD_PARTY = {
    "langchain_core",
    "langgraph",
    "matplotlib",
    "patterns",
    "psycopg",
    "pydantic",
    "pytest",
    "rich",
}
NAMES = ["document_processing", "research_assistant", "review_analytics", "support_router"]

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", NAMES)
def test_app_imports_only_patterns_its_own_modules_and_declared_dependencies(name: str) -> None:
    check_imports(name, THIRD_PARTY)


@pytest.mark.parametrize("name", NAMES)
def test_app_has_a_readme_tests_and_a_module_entry_point(name: str) -> None:
    app = APPS / name
    assert (app / "README.md").is_file() and (app / "__main__.py").is_file() and (app / "app.py").is_file()
    assert list((app / "tests").glob("test_*.py"))


@pytest.mark.postgres
def test_document_processing_runs_from_a_copy(tmp_path: Path, postgres_url: str) -> None:
    with scratch_schema(postgres_url, "docproc_copy") as schema:
        check_app(
            "document_processing", tmp_path, ["--schema", schema], {"DOCUMENT_PROCESSING_DB": postgres_url}
        )


def test_research_assistant_runs_from_a_copy(tmp_path: Path) -> None:
    check_app("research_assistant", tmp_path, ["--offline", "news"])


def test_review_analytics_runs_from_a_copy(tmp_path: Path) -> None:
    check_app("review_analytics", tmp_path, ["--json"])


def test_support_router_runs_from_a_copy(tmp_path: Path) -> None:
    check_app("support_router", tmp_path, ["--offline", "billing"])
