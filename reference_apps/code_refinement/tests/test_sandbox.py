"""The critic's sandbox really runs the tests, and contains candidates that misbehave."""

from __future__ import annotations

import pytest

from sandbox import SandboxLimits, Verdict, network_isolation, run_tests
from task import CodeTask

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
    assert verdict.status == "timeout"
    assert verdict.score == 0.0
    assert verdict.duration_s < 5.0
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
    if network_isolation() != "netns":
        return  # only the in-process guard is available on this kernel; nothing more to show
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
