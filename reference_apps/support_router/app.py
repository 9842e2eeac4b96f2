"""Command line: route customer messages to the right desk, with acknowledged handoffs and a fallback.

    python app.py                                        # the sample messages in messages.txt
    python app.py "I was charged twice, refund please"   # your message(s)
    python app.py --offline billing                      # billing rejects: the general desk takes over
    python app.py --slow technical --ack-timeout 0.2     # technical never acknowledges in time
    python app.py --semantic                             # match capabilities with MiniLM embeddings
    python app.py --model openai:gpt-4o-mini --json      # real router and desk agents, JSON out

Exit status: 0 every message answered, 1 a run failed, 2 bad options, desks
file or handoff message.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from patterns import UsageError, open_checkpointer, resolve_model
from patterns.cli import ArgumentParser, number, run_main
from patterns.coordination import (
    Embedder,
    EmbedderUnavailable,
    HashingEmbedder,
    InvalidHandoff,
    MiniLMEmbedder,
)
from rich.console import Console
from rich.table import Table

from desks import Desk, FallbackDesk, load_desks, registry_for
from scripted import responders
from support import SupportContext, build_support, handle

HERE = Path(__file__).resolve().parent
PROG = "support_router"

_out = Console(highlight=False, width=None if sys.stdout.isatty() else 140)
_err = Console(stderr=True, highlight=False, soft_wrap=True)


def parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog=PROG, description="Route customer messages to desks with acknowledged handoffs.")
    p.add_argument("messages", nargs="*", help="messages to route (default: the lines of --file)")
    p.add_argument(
        "--file", default=str(HERE / "messages.txt"), help="one message per line (default: messages.txt)"
    )
    p.add_argument(
        "--desks",
        default=str(HERE / "desks.json"),
        help="the desks, their keywords and capabilities, and the fallback desk (default: desks.json)",
    )
    p.add_argument("--customer", default="customer-1", help="customer id carried in the handoff")
    p.add_argument(
        "--offline", action="append", default=[], metavar="DESK", help="DESK rejects every handoff"
    )
    p.add_argument(
        "--slow", action="append", default=[], metavar="DESK", help="DESK never acknowledges in time"
    )
    p.add_argument(
        "--ack-timeout",
        type=number(low=0, low_open=True, high=600, unit="seconds"),
        default=2.0,
        help="seconds to wait for an acknowledgement",
    )
    p.add_argument("--semantic", action="store_true", help="semantic matching with MiniLM (default: hashing)")
    p.add_argument(
        "--model",
        default=os.environ.get("ORCH_MODEL") or "scripted",
        help="'scripted' or PROVIDER:MODEL, e.g. openai:gpt-4o-mini (default: $ORCH_MODEL or scripted)",
    )
    p.add_argument("--base-url", help="OpenAI-compatible endpoint for a real model (Ollama, vLLM)")
    p.add_argument("--checkpoint", default="memory", help="checkpoint URL (default: memory)")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    return p


def read_messages(args: argparse.Namespace) -> list[str]:
    if args.messages:
        messages = [m.strip() for m in args.messages]
    else:
        try:
            messages = [line.strip() for line in Path(args.file).read_text(encoding="utf-8").splitlines()]
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read messages file {args.file!r}: {exc}") from None
        messages = [m for m in messages if m and not m.startswith("#")]
    if not messages or not all(messages):
        raise UsageError("a message is empty; give each message some text")
    return messages


async def route_all(args: argparse.Namespace) -> list[dict[str, Any]]:
    messages = read_messages(args)
    book = load_desks(Path(args.desks))
    names, fallback = book.names, book.fallback
    for option, chosen in (("--offline", args.offline), ("--slow", args.slow)):
        if unknown := sorted(set(chosen) - set(names)):
            raise UsageError(f"{option} {', '.join(unknown)}: no such desk; desks are {', '.join(names)}")
    if fallback in args.offline or fallback in args.slow:
        raise UsageError(
            f"the {fallback!r} desk is the fallback of last resort; it cannot be offline or slow"
        )
    embedder: Embedder = MiniLMEmbedder() if args.semantic else HashingEmbedder()
    receivers: dict[str, Any] = {
        d.name: Desk(
            d.name,
            d.capability_names,
            offline=d.name in args.offline,
            # Twice the wait, so the protocol gives up first; a real slow desk would never answer.
            ack_delay_seconds=2 * args.ack_timeout if d.name in args.slow else 0.0,
        )
        for d in book.desks
        if d.name != fallback
    }
    receivers[fallback] = FallbackDesk(fallback, book.desks[names.index(fallback)].capability_names)
    context = SupportContext(
        model=resolve_model(args.model, base_url=args.base_url, responders=responders(book)),
        registry=registry_for(book, embedder),
        receivers=receivers,
        fallback=fallback,
        ack_timeout_seconds=args.ack_timeout,
    )
    results = []
    async with open_checkpointer(args.checkpoint) as saver:
        graph = build_support(book, checkpointer=saver)
        with _err.status("routing", spinner="dots") as status:
            for n, message in enumerate(messages, 1):
                status.update(f"routing message {n} of {len(messages)}")
                session = f"support-{uuid.uuid4().hex[:12]}"
                results.append(await handle(graph, context, message, customer=args.customer, session=session))
    return results


def render(results: list[dict[str, Any]]) -> None:
    table = Table(title="Support messages", show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("message", ratio=3)
    table.add_column("route", no_wrap=True)
    table.add_column("handoff attempts (ack)", ratio=2)
    table.add_column("answered by", no_wrap=True)
    table.add_column("answer", ratio=3)
    colour = {"accepted": "green", "rejected": "yellow"}
    for n, r in enumerate(results, 1):
        attempts = []
        for a in r["handoff"]["attempts"]:
            status = f"[{colour.get(a['status'], 'red')}]{a['status']}[/]"
            reason = f": {a['reason']}" if a["reason"] else ""
            fallback = " (fallback)" if a["escalation"] else ""
            attempts.append(f"{a['agent']}{fallback} {status}{reason}")
        table.add_row(
            str(n),
            r["message"],
            f"{r['route']} ({r['confidence']:.2f})",
            "\n".join(attempts),
            r["handled_by"],
            r["answer"],
        )
    _out.print(table)


async def _run(args: argparse.Namespace) -> int:
    results = await route_all(args)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        render(results)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    # The protocol logs each failed attempt; here every attempt is in the output already.
    logging.getLogger("patterns.coordination").setLevel(logging.ERROR)
    return run_main(
        PROG,
        lambda: asyncio.run(_run(parser().parse_args(argv))),
        usage_errors=(InvalidHandoff, EmbedderUnavailable),
    )


if __name__ == "__main__":
    sys.exit(main())
