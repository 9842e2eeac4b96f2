"""`orch`: list, inspect, run and stream the patterns; browse and fork a thread's checkpoints; serve, demo.

Every failure a user can cause (unknown pattern, bad JSON, schema errors, an
unreachable database, out-of-range options, resuming an unknown thread) ends
in one line on stderr and exit code 2. A flow that runs and fails exits 1; one
paused for a human's answer exits 3; Ctrl-C exits 130 and names the thread to resume.

Start-up is cheap: this module imports neither LangGraph nor the flows, so
`orch --help`, `orch list` and a mistyped pattern answer at once. The runtime
is imported by the commands that run something; `orch list` and `--help` read
`PATTERN_INDEX`, which a test keeps equal to `patterns.presets.PATTERNS`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from patterns import observability
from patterns.cli._console import ArgumentParser, number, run_main
from patterns.errors import UsageError

if TYPE_CHECKING:  # imported by the commands that run something: `orch --help` stays fast
    from patterns.runtime import RunEvent, RunResult, StepEvent
    from patterns.testing import ScriptedBrain

__all__ = [
    "DEFAULT_CHECKPOINT_URL",
    "EXIT_WAITING",
    "PATTERN_INDEX",
    "PLUGIN_GROUP",
    "brain_from_args",
    "main",
    "read_input",
    "result_table",
    "summarize",
]

#: The exit code of a run paused for a human's answer (resume it with --resume --answer).
EXIT_WAITING = 3

#: Entry-point group through which other packages add commands and `orch run` options;
#: `adapters` adds `--framework` and `orch compare` this way, so `patterns` never imports it.
PLUGIN_GROUP = "orch.commands"

#: Every preset's name and summary, in `PATTERNS` order: what `orch list`, `orch run --help` and
#: the unknown-pattern message show without importing LangGraph. Derived, not kept by hand:
#: `tests/test_time_travel.py` fails, printing the new value, when `PATTERNS` changes.
PATTERN_INDEX: dict[str, str] = {
    "pipeline": "extract -> validate -> transform an invoice, with a validation gate",
    "scatter_gather": "ask N sources in parallel, merge with provenance, tolerate failures",
    "map_reduce": "score 1,000 reviews in batches with bounded concurrency, then reduce",
    "refinement": "generator -> critic loop until threshold, convergence or max iterations",
    "debate": "N debaters, R rounds, a vote, arbitration on no consensus",
    "routing": "classify a message, route it to the right specialist",
    "handoff": "desks hand a conversation to each other with full context",
    "orchestrator": "a planner splits a trip into subtasks, workers do them in parallel, a writer costs the itinerary",
    "supervisor": "a lead gives the turn to analysts, then a scribe, until the incident is written up",
    "tools": "an assistant looks figures up and computes with tools, then answers",
    "approval": "draft -> human approval -> publish, with guardrails",
}

#: `patterns.runtime.DEFAULT_CHECKPOINT_URL`, the same test checks it (the runtime imports LangGraph).
DEFAULT_CHECKPOINT_URL = "sqlite:///.orch/checkpoints.sqlite"

_err = Console(stderr=True, highlight=False, soft_wrap=True)
# Outside a terminal rich would wrap at 80 columns; logs and CI output read better wide.
_out = Console(highlight=False, width=None if sys.stdout.isatty() else 150)


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number 1-65535, got {text!r}")
    return int(text)


def _brain_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="scripted model seed")
    parser.add_argument(
        "--latency",
        type=number(low=0, high=600, unit="seconds"),
        default=0.0,
        help="scripted latency per call, 0 to 600 seconds",
    )
    parser.add_argument(
        "--fault-rate",
        type=number(low=0, high=1),
        default=0.0,
        help="scripted transient fault rate per call, 0..1 (timeouts, 429, 5xx, malformed)",
    )


def _metrics_port(text: str) -> int:
    if text == "0":  # any free port: the one taken is printed on stderr
        return 0
    return _port(text)


def _observability_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The options of `patterns.observability`, before the command or after it.

    After it they default to SUPPRESS, so a subcommand's absent option keeps the value given before it.
    """
    default: dict[str, Any] = {"default": argparse.SUPPRESS} if suppress else {}
    group = parser.add_argument_group("observability (off unless asked for)")
    group.add_argument(
        "--otel-endpoint",
        metavar="URL",
        help="export traces over OTLP/HTTP to this collector, e.g. http://127.0.0.1:4318 "
        "($OTEL_EXPORTER_OTLP_ENDPOINT works too)",
        **default,
    )
    group.add_argument(
        "--metrics-port",
        metavar="N",
        type=_metrics_port,
        help="serve Prometheus metrics on 127.0.0.1:N/metrics while the command runs (0: a free port)",
        **default,
    )
    group.add_argument(
        "--log-format",
        choices=["json", "text"],
        help="write agent and flow records (agent_invocation, agent_failure, flow_run) to stderr",
        **default,
    )
    group.add_argument(
        "--pricing",
        metavar="FILE",
        help="model prices, USD per 1M tokens (TOML or JSON), for cost_usd ($ORCH_PRICING)",
        **default,
    )


