"""`orch serve-model` as a user runs it: a startup failure is one line and exit 2, before any banner."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

TIMEOUT = 60
# ORCH_DEBUG would turn an internal error into a traceback; these runs check what a user sees.
ENV = {k: v for k, v in os.environ.items() if k != "ORCH_DEBUG"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield int(taken.getsockname()[1])


def _serve_model(orch_command: list[str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*orch_command, "serve-model", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=ENV,
        timeout=TIMEOUT,
    )


def _assert_refused(done: subprocess.CompletedProcess[str], message: str) -> None:
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr  # the error alone: no banner, no traceback, no uvicorn log
    assert lines[0].startswith("orch: error: ") and message in lines[0], lines[0]


def test_a_busy_port_is_one_line_and_exit_2(orch_command: list[str], tmp_path: Path, busy_port: int) -> None:
    done = _serve_model(orch_command, "--port", str(busy_port), cwd=tmp_path)
    _assert_refused(done, f"cannot listen on 127.0.0.1:{busy_port}")


def test_an_unwritable_log_is_one_line_and_exit_2(orch_command: list[str], tmp_path: Path) -> None:
    log = tmp_path / "missing" / "requests.jsonl"
    done = _serve_model(orch_command, "--port", str(_free_port()), "--log", str(log), cwd=tmp_path)
    _assert_refused(done, "cannot append to the request log")


@pytest.mark.parametrize(
    "args",
    [
        ["--model", "openai:gpt-4o-mini"],
        ["--base-url", "http://127.0.0.1:1/v1"],
        ["--host", "0.0.0.0"],
    ],
    ids=["model", "base-url", "non-loopback-host"],
)
def test_options_that_do_not_apply_are_refused(
    orch_command: list[str], tmp_path: Path, args: list[str]
) -> None:
    done = _serve_model(orch_command, "--port", str(_free_port()), *args, cwd=tmp_path)
    _assert_refused(done, args[0] if args[0] != "--host" else "loopback")


def test_serves_once_the_banner_is_printed_and_ctrl_c_stops_it(
    orch_command: list[str], tmp_path: Path
) -> None:
    port, log = _free_port(), tmp_path / "requests.jsonl"
    with subprocess.Popen(
        [*orch_command, "serve-model", "--port", str(port), "--log", str(log), "--seed", "3"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    ) as proc:
        try:
            assert proc.stderr is not None
            banner = proc.stderr.readline()
            # The banner comes once the port is listening: a request right after it is answered.
            models = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=TIMEOUT)
        finally:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=TIMEOUT)
    assert banner == f"scripted model on http://127.0.0.1:{port}/v1 (Ctrl-C to stop)\n"
    assert models.status_code == 200 and models.json()["data"][0]["id"] == "scripted"
    assert (proc.returncode, out, err) == (0, "", "")
    assert [json.loads(line)["path"] for line in log.read_text().splitlines()] == ["/v1/models"]
