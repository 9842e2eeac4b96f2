"""A run killed with SIGKILL resumes from its last checkpoint and does not redo finished work.

The witness is the scripted model's call log: one JSON line per completed model
call, with the LangGraph node and superstep that made it and a hash of the
prompt. A flow runs in a child process that is SIGKILLed after k calls; the
last checkpoint (read with the same checkpointer) says which supersteps were
saved, and which tasks of the next superstep had their results saved as
pending writes. The resumed run must then make exactly the calls that were not
saved: none of the saved ones again, none of the others skipped, and the same
final output as an uninterrupted run.

Runs on SQLite and on the real PostgreSQL server (see `postgres_url`).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel

from patterns.errors import UsageError
from patterns.presets import PATTERNS, reviews
from patterns.runtime import RunResult, arun, open_checkpointer, resolve_model
from patterns.testing import LatencyPolicy

from ._samples import SPLIT_VOTE

SEED = 0
LATENCY = 0.08  # long enough that the poller sees the run mid-flow, short enough to keep the file fast
POLL = 0.01
DEADLINE = 30.0

CRASH_INPUTS: dict[str, Any] = {
    "pipeline": None,
    "scatter_gather": None,  # the sample: five sources, quorum 3
    "map_reduce": {"items": reviews(200), "batch_size": 10, "max_concurrency": 4},
    "refinement": None,
    "debate": None,
}

# The CLI has no flag for the call log, so the child is this script: the same
# `arun` the CLI calls, with a model that logs its calls.
CHILD = """
import asyncio, json, sys
from pathlib import Path

from patterns.runtime import resolve_model
from patterns.testing import LatencyPolicy
from patterns.runtime import arun


async def main(spec):
    model = resolve_model(
        "scripted",
        seed=spec["seed"],
        latency=LatencyPolicy(mean=spec["latency"]),
        log_path=Path(spec["log"]),
    )
    result = await arun(
        spec["pattern"],
        spec["input"],
        model=model,
        checkpoint=spec["checkpoint"],
        thread_id=spec["thread"],
        resume=spec["resume"],
        durability="sync",
    )
    print(result.model_dump_json())


asyncio.run(main(json.loads(Path(sys.argv[1]).read_text())))
"""


# -- helpers -------------------------------------------------------------------


def scripted(**options: Any) -> BaseChatModel:
    # Named explicitly: a developer's $ORCH_MODEL must not turn these runs into real API calls.
    return resolve_model("scripted", seed=SEED, **options)


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("ORCH_MODEL", "ORCH_BASE_URL", "ORCH_DEBUG")}


def read_calls(path: Path) -> list[dict[str, Any]]:
    """The completed model calls in a call log; a line cut by the kill does not count."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]


def count_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def shas(calls: list[dict[str, Any]]) -> Counter[str]:
    return Counter(c["prompt_sha"] for c in calls)