def _checkpoint_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        default=DEFAULT_CHECKPOINT_URL,
        metavar="URL",
        help=f"memory | sqlite:///PATH | postgresql://... (default {DEFAULT_CHECKPOINT_URL})",
    )


def _parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="orch", description="Multi-agent orchestration patterns on LangGraph.")
    _observability_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)

    sub.add_parser("list", help="list the patterns")
    sample = sub.add_parser(
        "sample", help="print a pattern's sample input as JSON (edit it, pass it to --input)"
    )
    sample.add_argument("pattern")

    model_opts = ArgumentParser(add_help=False)
    model_opts.add_argument(
        "--model",
        default=None,
        help="'scripted' (default) or PROVIDER:MODEL, e.g. openai:gpt-4o-mini ($ORCH_MODEL)",
    )
    model_opts.add_argument("--base-url", default=None, help="OpenAI-compatible endpoint ($ORCH_BASE_URL)")
    _brain_options(model_opts)

    run = sub.add_parser("run", parents=[model_opts], help="run one pattern")
    _observability_options(run, suppress=True)
    run.add_argument("pattern", help=f"one of: {', '.join(PATTERN_INDEX)}")
    run.add_argument(
        "--input", metavar="FILE|-", help="input JSON file, or - for stdin (default: the sample)"
    )
    _checkpoint_option(run)
    run.add_argument("--thread", metavar="ID", help="thread id (default: a new one)")
    run.add_argument("--resume", action="store_true", help="continue --thread from its last checkpoint")
    run.add_argument("--answer", metavar="JSON", help="with --resume: the value for a pending interrupt")
    run.add_argument(
        "--durability",
        choices=["sync", "async", "exit"],
        default="sync",
        help="when checkpoints are written (sync: before each next step; survives a crash)",
    )
    run.add_argument("--json", action="store_true", help="print the full result as JSON")
    run.add_argument(
        "--stream",
        action="store_true",
        help="print each event as it happens, one line each (JSON lines with --json): steps, state "
        "updates, model tokens, nodes' progress, then the result",
    )

    history = sub.add_parser("history", help="list a thread's checkpoints, newest first (time travel)")
    _checkpoint_option(history)
    history.add_argument("--thread", metavar="ID", required=True, help="the thread to list")
    history.add_argument("--json", action="store_true", help="one JSON object per checkpoint")

    fork = sub.add_parser(
        "fork",
        parents=[model_opts],
        help="continue a thread from one of its checkpoints on a new thread, with state edits",
    )
    _observability_options(fork, suppress=True)
    _checkpoint_option(fork)
    fork.add_argument("--thread", metavar="ID", required=True, help="the thread to fork")
    fork.add_argument(
        "--checkpoint-id", metavar="ID", required=True, help="the checkpoint to fork from (see orch history)"
    )
    fork.add_argument("--new-thread", metavar="ID", required=True, help="the new thread (must not exist)")
    fork.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="change a state key before continuing (VALUE is JSON, or text); applied with "
        "aupdate_state, through the state's reducers; repeatable",
    )
    fork.add_argument(
        "--answer", metavar="JSON", help="the value for an interrupt pending at that checkpoint"
    )
    fork.add_argument("--json", action="store_true", help="print the full result as JSON")
    fork.add_argument("--stream", action="store_true", help="print each event as it happens, as orch run")

    demo = sub.add_parser("demo", parents=[model_opts], help="run every pattern once and show a table")
    _observability_options(demo, suppress=True)
    demo.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT_URL, metavar="URL")
    demo.add_argument("--json", action="store_true")

    # Only the brain's options: it is the scripted model, so --model and --base-url are refused.
    serve = sub.add_parser(
        "serve-model", help="serve the scripted model as an OpenAI-compatible API on loopback"
    )
    _brain_options(serve)
    _observability_options(serve, suppress=True)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8765)
    serve.add_argument(
        "--allow-remote",
        action="store_true",
        help="serve on a non-loopback host (the server has no authentication)",
    )
    serve.add_argument(
        "--log", type=Path, default=None, metavar="FILE", help="append each request to this JSONL"
    )
    for plugin in entry_points(group=PLUGIN_GROUP):
        plugin.load()(sub, {"run": run, "demo": demo, "serve-model": serve, "model-options": model_opts})
    return parser


