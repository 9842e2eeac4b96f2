"""The code_refinement critic holds against hostile candidates (issue 11).

Each test hands the sandbox a candidate written to break out of it: a daemon
that forks, calls setsid() and loops; a connection to PostgreSQL's Unix
socket; a forged junit report or a patched pytest; an object equal to
anything; a fork bomb; and checks it stays inside. The sandbox runs in a
child interpreter in the app's folder (the app's modules are flat files named
`app`, `task`, `loop`..., kept out of this process), with a hard timeout that
is a safety stop only, never the assertion.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

APP = Path(__file__).resolve().parents[1] / "reference_apps" / "code_refinement"
SLUGIFY = APP / "tasks" / "slugify"
POSTGRES_SOCKET = Path("/var/run/postgresql/.s.PGSQL.5432")
SAFETY_STOP_S = 180  # far above any run here; hitting it means the call did not return

pytestmark = pytest.mark.slow

# Runs in the app's folder: score `code` against a task folder's tests, print the verdict as JSON.
_JUDGE = """
import json, sys
sys.path.insert(0, ".")
from sandbox import SandboxLimits, run_tests
from task import load_task
args = json.loads(sys.argv[1])
task = load_task(args["task"])
verdict = run_tests(
    args["code"], module=task.module, test_file=task.test_file, tests_source=task.tests_source,
    test_names=task.test_names, limits=SandboxLimits(timeout_s=args["timeout"]),
)
print(verdict.model_dump_json())
"""


def judge(code: str, task: Path = SLUGIFY, timeout: float = 20.0) -> dict[str, Any]:
    """The verdict on `code`; fails the test if the sandbox does not return before the safety stop."""
    argument = json.dumps({"code": code, "task": str(task), "timeout": timeout})
    try:
        done = subprocess.run(
            [sys.executable, "-c", _JUDGE, argument],
            cwd=APP,
            capture_output=True,
            text=True,
            timeout=SAFETY_STOP_S,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"run_tests did not return within the {SAFETY_STOP_S}s safety stop")
    assert done.returncode == 0, done.stderr
    verdict: dict[str, Any] = json.loads(done.stdout)
    return verdict


def make_task(folder: Path, module: str, tests: str) -> Path:
    folder.mkdir()
    (folder / "task.json").write_text(
        json.dumps({"name": module, "module": module, "tests": f"test_{module}.py", "description": "hostile"})
    )
    (folder / f"test_{module}.py").write_text(textwrap.dedent(tests))
    return folder


def processes_marked(marker: str) -> list[int]:
    """Host pids whose command line or name carries `marker` (this test's own processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            seen = (entry / "cmdline").read_bytes() + b"\0" + (entry / "comm").read_bytes()
        except OSError:  # gone meanwhile
            continue
        if marker.encode() in seen:
            found.append(int(entry.name))
    return found


@pytest.fixture
def marker() -> Iterator[str]:
    """A unique marker for the processes a candidate starts; any left behind are killed afterwards."""
    mark = f"esc{uuid.uuid4().hex[:10]}"  # short: it must fit in a 15-character process name
    yield mark
    for pid in processes_marked(mark):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def escapee(marker: str, body: str) -> str:
    """A slugify whose import leaves a daemon behind: fork, setsid, fork again, exec a loop named `marker`."""
    return textwrap.dedent(
        f"""
        import os, sys

        if os.fork() == 0:
            os.setsid()  # out of the process group: a killpg no longer reaches it
            if os.fork() == 0:
                loop = "import time\\nwhile True:\\n    time.sleep(0.2)"
                os.execv(sys.executable, [sys.executable, "-c", loop, {marker!r}])
            os._exit(0)

        def slugify(text, separator="-", max_length=None):
        """
    ) + textwrap.indent(body, "    ")


@pytest.mark.parametrize(
    "body", ["return text.lower()\n", "while True:\n    pass\n"], ids=["tests-finish", "timeout"]
)
def test_a_daemon_that_escapes_the_process_group_is_killed(marker: str, body: str) -> None:
    verdict = judge(escapee(marker, body), timeout=5)
    assert verdict["status"] == ("timeout" if "while" in body else "ran")
    assert processes_marked(marker) == []  # run_tests returned: nothing the candidate started survives


def test_unix_sockets_of_the_host_are_out_of_reach(tmp_path: Path) -> None:
    own = tmp_path / "own.sock"  # a socket in a place no fixed list of socket folders would name
    abstract = f"\0refine-{uuid.uuid4().hex}"
    listeners = []
    for address in (str(own), abstract):
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(address)
        listener.listen(8)
        listeners.append(listener)
    targets = {"own": str(own), "abstract": abstract}
    if POSTGRES_SOCKET.exists():  # what the hostile candidate of the issue wrote tables through
        targets["postgres"] = str(POSTGRES_SOCKET)
    tests = "from reach import connect\n" + "".join(
        f"\ndef test_{name}():\n    assert connect({path!r}).startswith('refused')\n"
        for name, path in targets.items()
    )
    task = make_task(tmp_path / "reach", "reach", tests)
    code = textwrap.dedent(
        """
        import socket

        def connect(path):
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client.settimeout(5)
            try:
                client.connect(path)
            except OSError as exc:
                return f"refused: {exc}"
            finally:
                client.close()
            return "connected"
        """
    )
    try:
        verdict = judge(code, task)
    finally:
        for listener in listeners:
            listener.close()
    assert verdict["failures"] == [] and verdict["score"] == 1.0, verdict["failures"]


_NOT_IMPLEMENTED = """
def slugify(text, separator="-", max_length=None):
    raise NotImplementedError
"""
_TEST_NAMES = [
    "test_lowercases_words",
    "test_strips_punctuation",
    "test_collapses_separators",
    "test_trims_separators",
    "test_transliterates_accents",
    "test_custom_separator",
    "test_truncates_at_word_boundary",
    "test_only_punctuation",
]
_FORGED_REPORT = (
    "import os\n"
    'cases = \'\'.join(f\'<testcase classname="test_slugify" name="{name}" time="0.001"/>\' for name in '
    f"{_TEST_NAMES!r})\n"
    "with open('report.xml', 'w') as report:\n"
    '    report.write(\'<?xml version="1.0"?><testsuites><testsuite name="pytest" errors="0" failures="0" \'\n'
    '                 f\'skipped="0" tests="8">{cases}</testsuite></testsuites>\')\n'
    "os._exit(0)\n"
)
_PATCHED_PYTEST = """
import _pytest.reports

_init = _pytest.reports.TestReport.__init__

def _passed(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    self.outcome, self.longrepr = "passed", None

_pytest.reports.TestReport.__init__ = _passed
"""
_EQUAL_TO_ANYTHING = """
class _Anything:
    def __eq__(self, other):
        return True

def slugify(text, separator="-", max_length=None):
    return _Anything()
"""


@pytest.mark.parametrize(
    "code",
    [_FORGED_REPORT + _NOT_IMPLEMENTED, _PATCHED_PYTEST + _NOT_IMPLEMENTED, _EQUAL_TO_ANYTHING],
    ids=[
        "writes-its-own-report-and-exits-0",
        "patches-pytest-reports",
        "returns-an-object-equal-to-anything",
    ],
)
def test_a_candidate_cannot_forge_its_score(code: str) -> None:
    verdict = judge(code)
    assert (verdict["passed"], verdict["score"]) == (0, 0.0), verdict


def test_the_candidate_is_not_root_and_has_no_capabilities(tmp_path: Path) -> None:
    task = make_task(
        tmp_path / "whoami",
        "whoami",
        """
        from whoami import identity

        def test_not_root():
            assert identity()["uid"] != 0 and identity()["euid"] != 0

        def test_no_capabilities():
            assert identity()["capabilities"] == (0, 0)

        def test_no_new_privileges():
            assert identity()["no_new_privs"] == 1

        def test_process_count_is_limited():
            assert identity()["nproc"] <= 1024
        """,
    )
    code = textwrap.dedent(
        """
        import os, resource

        def identity():
            status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
            return {
                "uid": os.getuid(),
                "euid": os.geteuid(),
                "capabilities": (int(status["CapEff"], 16), int(status["CapPrm"], 16)),
                "no_new_privs": int(status["NoNewPrivs"]),
                "nproc": resource.getrlimit(resource.RLIMIT_NPROC)[0],
            }
        """
    )
    verdict = judge(code, task)
    assert verdict["failures"] == [] and verdict["score"] == 1.0, verdict["failures"]


def test_a_fork_bomb_is_contained(tmp_path: Path, marker: str) -> None:
    # Bounded so the check itself is safe on a machine without the fix: every child dies within a minute.
    task = make_task(
        tmp_path / "bomb",
        "bomb",
        """
        from bomb import spawn

        def test_the_process_count_stops_the_bomb():
            assert spawn(400) < 400
        """,
    )
    code = textwrap.dedent(
        f"""
        import ctypes, os, signal

        def spawn(attempts):
            libc = ctypes.CDLL(None)
            spawned = 0
            for _ in range(attempts):
                try:
                    pid = os.fork()
                except OSError:  # EAGAIN: the sandbox's process limit
                    break
                if pid == 0:
                    libc.prctl(15, {marker.encode()!r}, 0, 0, 0)  # PR_SET_NAME, for the survivor check
                    signal.alarm(60)
                    while True:
                        signal.pause()
                spawned += 1
            return spawned
        """
    )
    verdict = judge(code, task, timeout=30)
    assert verdict["failures"] == [] and verdict["score"] == 1.0, verdict["failures"]
    assert processes_marked(marker) == []


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(APP / "app.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=SAFETY_STOP_S,
    )


@pytest.mark.parametrize(
    ("option", "values"),
    [
        ("--timeout", ["inf", "nan", "-1", "0", "1e9"]),
        ("--memory-mb", ["-5", "0", "100000000", "inf", "nan"]),
    ],
)
def test_limits_out_of_bounds_are_refused_in_one_line(tmp_path: Path, option: str, values: list[str]) -> None:
    for value in values:
        done = cli(option, value, cwd=tmp_path)
        lines = done.stderr.strip().splitlines()
        assert (done.returncode, len(lines)) == (2, 1), (value, done.stderr)
        assert option in lines[0], lines
    # The bounds are stated where a user looks for them.
    helptext = " ".join(cli("--help", cwd=tmp_path).stdout.split())
    assert "1 to 600" in helptext and "64 to 8192" in helptext
