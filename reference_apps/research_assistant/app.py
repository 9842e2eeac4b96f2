"""Command line: ask a question of five sources at once and get merged, attributed findings.

    python app.py                                            # the default question
    python app.py "Do heat pumps work below freezing?"       # your question
    python app.py --offline news --offline forum             # two sources down: still answered
    python app.py --quorum 5 --offline news                  # all five needed: fails, says why
    python app.py --model openai:gpt-4o-mini --json          # real source agents, JSON out

Exit status: 0 answered, 1 too few sources answered (quorum not met) or the
run failed, 2 bad options or sources.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from patterns import FaultPolicy, UsageError, resolve_model
from patterns.cli import ArgumentParser, number, run_main
from patterns.runtime import StepEvent
from rich.console import Console
from rich.table import Table

from research import Report, load_sources, report, research

HERE = Path(__file__).resolve().parent
PROG = "research_assistant"
DEFAULT_QUESTION = "How do heat pumps save energy in cold climates?"

_out = Console(highlight=False, width=None if sys.stdout.isatty() else 140)
_err = Console(stderr=True, highlight=False, soft_wrap=True)


def parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog=PROG, description="Scatter a question over five sources; gather findings with provenance."
    )
    p.add_argument("question", nargs="?", default=DEFAULT_QUESTION, help=f"default: {DEFAULT_QUESTION!r}")
    p.add_argument("--sources", default=str(HERE / "sources"), help="folder with one sub-folder per source")
    p.add_argument("--quorum", type=number(int, low=1), help="sources that must answer (default: a majority)")
    p.add_argument(
        "--offline",
        action="append",
        default=[],
        metavar="SOURCE",
        help="simulate SOURCE being down (scripted model only; repeatable)",
    )
    p.add_argument(
        "--timeout",
        type=number(low=0, low_open=True, unit="seconds"),
        default=60.0,
        help="seconds per source attempt (default 60)",
    )
    p.add_argument(
        "--model",
        default=os.environ.get("ORCH_MODEL") or "scripted",
        help="'scripted' or PROVIDER:MODEL, e.g. openai:gpt-4o-mini (default: $ORCH_MODEL or scripted)",
    )
    p.add_argument("--base-url", help="OpenAI-compatible endpoint for a real model (Ollama, vLLM)")
    p.add_argument("--checkpoint", default="memory", help="checkpoint URL (default: memory)")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    return p


def render(out: Report) -> None:
    _out.print(f"[bold]{out.question}[/]")
    if out.findings:
        table = Table(title="Findings (merged, most corroborated first)")
        table.add_column("#", justify="right")
        table.add_column("finding")
        table.add_column("sources")
        table.add_column("score", justify="right")
        for n, f in enumerate(out.findings, 1):
            table.add_row(str(n), f["text"], ", ".join(f["sources"]), f"{f['score']:.2f}")
        _out.print(table)
    if out.sources:
        table = Table(title="Sources")
        for column in ("source", "status", "findings", "error"):
            table.add_column(column)
        for s in out.sources:
            status = "[green]answered[/]" if s.status == "answered" else "[red]failed[/]"
            table.add_row(s.name, status, str(s.findings) if s.status == "answered" else "", s.error or "")
        _out.print(table)
    if out.summary:
        _out.print(f"{out.summary} Quorum {out.quorum}; model calls {out.model_calls}.")


async def _run(args: argparse.Namespace) -> int:
    sources = load_sources(Path(args.sources))
    unknown = sorted(set(args.offline) - set(sources))
    if unknown:
        raise UsageError(f"--offline {', '.join(unknown)}: no such source; sources are {', '.join(sources)}")
    if args.quorum is not None and args.quorum > len(sources):
        raise UsageError(f"--quorum {args.quorum} exceeds the number of sources ({len(sources)})")
    if args.offline and args.model != "scripted":
        raise UsageError(
            "--offline injects failures into the scripted model; it cannot take a real source down"
        )
    model = resolve_model(
        args.model, base_url=args.base_url, faults=FaultPolicy(down_agents=frozenset(args.offline))
    )

    with _err.status(f"asking {len(sources)} sources", spinner="dots") as status:
        done: list[str] = []

        def progress(event: StepEvent) -> None:
            if event.end is not None and event.agent == "research":
                done.append(event.status)
                status.update(f"asking {len(sources)} sources: {len(done)} replies")
            elif event.agent == "aggregate" and event.end is None:
                status.update("merging findings")

        result = await research(
            args.question,
            sources,
            model=model,
            quorum=args.quorum,
            checkpoint=args.checkpoint,
            timeout=args.timeout,
            on_step=None if args.json else progress,
        )
    out = report(args.question, result)
    if args.json:
        print(json.dumps(out.model_dump(), indent=2))
    else:
        render(out)
    if out.status != "answered":
        what = "quorum not met" if out.status == "quorum_not_met" else "the run failed"
        _err.print(f"{PROG}: {what}: {out.error}", markup=False)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(PROG, lambda: asyncio.run(_run(parser().parse_args(argv))))


if __name__ == "__main__":
    sys.exit(main())