def read_input(source: str | None) -> Any:
    if source is None:
        return None
    where = "stdin" if source == "-" else source
    try:
        raw = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
        text = raw.decode("utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read input file {source!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"input {where} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}): "
            "save it as UTF-8"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"input {where} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if data is None:  # never quietly the sample: the user asked for this input
        raise UsageError(f"input {where} is null: give a JSON object, or leave out --input to run the sample")
    return data


def brain_from_args(args: argparse.Namespace) -> ScriptedBrain:
    """The scripted model's brain configured by --seed, --latency and --fault-rate."""
    from patterns.testing import FaultPolicy, LatencyPolicy, ScriptedBrain

    return ScriptedBrain(
        seed=args.seed,
        latency=LatencyPolicy(mean=args.latency),
        faults=FaultPolicy.transient(args.fault_rate),
    )


def _model(args: argparse.Namespace) -> Any:
    from patterns.runtime._models import resolve_model
    from patterns.testing import FaultPolicy, LatencyPolicy

    return resolve_model(
        args.model,
        base_url=args.base_url,
        seed=args.seed,
        latency=LatencyPolicy(mean=args.latency),
        faults=FaultPolicy.transient(args.fault_rate),
    )


class _Progress:
    """Live progress on stderr: a spinner on a terminal, one line per finished step otherwise."""

    def __init__(self, pattern: str, quiet: bool) -> None:
        self.pattern, self.quiet, self.done = pattern, quiet, 0
        self.running: dict[str, int] = {}
        self.status = _err.status(f"{pattern}: starting") if _err.is_terminal and not quiet else None

    def __enter__(self) -> _Progress:
        if self.status:
            self.status.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.status:
            self.status.__exit__(None, None, None)

    def __call__(self, event: StepEvent) -> None:
        if event.end is None:
            self.running[event.agent] = self.running.get(event.agent, 0) + 1
        else:
            self.done += 1
            self.running[event.agent] = max(0, self.running.get(event.agent, 1) - 1)
            if self.status is None and not self.quiet:
                _err.print(
                    f"  {self.pattern} step {self.done}: {event.agent} {event.status} "
                    f"({event.end - event.start:.3f}s)"
                )
        if self.status:
            active = ", ".join(f"{a} x{n}" if n > 1 else a for a, n in self.running.items() if n) or "-"
            self.status.update(f"{self.pattern}: {self.done} steps done; running: {active}")


def summarize(result: RunResult) -> str:
    """One line for the result table: the pattern's gist, or the output's JSON for a shape it does not know."""
    out = result.output or {}
    if result.status != "completed":
        return result.error or f"waiting for input: {json.dumps(result.interrupt)[:120]}"
    try:
        return _gist(result.pattern, out)
    except (KeyError, TypeError, AttributeError):  # a declared flow of another shape (stages, a panel, ...)
        return json.dumps(out)[:120]


