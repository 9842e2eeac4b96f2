"""The critic's sandbox: run a candidate against its unit tests, with the candidate locked away.

A test run has two processes that never share code:

- the **trusted test run**: pytest on the task's tests, outside the sandbox, as
  the app's own user, in a directory the candidate cannot see. The tests
  import the candidate through `referee.py`, a stand-in module whose functions
  forward each call to the sandbox and get plain data (or an exception) back.
  The junit report, the only thing scored, is written here;
- the **sandbox**: the candidate's module, imported by a worker (`jail.py`) in
  fresh PID, mount, network, IPC and UTS namespaces (and a user namespace when
  the app does not run as root). Its PID 1 is ours; its root is a small tmpfs
  with only the system directories and Python, read-only, so no host socket,
  file or `/run` is in reach; the worker runs as an unprivileged uid of its own
  with no capabilities, `no_new_privs`, and rlimits on address space, CPU time,
  file size and process count, and a minimal environment (no secrets).

The run ends when the tests finish or `timeout_s` passes. Either way the
sandbox's PID 1 is killed, and the kernel kills every process left in its PID
namespace (a candidate that forked, called `setsid()` and looped included);
`run_tests` returns only once the namespace is empty. Nothing is read from a
pipe the candidate could hold open: pytest's output goes to a file.

Why the tests do not run next to the candidate, as a plain `pytest` would:
code under test runs in the test runner's process, so it can write its own
junit report, exit 0 early, patch pytest, or return an object that equals
anything. None of that reaches the trusted run: it only ever receives data.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

import wire
from jail import JailConfig

__all__ = [
    "Failure",
    "LIMIT_BOUNDS",
    "SandboxLimits",
    "SandboxUnavailable",
    "Verdict",
    "isolation",
    "run_tests",
]

HERE = Path(__file__).resolve().parent
Status = Literal["ran", "timeout", "memory_limit", "crashed"]
Isolation = Literal["namespaces", "user-namespaces"]
_Mode = Literal["root", "userns"]
_LABELS: dict[_Mode, Isolation] = {"root": "namespaces", "userns": "user-namespaces"}

LIMIT_BOUNDS: dict[str, tuple[float, float]] = {
    "timeout_s": (1, 600),
    "memory_mb": (64, 8192),  # Python needs ~64 MB of address space to start; more than 8 GB is a mistake
    "file_mb": (1, 1024),
    "processes": (1, 1024),
}
"""Inclusive bounds of each `SandboxLimits` field; the command line states and enforces the same."""
_UID_RANGE = (2_000_000_000, 2_100_000_000)
# The same interpreter runs PID 1 and the worker; named as the sandbox's root will have it (no "..").
_PYTHON = os.path.normpath(sys.executable)
_TEARDOWN_S = 30.0  # a safety stop only: killing PID 1 empties the namespace at once


class SandboxUnavailable(RuntimeError):
    """This machine cannot build the sandbox (no namespaces, no unshare); the message says what it needs."""


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    timeout_s: float = 10.0
    memory_mb: int = 512
    file_mb: int = 16
    processes: int = 64
    """Processes and threads of the candidate's uid (RLIMIT_NPROC); the worker itself is one."""

    def __post_init__(self) -> None:
        for field, (low, high) in LIMIT_BOUNDS.items():
            value = getattr(self, field)
            # Written as "inside the range", so NaN (false for every comparison) is refused too.
            if not (isinstance(value, int | float) and math.isfinite(value) and low <= value <= high):
                raise ValueError(f"SandboxLimits.{field} must be between {low:g} and {high:g}, got {value!r}")


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
    isolation: str
    """How the sandbox was built: `namespaces` (as root) or `user-namespaces` (unprivileged)."""


class _Timeout(Exception):
    pass


@cache
def isolation() -> Isolation:
    """How this machine builds the sandbox, checked once by starting one; SandboxUnavailable if it cannot."""
    problems = []
    for mode in ("root", "userns") if os.geteuid() == 0 else ("userns",):
        try:
            _probe(mode)
        except (SandboxUnavailable, _Timeout, OSError, wire.WireError) as exc:
            problems.append(f"{mode}: {str(exc) or type(exc).__name__}")
        else:
            return _LABELS[mode]
    raise SandboxUnavailable(
        "cannot build the sandbox here; it needs util-linux unshare and either root with CAP_SYS_ADMIN or "
        f"unprivileged user namespaces that may mount ({'; '.join(problems)})"
    )


