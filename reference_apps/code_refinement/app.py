"""Command line: refine code against unit tests until they pass, converge, or run out of turns.

    python app.py                                   # the bundled slugify task, scripted generator
    python app.py --model openai:gpt-4o-mini        # a real model writes the code
    python app.py --resume --thread refine-1a2b3c   # continue an interrupted run

Exit status: 0 when the best candidate reached the threshold, 1 when it did
not, 2 for bad options or input, or when this machine cannot build the sandbox.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from patterns import UsageError, resolve_model
from patterns.cli import ArgumentParser, number, run_main
from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table

from generators import CodeGenerator, ModelGenerator, ScriptedGenerator
from loop import DEFAULT_CHECKPOINT, LoopSettings, Outcome, ThreadError, refine
from sandbox import LIMIT_BOUNDS, SandboxUnavailable, isolation
from task import TaskError, load_task

HERE = Path(__file__).resolve().parent
PROG = "code_refinement"

_out = Console(highlight=False, width=None if sys.stdout.isatty() else 120)


def parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog=PROG, description="Generator/critic loop whose critic runs the unit tests in a sandbox."
    )
    p.add_argument("--task", default=str(HERE / "tasks" / "slugify"), help="task folder (default: slugify)")
    p.add_argument(
        "--model",
        default=os.environ.get("ORCH_MODEL") or "scripted",
        help="'scripted' (replays the task's revisions) or PROVIDER:MODEL, e.g. openai:gpt-4o-mini "
        "(default: $ORCH_MODEL or scripted)",
    )
    p.add_argument("--base-url", help="OpenAI-compatible endpoint for a real model (Ollama, vLLM)")
    p.add_argument("--max-iterations", type=int, default=5, help="hard bound on rounds (default 5)")
    p.add_argument(
        "--threshold", type=number(low=0, high=1), default=1.0, help="score that ends the loop (default 1.0)"
    )
    p.add_argument(
        "--epsilon", type=number(low=0, high=1), default=0.01, help="smaller score change = converged"
    )
    # The sandbox's own bounds: inf, NaN, negative or huge limits are refused here, in one line.
    low_s, high_s = LIMIT_BOUNDS["timeout_s"]
    low_mb, high_mb = (int(b) for b in LIMIT_BOUNDS["memory_mb"])
    p.add_argument(
        "--timeout",
        type=number(low=low_s, high=high_s, unit="seconds"),
        default=10.0,
        help=f"seconds per test run, {low_s:g} to {high_s:g} (default 10)",
    )
    p.add_argument(
        "--memory-mb",
        type=number(int, low=low_mb, high=high_mb),
        default=512,
        help=f"address-space limit per sandboxed process in MB, {low_mb} to {high_mb} (default 512)",
    )
    p.add_argument(
        "--checkpoint", default=DEFAULT_CHECKPOINT, help=f"checkpoint URL (default {DEFAULT_CHECKPOINT})"
    )
    p.add_argument("--thread", help="thread id of the run (printed by every run)")
    p.add_argument("--resume", action="store_true", help="continue --thread from its last checkpoint")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    return p


def generator_for(model: str, base_url: str | None) -> CodeGenerator:
    if model == "scripted":
        return ScriptedGenerator()
    return ModelGenerator(resolve_model(model, base_url=base_url))


def _settings(args: argparse.Namespace) -> LoopSettings:
    if not 1 <= args.max_iterations <= 50:
        raise UsageError(f"--max-iterations must be between 1 and 50, got {args.max_iterations}")
    return LoopSettings(
        threshold=args.threshold,
        epsilon=args.epsilon,
        max_iterations=args.max_iterations,
        timeout_s=args.timeout,
        memory_mb=args.memory_mb,
    )


def render(outcome: Outcome) -> None:
    table = Table(title=f"Refining {outcome.task} (thread {outcome.thread_id})")
    for column in ("round", "score", "tests", "status", "failing"):
        table.add_column(column)
    for r in outcome.history:
        failing = ", ".join(f.test for f in r.failures[:3]) + (" ..." if len(r.failures) > 3 else "")
        table.add_row(str(r.iteration), f"{r.score:.3f}", f"{r.passed}/{r.total}", r.status, failing or "-")
    _out.print(table)
    _out.print(
        f"stopped: {outcome.stop_reason} after {outcome.iterations} round(s); best score {outcome.best_score:.3f}; "
        f"sandbox: {outcome.isolation}"
    )
    _out.print(Syntax(outcome.best_code, "python", theme="ansi_dark", line_numbers=True))


async def _run(args: argparse.Namespace) -> int:
    task = load_task(args.task)
    settings = _settings(args)
    isolation()  # before any model call: a machine that cannot build the sandbox is told so in one line
    outcome = await refine(
        task,
        generator_for(args.model, args.base_url),
        settings,
        checkpoint=args.checkpoint,
        thread_id=args.thread,
        resume=args.resume,
    )
    if args.json:
        print(json.dumps(outcome.model_dump(mode="json"), indent=2))
    else:
        render(outcome)
    return 0 if outcome.stop_reason == "threshold" else 1


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(
        PROG,
        lambda: asyncio.run(_run(parser().parse_args(argv))),
        usage_errors=(TaskError, ThreadError, SandboxUnavailable),
        interrupted="interrupted; continue with --resume --thread ID",
    )


if __name__ == "__main__":
    sys.exit(main())
