"""The adapters' part of `orch`: `orch run --framework NAME [--via-http]` and `orch compare`.

Registered through the `orch.commands` entry point, so the core CLI in
`patterns` stays free of any framework import.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from adapters import FRAMEWORKS, PORTABLE, arun
from patterns.cli import brain_from_args, read_input, result_table
from patterns.cli._app import DEFAULT_CHECKPOINT_URL
from patterns.errors import UsageError

if TYPE_CHECKING:  # loaded by the commands, not when `orch` registers them
    from patterns.runtime import RunResult
    from patterns.testing import ScriptedBrain

__all__ = ["register"]

_out = Console(highlight=False, width=None if sys.stdout.isatty() else 150)
_err = Console(stderr=True, highlight=False, soft_wrap=True)


def register(sub: Any, parsers: dict[str, argparse.ArgumentParser]) -> None:
    run = parsers["run"]
    run.add_argument(
        "--framework",
        choices=list(FRAMEWORKS),
        default="langgraph",
        help="run the flow natively on this framework (default langgraph)",
    )
    run.add_argument(
        "--via-http",
        action="store_true",
        help="drive the framework through its own OpenAI client against a loopback scripted server",
    )
    run.set_defaults(run_on_framework=_run_on_framework)

    compare = sub.add_parser(
        "compare",
        parents=[parsers["model-options"]],
        help="run every pattern on every framework and compare them side by side",
    )
    compare.add_argument("--patterns", nargs="+", choices=PORTABLE, default=list(PORTABLE))
    compare.add_argument("--frameworks", nargs="+", choices=list(FRAMEWORKS), default=list(FRAMEWORKS))
    compare.add_argument("--via-http", action="store_true")
    compare.add_argument("--json", action="store_true", help="print every RunResult as JSON")
    compare.set_defaults(handler=lambda args: asyncio.run(_compare(args)))


def _check_scripted(args: argparse.Namespace) -> None:
    if args.model not in (None, "scripted") or args.base_url:
        raise UsageError(
            "the framework adapters run on the scripted model; drop --model/--base-url "
            "(use --via-http to drive each framework's own OpenAI client)"
        )


async def _run_once(
    framework: str, pattern: str, data: Any, brain: ScriptedBrain, url: str | None, **options: Any
) -> RunResult:
    return await arun(framework, pattern, data, brain=brain, base_url=url, **options)


def _server(stack: ExitStack, brain: ScriptedBrain, via_http: bool) -> str | None:
    if not via_http:
        return None
    from patterns.testing import running_server

    return stack.enter_context(running_server(brain))


async def _run_on_framework(args: argparse.Namespace) -> int:
    _check_scripted(args)
    if args.resume or args.thread or args.checkpoint != DEFAULT_CHECKPOINT_URL:
        raise UsageError(
            "--checkpoint, --thread and --resume apply to --framework langgraph only; "
            "see the README's resume table for what each framework can resume"
        )
    from patterns.presets import PATTERNS

    if args.pattern not in PATTERNS:
        raise UsageError(f"unknown pattern {args.pattern!r}; choose one of: {', '.join(PATTERNS)}")
    data = read_input(args.input)
    brain = brain_from_args(args)
    with ExitStack() as stack:
        url = _server(stack, brain, args.via_http)
        if not args.json and _err.is_terminal:
            _err.print(f"running {args.pattern} on {args.framework}{' via HTTP' if url else ''} ...")
        # The other frameworks cannot pause for a human: the arbitrator's choice comes up front.
        options = {"answer": args.answer} if args.answer is not None else {}
        result = await _run_once(args.framework, args.pattern, data, brain, url, **options)
    if args.json:
        print(result.model_dump_json(indent=2))
    else:
        _out.print(result_table([result], f"orch run {args.pattern} --framework {args.framework}"))
        if result.output is not None:
            _out.print_json(json.dumps(result.output))
    return 0 if result.status == "completed" else 1


async def _compare(args: argparse.Namespace) -> int:
    _check_scripted(args)
    results: dict[tuple[str, str], RunResult] = {}
    with ExitStack() as stack, Progress(console=_err, transient=True, disable=args.json) as progress:
        brain = brain_from_args(args)
        url = _server(stack, brain, args.via_http)
        task = progress.add_task("comparing", total=len(args.patterns) * len(args.frameworks))
        for pattern in args.patterns:
            for framework in args.frameworks:
                progress.update(task, description=f"{pattern} on {framework}")
                results[pattern, framework] = await _run_once(framework, pattern, None, brain, url)
                progress.advance(task)
    if args.json:
        print(json.dumps([r.model_dump(mode="json") for r in results.values()], indent=2))
    else:
        _out.print(_comparison(results, args.patterns, args.frameworks, via_http=args.via_http))
    return 0 if all(r.status == "completed" for r in results.values()) else 1


def _comparison(
    results: dict[tuple[str, str], RunResult], patterns: list[str], frameworks: list[str], *, via_http: bool
) -> Table:
    table = Table(
        title=f"every pattern on every framework ({'via HTTP' if via_http else 'in-process'}, scripted model)",
        caption=f"calls, prompt/completion tokens, cost (priced models: --pricing), wall time; "
        f"'=' marks an output equal to {frameworks[0]}'s",
    )
    table.add_column("pattern")
    for framework in frameworks:
        table.add_column(framework, justify="right")
    for pattern in patterns:
        reference = results[pattern, frameworks[0]].output
        cells = []
        for framework in frameworks:
            r = results[pattern, framework]
            if r.status != "completed":
                cells.append(f"[red]{r.status}[/]: {(r.error or '')[:40]}")
                continue
            same = "=" if r.output == reference else "[red]differs[/]"
            cost = "unpriced" if r.cost_usd is None else f"${r.cost_usd:.4f}"
            cells.append(
                f"{same} {r.calls} calls, {r.prompt_tokens:,}/{r.completion_tokens:,} tok, {cost}, "
                f"{r.wall_time_s * 1000:.0f} ms"
            )
        table.add_row(pattern, *cells)
    return table
