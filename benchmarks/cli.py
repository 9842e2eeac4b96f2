"""`orch bench`: the framework comparison, registered through the `orch.commands` entry point.

    orch bench --quick                               # 3 min 30 s measured on 2 cores
    orch bench                                       # the full run (committed results), under 30 minutes
    orch bench --quick --patterns pipeline debate --frameworks langgraph autogen
    python -m benchmarks --quick                     # the same without the entry point

Progress goes to stderr; the result JSON, `latest.json`, `report.md` and the
charts go to `./bench-results/<profile>/` in the working directory, or to
`--results-dir DIR` itself (the committed full run: `--results-dir benchmarks/results`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from adapters import FRAMEWORKS, PORTABLE
from benchmarks.profiles import MEASURES, PROFILES
from patterns.cli import run_main
from patterns.errors import UsageError

__all__ = ["add_arguments", "main", "register"]

_err = Console(stderr=True, highlight=False, soft_wrap=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="the quick profile: small sizes, few repeats")
    parser.add_argument(
        "--size",
        choices=list(PROFILES),
        default=None,
        help="the profile by name (default full; --quick is --size quick; tiny is for tests)",
    )
    parser.add_argument("--patterns", nargs="+", choices=PORTABLE, default=list(PORTABLE))
    parser.add_argument("--frameworks", nargs="+", choices=list(FRAMEWORKS), default=list(FRAMEWORKS))
    parser.add_argument("--measures", nargs="+", choices=list(MEASURES), default=list(MEASURES))
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="where results go, used as given (default ./bench-results/PROFILE)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.set_defaults(handler=_handle)


def register(sub: Any, parsers: dict[str, argparse.ArgumentParser]) -> None:
    """Add `orch bench` to the `orch` command line."""
    bench = sub.add_parser("bench", help="benchmark the frameworks side by side and write a report")
    add_arguments(bench)


def _check_writable(folder: Path) -> None:
    """Fail before a long run, not after it: the folder exists (or is made) and takes a file."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise UsageError(f"cannot write results to {str(folder)!r}: {exc.strerror or exc}") from None


def _handle(args: argparse.Namespace) -> int:
    from benchmarks.harness import results_dir_for, run_bench

    profile = PROFILES[args.size or ("quick" if args.quick else "full")]
    _check_writable(results_dir_for(profile.name, args.results_dir))
    t0 = time.perf_counter()
    with Progress(
        TextColumn("[bold]bench[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_err,
        transient=False,
        disable=args.no_progress,
    ) as progress:
        task = progress.add_task(f"{profile.name}: starting", total=None)

        def update(label: str, done: int, total: int) -> None:
            progress.update(task, description=f"{profile.name}: {label}", completed=done, total=total)

        path = asyncio.run(
            run_bench(
                profile,
                patterns=list(args.patterns),
                frameworks=list(args.frameworks),
                measures=list(args.measures),
                results_dir=args.results_dir,
                progress=update,
            )
        )
    _err.print(
        f"results: {path}\nreport:  {path.parent / 'report.md'}\nwall: {time.perf_counter() - t0:.1f} s"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run_main("python -m benchmarks", lambda: int(args.handler(args)))


if __name__ == "__main__":
    sys.exit(main())