class Child:
    """One flow in its own process, so it can be killed the way a crash kills it."""

    def __init__(self, workdir: Path, name: str, spec: dict[str, Any]) -> None:
        script = workdir / "child.py"
        if not script.exists():
            script.write_text(CHILD, encoding="utf-8")
        spec_file = workdir / f"{name}.json"
        spec_file.write_text(json.dumps(spec), encoding="utf-8")
        self.stdout, self.stderr = workdir / f"{name}.out", workdir / f"{name}.err"
        with self.stdout.open("wb") as out, self.stderr.open("wb") as err:
            # Files, not pipes: nobody reads a pipe while we wait, and a full one would stall the child.
            self.proc = subprocess.Popen(
                [sys.executable, str(script), str(spec_file)],
                cwd=workdir,
                stdout=out,
                stderr=err,
                env=clean_env(),
            )

    def output(self) -> str:
        return self.stderr.read_text(errors="replace")[-2000:]

    def pause(self) -> None:
        os.kill(self.proc.pid, signal.SIGSTOP)

    def carry_on(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def result(self, timeout: float = DEADLINE) -> RunResult:
        try:
            self.proc.wait(timeout)
        finally:
            self.kill()
        assert self.proc.returncode == 0, self.output()
        return RunResult.model_validate_json(self.stdout.read_text())


def spec(pattern: str, checkpoint: str, thread: str, log: Path, *, resume: bool = False) -> dict[str, Any]:
    return {
        "pattern": pattern,
        "input": None if resume else CRASH_INPUTS[pattern],
        "checkpoint": checkpoint,
        "thread": thread,
        "resume": resume,
        "seed": SEED,
        "latency": LATENCY,
        "log": str(log),
    }


async def saved_progress(graph: Any, config: dict[str, Any]) -> tuple[int, int]:
    """(last saved superstep, tasks of the next superstep whose results are saved)."""
    snapshot = await graph.aget_state(config)
    if snapshot.created_at is None:
        return -2, 0
    return snapshot.metadata["step"], sum(1 for t in snapshot.tasks if t.result is not None)


@pytest.fixture
def children() -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:  # a failed assertion must not leave a flow running
        child.kill()


# -- SIGKILL mid-flow, then resume ----------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("pattern", list(CRASH_INPUTS))
async def test_killed_run_resumes_from_its_last_checkpoint(
    pattern: str,
    checkpoint_url: str,
    tmp_path: Path,
    unique_thread_id: str,
    children: list[Child],
) -> None:
    uninterrupted_log = tmp_path / "uninterrupted.jsonl"
    uninterrupted = await arun(
        pattern,
        CRASH_INPUTS[pattern],
        model=scripted(log_path=uninterrupted_log),
        checkpoint=checkpoint_url,
        thread_id=f"{unique_thread_id}-fresh",
    )
    assert uninterrupted.status == "completed", uninterrupted.error
    expected = read_calls(uninterrupted_log)
    assert len(expected) == uninterrupted.calls >= 2
    backend = checkpoint_url.split(":", 1)[0]
    k = random.Random(f"{pattern}/{backend}").randint(1, len(expected) - 1)
    first_agent_step = min(c["langgraph_step"] for c in expected)  # after validate_input's

    crashed_log, thread = tmp_path / "crashed.jsonl", unique_thread_id
    config: dict[str, Any] = {"configurable": {"thread_id": thread}}
    async with open_checkpointer(checkpoint_url) as saver:
        graph = PATTERNS[pattern].compile(checkpointer=saver)
        child = Child(tmp_path, "crashed", spec(pattern, checkpoint_url, thread, crashed_log))
        children.append(child)
        # The k-th call is logged a moment before its result is saved: kill on the log
        # alone and the resumed run may have nothing to skip. So once k calls are
        # logged, freeze the child (it must not finish while we look) and kill it as
        # soon as the checkpoint holds some of its work.
        deadline = time.monotonic() + DEADLINE
        while True:
            assert child.proc.poll() is None, (
                f"the run ended before the kill after {k} calls:\n{child.output()}"
            )
            if count_lines(crashed_log) >= k:
                child.pause()
                try:
                    step, saved_tasks = await saved_progress(graph, config)
                except Exception:  # the frozen child holds the SQLite write lock: let it go on
                    step, saved_tasks = -2, 0
                if step >= first_agent_step or saved_tasks:
                    break
                child.carry_on()
            assert time.monotonic() < deadline, f"no progress after {DEADLINE}s:\n{child.output()}"
            await asyncio.sleep(POLL)
        child.kill()
        assert child.proc.returncode == -signal.SIGKILL

        snapshot = await graph.aget_state(config)
    step = snapshot.metadata["step"]
    assert snapshot.tasks and "result" not in snapshot.values, "the kill came after the run had finished"
    # Only tasks of nodes that call the model leave calls to account for.
    calling = {c["langgraph_node"] for c in expected}
    saved_tasks = sum(1 for t in snapshot.tasks if t.result is not None and t.name in calling)
    crashed = read_calls(crashed_log)
    completed = [c for c in crashed if c["langgraph_step"] <= step]
    in_flight = [c for c in crashed if c["langgraph_step"] > step]
    # durability="sync" saves superstep n before n+1 starts, so only one can be in flight.
    assert all(c["langgraph_step"] == step + 1 for c in in_flight)

    resumed_log = tmp_path / "resumed.jsonl"
    resumed_child = Child(
        tmp_path, "resumed", spec(pattern, checkpoint_url, thread, resumed_log, resume=True)
    )
    children.append(resumed_child)
    resumed = resumed_child.result()
    redone = read_calls(resumed_log)
    where = (
        f"killed after {len(crashed)} calls (k={k}) at saved step {step} with {saved_tasks} results "
        f"pending; resumed with {len(redone)} calls, uninterrupted makes {len(expected)}"
    )

    assert resumed.status == "completed", resumed.error
    assert resumed.resumed and resumed.thread_id == thread
    assert resumed.output == uninterrupted.output, where
    assert resumed.calls == len(redone)
    assert all(c["langgraph_step"] > step for c in redone), f"went back before its checkpoint: {where}"
    # Nothing saved is done again ...
    assert not shas(completed) & shas(redone), f"saved work done again: {where}"
    # ... and nothing is skipped: every call of an uninterrupted run was made once,
    # before the kill (and saved) or after the resume. The calls neither side made
    # again are exactly the in-flight tasks whose results the checkpoint held.
    made = shas(completed) + shas(redone)
    assert not made - shas(expected), f"a call no uninterrupted run makes: {where}"
    not_redone = shas(expected) - made
    assert not not_redone - shas(in_flight), f"calls skipped: {where}"
    assert sum(not_redone.values()) == saved_tasks, where
    assert len(completed) + len(in_flight) + len(redone) >= len(expected), where
    assert len(completed) + saved_tasks > 0 and len(redone) < len(expected), where


@pytest.mark.slow
async def test_finished_map_batches_are_saved_before_the_superstep_ends(
    tmp_path: Path, unique_thread_id: str
) -> None:
    url = f"sqlite:///{tmp_path / 'checkpoints.sqlite'}"
    log = tmp_path / "calls.jsonl"
    data = {"items": reviews(200), "batch_size": 10, "max_concurrency": 4}  # 20 batches, 5 waves
    model = scripted(latency=LatencyPolicy(mean=LATENCY), log_path=log)
    config: dict[str, Any] = {"configurable": {"thread_id": unique_thread_id}}
    async with open_checkpointer(url) as saver:
        graph = PATTERNS["map_reduce"].compile(checkpointer=saver)
        run = asyncio.create_task(
            arun("map_reduce", data, model=model, checkpoint=url, thread_id=unique_thread_id)
        )
        most_saved = 0
        # Watch while at least two waves are done and the last one has not finished:
        # a crash there should cost at most the batches in flight.
        while not run.done() and count_lines(log) < 20:
            if count_lines(log) >= 8:
                step, saved = await saved_progress(graph, config)
                most_saved = max(most_saved, saved if step < 1 else 20)
            await asyncio.sleep(POLL)
        result = await run
    assert result.status == "completed", result.error
    assert most_saved >= 4


# -- durability modes ------------------------------------------------------------------


async def checkpoint_steps(url: str, pattern: str, thread: str) -> list[int]:
    async with open_checkpointer(url) as saver:
        graph = PATTERNS[pattern].compile(checkpointer=saver)
        history = graph.aget_state_history({"configurable": {"thread_id": thread}})
        return sorted([snapshot.metadata["step"] async for snapshot in history])


@pytest.mark.parametrize("pattern", ["pipeline", "refinement"])
async def test_sync_durability_saves_a_checkpoint_for_every_superstep(
    pattern: str, tmp_path: Path, unique_thread_id: str
) -> None:
    url = f"sqlite:///{tmp_path / 'checkpoints.sqlite'}"
    result = await arun(
        pattern, model=scripted(), checkpoint=url, thread_id=unique_thread_id, durability="sync"
    )
    assert result.status == "completed", result.error
    steps = await checkpoint_steps(url, pattern, unique_thread_id)
    # -1 is the input, 0 the entry edges, 1 validate_input (no model, not a step record);
    # then one superstep per node of a sequential flow.
    assert steps == list(range(-1, len(result.steps) + 2))


async def test_exit_durability_saves_only_the_end_and_a_completed_run_resumes_as_completed(
    tmp_path: Path, unique_thread_id: str
) -> None:
    url = f"sqlite:///{tmp_path / 'checkpoints.sqlite'}"
    model = scripted()
    first = await arun(
        "refinement", model=model, checkpoint=url, thread_id=unique_thread_id, durability="exit"
    )
    assert first.status == "completed", first.error
    # The one checkpoint is of the last superstep: validate_input's, then one per step record.
    assert await checkpoint_steps(url, "refinement", unique_thread_id) == [len(first.steps) + 1]

    again = await arun("refinement", model=model, checkpoint=url, thread_id=unique_thread_id, resume=True)
    assert again.status == "completed" and again.resumed
    assert again.output == first.output
    assert again.calls == 0 and again.steps == []


async def test_unknown_durability_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="durability"):
        await arun("pipeline", model=scripted(), checkpoint="memory", durability="never")  # type: ignore[arg-type]


