"""What the notebooks share: drawing a graph, checkpoints in a temporary folder, thread ids,
the checkpoint history, call counts, tables and figures.

Not a notebook: the notebooks import it (`from nbhelpers import ...`), which works because
Jupyter, `notebooks/execute.py` and the tests start each kernel in this folder.

Everything here prints the same text on every run, so the committed outputs of the
notebooks can be compared with a fresh execution: thread ids are counted, not random;
nothing prints a time, a duration, a temporary path or an object's address.
"""

from __future__ import annotations

import atexit
import io
import itertools
import os
import shutil
import tempfile
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # figures are rendered to PNG here: the same in JupyterLab, nbclient and CI

import matplotlib.pyplot as plt  # after choosing the backend
from IPython.display import Image, Markdown, display

__all__ = [
    "brief",
    "calls",
    "checkpoint_url",
    "draw",
    "new_thread",
    "plt",
    "scratch_dir",
    "show_figure",
    "show_history",
    "show_run",
    "table",
]

#: Where the notebooks' SQLite checkpoints (and other files) go: a fresh temporary folder per
#: kernel, removed when it exits, never the repository. Fresh, because the thread ids are
#: counted from 1 in every session: a file kept from an earlier session would continue its
#: threads instead of starting new ones.
WORK_DIR = Path(tempfile.mkdtemp(prefix="orch-notebook-"))
atexit.register(shutil.rmtree, WORK_DIR, ignore_errors=True)
# The kit's state directory too (CrewAI's files, in the comparison notebook): never the repository.
os.environ.setdefault("ORCH_STATE_DIR", str(WORK_DIR / "state"))

_threads: defaultdict[str, itertools.count[int]] = defaultdict(lambda: itertools.count(1))


def checkpoint_url(notebook: str) -> str:
    """The SQLite checkpoint URL of one notebook: one file holds every thread it runs."""
    return f"sqlite:///{WORK_DIR / f'notebook-{notebook}.sqlite'}"


def scratch_dir(name: str) -> Path:
    """A folder of the kernel's temporary folder, for files a notebook writes (reports, logs)."""
    path = WORK_DIR / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def new_thread(name: str, **config: Any) -> dict[str, Any]:
    """A run config with a new thread id (`name-1`, `name-2`, ...): each thread is one run's history.

    Extra keyword arguments go into the config (`recursion_limit=`, `max_concurrency=`).
    """
    return {"configurable": {"thread_id": f"{name}-{next(_threads[name])}"}, **config}


def draw(graph: Any) -> None:
    """The graph LangGraph compiled: as Mermaid (JupyterLab and GitHub render it) and as ASCII."""
    drawing = graph.get_graph()
    display(Markdown(f"```mermaid\n{drawing.draw_mermaid()}\n```"))
    try:
        with _stable_edge_order():
            print(drawing.draw_ascii())
    except ImportError:
        print("(pip install grandalf to see an ASCII drawing here as well)")


@contextmanager
def _stable_edge_order() -> Iterator[None]:
    """Make grandalf lay a graph out the same way in every process.

    grandalf collects a graph's edges in a `set`, and its edges hash by identity, so the
    order it meets them in (and, for a graph with a loop, the layout) changes from one
    process to the next. Hashing an edge by the names of its ends fixes that order.
    """
    from grandalf.graphs import Edge

    saved = Edge.__hash__
    Edge.__hash__ = lambda edge: zlib.crc32(f"{edge.v[0].data}->{edge.v[1].data}".encode())
    try:
        yield
    finally:
        Edge.__hash__ = saved


def brief(value: Any, width: int = 90) -> str:
    """`repr(value)`, cut to `width` characters."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


async def show_history(graph: Any, config: dict[str, Any]) -> None:
    """Every checkpoint of a thread, oldest first: its step, and what each task of that step wrote."""
    snapshots = [s async for s in graph.aget_state_history(config)]
    for snapshot in reversed(snapshots):
        step, source = snapshot.metadata["step"], snapshot.metadata["source"]
        waiting = Counter(snapshot.next)
        upcoming = ", ".join(name if n == 1 else f"{name} x{n}" for name, n in waiting.items())
        print(f"step {step:>2} ({source:<6}) next: {upcoming or '(done)'}")
        by_name: dict[str, list[Any]] = {}
        for task in snapshot.tasks:
            by_name.setdefault(task.name, []).append(task)
        for name, tasks in by_name.items():
            done = [t for t in tasks if t.result is not None]
            failed = [t for t in tasks if t.error is not None]
            if len(tasks) > 3:  # a fan-out: summarise it
                wrote = sorted({k for t in done for k in t.result})
                not_run = len(tasks) - len(done) - len(failed)
                print(
                    f"    {name} x{len(tasks)}: {len(done)} wrote {wrote}, {len(failed)} failed, {not_run} not run"
                )
                continue
            for task in tasks:
                if task.error is not None:
                    print(f"    {name} failed: {brief(task.error)}")
                if task.interrupts:
                    print(f"    {name} interrupted: {brief(task.interrupts[0].value)}")
                if task.result is None and task.error is None and not task.interrupts:
                    print(f"    {name}: not run yet")
                verb = "then, on resume, wrote" if task.error is not None or task.interrupts else "wrote"
                for key, value in (task.result or {}).items():
                    print(f"    {name} {verb} {key} = {brief(value)}")


def calls(model: Any) -> dict[str, str]:
    """Model calls per agent so far (the scripted model counts them), failed attempts in brackets."""
    return {
        agent: f"{usage.calls}" + (f" (+{usage.failures} failed)" if usage.failures else "")
        for agent, usage in sorted(model.brain.ledger.snapshot().items())
    }


def show_run(result: Any, steps: int = 8) -> None:
    """A `RunResult` without its timings: status, calls, tokens and the first steps."""
    print(f"{result.status}: {result.calls} model calls")
    print(f"tokens: {result.prompt_tokens} prompt, {result.completion_tokens} completion")
    for step in result.steps[:steps]:
        print(f"  {step.agent:<12} {step.status}")
    if len(result.steps) > steps:
        print(f"  ... and {len(result.steps) - steps} more steps")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A Markdown table (rendered by JupyterLab and GitHub)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    display(Markdown("\n".join(lines)))


def show_figure(fig: Any) -> None:
    """Display a matplotlib figure as a PNG image, and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    display(Image(buffer.getvalue()))
