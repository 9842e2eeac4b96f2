"""`orch` as a user runs it: a separate process, in a working directory of its own.

Every mistake a user can make must end in exactly one line on stderr, no
traceback and exit code 2; the happy paths must produce what the README
promises.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from patterns.presets import PATTERNS, SAMPLES
from patterns.runtime import RunResult

from ._samples import SPLIT_VOTE

TIMEOUT = 60
PRESETS = [
    "pipeline",
    "scatter_gather",
    "map_reduce",
    "refinement",
    "debate",
    "routing",
    "handoff",
    "orchestrator",
    "supervisor",
    "tools",
    "approval",
]


def environment(changes: Mapping[str, str | None] | None = None) -> dict[str, str]:
    # A developer's ORCH_MODEL (a real provider) must not leak into these runs.
    env = {k: v for k, v in os.environ.items() if k not in ("ORCH_MODEL", "ORCH_BASE_URL", "ORCH_DEBUG")}
    for key, value in (changes or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def orch(command: list[str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command, *args], cwd=cwd, capture_output=True, text=True, env=environment(), timeout=TIMEOUT
    )


def run_result(done: subprocess.CompletedProcess[str]) -> RunResult:
    assert done.returncode == 0, done.stderr
    return RunResult.model_validate_json(done.stdout)


# -- bad input: one line, no traceback, exit 2 ----------------------------------------


@dataclass(frozen=True)
class Bad:
    args: list[str]
    message: str
    stdin: str | None = None
    env: Mapping[str, str | None] | None = None


FILES: dict[str, Any] = {
    "bad.json": '{"document": "Invoice: 1",',
    "latin1.json": '{"document": "Caf\xe9 invoice"}'.encode("latin-1"),
    "null.json": "null",
    "one_option.json": {
        "question": "Which?",
        "options": ["postgresql"],
        "evidence": [{"claim": "ACID", "supports": "postgresql"}],
    },
    "quorum.json": {**SAMPLES["scatter_gather"], "quorum": 6},
    "duplicate_ids.json": {
        "items": [{"id": "r1", "text": "great"}, {"id": "r1", "text": "awful"}],
        "batch_size": 1,
    },
}

BAD_INPUT: dict[str, Bad] = {
    "unknown-pattern": Bad(["run", "nope"], "unknown pattern 'nope'"),
    "sample-unknown-pattern": Bad(["sample", "nope"], "unknown pattern 'nope'"),
    "no-command": Bad([], "required"),
    "malformed-json-file": Bad(["run", "pipeline", "--input", "bad.json"], "bad.json is not valid JSON"),
    "malformed-json-stdin": Bad(["run", "pipeline", "--input", "-"], "stdin is not valid JSON", stdin="{x"),
    "debate-one-option": Bad(["run", "debate", "--input", "one_option.json"], "invalid input for debate"),
    "quorum-above-sources": Bad(["run", "scatter_gather", "--input", "quorum.json"], "quorum 6 exceeds"),
    "duplicate-ids": Bad(["run", "map_reduce", "--input", "duplicate_ids.json"], "ids must be unique"),
    "missing-file": Bad(["run", "pipeline", "--input", "missing.json"], "cannot read input file"),
    "unreachable-database": Bad(
        ["run", "pipeline", "--checkpoint", "postgresql://postgres@127.0.0.1:1/test"],
        "cannot connect to checkpoint database",
    ),
    "unsupported-scheme": Bad(
        ["run", "pipeline", "--checkpoint", "mysql://db/x"], "unsupported checkpoint URL"
    ),
    "fault-rate-2": Bad(["run", "pipeline", "--fault-rate", "2"], "--fault-rate"),
    "negative-latency": Bad(["run", "pipeline", "--latency", "-1"], "--latency"),
    "infinite-latency": Bad(["run", "pipeline", "--latency", "inf"], "--latency"),
    "not-utf8-input": Bad(["run", "pipeline", "--input", "latin1.json"], "latin1.json is not UTF-8 text"),
    "null-input": Bad(["run", "pipeline", "--input", "null.json"], "null.json is null"),
    "port-0": Bad(["serve-model", "--port", "0"], "--port"),
    "unknown-durability": Bad(["run", "pipeline", "--durability", "never"], "--durability"),
    "resume-unknown-thread": Bad(
        ["run", "pipeline", "--resume", "--thread", "never-ran"], "no checkpoint for thread 'never-ran'"
    ),
    "resume-without-thread": Bad(["run", "pipeline", "--resume"], "--thread"),
    "resume-with-input": Bad(
        ["run", "pipeline", "--resume", "--thread", "t", "--input", "bad.json"], "takes no --input"
    ),
    "answer-without-resume": Bad(["run", "debate", "--answer", "kafka"], "--resume"),
    "unknown-provider": Bad(["run", "pipeline", "--model", "foo:bar"], "unknown model provider 'foo'"),
    "model-without-provider": Bad(["run", "pipeline", "--model", "gpt4"], "PROVIDER:MODEL"),
    "openai-without-key": Bad(
        ["run", "pipeline", "--model", "openai:gpt-4o-mini"], "OPENAI_API_KEY", env={"OPENAI_API_KEY": None}
    ),
}


@pytest.fixture(scope="module")
def bad_input_runs(
    orch_command: list[str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, subprocess.CompletedProcess[str]]:
    # Each run is mostly interpreter start-up. Two at a time keeps both CPUs busy without
    # starving every run of the timeout on a loaded machine, as all at once did.
    def one(case: str) -> subprocess.CompletedProcess[str]:
        bad, cwd = BAD_INPUT[case], tmp_path_factory.mktemp(case)
        for name, content in FILES.items():
            if isinstance(content, bytes):
                (cwd / name).write_bytes(content)
            else:
                (cwd / name).write_text(content if isinstance(content, str) else json.dumps(content))
        return subprocess.run(
            [*orch_command, *bad.args],
            cwd=cwd,
            input=bad.stdin or "",
            capture_output=True,
            text=True,
            env=environment(bad.env),
            timeout=TIMEOUT,
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(BAD_INPUT, pool.map(one, BAD_INPUT), strict=True))


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_one_line_on_stderr_and_exit_2(
    case: str, bad_input_runs: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    done = bad_input_runs[case]
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("orch: error: ") and BAD_INPUT[case].message in lines[0], lines[0]
    assert done.stdout == ""


# -- happy paths -------------------------------------------------------------------------


def test_list_shows_every_preset(orch_command: list[str], tmp_path: Path) -> None:
    done = orch(orch_command, "list", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert list(PATTERNS) == PRESETS
    for name in PRESETS:
        assert name in done.stdout


def test_sample_piped_into_run_gives_a_complete_result(orch_command: list[str], tmp_path: Path) -> None:
    sample = subprocess.Popen(
        [*orch_command, "sample", "debate"], cwd=tmp_path, stdout=subprocess.PIPE, env=environment()
    )
    run = subprocess.run(
        [*orch_command, "run", "debate", "--input", "-", "--json", "--checkpoint", "memory"],
        cwd=tmp_path,
        stdin=sample.stdout,
        capture_output=True,
        text=True,
        env=environment(),
        timeout=TIMEOUT,
    )
    assert sample.stdout is not None
    sample.stdout.close()
    assert sample.wait(TIMEOUT) == 0
    assert run.returncode == 0, run.stderr
    payload = json.loads(run.stdout)
    fields = ["framework", "pattern", "output", "steps", "calls", "prompt_tokens", "completion_tokens"]
    assert not [f for f in [*fields, "wall_time_s"] if f not in payload]
    result = RunResult.model_validate(payload)
    assert result.status == "completed"
    assert (result.framework, result.pattern) == ("langgraph", "debate")
    assert result.output is not None and result.output["decision"] in SAMPLES["debate"]["options"]
    assert result.steps and result.calls > 0
    assert result.prompt_tokens > 0 and result.completion_tokens > 0 and result.wall_time_s > 0


def test_run_keeps_checkpoints_in_sqlite_under_the_working_directory(
    orch_command: list[str], tmp_path: Path
) -> None:
    done = orch(orch_command, "run", "pipeline", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / ".orch" / "checkpoints.sqlite").is_file()
    assert "transformed" in done.stdout


def test_demo_runs_every_pattern(orch_command: list[str], tmp_path: Path) -> None:
    done = orch(orch_command, "demo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    for name in PRESETS:
        assert name in done.stdout
    assert "failed" not in done.stdout
    assert "approval waits for a person: orch run approval --resume --thread approval-" in done.stdout


@pytest.mark.slow
def test_transient_faults_are_retried_to_the_same_output(orch_command: list[str], tmp_path: Path) -> None:
    failed = {}
    for pattern in ("pipeline", "map_reduce"):
        args = ("run", pattern, "--json", "--checkpoint", "memory")
        clean = run_result(orch(orch_command, *args, cwd=tmp_path))
        done = orch(orch_command, *args, "--fault-rate", "0.3", cwd=tmp_path)
        assert done.returncode in (0, 1), done.stderr  # 1: the flow ran and failed, reported below
        faulty = RunResult.model_validate_json(done.stdout)
        assert faulty.status == "completed", f"{pattern} did not survive 30% transient faults: {faulty.error}"
        assert faulty.output == clean.output
        assert clean.failed_calls == 0
        failed[pattern] = faulty.failed_calls
    assert sum(failed.values()) > 0, failed


# -- how a run that does not complete ends -----------------------------------------------


def test_a_run_failed_by_injected_faults_says_the_same_options_fail_again(
    orch_command: list[str], tmp_path: Path
) -> None:
    args = (
        "run",
        "pipeline",
        "--json",
        "--checkpoint",
        "sqlite:///c.db",
        "--thread",
        "t",
        "--fault-rate",
        "0.9",
    )
    failed = orch(orch_command, *args, cwd=tmp_path)
    assert failed.returncode == 1, failed.stderr
    first = RunResult.model_validate_json(failed.stdout)
    assert first.status == "failed" and "(injected)" in (first.error or "")
    assert "with the same --seed and --fault-rate fails the same way" in failed.stderr
    again = orch(orch_command, *args, "--resume", cwd=tmp_path)
    assert RunResult.model_validate_json(again.stdout).error == first.error  # as the hint says
    assert "--seed 1" in again.stderr


def test_a_run_paused_for_a_human_exits_3_and_says_how_to_resume(
    orch_command: list[str], tmp_path: Path
) -> None:
    (tmp_path / "split.json").write_text(json.dumps(SPLIT_VOTE), encoding="utf-8")
    paused = orch(orch_command, "run", "debate", "--input", "split.json", "--thread", "split-1", cwd=tmp_path)
    assert paused.returncode == 3, paused.stderr
    assert "Resume with: orch run debate --resume --thread split-1" in paused.stdout
    answered = orch(
        orch_command, "run", "debate", "--resume", "--thread", "split-1", "--answer", "kafka", cwd=tmp_path
    )
    assert answered.returncode == 0, answered.stderr
    assert '"decision": "kafka"' in answered.stdout


def test_ctrl_c_names_the_thread_it_made_and_the_run_resumes_from_it(
    orch_command: list[str], tmp_path: Path
) -> None:
    run = subprocess.Popen(
        [*orch_command, "run", "map_reduce", "--latency", "0.05"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(),
    )
    assert run.stderr is not None
    for line in run.stderr:  # progress lines: the run is under way, with its thread saved
        if "map_reduce step 1:" in line:
            break
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=TIMEOUT)
    assert run.returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(
        "orch: interrupted; resume with: orch run map_reduce --resume --thread map_reduce-"
    )
    thread = last.split("--thread ", 1)[1].split()[0]
    resumed = orch(orch_command, "run", "map_reduce", "--resume", "--thread", thread, "--json", cwd=tmp_path)
    result = run_result(resumed)
    assert result.status == "completed" and result.resumed and result.thread_id == thread


def test_run_help_lists_the_patterns(orch_command: list[str], tmp_path: Path) -> None:
    done = orch(orch_command, "run", "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"one of: {', '.join(PRESETS)}" in " ".join(done.stdout.split())
