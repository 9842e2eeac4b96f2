"""Patterns compose: a scatter-gather (parallel extraction) as a stage of a pipeline (sequential checks).

The composition the architecture brief describes. The nested flow keeps its own
state (its `result` does not overwrite the pipeline's), saves its steps in the
pipeline's checkpointer under its stage's namespace, and a run SIGKILLed inside
it resumes inside it: the readers that had answered are not asked again.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from patterns import Agent, AgentContext, build_pipeline, build_scatter_gather
from patterns.runtime import PatternGraph, open_checkpointer, resolve_model

DEADLINE = 30.0
READERS = ("vendor", "total", "due_date", "currency", "iban")
READER_NAMES = [f"{field}_reader" for field in READERS]
FACTS = {"vendor": "ACME", "total": "42.00", "due_date": "2026-12-31", "currency": "EUR", "iban": "DE89"}


class Fact(BaseModel):
    value: str


class Check(BaseModel):
    valid: bool
    reasons: list[str] = []


class Filed(BaseModel):
    summary: str


RESPONDERS: dict[str, Any] = {
    **{f"{field}_reader": (lambda p, field=field: {"value": FACTS[field]}) for field in READERS},
    "checker": lambda p: {"valid": len(p["merged"]) == len(READERS), "reasons": []},
    "filer": lambda p: {"summary": ", ".join(f"{k}={v}" for k, v in sorted(p["merged"].items()))},
}


def invoice_flow(checkpointer: Any = None) -> PatternGraph:
    readers = [
        Agent(name=f"{field}_reader", instructions=f"Read the invoice's {field}.", output=Fact)
        for field in READERS
    ]
    extraction = build_scatter_gather(
        workers=readers,
        quorum=len(readers),
        merge=lambda answers: {name.removesuffix("_reader"): a["value"] for name, a in answers.items()},
    )
    checker = Agent(name="checker", instructions="Check the extracted fields.", output=Check)
    filer = Agent(name="filer", instructions="File the invoice.", output=Filed)
    return build_pipeline(stages=[extraction, filer], gate=checker, checkpointer=checkpointer)


INPUT = {"input": {"document": "ACME invoice, EUR 42.00, due 2026-12-31, IBAN DE89"}}

# The child runs the same flow and is killed mid-extraction.
CHILD = """
import asyncio, json, sys
from pathlib import Path

from patterns import AgentContext
from patterns.runtime import open_checkpointer, resolve_model
from patterns.testing import LatencyPolicy
from tests.test_composition import INPUT, RESPONDERS, invoice_flow


async def main(spec):
    model = resolve_model(
        "scripted", responders=RESPONDERS, latency=LatencyPolicy(mean=spec["latency"], spread=spec["latency"] * 0.9, distribution="uniform"), log_path=Path(spec["log"])
    )
    async with open_checkpointer(spec["checkpoint"]) as saver:
        graph = invoice_flow(saver)
        config = {"configurable": {"thread_id": spec["thread"]}}
        out = await graph.ainvoke(
            None if spec["resume"] else INPUT, config, context=AgentContext(model=model), durability="sync"
        )
    print(json.dumps(out["result"]))


asyncio.run(main(json.loads(Path(sys.argv[1]).read_text())))
"""


def calls(log: Path) -> list[dict[str, Any]]:
    """Completed calls in a scripted model's call log; a line the kill cut short does not count."""
    text = log.read_text(encoding="utf-8") if log.exists() else ""
    return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]


def saved_readers(nested: Any) -> set[str]:
    """Readers whose answers the nested checkpoint holds: in its state, or as a pending task write."""
    answers = list(nested.values.get("answers", []))
    for task in nested.tasks:
        answers += (task.result or {}).get("answers", [])
    return {a["worker"] for a in answers}


def child(workdir: Path, name: str, *, thread: str, resume: bool, latency: float) -> subprocess.Popen[bytes]:
    """The flow in its own process (so it can be killed as a crash kills it), logging to NAME.jsonl."""
    script, spec_file = workdir / "child.py", workdir / f"{name}.json"
    script.write_text(CHILD, encoding="utf-8")
    spec = {
        "checkpoint": f"sqlite:///{workdir / 'checkpoints.sqlite'}",
        "log": str(workdir / f"{name}.jsonl"),
        "thread": thread,
        "resume": resume,
        "latency": latency,
    }
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k not in ("ORCH_MODEL", "ORCH_BASE_URL")}
    env["PYTHONPATH"] = str(root)
    out = (workdir / f"{name}.out").open("wb")
    err = (workdir / f"{name}.err").open("wb")
    return subprocess.Popen([sys.executable, str(script), str(spec_file)], stdout=out, stderr=err, env=env)


