"""Reference apps code_refinement, decision_council and order_saga work once copied out of the repo.

Each app folder is copied to a temporary directory outside the repository, as
a user would copy it into their project; its own test suite and its main
command run there, and its imports are checked: `patterns`, its own modules,
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
THIRD_PARTY = {"langchain_core", "langgraph", "patterns", "psycopg", "pydantic", "pytest", "rich"}
NOT_COPIED = shutil.ignore_patterns("__pycache__", ".pytest_cache", ".code_refinement", ".decision_council")

pytestmark = pytest.mark.slow


def copy_app(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(APPS / name, target, ignore=NOT_COPIED)
    assert not target.resolve().is_relative_to(APPS.parent)
    return target


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        command, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=240
    )
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


@pytest.mark.parametrize("name", ["code_refinement", "decision_council", "order_saga"])
def test_app_imports_only_patterns_its_own_modules_and_declared_dependencies(name: str) -> None:
    app = APPS / name
    own = {path.stem for path in app.glob("*.py")} | {"conftest"}
    for path in app.rglob("*.py"):
        if "tasks" in path.relative_to(app).parts:
            continue  # candidate solutions the critic runs, not the app's code
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots = {node.module.split(".")[0]}
            else:
                continue
            foreign = roots - own - THIRD_PARTY - set(sys.stdlib_module_names)
            assert not foreign, f"{path.relative_to(APPS)} imports {sorted(foreign)}"


def test_code_refinement_runs_from_a_copy(tmp_path: Path) -> None:
    check_app("code_refinement", tmp_path, ["--json"])


def test_decision_council_runs_from_a_copy(tmp_path: Path) -> None:
    check_app("decision_council", tmp_path, [])


@pytest.mark.postgres
def test_order_saga_runs_from_a_copy(tmp_path: Path, postgres_url: str) -> None:
    schema = f"order_saga_copy_{uuid.uuid4().hex[:10]}"
    try:
        check_app("order_saga", tmp_path, ["--schema", schema], {"ORDER_SAGA_DB": postgres_url})
    finally:
        import psycopg

        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
