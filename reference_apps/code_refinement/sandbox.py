"""The critic's sandbox: run a candidate against its unit tests in a locked-down subprocess.

Each run gets a fresh temporary directory holding only the candidate module,
the test file and a guard, and runs pytest there in a child process with:

- a wall-clock timeout (the whole process group is killed when it expires),
- an address-space limit (`RLIMIT_AS`), plus CPU-time, file-size and core limits,
- no network: a private network namespace (`unshare --net`) when the kernel
  allows it, and always a `sitecustomize` guard that refuses internet sockets,
- a minimal environment: no proxies, tokens or credentials are inherited.

This stops accidents (an infinite loop, a runaway allocation, a stray HTTP
call) in code a model wrote. It is not a boundary against hostile code; run
untrusted code in a container or a VM (gVisor, Firecracker) instead.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

__all__ = ["Failure", "SandboxLimits", "Verdict", "network_isolation", "run_tests"]

Status = Literal["ran", "timeout", "memory_limit", "crashed"]
Isolation = Literal["netns", "socket-guard"]

_GUARD = '''"""Sandbox guard, imported at interpreter start: internet sockets are refused."""
import socket

_Socket = socket.socket


class _NoNetworkSocket(_Socket):
    def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
        if fileno is None and family != socket.AF_UNIX:
            raise PermissionError("network access is disabled in the sandbox")
        super().__init__(family, type, proto, fileno)


socket.socket = _NoNetworkSocket
'''


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    timeout_s: float = 10.0
    memory_mb: int = 512
    file_mb: int = 16


class Failure(BaseModel):
    test: str
    message: str


class Verdict(BaseModel):
    """What the critic found: the score is the share of the task's tests that passed."""

    status: Status
    passed: int
    total: int
    score: float
    failures: list[Failure]
    duration_s: float
    isolation: Isolation


@cache
def network_isolation() -> Isolation:
    """`netns` when unprivileged network namespaces work here, else the in-process guard only."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return "socket-guard"
    try:
        probe = subprocess.run(
            [unshare, "--net", "--map-root-user", "true"], capture_output=True, timeout=5, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "socket-guard"
    return "netns" if probe.returncode == 0 else "socket-guard"


def run_tests(
    code: str,
    *,
    module: str,
    test_file: str,
    tests_source: str,
    test_names: tuple[str, ...],
    limits: SandboxLimits,
) -> Verdict:
    """Run `tests_source` against `code` (saved as `module`.py) and score it."""
    isolation = network_isolation()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="refine-") as tmp:
        workdir = Path(tmp)
        (workdir / f"{module}.py").write_text(code, encoding="utf-8")
        (workdir / test_file).write_text(tests_source, encoding="utf-8")
        (workdir / "sitecustomize.py").write_text(_GUARD, encoding="utf-8")
        (workdir / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")  # pins rootdir here
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--junitxml=report.xml",
            test_file,
        ]
        if isolation == "netns":
            command = ["unshare", "--net", "--map-root-user", *command]
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=_minimal_env(workdir),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=_apply_limits(limits),  # in the child, before exec: the candidate never runs unlimited
            start_new_session=True,  # its own process group, so a timeout kills every child too
        )
        try:
            output, _ = process.communicate(timeout=limits.timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            reason = f"killed: the test run exceeded the {limits.timeout_s:g}s timeout"
            return _all_failed("timeout", reason, test_names, started, isolation)
        report = workdir / "report.xml"
        if not report.is_file():
            tail = output.decode(errors="replace").strip().splitlines()[-3:]
            reason = f"the test run crashed (exit {process.returncode}): {' | '.join(tail) or 'no output'}"
            return _all_failed("crashed", reason, test_names, started, isolation)
        return _score(report, test_names, started, isolation)


def _minimal_env(workdir: Path) -> dict[str, str]:
    # Nothing is inherited: no proxies, API keys or cloud credentials reach the candidate.
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(workdir),
        "TMPDIR": str(workdir),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(workdir),  # makes the guard's sitecustomize load first
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "PYTHONHASHSEED": "0",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }


def _apply_limits(limits: SandboxLimits) -> Callable[[], None]:
    memory = limits.memory_mb * 1024 * 1024
    cpu = int(limits.timeout_s) + 2  # a backstop; the wall-clock timeout normally fires first
    files = limits.file_mb * 1024 * 1024

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
        resource.setrlimit(resource.RLIMIT_FSIZE, (files, files))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


_PARAMS = re.compile(r"\[.*\]$")


def _score(report: Path, test_names: tuple[str, ...], started: float, isolation: Isolation) -> Verdict:
    outcomes: dict[str, str | None] = {}  # test -> first failure message, None when it passed
    for case in ET.parse(report).getroot().iter("testcase"):
        classname = case.get("classname", "").rsplit(".", 1)[-1]
        base = _PARAMS.sub("", case.get("name", ""))
        name = f"{classname}.{base}" if classname.startswith("Test") else base
        problem = next(
            (case.find(tag) for tag in ("failure", "error", "skipped") if case.find(tag) is not None), None
        )
        if problem is not None and outcomes.get(name) is None:
            outcomes[name] = _message(problem)
        else:
            outcomes.setdefault(name, None)
    # A test that never reported counts as failed, blamed on whatever broke collection.
    stray = [message for name, message in outcomes.items() if name not in test_names and message]
    not_run = f"did not run: {stray[0]}" if stray else "did not run"
    failures: list[Failure] = []
    for name in test_names:
        message = outcomes.get(name, not_run)
        if message is not None:
            failures.append(Failure(test=name, message=message))
    passed = len(test_names) - len(failures)
    memory_hit = any("MemoryError" in f.message for f in failures)
    return Verdict(
        status="memory_limit" if memory_hit else "ran",
        passed=passed,
        total=len(test_names),
        score=round(passed / len(test_names), 4),
        failures=failures,
        duration_s=round(time.monotonic() - started, 3),
        isolation=isolation,
    )


def _message(element: ET.Element) -> str:
    message = (element.get("message") or "").strip()
    if not message or message == "collection failure":
        # pytest's own summary says nothing; the traceback's last `E` line names the error.
        errors = [line[1:].strip() for line in (element.text or "").splitlines() if line.startswith("E ")]
        message = errors[-1] if errors else message or element.tag
    return message.splitlines()[0][:300]


def _all_failed(
    status: Status, reason: str, test_names: tuple[str, ...], started: float, isolation: Isolation
) -> Verdict:
    return Verdict(
        status=status,
        passed=0,
        total=len(test_names),
        score=0.0,
        failures=[Failure(test=name, message=reason) for name in test_names],
        duration_s=round(time.monotonic() - started, 3),
        isolation=isolation,
    )