def run_tests(
    code: str,
    *,
    module: str,
    test_file: str,
    tests_source: str,
    test_names: tuple[str, ...],
    limits: SandboxLimits,
) -> Verdict:
    """Run `tests_source` against `code` (as module `module`) and score it."""
    label = isolation()
    mode: _Mode = "root" if label == "namespaces" else "userns"
    started = time.monotonic()
    deadline = started + limits.timeout_s
    with tempfile.TemporaryDirectory(prefix="refine-") as tmp:
        workdir = Path(tmp)  # 0700, ours: the candidate never sees it, it has a root of its own
        jail = _Jail(mode, workdir, code, module, limits)
        try:
            jail.start(deadline)
            report, output, exit_code = _referee(jail, workdir, module, test_file, tests_source, deadline)
        except _Timeout:
            reason = f"killed: the test run exceeded the {limits.timeout_s:g}s timeout"
            return _all_failed("timeout", reason, test_names, started, label)
        finally:
            jail.close()
        if not report.is_file():
            tail = output.strip().splitlines()[-3:]
            reason = f"the test run crashed (exit {exit_code}): {' | '.join(tail) or 'no output'}"
            return _all_failed("crashed", reason, test_names, started, label)
        return _score(report, test_names, started, label)


class _Jail:
    """One sandbox: `unshare` running `jail.py init` as PID 1, which runs the worker hosting the candidate."""

    def __init__(self, mode: _Mode, workdir: Path, code: str, module: str, limits: SandboxLimits) -> None:
        self.mode, self.workdir, self.module, self.limits = mode, workdir, module, limits
        (workdir / "candidate.py").write_text(code, encoding="utf-8")
        (workdir / "root").mkdir()
        self.log_path = workdir / "sandbox.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.to_worker = self.from_worker = self._lifeline = -1
        self._pidfd = -1

    def start(self, deadline: float) -> None:
        unshare = shutil.which("unshare", path="/usr/bin:/bin:/usr/sbin:/sbin")
        if unshare is None:
            raise SandboxUnavailable("util-linux `unshare` is not installed")
        worker_in, self.to_worker = os.pipe()
        self.from_worker, worker_out = os.pipe()
        lifeline, self._lifeline = os.pipe()
        status_r, status_w = os.pipe()
        # The worker's pipe ends and the status pipe reach PID 1 over this socket (SCM_RIGHTS), not by
        # inheritance: unshare, which stays alive as PID 1's parent, must not hold them, or the trusted
        # side would never see EOF when the worker dies.
        handoff, handoff_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        limits = self.limits
        config: JailConfig = {
            "mode": self.mode,
            "root": str(self.workdir / "root"),
            "candidate": str(self.workdir / "candidate.py"),
            "module": self.module,
            "python": _PYTHON,
            # A uid no other sandbox run shares, so RLIMIT_NPROC (counted per uid) is this run's alone.
            "uid": _UID_RANGE[0] + secrets.randbelow(_UID_RANGE[1] - _UID_RANGE[0]),
            "memory_bytes": limits.memory_mb * 1024 * 1024,
            "cpu_seconds": math.ceil(limits.timeout_s) + 2,  # a backstop; the wall-clock timeout fires first
            "file_bytes": limits.file_mb * 1024 * 1024,
            "processes": limits.processes,
            "tmpfs_mb": max(64, 2 * limits.file_mb),
            "lifeline_fd": lifeline,
            "handoff_fd": handoff_child.fileno(),
        }
        namespaces = ["--pid", "--fork", "--kill-child", "--mount", "--propagation", "private"]
        namespaces += ["--net", "--ipc", "--uts"]
        if self.mode == "userns":
            namespaces = ["--user", "--map-root-user", *namespaces]
        command = [
            unshare,
            *namespaces,
            _PYTHON,
            "-s",
            "-B",
            str(HERE / "jail.py"),
            "init",
            json.dumps(config),
        ]
        try:
            with open(self.log_path, "wb") as log:
                self.process = subprocess.Popen(
                    command,
                    cwd=self.workdir,
                    env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},  # nothing inherited, not even by PID 1
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    pass_fds=(lifeline, handoff_child.fileno()),
                    start_new_session=True,
                )
            socket.send_fds(handoff, [b"fds"], [worker_in, worker_out, status_w])
        finally:
            handoff.close()
            handoff_child.close()
            for fd in (worker_in, worker_out, lifeline, status_w):
                os.close(fd)
        try:
            status = _read_line(status_r, deadline)
        finally:
            os.close(status_r)
        if not status:
            raise SandboxUnavailable(f"the sandbox did not start: {self._log_tail() or 'no output'}")
        reply = wire.loads(status)
        if "error" in reply:
            raise SandboxUnavailable(f"the sandbox did not start: {reply['error']}")
        try:
            # A handle on PID 1 itself: killing it by pid alone could hit a reused pid after it exited.
            self._pidfd = os.pidfd_open(int(reply["pid"]))
        except OSError:
            self._pidfd = -1  # an old kernel: closing the lifeline makes PID 1 exit on its own

    def close(self) -> None:
        """Kill the sandbox and wait until its PID namespace is empty."""
        if self._pidfd >= 0:
            with contextlib.suppress(ProcessLookupError):  # it exited on its own meanwhile
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
            os.close(self._pidfd)
            self._pidfd = -1
        for fd in (self._lifeline, self.to_worker, self.from_worker):
            if fd >= 0:
                os.close(fd)
        self._lifeline = self.to_worker = self.from_worker = -1
        if self.process is None:
            return
        # unshare exits only once PID 1 has exited, and PID 1's exit completes only when the kernel has
        # killed and reaped every other process of the namespace: after this wait nothing of it is left.
        try:
            self.process.wait(timeout=_TEARDOWN_S)
        except subprocess.TimeoutExpired:
            self.process.kill()  # --kill-child: unshare's death SIGKILLs PID 1 too
            self.process.wait()

    def _log_tail(self) -> str:
        lines = self.log_path.read_text(errors="replace").strip().splitlines()
        return " | ".join(lines[-3:])