# -- human arbitration -----------------------------------------------------------------


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'checkpoints.sqlite'}"


async def split_debate(url: str, thread: str) -> RunResult:
    result = await arun("debate", SPLIT_VOTE, model=scripted(), checkpoint=url, thread_id=thread)
    assert result.status == "interrupted", result.error
    return result


async def test_split_vote_waits_for_a_human_and_resumes_with_the_answer(
    sqlite_url: str, unique_thread_id: str
) -> None:
    waiting = await split_debate(sqlite_url, unique_thread_id)
    assert waiting.output is None and waiting.calls == 2
    vote = waiting.interrupt["vote"]
    assert waiting.interrupt["options"] == ["kafka", "rabbitmq"]
    assert vote["consensus"] is False and vote["distribution"] == {"kafka": 1.0, "rabbitmq": 1.0}

    decided = await arun(
        "debate",
        model=scripted(),
        checkpoint=sqlite_url,
        thread_id=unique_thread_id,
        resume=True,
        resume_value="rabbitmq",
    )
    assert decided.status == "completed", decided.error
    assert decided.output["decision"] == "rabbitmq"
    assert decided.output["decided_by"] == "human" and decided.output["consensus"] is False
    assert decided.calls == 0, "resuming re-ran the debaters"


async def _answer(url: str, thread: str, answer: Any) -> tuple[RunResult | None, str]:
    """Resume with `answer`: the result and what it says went wrong (or the UsageError)."""
    try:
        result = await arun(
            "debate",
            model=scripted(),
            checkpoint=url,
            thread_id=thread,
            resume=True,
            resume_value=answer,
        )
    except UsageError as exc:
        return None, str(exc)
    return result, result.error or ""


