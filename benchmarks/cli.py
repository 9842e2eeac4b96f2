"""`orch bench`: the framework comparison, registered through the `orch.commands` entry point.

    orch bench --quick                               # 3 min 30 s measured on 2 cores
    orch bench                                       # the full run (committed results), under 30 minutes
    orch bench --quick --patterns pipeline debate --frameworks langgraph autogen
    python -m benchmarks --quick                     # the same without the entry point
    orch bench --quick --flow myflows:DESK --responders myflows:ANSWERS --input desk.json
    orch bench --measures distributed --results-dir benchmarks/results/distributed   # Celery workers

`--flow MODULE:ATTRIBUTE` benchmarks your own declared flow (a `PatternSpec` from
`SPEC.flow(...)`, imported with the working directory on the path) on every framework:
the equivalence check (against the LangGraph adapter, since the asyncio floor runs the
presets' tables only), per-step overhead and resilience. `--responders MODULE:ATTRIBUTE`
is the scripted model's answers, a mapping of agent name to `fn(payload) -> dict`
(default: the presets'); `--input FILE|-` the flow's input JSON (default: its sample).

Progress goes to stderr; the result JSON, `latest.json`, `report.md` and the
charts go to `./bench-results/<profile>/` in the working directory, or to
`--results-dir DIR` itself (the committed full run: `--results-dir benchmarks/results`).
`--measures distributed` (opt-in: real `orch worker` processes on RabbitMQ and PostgreSQL)
is committed on its own, under `benchmarks/results/distributed`, so that it never
replaces the framework comparison's `latest.json` and `report.md`.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from adapters import FRAMEWORKS, PORTABLE
from benchmarks.profiles import ALL_MEASURES, FLOW_MEASURES, MEASURES, OPT_IN_MEASURES, PROFILES
from patterns.cli import run_main
from patterns.errors import UsageError

if TYPE_CHECKING:  # loaded by the command, not when `orch` registers it
    from patterns.runtime import PatternSpec
    from patterns.testing import Responder

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
    parser.add_argument(
        "--patterns", nargs="+", choices=PORTABLE, default=None, help="the presets to run (default all)"
    )
    parser.add_argument(
        "--flow",
        metavar="MODULE:ATTRIBUTE",
        default=None,
        help="benchmark your declared flow (a PatternSpec from SPEC.flow(...)) instead of the presets",
    )
    parser.add_argument(
        "--responders",
        metavar="MODULE:ATTRIBUTE",
        default=None,
        help="with --flow: the scripted answers, a mapping agent name -> fn(payload) -> dict",
    )
    parser.add_argument(
        "--input", metavar="FILE|-", default=None, help="with --flow: its input JSON (default: its sample)"
    )
    parser.add_argument(
        "--frameworks",
        nargs="+",
        choices=list(FRAMEWORKS),
        default=None,
        help="default all (langgraph alone when only opt-in measures are asked for)",
    )
    parser.add_argument(
        "--measures",
        nargs="+",
        choices=list(ALL_MEASURES),
        default=None,
        help=f"default all but {', '.join(OPT_IN_MEASURES)} (opt-in: RabbitMQ, PostgreSQL, worker processes); "
        f"with --flow: {', '.join(FLOW_MEASURES)}",
    )
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


def load_attribute(reference: str, option: str) -> Any:
    """`MODULE:ATTRIBUTE` imported (the working directory on the path), or a one-line `UsageError`."""
    module_name, sep, attribute = reference.partition(":")
    if not sep or not module_name or not attribute:
        raise UsageError(f"{option} takes MODULE:ATTRIBUTE (e.g. myflows:DESK), got {reference!r}")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any failure of the user's module is theirs to read, in one line
        raise UsageError(
            f"{option} {reference}: cannot import {module_name!r}: {type(exc).__name__}: {exc}"
        ) from None
    value = module
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise UsageError(
                f"{option} {reference}: {module_name!r} has no attribute {attribute!r}"
            ) from None
    return value


def _read_json(source: str) -> Any:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        return json.loads(text)
    except OSError as exc:
        raise UsageError(f"--input {source}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"--input {source}: not JSON: {exc}") from None


def declared_flow(
    args: argparse.Namespace,
) -> tuple[dict[str, PatternSpec], dict[str, Any], Mapping[str, Responder] | None]:
    """The `--flow` (with its input and responders), checked before any run: a `UsageError` if unfit."""
    if args.patterns:
        raise UsageError("--flow benchmarks your flow; --patterns picks presets: give one or the other")
    if args.measures and (other := [m for m in args.measures if m not in FLOW_MEASURES]):
        raise UsageError(
            f"--flow takes the measures of a single flow ({', '.join(FLOW_MEASURES)}), not {', '.join(other)}"
        )
    spec = load_attribute(args.flow, "--flow")
    from patterns.runtime import PatternSpec

    if not isinstance(spec, PatternSpec) or not spec.args:
        kind = "a preset or pattern SPEC" if isinstance(spec, PatternSpec) else type(spec).__name__
        raise UsageError(
            f"--flow {args.flow} is {kind}, not a declared flow (a PatternSpec from SPEC.flow(...))"
        )
    if spec.name not in PORTABLE:
        raise UsageError(
            f"--flow {args.flow} is a {spec.name} flow; every framework runs: {', '.join(PORTABLE)}"
        )
    responders = None
    if args.responders:
        responders = load_attribute(args.responders, "--responders")
        if not isinstance(responders, Mapping) or not all(
            isinstance(k, str) and callable(v) for k, v in responders.items()
        ):
            raise UsageError(
                f"--responders {args.responders} is not a mapping of agent name -> fn(payload) -> dict"
            )
    if args.input is not None:
        data = _read_json(args.input)
    elif spec.sample is not None:
        data = dict(spec.sample)
    else:
        raise UsageError(f"--flow {args.flow} has no sample input: give one with --input FILE|-")
    from patterns.runtime import validate_input

    validate_input(spec, data)
    return {args.flow: spec}, {args.flow: data}, responders


def _handle(args: argparse.Namespace) -> int:
    from benchmarks.harness import results_dir_for, run_bench

    profile = PROFILES[args.size or ("quick" if args.quick else "full")]
    flows: dict[str, PatternSpec] = {}
    inputs: dict[str, Any] = {}
    responders = None
    if args.flow:
        flows, inputs, responders = declared_flow(args)
    elif args.responders or args.input is not None:
        raise UsageError("--responders and --input go with --flow")
    measures = list(args.measures or (FLOW_MEASURES if flows else MEASURES))
    frameworks = args.frameworks
    if frameworks is None:
        # The opt-in measures run the kit's own runtime, not the frameworks: LangGraph alone is
        # probed and checked for equivalence, instead of importing every framework for nothing.
        only_opt_in = all(m in OPT_IN_MEASURES for m in measures)
        frameworks = ["langgraph"] if only_opt_in else list(FRAMEWORKS)
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
                patterns=list(flows) or list(args.patterns or PORTABLE),
                frameworks=list(frameworks),
                measures=measures,
                results_dir=args.results_dir,
                progress=update,
                flows=flows,
                inputs=inputs,
                responders=responders,
                responders_name=args.responders,
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
