"""Regenerate the notebooks from their sources, executed, with their outputs.

Each notebook's source is `notebooks/<name>.py` (jupytext percent format); the `.ipynb` next
to it is generated from it. After editing a source, run from the repository root:

    .venv/bin/python notebooks/execute.py            # every notebook
    .venv/bin/python notebooks/execute.py pipeline   # only these
    .venv/bin/python notebooks/execute.py --check    # no execution: fail if an .ipynb is out of date

Every notebook is read from its source, executed top to bottom in a fresh `python3` kernel
started in this folder (so `import nbhelpers` works; the notebooks write their checkpoints
to a temporary folder, never here), and written to `<name>.ipynb`. A cell that raises stops
the command and names the notebook; nothing is written for that notebook.

`tests/test_notebooks.py` uses the same functions: it checks that every `.ipynb` has its
source's cells, executes every notebook once, and compares the outputs with the committed
ones (text outputs exactly; images only by their presence; cells tagged `timings` not at
all).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import jupytext
import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent

#: A cell with this tag is executed, but its outputs (timings) are not compared with the committed ones.
VOLATILE_TAG = "timings"
#: Per cell; the slowest cell (the comparison notebook's benchmark slice) takes well under this.
CELL_TIMEOUT_S = 600
#: Output types whose content is compared; images are compared by presence only.
TEXT_MIMES = ("text/plain", "text/markdown", "text/html", "application/json")


def names() -> list[str]:
    """The notebooks: every `.py` here paired with an `.ipynb` by its jupytext header."""
    return sorted(
        path.stem
        for path in HERE.glob("*.py")
        if "formats: ipynb,py:percent" in path.read_text(encoding="utf-8")[:1000]
    )


def read_source(name: str) -> nbformat.NotebookNode:
    """The notebook `name` as its source describes it: cells, no outputs, stable cell ids."""
    notebook = jupytext.read(HERE / f"{name}.py")
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"{name.replace('_', '-')}-{index:02d}"
    return notebook


def read_committed(name: str) -> nbformat.NotebookNode:
    return nbformat.read(HERE / f"{name}.ipynb", as_version=4)


def cell_sources(notebook: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """What must agree between a source and its `.ipynb`: each cell's type and text."""
    return [(cell.cell_type, cell.source) for cell in notebook.cells]


def kernel_env() -> dict[str, str]:
    """The kernel's environment: this one, with string hashing (set order) fixed."""
    return {**os.environ, "PYTHONHASHSEED": "0"}


async def aexecute(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Execute `notebook` in place in a fresh kernel started in this folder; raises on the first error."""
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=CELL_TIMEOUT_S,
        startup_timeout=120,
        record_timing=False,  # no wall-clock timestamps in the cells' metadata
        resources={"metadata": {"path": str(HERE)}},  # the kernel's working directory
    )
    await client.async_execute(env=kernel_env())
    return notebook


async def aexecute_all(
    selected: list[str], jobs: int = 2
) -> dict[str, nbformat.NotebookNode | BaseException]:
    """Execute the notebooks `selected`, `jobs` at a time; each one's notebook, or the error it raised."""
    gate = asyncio.Semaphore(jobs)

    async def one(name: str) -> nbformat.NotebookNode | BaseException:
        async with gate:
            try:
                return await aexecute(read_source(name))
            except Exception as exc:  # reported per notebook
                return exc

    done = await asyncio.gather(*(one(name) for name in selected))
    return dict(zip(selected, done, strict=True))


def outputs(notebook: nbformat.NotebookNode) -> list[tuple[str, list[Any]]]:
    """Each code cell's outputs, normalised for comparison: consecutive streams joined, text kept,
    images reduced to their type, cells tagged `timings` left out."""
    compared = []
    for cell in notebook.cells:
        if cell.cell_type != "code" or VOLATILE_TAG in cell.metadata.get("tags", []):
            continue
        shown: list[Any] = []
        for output in cell.outputs:
            kind = output.output_type
            if kind == "stream":
                if shown and shown[-1][0] == "stream" and shown[-1][1] == output.name:
                    shown[-1] = ("stream", output.name, shown[-1][2] + output.text)
                else:
                    shown.append(("stream", output.name, output.text))
            elif kind in ("display_data", "execute_result"):
                data = output.get("data", {})
                shown.append(
                    (
                        kind,
                        {mime: str(data[mime]) for mime in TEXT_MIMES if mime in data},
                        sorted(mime for mime in data if mime.startswith("image/")),
                    )
                )
            else:
                shown.append((kind, output.get("ename"), output.get("evalue")))
        compared.append((cell.source, shown))
    return compared


def write(name: str, notebook: nbformat.NotebookNode) -> None:
    nbformat.validate(notebook)
    nbformat.write(notebook, HERE / f"{name}.ipynb")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("notebooks", nargs="*", help="names (default: every notebook)")
    parser.add_argument(
        "--check", action="store_true", help="only check that each .ipynb has its source's cells"
    )
    parser.add_argument("--jobs", type=int, default=2, help="notebooks executed at once (default 2)")
    args = parser.parse_args(argv)
    known = names()
    selected = args.notebooks or known
    unknown = sorted(set(selected) - set(known))
    if unknown:
        parser.error(f"no such notebook: {', '.join(unknown)} (known: {', '.join(known)})")

    if args.check:
        stale = [
            n
            for n in selected
            if not (HERE / f"{n}.ipynb").exists()
            or cell_sources(read_committed(n)) != cell_sources(read_source(n))
        ]
        for name in stale:
            print(f"{name}.ipynb is out of date: run `python notebooks/execute.py {name}`", file=sys.stderr)
        return 1 if stale else 0

    failed = 0
    for name, done in asyncio.run(aexecute_all(selected, args.jobs)).items():
        if isinstance(done, BaseException):
            failed += 1
            print(f"{name}: FAILED, not written\n{done}", file=sys.stderr)
        else:
            write(name, done)
            print(f"wrote {name}.ipynb")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
