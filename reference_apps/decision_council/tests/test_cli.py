"""Human arbitration end to end: the run waits, and a later process answers it from the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from app import WAITING, main

APP = Path(__file__).resolve().parents[1]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(APP / "app.py"), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_human_arbitration_waits_then_resumes_in_another_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    started = cli("--arbitration", "human", "--thread", "launch", "--json", cwd=tmp_path)
    assert started.returncode == WAITING, started.stderr
    waiting = json.loads(started.stdout)
    assert waiting["status"] == "interrupted"
    assert waiting["pending"]["vote"]["consensus"] is False
    assert waiting["resume"] == "python app.py --resume launch --answer OPTION"
    assert (tmp_path / ".decision_council" / "checkpoints.sqlite").is_file()

    # A wrong answer is refused before it reaches the graph, so the run keeps waiting.
    monkeypatch.chdir(tmp_path)
    assert main(["--resume", "launch", "--answer", "ship_it_friday"]) == 2
    error = capsys.readouterr().err
    assert "not an option; choose one of: feature_flag_rollout" in error
    assert "still waiting" in error

    answered = cli("--resume", "launch", "--answer", "delay_a_quarter", "--json", cwd=tmp_path)
    assert answered.returncode == 0, answered.stderr
    done = json.loads(answered.stdout)
    assert (done["status"], done["decision"], done["decided_by"]) == ("completed", "delay_a_quarter", "human")

    again = cli("--resume", "launch", "--answer", "delay_a_quarter", cwd=tmp_path)
    assert again.returncode == 2
    assert "is decided" in again.stderr
    assert main(["--thread", "launch"]) == 2
    assert "exists already" in capsys.readouterr().err


def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for args, expected in [
        (["--council", "missing.json"], "cannot read council file"),
        (["--resume", "nope", "--answer", "x"], "no run 'nope'"),
        (["--resume", "nope"], "needs --answer"),
        (["--answer", "x"], "goes with --resume"),
        (["--arbitration", "coin"], "invalid choice"),
        (["--model", "nonsense"], "PROVIDER:MODEL"),
    ]:
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert expected in err and len(err.strip().splitlines()) == 1, err
