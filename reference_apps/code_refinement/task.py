"""A coding task: what to write, the unit tests that judge it, and the scripted revisions.

A task is a folder with `task.json` (name, module, description, test file and
the scripted generator's revisions) next to the test file. The tests are the
contract: the critic counts them here, before any candidate runs, so a
candidate that crashes the test run still scores against the full total.
"""

from __future__ import annotations

import ast
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

__all__ = ["CodeTask", "Revision", "TaskError", "load_task"]

# The trusted test run and the sandbox import these by name; a candidate module must not shadow them.
_RESERVED = frozenset(
    {"conftest", "sitecustomize", "usercustomize", "jail", "referee", "wire", "pytest", "_pytest", "pluggy"}
)


class TaskError(ValueError):
    """The task folder is missing or malformed; the message names the file and the fix."""


class _RevisionSpec(BaseModel):
    file: str
    fixes: list[str] = Field(default_factory=list)
    note: str = ""


class _Manifest(BaseModel):
    name: str = Field(min_length=1)
    module: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    tests: str = Field(pattern=r"^test_[A-Za-z0-9_]*\.py$")
    description: str = Field(min_length=1)
    scripted_revisions: list[_RevisionSpec] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Revision:
    """One candidate the scripted generator can propose, and the failing tests it addresses."""

    code: str
    fixes: frozenset[str]
    note: str


@dataclass(frozen=True, slots=True)
class CodeTask:
    name: str
    path: Path
    module: str
    description: str
    test_file: str
    tests_source: str
    test_names: tuple[str, ...]
    revisions: tuple[Revision, ...]


def load_task(path: str | Path) -> CodeTask:
    """Read and check the task folder at `path`."""
    folder = Path(path).resolve()
    manifest_path = folder / "task.json"
    if not manifest_path.is_file():
        raise TaskError(f"no task.json in {folder}: pass --task a folder like tasks/slugify")
    try:
        manifest = _Manifest.model_validate(json.loads(manifest_path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as exc:
        raise TaskError(f"{manifest_path} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(map(str, first["loc"])) or "<root>"
        raise TaskError(f"{manifest_path}: {where}: {first['msg']}") from None
    if manifest.module in _RESERVED or manifest.module in sys.stdlib_module_names:
        raise TaskError(
            f"{manifest_path}: module {manifest.module!r} is taken by the standard library or the sandbox's "
            "harness; pick another module name"
        )
    tests_path = folder / manifest.tests
    tests_source = _read(tests_path)
    test_names = _test_names(tests_source, tests_path)
    revisions = tuple(
        Revision(code=_read(folder / spec.file), fixes=frozenset(spec.fixes), note=spec.note)
        for spec in manifest.scripted_revisions
    )
    unknown = sorted({name for r in revisions for name in r.fixes} - set(test_names))
    if unknown:
        raise TaskError(f"{manifest_path}: revisions claim to fix unknown tests: {', '.join(unknown)}")
    return CodeTask(
        name=manifest.name,
        path=folder,
        module=manifest.module,
        description=manifest.description,
        test_file=manifest.tests,
        tests_source=tests_source,
        test_names=test_names,
        revisions=revisions,
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TaskError(f"cannot read {path}: {exc.strerror or exc}") from None


def _test_names(source: str, path: Path) -> tuple[str, ...]:
    """Test functions and `Test*` class methods, named as pytest's junit report names them."""
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        raise TaskError(f"{path} does not parse: {exc.msg} (line {exc.lineno})") from None
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
            names.append(node.name)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            names.extend(
                f"{node.name}.{item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name.startswith("test")
            )
    if not names:
        raise TaskError(f"{path} defines no test functions: the critic would have nothing to run")
    return tuple(names)