def _gist(pattern: str, out: dict[str, Any]) -> str:
    match pattern:
        case "pipeline":
            rec = out["record"]
            return (
                f"{out['status']}: {rec.get('invoice_id')} {rec.get('customer')} total_cents={rec.get('total_cents')}"
                if out["status"] == "transformed"
                else f"rejected: {'; '.join(out['reasons'])}"
            )
        case "scatter_gather":
            return (
                f"{len(out['findings'])} findings from {len(out['sources_ok'])}/"
                f"{len(out['sources_ok']) + len(out['sources_failed'])} sources (quorum {out['quorum']}"
                f"{' met' if out['quorum_met'] else ' NOT met'})"
            )
        case "map_reduce":
            return (
                f"{out['count']} items, mean sentiment {out['mean_sentiment']:+.3f}, {out['batches']} batches"
            )
        case "refinement":
            return f"best score {out['best_score']:.2f} after {out['iterations']} iterations ({out['stop_reason']})"
        case "debate":
            return f"{out['decision']} by {out['decided_by']} (confidence {out['confidence']:.2f})"
        case "routing":
            return f"routed to {out['route']} (confidence {out['confidence']:.2f})"
        case "handoff":
            chain = " -> ".join([out["handoffs"][0]["from_agent"]] if out["handoffs"] else [])
            chain += "".join(f" -> {h['to_agent']}" for h in out["handoffs"])
            return f"{chain or out['handled_by']}; answered by {out['handled_by']}"
        case "orchestrator":
            lost = f", {len(out['failed'])} lost" if out["failed"] else ""
            return f"{len(out['results'])} of {len(out['plan'])} subtasks done{lost} (quorum {out['quorum']})"
        case "supervisor":
            speakers = ", ".join(dict.fromkeys(out["speakers"]))
            return f"{out['turns']} turns ({speakers}); stopped: {out['stop_reason']}"
        case "tools":
            return f"{len(out['tool_calls'])} tool calls in {out['turns']} turns"
    return json.dumps(out)[:120]


