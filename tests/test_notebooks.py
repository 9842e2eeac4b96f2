"""Every notebook in notebooks/ runs top to bottom, offline, on the scripted model.

Each notebook is executed by nbclient in a fresh `python3` kernel (the ipykernel
installed in this environment: jupyter_client starts it with this interpreter)
inside a temporary working directory, so the SQLite checkpoint files the
notebooks write land there. A notebook must finish within 120 s and no cell
may raise. The committed notebooks must also be exactly what
`notebooks/_build.py` generates, with outputs stripped.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from types import ModuleType

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
BUDGET_S = 120.0


def _build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("notebooks_build", NOTEBOOK_DIR / "_build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_pattern_and_the_comparison_have_a_notebook() -> None:
    built = set(_build_script().NOTEBOOKS)
    assert built == {p.stem for p in NOTEBOOKS}
    assert {"pipeline", "scatter_gather", "map_reduce", "refinement", "debate", "routing", "handoff"} <= built
    assert "comparison" in built


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_matches_build_script(path: Path) -> None:
    expected = _build_script().render(path.stem)
    assert path.read_text(encoding="utf-8") == expected, (
        f"{path.name} is out of date or was edited by hand: run `python notebooks/_build.py`"
    )
    notebook = nbformat.reads(expected, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: outputs not stripped"


@pytest.mark.slow
@pytest.mark.timeout(BUDGET_S + 60)  # hard stop; the budget itself is asserted below
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path: Path, tmp_path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=int(BUDGET_S),  # per cell
        startup_timeout=60,
        resources={"metadata": {"path": str(tmp_path)}},  # the kernel's working directory
    )
    started = time.perf_counter()
    client.execute()  # raises CellExecutionError, naming the cell, on the first error
    elapsed = time.perf_counter() - started

    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert not errors, f"{path.name}: {[e.ename for e in errors]}"
    assert elapsed < BUDGET_S, f"{path.name} took {elapsed:.1f} s (budget {BUDGET_S:.0f} s)"
    if path.stem != "comparison":  # the pattern notebooks checkpoint to SQLite; the comparison keeps nothing
        assert (tmp_path / ".orch").is_dir(), "the checkpoints should land in the working directory"