def _read_line(fd: int, deadline: float, lines: int = 1) -> bytes:
    """`lines` lines from `fd` (raw, no buffering to outrun select), or what came before EOF; _Timeout at the deadline."""
    data = b""
    while data.count(b"\n") < lines:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            raise _Timeout
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data


_CONFTEST = '''"""Generated by sandbox.py: the tests get the candidate through the referee, never its code."""

import referee

referee.install()
'''


def _referee(
    jail: _Jail, workdir: Path, module: str, test_file: str, tests_source: str, deadline: float
) -> tuple[Path, str, int]:
    """The trusted test run; returns its junit report's path, its output and its exit code."""
    trusted = workdir / "trusted"
    trusted.mkdir(mode=0o700)
    (trusted / test_file).write_text(tests_source, encoding="utf-8")
    (trusted / "conftest.py").write_text(_CONFTEST, encoding="utf-8")
    (trusted / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")  # pins rootdir here
    for name in ("referee.py", "wire.py"):
        shutil.copyfile(HERE / name, trusted / name)
    report = trusted / "report.xml"
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(trusted),
        "TMPDIR": str(trusted),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "PYTHONHASHSEED": "0",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        "REFINE_MODULE": module,
        "REFINE_RPC": f"{jail.from_worker},{jail.to_worker}",
        "REFINE_LOG": str(jail.log_path),
    }
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--junitxml={report}",
        test_file,
    ]
    output_path = trusted / "pytest.out"
    with open(output_path, "wb") as output:
        process = subprocess.Popen(
            command,
            cwd=trusted,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            pass_fds=(jail.from_worker, jail.to_worker),
            start_new_session=True,
        )
    try:
        exit_code = process.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise _Timeout from None
    return report, output_path.read_text(errors="replace"), exit_code


def _probe(mode: _Mode) -> None:
    """Start a sandbox of this kind and ask its worker one question."""
    with tempfile.TemporaryDirectory(prefix="refine-probe-") as tmp:
        jail = _Jail(mode, Path(tmp), "ANSWER = 42\n", "probe", SandboxLimits(timeout_s=60))
        try:
            deadline = time.monotonic() + 60
            jail.start(deadline)
            os.write(jail.to_worker, wire.dumps({"op": "attr", "name": "ANSWER"}))
            hello, _, answer = _read_line(jail.from_worker, deadline, lines=2).partition(b"\n")
        finally:
            jail.close()
    if not answer or wire.loads(answer).get("ok") != {"kind": "value", "value": 42}:
        detail = hello.decode(errors="replace").strip() or "no reply"
        raise SandboxUnavailable(f"the sandbox started but its worker did not answer ({detail[:200]})")


_PARAMS = re.compile(r"\[.*\]$")


def _score(report: Path, test_names: tuple[str, ...], started: float, label: str) -> Verdict:
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
        isolation=label,
    )


def _message(element: ET.Element) -> str:
    message = (element.get("message") or "").strip()
    if not message or message == "collection failure":
        # pytest's own summary says nothing; the traceback's last `E` line names the error.
        errors = [line[1:].strip() for line in (element.text or "").splitlines() if line.startswith("E ")]
        message = errors[-1] if errors else message or element.tag
    return message.splitlines()[0][:300]


def _all_failed(
    status: Status, reason: str, test_names: tuple[str, ...], started: float, label: str
) -> Verdict:
    return Verdict(
        status=status,
        passed=0,
        total=len(test_names),
        score=0.0,
        failures=[Failure(test=name, message=reason) for name in test_names],
        duration_s=round(time.monotonic() - started, 3),
        isolation=label,
    )