async def test_an_answer_that_is_not_an_option_fails_clearly(sqlite_url: str, unique_thread_id: str) -> None:
    await split_debate(sqlite_url, unique_thread_id)
    result, message = await _answer(sqlite_url, unique_thread_id, "zookeeper")
    assert result is None or (result.status == "failed" and result.output is None)
    assert "zookeeper" in message and "kafka" in message and "rabbitmq" in message


async def test_a_valid_answer_still_decides_after_an_invalid_one(
    sqlite_url: str, unique_thread_id: str
) -> None:
    await split_debate(sqlite_url, unique_thread_id)
    await _answer(sqlite_url, unique_thread_id, "zookeeper")
    result, message = await _answer(sqlite_url, unique_thread_id, "kafka")
    assert result is not None and result.status == "completed", message
    assert result.output["decision"] == "kafka" and result.output["decided_by"] == "human"


# -- the same through the CLI --------------------------------------------------------------


def orch(command: list[str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command, *args], cwd=cwd, capture_output=True, text=True, timeout=DEADLINE, env=clean_env()
    )


def run_json(command: list[str], *args: str, cwd: Path) -> RunResult:
    done = orch(command, *args, "--json", cwd=cwd)
    result = RunResult.model_validate_json(done.stdout)
    # 3 is the CLI's exit code for a run paused for a human's answer.
    assert done.returncode == (3 if result.status == "interrupted" else 0), done.stderr
    return result


