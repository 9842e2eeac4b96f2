"""The command line, run as a user runs it: a subprocess in a scratch working directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from app import main

APP = Path(__file__).resolve().parents[1]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(APP / "app.py"), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_default_run_passes_and_prints_json(tmp_path: Path) -> None:
    done = cli("--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert outcome["stop_reason"] == "threshold"
    assert (tmp_path / ".code_refinement" / "checkpoints.sqlite").is_file()


def test_a_run_that_does_not_pass_exits_1(tmp_path: Path) -> None:
    done = cli("--max-iterations", "1", cwd=tmp_path)
    assert done.returncode == 1
    assert "max_iterations" in done.stdout


def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for args, expected in [
        (["--task", "missing"], "no task.json"),
        (["--threshold", "1.5"], "between 0 and 1"),
        (["--resume", "--thread", "nope"], "no run 'nope'"),
        (["--model", "nonsense"], "PROVIDER:MODEL"),
    ]:
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert expected in err and len(err.strip().splitlines()) == 1, err


def test_a_new_run_refuses_an_existing_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["--thread", "t1", "--max-iterations", "1", "--json"]) == 1
    assert main(["--thread", "t1"]) == 2
    assert main(["--resume", "--thread", "t1", "--json"]) == 1  # resuming a finished run just reports it