def result_table(results: Sequence[RunResult], title: str) -> Table:
    table = Table(title=title)
    for column, justify in (
        ("pattern", "left"),
        ("status", "left"),
        ("result", "left"),
        ("steps", "right"),
        ("LLM calls", "right"),
        ("tokens (in/out)", "right"),
        ("wall time", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for r in results:
        colour = {"completed": "green", "interrupted": "yellow", "failed": "red"}[r.status]
        table.add_row(
            r.pattern,
            f"[{colour}]{r.status}[/]",
            summarize(r),
            str(len(r.steps)),
            str(r.calls),
            f"{r.prompt_tokens:,}/{r.completion_tokens:,}",
            f"{r.wall_time_s * 1000:.0f} ms",
        )
    return table


def _answer(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # a bare word such as postgresql


async def _run(args: argparse.Namespace) -> int:
    if getattr(args, "framework", "langgraph") != "langgraph" or getattr(args, "via_http", False):
        return int(await args.run_on_framework(args))  # set by the adapters plugin
    if args.pattern not in PATTERN_INDEX:
        raise UsageError(f"unknown pattern {args.pattern!r}; choose one of: {', '.join(PATTERN_INDEX)}")
    if args.resume and args.input:
        raise UsageError("--resume continues a thread from its checkpoint; it takes no --input")
    if args.answer is not None and not args.resume:
        raise UsageError("--answer is only meaningful with --resume")
    answer = _answer(args.answer)
    data = read_input(args.input)
    from patterns.runtime._runner import new_thread_id

    if not args.resume:  # known before the run starts, so Ctrl-C can name it
        args.thread = args.thread or new_thread_id(args.pattern)
    result = await _execute(
        args, args.pattern, data, thread_id=args.thread, resume=args.resume, answer=answer
    )
    return _report(args, args.pattern, result)


async def _execute(
    args: argparse.Namespace, pattern: str, data: Any, *, thread_id: str, resume: bool, answer: Any
) -> RunResult:
    """Run with a spinner (`arun`), or with `--stream` print each event as it comes (`astream`)."""
    from patterns.runtime import RunResult, arun, astream

    options: dict[str, Any] = {
        "model": _model(args),
        "checkpoint": args.checkpoint,
        "thread_id": thread_id,
        "resume": resume,
        "resume_value": answer,
        "durability": getattr(args, "durability", "sync"),
    }
    if not args.stream:
        with _Progress(pattern, quiet=args.json) as progress:
            return await arun(pattern, data, on_step=progress, **options)
    events = astream(pattern, data, **options)
    async with contextlib.aclosing(events):
        async for event in events:
            if isinstance(event, RunResult):
                return event
            print(_event_json(event) if args.json else _event_line(event), flush=True)
    raise AssertionError("astream ended without a RunResult")  # pragma: no cover


def _event_json(event: RunEvent) -> str:
    import dataclasses

    from pydantic_core import to_jsonable_python

    fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
    return json.dumps({"event": event.kind, **to_jsonable_python(fields, fallback=repr)})


def _event_line(event: RunEvent) -> str:
    """One line per event: seconds into the run, what happened, where."""
    from patterns.runtime import ModelToken, StateUpdate, StepFinished, StepStarted

    match event:
        case StepStarted(agent=agent, start=at):
            what = f"started   {agent}"
        case StepFinished(agent=agent, start=start, end=at, status=status, error=error):
            what = f"finished  {agent} {status} ({(at or start) - start:.3f}s){f': {error}' if error else ''}"
        case StateUpdate(node=node, update=update, at=at):
            what = f"update    {node}: {_brief(update)}"
        case ModelToken(node=node, text=text, at=at):
            what = f"token     {node}: {json.dumps(text)}"
        case _:
            at, what = event.at, f"custom    {_short(event.data, 100)}"
    return f"{at or 0.0:9.3f}s  {what}"


def _short(value: Any, width: int) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 3] + "..."


def _brief(values: Any, width: int = 100) -> str:
    """`key=value, ...` on one line, each value and the whole cut short: a state at a glance."""
    if not isinstance(values, dict) or not values:
        return "-"
    return _cut(", ".join(f"{key}={_short(value, 32)}" for key, value in values.items()), width)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _report(args: argparse.Namespace, pattern: str, result: RunResult) -> int:
    """Print a run's result as `orch run` does, and return its exit code."""
    if args.json and getattr(args, "stream", False):  # the last of the JSON lines
        print(json.dumps({"event": "result", **result.model_dump(mode="json")}), flush=True)
    elif args.json:
        print(result.model_dump_json(indent=2))
    else:
        _out.print(result_table([result], f"orch {args.command} {pattern}  (thread {result.thread_id})"))
        if result.status == "interrupted":
            import shlex

            # A step whose answer is JSON (an approval) gives examples of it: the first, ready to paste.
            schema = result.interrupt.get("answer_schema") if isinstance(result.interrupt, dict) else None
            examples = schema.get("examples") if isinstance(schema, dict) else None
            choice = shlex.quote(json.dumps(examples[0])) if examples else "CHOICE"
            _out.print(
                f"Waiting for a decision. Resume with: orch run {pattern} --resume "
                f"--thread {result.thread_id} --checkpoint {args.checkpoint} --answer {choice}",
                markup=False,
                soft_wrap=True,  # one line, to copy as it is
            )
        elif result.output is not None:
            _out.print_json(json.dumps(result.output))
    if result.status == "failed" and args.fault_rate and "(injected)" in (result.error or ""):
        # Faults are a function of (seed, agent, prompt, attempt): the same options replay them.
        _err.print(
            f"The scripted model injected this fault, seeded by --seed {args.seed}: resuming with the same "
            f"--seed and --fault-rate fails the same way. Resume with another seed or rate: orch run "
            f"{pattern} --resume --thread {result.thread_id} --checkpoint {args.checkpoint} "
            f"--seed {args.seed + 1}",
            soft_wrap=True,
        )
    return {"completed": 0, "failed": 1, "interrupted": EXIT_WAITING}[result.status]


@contextlib.asynccontextmanager
async def _thread_graph(url: str, thread_id: str) -> AsyncIterator[tuple[Any, Any, Any]]:
    """The preset a thread ran, its graph on the thread's checkpointer, and the checkpointer."""
    from patterns.presets import PATTERNS
    from patterns.runtime import describe, open_checkpointer

    async with open_checkpointer(url) as saver:
        latest = await saver.aget_tuple({"configurable": {"thread_id": thread_id}})
        if latest is None:
            raise UsageError(f"no checkpoint for thread {thread_id!r} in {describe(url)}")
        name = (latest.metadata or {}).get("pattern")
        if name not in PATTERNS:
            raise UsageError(
                f"thread {thread_id!r} holds a run of {name or 'a flow without a name'}, not of a preset: "
                "travel it in Python with the flow's graph (aget_state_history, aupdate_state)"
            )
        spec = PATTERNS[name]
        yield spec, spec.compile(checkpointer=saver), saver


async def _history(args: argparse.Namespace) -> int:
    async with _thread_graph(args.checkpoint, args.thread) as (spec, graph, _):
        snapshots = [s async for s in graph.aget_state_history({"configurable": {"thread_id": args.thread}})]
    rows = []
    for i, snap in enumerate(snapshots):  # newest first
        older = snapshots[i + 1] if i + 1 < len(snapshots) else None
        source = (snap.metadata or {}).get("source", "")
        ran = [t.name for t in older.tasks] if older is not None and source == "loop" else []
        before = older.values if older is not None else {}
        changed = {k: v for k, v in snap.values.items() if k not in before or before[k] != v}
        rows.append(
            {
                "step": (snap.metadata or {}).get("step"),
                "source": source,
                "node": ", ".join(dict.fromkeys(ran)) or f"({source or '?'})",
                "created_at": snap.created_at,
                "changed": changed,
                "next": list(snap.next),
                "checkpoint_id": snap.config["configurable"]["checkpoint_id"],
            }
        )
    if args.json:
        from pydantic_core import to_jsonable_python

        for row in rows:
            print(json.dumps(to_jsonable_python(row, fallback=repr)))
        return 0
    table = Table(title=f"orch history: thread {args.thread} ({spec.name}), newest first")
    for column in ("step", "node", "time", "changed", "next", "checkpoint id"):
        table.add_column(column, overflow="fold" if column == "checkpoint id" else "ellipsis")
    for row in rows:
        table.add_row(
            str(row["step"]),
            row["node"],
            str(row["created_at"] or "")[:19].replace("T", " "),
            _brief(row["changed"], 70),
            ", ".join(row["next"]) or "-",
            row["checkpoint_id"],
        )
    _out.print(table)
    _out.print(
        f"Fork one: orch fork --thread {args.thread} --checkpoint {args.checkpoint} --checkpoint-id ID "
        "--new-thread NEW [--set key=value]",
        markup=False,
        soft_wrap=True,
    )
    return 0


def _updates(pairs: Sequence[str], state_type: type) -> dict[str, Any]:
    keys = set(getattr(state_type, "__annotations__", {}))
    updates: dict[str, Any] = {}
    for pair in pairs:
        key, equals, text = pair.partition("=")
        if not equals or not key:
            raise UsageError(f"--set takes KEY=VALUE, not {pair!r}")
        if keys and key not in keys:
            raise UsageError(f"--set {key}: the state has no such key; it has: {', '.join(sorted(keys))}")
        updates[key] = _answer(text)
    return updates


async def _fork(args: argparse.Namespace) -> int:
    from patterns.runtime._checkpoint import thread_lock

    if args.new_thread == args.thread:
        raise UsageError(
            "--new-thread must differ from --thread: a fork never changes the thread it comes from"
        )
    answer = _answer(args.answer)
    async with _thread_graph(args.checkpoint, args.thread) as (spec, graph, saver):
        updates = _updates(args.set, spec.state_type)
        at = {
            "configurable": {
                "thread_id": args.thread,
                "checkpoint_ns": "",
                "checkpoint_id": args.checkpoint_id,
            }
        }
        source = await saver.aget_tuple(at)
        if source is None:
            raise UsageError(
                f"thread {args.thread!r} has no checkpoint {args.checkpoint_id!r}: "
                f"list them with orch history --thread {args.thread} --checkpoint {args.checkpoint}"
            )
        if await saver.aget_tuple({"configurable": {"thread_id": args.new_thread}}) is not None:
            raise UsageError(f"thread {args.new_thread!r} already exists: fork to a new --new-thread")
        async with thread_lock(args.checkpoint, args.new_thread):
            # The checkpoint itself (channels, versions, pending sends) and its tasks' saved writes:
            # the new thread stands exactly where the old one stood.
            target = {"configurable": {"thread_id": args.new_thread, "checkpoint_ns": ""}}
            origin = {"thread_id": args.thread, "checkpoint_id": args.checkpoint_id}
            metadata = {**(source.metadata or {}), "source": "fork", "forked_from": origin}
            saved = await saver.aput(
                target, source.checkpoint, metadata, source.checkpoint["channel_versions"]
            )
            writes: dict[str, list[tuple[str, Any]]] = {}
            for task_id, channel, value in source.pending_writes or []:
                writes.setdefault(task_id, []).append((channel, value))
            for task_id, task_writes in writes.items():
                await saver.aput_writes(saved, task_writes, task_id)
            if updates:
                config: Any = {
                    "configurable": {"thread_id": args.new_thread},
                    "metadata": {"pattern": spec.name},
                }
                try:
                    await graph.aupdate_state(config, updates)
                except Exception as exc:  # e.g. an update no node can be said to have made
                    await saver.adelete_thread(args.new_thread)
                    raise UsageError(
                        f"cannot apply --set at checkpoint {args.checkpoint_id}: {type(exc).__name__}: {exc}"
                    ) from None
    args.thread, args.pattern = args.new_thread, spec.name  # what Ctrl-C names to resume
    result = await _execute(args, spec.name, None, thread_id=args.new_thread, resume=True, answer=answer)
    return _report(args, spec.name, result)


async def _demo(args: argparse.Namespace) -> int:
    from patterns.presets import PATTERNS
    from patterns.runtime import arun

    results = []
    for name in PATTERNS:
        with _Progress(name, quiet=args.json) as progress:
            results.append(await arun(name, model=_model(args), checkpoint=args.checkpoint, on_step=progress))
    if args.json:
        print(json.dumps([r.model_dump(mode="json") for r in results], indent=2))
    else:
        _out.print(
            result_table(
                results,
                f"orch demo: every pattern on the {args.model or 'scripted'} model, "
                f"checkpoints at {args.checkpoint}",
            )
        )
        for r in results:
            if r.status == "interrupted":  # by design: the approval preset stops for a person
                _out.print(
                    f"{r.pattern} waits for a person: orch run {r.pattern} --resume --thread {r.thread_id} "
                    f"--checkpoint {args.checkpoint} --answer ANSWER",
                    soft_wrap=True,
                )
    return 0 if all(r.status in ("completed", "interrupted") for r in results) else 1


def _serve(args: argparse.Namespace) -> int:
    from patterns.testing._server import serve

    # Ctrl-C is how the banner says to stop it: not a failure, and orch run's resume hint does not apply.
    with contextlib.suppress(KeyboardInterrupt):
        serve(
            brain_from_args(args),
            host=args.host,
            port=args.port,
            request_log=args.log,
            allow_remote=args.allow_remote,
            # Only once the port is ours: a refused host, a bad --log or a busy port must not look served.
            on_ready=lambda url: _err.print(f"scripted model on {url} (Ctrl-C to stop)"),
        )
    return 0


def _dispatch(args: argparse.Namespace) -> int:
    if hasattr(args, "handler"):  # a plugin's command
        return int(args.handler(args))
    if args.command == "list":
        table = Table(title="patterns")
        table.add_column("name")
        table.add_column("what it does")
        for name, summary in PATTERN_INDEX.items():
            table.add_row(name, summary)
        _out.print(table)
        return 0
    if args.command == "sample":
        if args.pattern not in PATTERN_INDEX:
            raise UsageError(f"unknown pattern {args.pattern!r}; choose one of: {', '.join(PATTERN_INDEX)}")
        from patterns.presets import SAMPLES

        print(json.dumps(SAMPLES[args.pattern], indent=2))
        return 0
    if args.command == "history":
        return asyncio.run(_history(args))
    if args.command in ("run", "fork"):
        try:
            return asyncio.run(_run(args) if args.command == "run" else _fork(args))
        except KeyboardInterrupt:
            if not args.thread:  # stopped before the run began: nothing to resume
                raise
            hint = (
                "nothing was saved (--checkpoint memory)"
                if args.checkpoint == "memory"
                else f"resume with: orch run {getattr(args, 'pattern', 'PATTERN')} --resume --thread {args.thread} "
                f"--checkpoint {args.checkpoint}"
            )
            _err.print(f"orch: interrupted; {hint}", markup=False)
            return 130
    if args.command == "demo":
        return asyncio.run(_demo(args))
    return _serve(args)


def _observed(args: argparse.Namespace) -> int:
    """Run the command with the observability its options ask for, flushed when it ends."""
    telemetry = observability.configure(
        otel_endpoint=args.otel_endpoint,
        metrics_port=args.metrics_port,
        log_format=args.log_format,
        pricing=args.pricing,
    )
    if telemetry.metrics_url:
        _err.print(
            f"orch: Prometheus metrics on {telemetry.metrics_url} while this command runs", markup=False
        )
    try:
        return _dispatch(args)
    finally:
        observability.shutdown()


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns the exit code."""
    return run_main(
        "orch",
        lambda: _observed(_parser().parse_args(argv)),
        interrupted="interrupted; resume with --resume --thread ID",
        internal_errors=True,
    )


if __name__ == "__main__":
    sys.exit(main())