async def test_a_nested_flow_keeps_its_own_state_and_checkpoints_under_its_stage() -> None:
    from langgraph.checkpoint.memory import InMemorySaver

    saver = InMemorySaver()
    graph = invoice_flow(saver)
    config: Any = {"configurable": {"thread_id": "nested"}}
    model = resolve_model("scripted", responders=RESPONDERS)
    state = await graph.ainvoke(INPUT, config, context=AgentContext(model=model))

    result = state["result"]
    assert result["status"] == "completed"
    assert (
        result["output"]["summary"]
        == "currency=EUR, due_date=2026-12-31, iban=DE89, total=42.00, vendor=ACME"
    )
    # The pipeline's state holds the nested result under the stage's name, never the nested flow's keys.
    assert result["outputs"]["scatter_gather"]["merged"] == FACTS
    assert "answers" not in state and "failures" not in state
    namespaces = {c.config["configurable"]["checkpoint_ns"] for c in saver.list(None)}
    assert "" in namespaces and any(ns.startswith("scatter_gather:") for ns in namespaces)


@pytest.mark.slow
async def test_a_run_killed_inside_the_nested_flow_resumes_inside_it(tmp_path: Path) -> None:
    checkpoint = f"sqlite:///{tmp_path / 'checkpoints.sqlite'}"
    fresh_log = tmp_path / "fresh.jsonl"
    fresh = child(tmp_path, "fresh", thread="fresh", resume=False, latency=0)
    assert fresh.wait(DEADLINE) == 0, (tmp_path / "fresh.err").read_text()
    expected = json.loads((tmp_path / "fresh.out").read_text())
    assert Counter(c["agent"] for c in calls(fresh_log)) == Counter(
        [f"{f}_reader" for f in READERS] + ["checker", "filer"]
    )

    crashed_log, config = tmp_path / "crashed.jsonl", {"configurable": {"thread_id": "crashed"}}
    # Readers run in parallel and take 0.05 to 0.95 s each: kill once some have answered, not all.
    run = child(tmp_path, "crashed", thread="crashed", resume=False, latency=0.5)
    # A reader's answer is logged a moment before it is saved: once one is logged,
    # freeze the child and kill it only when the nested checkpoint holds some answers
    # and the extraction is still running, so the resume has work both to skip and to do.
    deadline, nested = time.monotonic() + DEADLINE, None
    async with open_checkpointer(checkpoint) as saver:
        graph = invoice_flow(saver)
        while True:
            assert run.poll() is None, (tmp_path / "crashed.err").read_text()
            assert time.monotonic() < deadline, "the extraction was never caught half done"
            if calls(crashed_log):
                run.send_signal(signal.SIGSTOP)
                try:
                    snapshot = await graph.aget_state(config, subgraphs=True)
                except Exception:  # the frozen child holds SQLite's write lock: let it go on
                    snapshot = None
                nested = snapshot.tasks[0].state if snapshot and snapshot.tasks else None
                if nested is not None and nested.next and saved_readers(nested):
                    break
                run.send_signal(signal.SIGCONT)
            await asyncio.sleep(0.005)
        run.send_signal(signal.SIGKILL)
        run.wait()
    assert snapshot is not None and snapshot.next == ("scatter_gather",)
    answered_before = [c["agent"] for c in calls(crashed_log)]
    saved = saved_readers(nested)
    assert saved < set(READER_NAMES), "the kill must come inside the extraction"

    resumed_log = tmp_path / "resumed.jsonl"
    resumed = child(tmp_path, "resumed", thread="crashed", resume=True, latency=0)
    assert resumed.wait(DEADLINE) == 0, (tmp_path / "resumed.err").read_text()
    assert json.loads((tmp_path / "resumed.out").read_text()) == expected
    asked_again = [c["agent"] for c in calls(resumed_log) if c["agent"].endswith("_reader")]
    # The saved readers are not asked again; each of the others exactly once.
    assert saved <= set(answered_before)
    assert sorted(asked_again) == sorted(set(READER_NAMES) - saved)