@pytest.mark.slow
def test_cli_run_killed_after_a_step_resumes_with_the_same_output(
    orch_command: list[str], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    uninterrupted = run_json(
        orch_command, "run", "pipeline", "--checkpoint", url, "--thread", "cli-fresh", cwd=tmp_path
    )
    assert uninterrupted.status == "completed"

    progress = tmp_path / "progress.txt"
    with progress.open("wb") as err:
        proc = subprocess.Popen(
            [
                *orch_command,
                "run",
                "pipeline",
                "--checkpoint",
                url,
                "--thread",
                "cli-crash",
                "--latency",
                "0.2",
            ],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=clean_env(),
        )
    try:
        # Off a terminal the CLI prints one line per finished step on stderr.
        deadline = time.monotonic() + DEADLINE
        while "step 1:" not in progress.read_text():
            assert proc.poll() is None, progress.read_text()
            assert time.monotonic() < deadline, progress.read_text()
            time.sleep(POLL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert "step 2:" not in progress.read_text()

    resumed = run_json(
        orch_command,
        "run",
        "pipeline",
        "--resume",
        "--thread",
        "cli-crash",
        "--checkpoint",
        url,
        cwd=tmp_path,
    )
    assert resumed.status == "completed" and resumed.resumed
    assert resumed.output == uninterrupted.output
    assert "extract" not in [s.agent for s in resumed.steps]
    assert resumed.calls < uninterrupted.calls


@pytest.mark.slow
def test_cli_human_arbitration_resumes_with_answer(orch_command: list[str], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    (tmp_path / "split.json").write_text(json.dumps(SPLIT_VOTE), encoding="utf-8")
    start = ("run", "debate", "--input", "split.json", "--checkpoint", url)
    waiting = run_json(orch_command, *start, "--thread", "cli-vote", cwd=tmp_path)
    assert waiting.status == "interrupted"
    assert waiting.interrupt["vote"]["consensus"] is False

    resume = ("run", "debate", "--resume", "--checkpoint", url, "--thread")
    # A bare word is taken as a string, so no JSON quoting is needed on a shell.
    decided = run_json(orch_command, *resume, "cli-vote", "--answer", "kafka", cwd=tmp_path)
    assert decided.status == "completed"
    assert decided.output["decision"] == "kafka" and decided.output["decided_by"] == "human"

    asyncio.run(split_debate(url, "cli-vote-wrong"))
    wrong = orch(orch_command, *resume, "cli-vote-wrong", "--answer", "zookeeper", "--json", cwd=tmp_path)
    assert wrong.returncode in (1, 2), wrong.stdout  # 2 once the answer is refused up front
    assert "Traceback" not in wrong.stderr and "zookeeper" in wrong.stdout + wrong.stderr


# -- draining: a run stopped between supersteps on request -----------------------------------


async def test_a_drained_run_stops_between_supersteps_and_its_resume_finishes_it(
    tmp_path: Path, unique_thread_id: str
) -> None:
    from langgraph.runtime import RunControl

    from patterns.runtime import StepEvent

    url = f"sqlite:///{tmp_path / 'checkpoints.sqlite'}"
    model = resolve_model("scripted")
    uninterrupted = await arun("refinement", model=model, checkpoint="memory")
    control, events = RunControl(), []

    def drain_after_two(event: StepEvent) -> None:
        events.append(event)
        if sum(e.end is not None for e in events) == 2:
            control.request_drain("budget")

    first = await arun(
        "refinement",
        model=model,
        checkpoint=url,
        thread_id=unique_thread_id,
        on_step=drain_after_two,
        control=control,
    )
    assert first.status == "drained" and first.error is None and first.output is None
    # The superstep under way finished and no task of the next one started: every start has its end.
    assert [e.agent for e in events if e.end is None] == [e.agent for e in events if e.end is not None]
    assert len(first.steps) == 2

    rest = await arun("refinement", model=model, checkpoint=url, thread_id=unique_thread_id, resume=True)
    assert rest.status == "completed" and rest.output == uninterrupted.output
    assert len(first.steps) + len(rest.steps) == len(uninterrupted.steps)
    assert first.calls + rest.calls == uninterrupted.calls  # nothing cut off, nothing paid twice
