"""Reference apps document_processing, research_assistant, review_analytics and support_router work once copied.

Each app folder is copied to a temporary directory outside the repository, as
a user would copy it into their project; its own test suite and its main
command run there. Its imports are checked too: `patterns`, its own modules,
the standard library and its declared third-party dependencies, nothing else.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

APPS = Path(__file__).resolve().parents[1] / "reference_apps"
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
NOT_COPIED = shutil.ignore_patterns(
    "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".document_processing", ".review_analytics"
)
NAMES = ["document_processing", "research_assistant", "review_analytics", "support_router"]

pytestmark = pytest.mark.slow


def copy_app(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(APPS / name, target, ignore=NOT_COPIED)
    assert not target.resolve().is_relative_to(APPS.parent)
    return target


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # PYTHONPATH is dropped so nothing from the repository leaks in; `patterns` comes from the installed package.
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | (env or {})
    done = subprocess.run(command, cwd=cwd, env=environ, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, (
        f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    )
    return done


def check_app(name: str, tmp_path: Path, main_args: list[str], env: dict[str, str] | None = None) -> None:
    copy = copy_app(name, tmp_path)
    tests = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], copy, env)
    assert " passed" in tests.stdout and " failed" not in tests.stdout, tests.stdout
    run([sys.executable, "app.py", *main_args], copy, env)
    run([sys.executable, "-m", name, "--help"], copy.parent, env)


@pytest.mark.parametrize("name", NAMES)
def test_app_imports_only_patterns_its_own_modules_and_declared_dependencies(name: str) -> None:
    app = APPS / name
    own = {path.stem for path in app.glob("*.py")} | {"conftest"}
    for path in app.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots = {node.module.split(".")[0]}
            else:
                continue
            foreign = roots - own - THIRD_PARTY - set(sys.stdlib_module_names)
            assert not foreign, f"{path.relative_to(APPS)} imports {sorted(foreign)}"


@pytest.mark.parametrize("name", NAMES)
def test_app_has_a_readme_tests_and_a_module_entry_point(name: str) -> None:
    app = APPS / name
    assert (app / "README.md").is_file() and (app / "__main__.py").is_file() and (app / "app.py").is_file()
    assert list((app / "tests").glob("test_*.py"))


@pytest.mark.postgres
def test_document_processing_runs_from_a_copy(tmp_path: Path, postgres_url: str) -> None:
    schema = f"docproc_copy_{uuid.uuid4().hex[:10]}"
    try:
        check_app(
            "document_processing", tmp_path, ["--schema", schema], {"DOCUMENT_PROCESSING_DB": postgres_url}
        )
    finally:
        import psycopg

        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_research_assistant_runs_from_a_copy(tmp_path: Path) -> None:
    check_app("research_assistant", tmp_path, ["--offline", "news"])


def test_review_analytics_runs_from_a_copy(tmp_path: Path) -> None:
    check_app("review_analytics", tmp_path, ["--json"])


def test_support_router_runs_from_a_copy(tmp_path: Path) -> None:
    check_app("support_router", tmp_path, ["--offline", "billing"])
