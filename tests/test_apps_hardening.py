"""Every option of the reference apps' command lines is documented in their `--help`.

For each script, its parser (each app's `parser()`) is introspected in a subprocess
run from the app's folder, subcommands included: every option and positional must
have a help text, and the script's real `--help` output must show every option
string, every positional and every subcommand. A flag that exists but is not shown
(no help, `argparse.SUPPRESS`, or only in a subcommand's help nobody is pointed at)
fails here.

code_refinement and document_processing are checked by their own maintainers.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ._apps import APPS

# (app folder, script, module, parser function): the scripts a user runs with --help.
SCRIPTS = [
    ("decision_council", "app.py", "app", "parser"),
    ("order_saga", "app.py", "app", "parser"),
    ("research_assistant", "app.py", "app", "parser"),
    ("review_analytics", "app.py", "app", "parser"),
    ("review_analytics", "generate_reviews.py", "generate_reviews", "parser"),
    ("support_router", "app.py", "app", "parser"),
]

# Prints, as JSON, every argument of the parser `argv[2]()` in module `argv[1]`, subcommands too.
PROBE = """
import argparse, importlib, json, sys

sys.path.insert(0, ".")
parser = getattr(importlib.import_module(sys.argv[1]), sys.argv[2])()


def walk(parser, command):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield {"command": command, "subcommand": name}
                yield from walk(sub, [*command, name])
            continue
        yield {
            "command": command,
            "options": list(action.option_strings),
            "positional": None if action.option_strings else (action.metavar or action.dest),
            "help": None if action.help in (None, argparse.SUPPRESS) else str(action.help),
        }


print(json.dumps(list(walk(parser, []))))
"""


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # PYTHONPATH is dropped, as in _apps.run: the app's folder and the installed `patterns` only.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"COLUMNS": "100"}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240
    )


def arguments(app: str, module: str, function: str) -> list[dict[str, Any]]:
    probed = run(APPS / app, "-c", PROBE, module, function)
    assert probed.returncode == 0, probed.stderr
    found: list[dict[str, Any]] = json.loads(probed.stdout)
    return found


def shown(word: str, text: str) -> bool:
    """`word` appears in `text` on its own, not as part of a longer option (--cache in --no-cache)."""
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


@pytest.mark.slow
@pytest.mark.parametrize(("app", "script", "module", "function"), SCRIPTS, ids=lambda v: str(v))
def test_help_shows_every_option_the_parser_defines(
    app: str, script: str, module: str, function: str
) -> None:
    found = arguments(app, module, function)
    helped = run(APPS / app, script, "--help")
    assert helped.returncode == 0, helped.stderr
    text = helped.stdout
    # Help texts are wrapped over lines, even inside hyphenated words: compare without whitespace.
    flat = "".join(text.split())
    assert [a for a in found if a.get("options")], f"{app}/{script}: no options found"

    missing: list[str] = []
    for arg in found:
        where = " ".join([script, *arg["command"]])
        if "subcommand" in arg:
            if not shown(arg["subcommand"], text):
                missing.append(f"{where}: subcommand {arg['subcommand']} not in --help")
            continue
        name = "/".join(arg["options"]) or arg["positional"]
        if not arg["help"]:
            missing.append(f"{where}: {name} has no help text")
        elif "%(" not in arg["help"] and "".join(arg["help"].split()) not in flat:
            missing.append(f"{where}: the help of {name} is not in --help")
        for word in arg["options"] or [arg["positional"]]:
            if not shown(word, text):
                missing.append(f"{where}: {word} not in --help")
    assert not missing, "\n".join(missing)


@pytest.mark.slow
def test_generate_reviews_bad_options_are_one_line_and_exit_2(tmp_path: Path) -> None:
    out = tmp_path / "reviews.csv"  # never the committed data, should an option be wrongly accepted
    for bad in (["--rows", "0"], ["--seed", "many"], ["--nope"], ["--out", str(tmp_path)]):
        done = run(APPS / "review_analytics", "generate_reviews.py", "--out", str(out), *bad)
        assert done.returncode == 2, done.stdout + done.stderr
        assert done.stderr.startswith("generate_reviews: error: "), done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not out.exists()
