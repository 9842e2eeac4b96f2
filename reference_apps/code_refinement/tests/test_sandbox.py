"""The critic's sandbox really runs the tests, and contains candidates that misbehave."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox import SandboxLimits, Verdict, isolation, run_tests
from task import CodeTask, load_task

LIMITS = SandboxLimits(timeout_s=5.0, memory_mb=512)


def judge(task: CodeTask, code: str, limits: SandboxLimits = LIMITS) -> Verdict:
    return run_tests(
        code,
        module=task.module,
        test_file=task.test_file,
        tests_source=task.tests_source,
        test_names=task.test_names,
        limits=limits,
    )


def test_scores_the_share_of_tests_that_pass(slugify_task: CodeTask) -> None:
    verdict = judge(slugify_task, slugify_task.revisions[0].code)
    assert (verdict.status, verdict.passed, verdict.total) == ("ran", 2, 8)
    assert verdict.score == 0.25
    assert "test_strips_punctuation" in {f.test for f in verdict.failures}


def test_a_correct_candidate_scores_one(slugify_task: CodeTask) -> None:
    verdict = judge(slugify_task, slugify_task.revisions[-1].code)
    assert (verdict.score, verdict.failures) == (1.0, [])


def test_an_infinite_loop_is_killed_by_the_timeout_and_scores_zero(slugify_task: CodeTask) -> None:
    code = "def slugify(text, separator='-', max_length=None):\n    while True:\n        pass\n"
    verdict = judge(slugify_task, code, SandboxLimits(timeout_s=2.0))
    assert verdict.status == "timeout"  # killed by the limit, so judge() returned
    assert verdict.score == 0.0
    assert verdict.duration_s >= 2.0
    assert "timeout" in verdict.failures[0].message


def test_a_huge_allocation_is_stopped_by_the_memory_limit(slugify_task: CodeTask) -> None:
    code = "def slugify(text, separator='-', max_length=None):\n    return str(bytearray(8 * 1024**3))\n"
    verdict = judge(slugify_task, code, SandboxLimits(timeout_s=10.0, memory_mb=256))
    assert verdict.status == "memory_limit"
    assert verdict.score == 0.0
    assert all("MemoryError" in f.message for f in verdict.failures)


def test_a_candidate_opening_a_socket_fails(slugify_task: CodeTask) -> None:
    # 127.0.0.1:5432 is the project's PostgreSQL when it runs: reachable outside the sandbox.
    code = (
        "import socket\n"
        "def slugify(text, separator='-', max_length=None):\n"
        "    socket.create_connection(('127.0.0.1', 5432), timeout=2).close()\n"
        "    return text.lower()\n"
    )
    verdict = judge(slugify_task, code)
    assert verdict.score == 0.0
    assert "network access is disabled" in verdict.failures[0].message


def test_the_network_namespace_also_stops_code_that_bypasses_the_guard(slugify_task: CodeTask) -> None:
    assert isolation() in ("namespaces", "user-namespaces")  # there is no unisolated fallback
    code = (
        "import _socket\n"
        "def slugify(text, separator='-', max_length=None):\n"
        "    _socket.socket().connect(('127.0.0.1', 5432))\n"
        "    return text.lower()\n"
    )
    verdict = judge(slugify_task, code)
    assert verdict.score == 0.0
    assert "unreachable" in verdict.failures[0].message.lower()


def test_a_candidate_that_does_not_parse_scores_zero_and_says_why(slugify_task: CodeTask) -> None:
    verdict = judge(slugify_task, "def slugify(:\n")
    assert verdict.score == 0.0
    assert "SyntaxError" in verdict.failures[0].message


def test_the_candidate_sees_no_inherited_secrets(
    slugify_task: CodeTask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    code = (
        "import os\n"
        "def slugify(text, separator='-', max_length=None):\n"
        "    assert 'OPENAI_API_KEY' not in os.environ and 'HTTPS_PROXY' not in os.environ\n"
        "    return 'hello-world'\n"
    )
    verdict = judge(slugify_task, code)
    assert "test_lowercases_words" not in {f.test for f in verdict.failures}


def test_limits_out_of_bounds_are_refused() -> None:
    for bad in (
        {"timeout_s": float("inf")},
        {"timeout_s": float("nan")},
        {"timeout_s": 0},
        {"memory_mb": 10**6},
    ):
        with pytest.raises(ValueError, match="between"):
            SandboxLimits(**bad)  # type: ignore[arg-type]


EXCHANGE_TESTS = """
import pytest

import shapes


def test_plain_data_round_trips():
    value = {"t": (1, 2.5, None), "b": b"\\x00", "s": frozenset({"x"}), "l": [True, "é"]}
    assert shapes.echo(value) == value
    assert type(shapes.echo((1,))) is tuple


def test_keyword_arguments_and_constants():
    assert shapes.scale(2, factor=3) == 6
    assert shapes.UNITS == ("m", "km")


def test_builtin_exceptions_keep_their_type():
    with pytest.raises(ValueError, match="negative"):
        shapes.scale(-1)


def test_the_modules_own_exceptions_can_be_caught_by_name():
    with pytest.raises(shapes.ShapeError, match="odd"):
        shapes.check(3)
    with pytest.raises(KeyError):  # ShapeError derives from KeyError, and its stand-in does too
        shapes.check(3)


def test_only_plain_data_crosses():
    with pytest.raises(TypeError, match="cannot receive"):
        shapes.make()
    with pytest.raises(TypeError, match="only None, bool"):
        shapes.echo(object())


def test_a_missing_name_is_an_attribute_error():
    with pytest.raises(AttributeError):
        shapes.nope
"""

SHAPES = """
UNITS = ("m", "km")


class ShapeError(KeyError):
    pass


def echo(value):
    return value


def scale(x, factor=2):
    if x < 0:
        raise ValueError("negative size")
    return x * factor


def check(n):
    if n % 2:
        raise ShapeError("odd")


def make():
    return object()
"""


def test_the_tests_exchange_plain_data_and_exceptions_with_the_candidate(tmp_path: Path) -> None:
    # The tests run outside the sandbox; the candidate's functions answer over a pipe (referee.py).
    (tmp_path / "task.json").write_text(
        json.dumps({"name": "shapes", "module": "shapes", "tests": "test_shapes.py", "description": "d"})
    )
    (tmp_path / "test_shapes.py").write_text(EXCHANGE_TESTS)
    verdict = judge(load_task(tmp_path), SHAPES)
    assert (verdict.score, verdict.failures) == (1.0, [])


def test_a_candidate_that_exits_on_import_scores_zero_and_says_why(slugify_task: CodeTask) -> None:
    verdict = judge(slugify_task, "import os\nprint('bye')\nos._exit(0)\n")
    assert verdict.score == 0.0
    assert "died" in verdict.failures[0].message and "bye" in verdict.failures[0].message
