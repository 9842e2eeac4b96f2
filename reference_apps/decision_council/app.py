"""Command line: put a question to the council, and answer for it when it cannot agree.

    python app.py                                   # weighted vote; a judge agent breaks a split
    python app.py --arbitration human               # a split stops the run and waits for you
    python app.py --resume THREAD --answer OPTION   # your ruling; the run completes
    python app.py --model openai:gpt-4o-mini        # real models debate

Exit status: 0 decided, 1 the run failed, 2 bad options or input, 3 waiting
for a human answer (the command to give it is printed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langgraph.types import StateSnapshot
from patterns import RunResult, UsageError, arun, open_checkpointer, resolve_model
from patterns.cli import ArgumentParser, run_main
from patterns.presets import council_debate
from rich.console import Console
from rich.table import Table

from council import Council, CouncilError, load_council

HERE = Path(__file__).resolve().parent
PROG = "decision_council"
DEFAULT_CHECKPOINT = "sqlite:///.decision_council/checkpoints.sqlite"
WAITING = 3

_out = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
_err = Console(stderr=True, highlight=False, soft_wrap=True)


def parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog=PROG, description="A council debates, votes by expertise, and a judge or a human arbitrates."
    )
    p.add_argument(
        "--council", default=str(HERE / "council.json"), help="council file (default: council.json)"
    )
    p.add_argument(
        "--arbitration",
        choices=["judge", "human", "plurality"],
        default="judge",
        help="who decides when the weighted vote reaches no consensus (default: judge)",
    )
    p.add_argument(
        "--model",
        default=os.environ.get("ORCH_MODEL") or "scripted",
        help="'scripted' or PROVIDER:MODEL, e.g. openai:gpt-4o-mini (default: $ORCH_MODEL or scripted)",
    )
    p.add_argument("--base-url", help="OpenAI-compatible endpoint for a real model (Ollama, vLLM)")
    p.add_argument(
        "--checkpoint", default=DEFAULT_CHECKPOINT, help=f"checkpoint URL (default {DEFAULT_CHECKPOINT})"
    )
    p.add_argument("--thread", help="thread id for a new run (default: generated)")
    p.add_argument("--resume", metavar="THREAD", help="answer the waiting run THREAD (with --answer)")
    p.add_argument("--answer", metavar="OPTION", help="the option you choose for the waiting run")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    return p


async def _snapshot(thread: str, checkpoint: str) -> StateSnapshot:
    async with open_checkpointer(checkpoint) as saver:
        snapshot: StateSnapshot = await council_debate(checkpointer=saver).aget_state(
            {"configurable": {"thread_id": thread}}
        )
    return snapshot


async def pending_question(thread: str, checkpoint: str) -> dict[str, Any]:
    """The question a waiting run asks, or a `UsageError` saying why there is none."""
    snapshot = await _snapshot(thread, checkpoint)
    if snapshot.created_at is None:
        raise UsageError(f"no run {thread!r} in {checkpoint}: start one with --arbitration human")
    if not snapshot.interrupts:
        state = "decided" if "result" in snapshot.values else "not waiting for an answer"
        raise UsageError(f"run {thread!r} is {state}; there is nothing to answer")
    return dict(snapshot.interrupts[0].value)


def choose(answer: str, options: Sequence[str], thread: str) -> str:
    """The option `answer` names (case-insensitive), or a `UsageError` that keeps the run waiting."""
    by_key = {option.casefold(): option for option in options}
    try:
        return by_key[answer.strip().casefold()]
    except KeyError:
        raise UsageError(
            f"{answer!r} is not an option; choose one of: {', '.join(options)} "
            f"(run {thread!r} is still waiting: --resume {thread} --answer OPTION)"
        ) from None


def resume_command(thread: str) -> str:
    return f"python app.py --resume {thread} --answer OPTION"


def report(result: RunResult, council: Council | None) -> dict[str, Any]:
    """The outcome for people and scripts alike; member names come from the council file."""
    names = council.debater_names() if council else {}
    out: dict[str, Any] = {"thread_id": result.thread_id, "status": result.status, "error": result.error}
    if result.status == "interrupted":
        out["pending"] = result.interrupt
        out["resume"] = resume_command(str(result.thread_id))
        return out
    if result.output is None:
        return out
    output = result.output
    last = max(t["round"] for t in output["transcript"])
    weights = (
        {debater: m.expertise for debater, m in zip(names, council.members, strict=True)} if council else {}
    )
    out |= {k: output[k] for k in ("decision", "decided_by", "confidence", "consensus", "rationale", "vote")}
    out["members"] = [
        {
            "member": names.get(t["debater"], t["debater"]),
            "expertise": weights.get(t["debater"], 1.0),
            "position": t["position"],
            "confidence": t["confidence"],
            "ballot": round(weights.get(t["debater"], 1.0) * t["confidence"], 4),
            "argument": t["argument"],
        }
        for t in output["transcript"]
        if t["round"] == last
    ]
    return out


def render(out: dict[str, Any]) -> None:
    vote = out["pending"]["vote"] if out["status"] == "interrupted" else out.get("vote")
    if out.get("members"):
        table = Table(title="Final positions")
        for column in ("member", "expertise", "position", "confidence", "ballot"):
            table.add_column(column)
        for m in out["members"]:
            table.add_row(
                m["member"],
                f"{m['expertise']:g}",
                m["position"],
                f"{m['confidence']:.2f}",
                f"{m['ballot']:.2f}",
            )
        _out.print(table)
    if vote:
        total = sum(vote["distribution"].values()) or 1.0
        shares = ", ".join(
            f"{option} {weight / total:.0%}" for option, weight in vote["distribution"].items()
        )
        agreed = "consensus" if vote["consensus"] else "no consensus"
        _out.print(f"weighted vote: {shares} ({agreed})")
    if out["status"] == "interrupted":
        _out.print(f"[bold]The council is split; the decision is yours.[/] {out['pending']['question']}")
        _out.print(f"options: {', '.join(out['pending']['options'])}")
        _out.print(f"answer with: [bold]{out['resume']}[/]")
    elif out["status"] == "completed":
        _out.print(
            f"[bold]decision: {out['decision']}[/] (decided by {out['decided_by']}): {out['rationale']}"
        )
    _out.print(f"thread: {out['thread_id']}")


async def _run(args: argparse.Namespace) -> int:
    if args.answer is not None and not args.resume:
        raise UsageError("--answer goes with --resume THREAD: the run to answer")
    if args.resume and args.answer is None:
        raise UsageError(f"--resume needs --answer OPTION: {resume_command(args.resume)}")
    council = load_council(args.council)
    model = resolve_model(args.model, base_url=args.base_url)
    named: Council | None = council
    if args.resume:
        question = await pending_question(args.resume, args.checkpoint)
        answer = choose(args.answer, question["options"], args.resume)
        if question["question"] != council.question:
            named = None  # another council's run: show debater ids, not this file's names
        result = await arun(
            "debate",
            model=model,
            checkpoint=args.checkpoint,
            thread_id=args.resume,
            resume=True,
            resume_value=answer,
        )
    else:
        if args.thread and (await _snapshot(args.thread, args.checkpoint)).created_at is not None:
            # A new run on an existing thread would mix two debates' transcripts.
            raise UsageError(f"thread {args.thread!r} exists already: pick a new --thread")
        result = await arun(
            "debate",
            council.debate_input(args.arbitration),
            model=model,
            checkpoint=args.checkpoint,
            thread_id=args.thread,
        )
    out = report(result, named)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        render(out)
    if result.status == "failed":
        _err.print(f"{PROG}: the run failed: {result.error}", markup=False)
        return 1
    return WAITING if result.status == "interrupted" else 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(PROG, lambda: asyncio.run(_run(parser().parse_args(argv))), usage_errors=(CouncilError,))


if __name__ == "__main__":
    sys.exit(main())
