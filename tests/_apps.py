"""Check a reference app as a user gets it: copied out of the repository on its own.

`check_app` copies the app's folder to a temporary directory, runs its own test
suite and its main command there; `check_imports` asserts it imports nothing
but `patterns`, its own modules, the standard library and the given packages.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

APPS = Path(__file__).resolve().parents[1] / "reference_apps"
# What running an app or its checks leaves in its folder; a user copies the code, not this.
NOT_COPIED = shutil.ignore_patterns(
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".mypy_cache",
    ".code_refinement",
    ".decision_council",
    ".document_processing",
    ".review_analytics",
)


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


def check_imports(name: str, third_party: Collection[str], *, skip: Collection[str] = ()) -> None:
    """Every module of app `name` imports only its own modules, the standard library and `third_party`.

    `skip` names folders of Python files that are the app's data, not its code.
    """
    app = APPS / name
    own = {path.stem for path in app.glob("*.py")} | {"conftest"}
    for path in app.rglob("*.py"):
        if set(skip) & set(path.relative_to(app).parts):
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots = {node.module.split(".")[0]}
            else:
                continue
            foreign = roots - own - set(third_party) - set(sys.stdlib_module_names)
            assert not foreign, f"{path.relative_to(APPS)} imports {sorted(foreign)}"


@contextmanager
def scratch_schema(postgres_url: str, prefix: str) -> Iterator[str]:
    """A schema name no other run uses; the schema is dropped afterwards, whatever the app left in it."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        yield schema
    finally:
        import psycopg

        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
