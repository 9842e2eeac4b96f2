"""Every notebook in notebooks/ is its source, runs top to bottom offline, and shows what is committed.

Each notebook is authored as `notebooks/<name>.py` (jupytext percent format) and committed
as `notebooks/<name>.ipynb` with its outputs, by `python notebooks/execute.py`. Here:

- each `.ipynb` has exactly its source's cells (a source edited without re-running the
  command, or a notebook edited in Jupyter without saving the pair, fails);
- every notebook executes in a fresh `python3` kernel (nbclient, started in notebooks/ so
  that `import nbhelpers` works) without an error; each one is executed once, all of them
  two at a time, and the result serves the tests below;
- the outputs of that execution equal the committed ones: text outputs (streams, and the
  text/plain, text/markdown, text/html and JSON of displayed values) exactly; images only
  by their presence (their bytes depend on the fonts and the matplotlib build); cells
  tagged `timings` (the comparison notebook's benchmark slice) not at all.

No test asserts how long a notebook takes; the timeouts are only a hard stop.
"""

from __future__ import annotations

import asyncio
import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from patterns.presets import PATTERNS

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"


def _load_execute() -> ModuleType:
    spec = importlib.util.spec_from_file_location("notebooks_execute", NOTEBOOK_DIR / "execute.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


nbexec = _load_execute()
NOTEBOOKS = nbexec.names()
REGENERATE = "edit notebooks/{name}.py, then run `python notebooks/execute.py {name}`"
#: What must never be in a committed output: temporary paths, object addresses.
UNSTABLE = re.compile(r"/tmp/|orch-notebook-|\bat 0x[0-9a-f]+|\b0x[0-9a-f]{8,}")


def test_every_pattern_and_the_comparison_have_a_notebook() -> None:
    assert {*PATTERNS, "comparison"} <= set(NOTEBOOKS)
    assert {p.stem for p in NOTEBOOK_DIR.glob("*.ipynb")} == set(NOTEBOOKS), (
        "an .ipynb without a source, or back"
    )
    assert "nbhelpers" not in NOTEBOOKS and "execute" not in NOTEBOOKS


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_the_notebook_has_the_cells_of_its_source(name: str) -> None:
    committed, source = nbexec.read_committed(name), nbexec.read_source(name)
    assert nbexec.cell_sources(committed) == nbexec.cell_sources(source), REGENERATE.format(name=name)
    assert committed.metadata["jupytext"]["formats"] == "ipynb,py:percent"  # Jupyter keeps the pair in sync


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_the_notebook_is_committed_executed_with_stable_outputs(name: str) -> None:
    committed = nbexec.read_committed(name)
    code = [cell for cell in committed.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code), f"{name}: not executed; {REGENERATE}"
    assert any(cell.outputs for cell in code)
    for cell_source, shown in nbexec.outputs(committed):
        assert not UNSTABLE.search(repr(shown)), f"{name}: an output changes from run to run:\n{cell_source}"


@pytest.fixture(scope="module")
def executed(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The notebooks the selected tests need, each executed once (two at a time)."""
    wanted = sorted(
        {
            item.callspec.params["name"]
            for item in request.session.items
            if "executed" in getattr(item, "fixturenames", ()) and hasattr(item, "callspec")
        }
    )
    return asyncio.run(nbexec.aexecute_all(wanted, jobs=2))


@pytest.mark.slow
@pytest.mark.timeout(1200)  # a hard stop for executing every notebook, not a budget
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_the_notebook_runs_top_to_bottom(name: str, executed: dict[str, Any]) -> None:
    result = executed[name]
    if isinstance(result, BaseException):  # nbclient's CellExecutionError names the cell and its traceback
        pytest.fail(f"{name}.ipynb raised:\n{result}", pytrace=False)
    errors = [o for c in result.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{name}: {[e.ename for e in errors]}"
    assert not list(NOTEBOOK_DIR.glob("*.sqlite")) and not (NOTEBOOK_DIR / ".orch").exists(), (
        "the notebooks checkpoint to a temporary folder, never into the repository"
    )


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_the_notebook_shows_the_committed_outputs(name: str, executed: dict[str, Any]) -> None:
    result = executed[name]
    if isinstance(result, BaseException):
        pytest.skip(f"{name} raised: see test_the_notebook_runs_top_to_bottom")
    fresh, committed = nbexec.outputs(result), nbexec.outputs(nbexec.read_committed(name))
    assert [source for source, _ in fresh] == [source for source, _ in committed], REGENERATE.format(
        name=name
    )
    for (source, now), (_, then) in zip(fresh, committed, strict=True):
        assert now == then, (
            f"{name}: this cell's outputs differ from the committed ones ({REGENERATE.format(name=name)}):\n{source}"
        )
