"""Time travel from the CLI (`orch history`, `orch fork`) and a CLI that answers at once."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import patterns
from patterns.cli import main
from patterns.cli._app import DEFAULT_CHECKPOINT_URL, PATTERN_INDEX


def _orch(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def routed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """A finished routing run on thread t1, in a SQLite file."""
    url = f"sqlite:///{tmp_path / 'cp.sqlite'}"
    code, _, _ = _orch(capsys, "run", "routing", "--thread", "t1", "--checkpoint", url, "--json")
    assert code == 0
    return url


def _history(capsys: pytest.CaptureFixture[str], url: str, thread: str) -> list[dict[str, object]]:
    code, out, _ = _orch(capsys, "history", "--thread", thread, "--checkpoint", url, "--json")
    assert code == 0
    return [json.loads(line) for line in out.splitlines()]


def test_history_lists_the_threads_checkpoints_newest_first(
    routed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _history(capsys, routed, "t1")
    steps = [row["step"] for row in rows]
    assert steps == sorted(steps, reverse=True) and steps[-1] == -1
    assert rows[0]["next"] == [] and "result" in rows[0]["changed"]  # type: ignore[operator]
    classified = next(row for row in rows if row["node"] == "classify")
    assert classified["changed"] == {"route": "billing", "confidence": 1.0}
    assert classified["next"] == ["billing"]
    assert len({row["checkpoint_id"] for row in rows}) == len(rows)

    code, out, _ = _orch(capsys, "history", "--thread", "t1", "--checkpoint", routed)
    assert code == 0 and "classify" in out and str(classified["checkpoint_id"]) in out


def test_fork_continues_from_a_checkpoint_with_the_state_changed(
    routed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _history(capsys, routed, "t1")
    at = next(row for row in before if row["next"] == ["billing"])["checkpoint_id"]
    code, out, err = _orch(
        capsys,
        "fork",
        "--thread", "t1",
        "--checkpoint-id", str(at),
        "--set", "route=technical",
        "--new-thread", "t2",
        "--checkpoint", routed,
        "--json",
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert (result["thread_id"], result["status"]) == ("t2", "completed")
    assert result["output"]["handled_by"] == "technical"
    assert [s["agent"] for s in result["steps"]] == ["technical"]  # classify is not paid for again
    assert _history(capsys, routed, "t1") == before  # the original thread is untouched
    forked = _history(capsys, routed, "t2")
    assert [row["source"] for row in forked][-2:] == ["update", "fork"]
    assert forked[-1]["checkpoint_id"] == at


def test_fork_without_changes_replays_the_rest(routed: str, capsys: pytest.CaptureFixture[str]) -> None:
    at = next(row for row in _history(capsys, routed, "t1") if row["next"] == ["billing"])["checkpoint_id"]
    code, out, _ = _orch(
        capsys, "fork", "--thread", "t1", "--checkpoint-id", str(at), "--new-thread", "t3",
        "--checkpoint", routed, "--stream", "--json",
    )  # fmt: skip
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and lines[-1]["event"] == "result" and lines[-1]["output"]["handled_by"] == "billing"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["history", "--thread", "nope"], "no checkpoint for thread 'nope'"),
        (
            ["fork", "--thread", "nope", "--checkpoint-id", "x", "--new-thread", "n"],
            "no checkpoint for thread",
        ),
        (
            ["fork", "--thread", "t1", "--checkpoint-id", "bogus", "--new-thread", "n"],
            "has no checkpoint 'bogus'",
        ),
        (["fork", "--thread", "t1", "--checkpoint-id", "x", "--new-thread", "t1"], "must differ"),
        (
            ["fork", "--thread", "t1", "--checkpoint-id", "x", "--new-thread", "n", "--set", "nokey"],
            "KEY=VALUE",
        ),
    ],
)
def test_unknown_threads_and_checkpoints_are_one_line_and_exit_2(
    routed: str, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = _orch(capsys, *argv, "--checkpoint", routed)
    assert code == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1


def test_fork_refuses_an_existing_thread_and_an_unknown_key(
    routed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    at = str(_history(capsys, routed, "t1")[1]["checkpoint_id"])
    base = ["fork", "--thread", "t1", "--checkpoint-id", at, "--checkpoint", routed]
    code, _, err = _orch(capsys, *base, "--new-thread", "t1b", "--set", "colour=red")
    assert code == 2 and "no such key" in err
    _orch(capsys, "run", "routing", "--thread", "taken", "--checkpoint", routed, "--json")
    code, _, err = _orch(capsys, *base, "--new-thread", "taken")
    assert code == 2 and "already exists" in err


# A CLI that answers at once: nothing LangGraph until a command runs something.


def test_the_cli_index_is_the_registry() -> None:
    from patterns.presets import PATTERNS
    from patterns.runtime import DEFAULT_CHECKPOINT_URL as RUNTIME_DEFAULT

    derived = {name: spec.summary for name, spec in PATTERNS.items()}
    assert derived == PATTERN_INDEX, f"set patterns.cli._app.PATTERN_INDEX to {derived!r}"
    assert list(PATTERN_INDEX) == list(PATTERNS)
    assert DEFAULT_CHECKPOINT_URL == RUNTIME_DEFAULT


def test_the_lazy_exports_resolve_to_their_modules() -> None:
    import importlib

    homes = patterns._HOMES  # type: ignore[attr-defined]
    assert sorted(patterns.__all__) == sorted(n for names in homes.values() for n in names)
    for module, names in homes.items():
        for name in names:
            assert getattr(patterns, name) is getattr(importlib.import_module(module), name)
    with pytest.raises(AttributeError):
        _ = patterns.no_such_thing  # type: ignore[attr-defined]


_NO_PLUGINS = "import patterns.cli._app as app; app.entry_points = lambda group: []; "


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["list"], ["run", "no-such-pattern"]])
def test_the_core_cli_answers_without_importing_langgraph(argv: list[str]) -> None:
    """The core `orch` (plugins aside: see their own registration) loads no LangGraph, LangChain or flow."""
    code = (
        _NO_PLUGINS + "import sys\ntry:\n    code = app.main(sys.argv[1:])\nexcept SystemExit as e:\n"
        "    code = e.code\nheavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('langgraph', 'langchain_core', 'langchain_openai') or m.startswith('patterns.flows'))\n"
        "print(repr((code, heavy)), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, check=False)
    status, heavy = ast.literal_eval(done.stderr.strip().splitlines()[-1])
    assert heavy == [], heavy
    assert status in (0, 2, None)
    if argv == ["list"]:
        assert all(name in done.stdout for name in PATTERN_INDEX)
    if argv[-1] == "no-such-pattern":
        assert status == 2 and "unknown pattern 'no-such-pattern'" in done.stderr


def test_import_patterns_loads_no_langgraph() -> None:
    code = "import sys, patterns; print('langgraph' in sys.modules, 'langchain_core' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]
