"""Every README "Your own agents" example runs as pasted and prints what its last comment says.

The examples are the README's own code blocks, not copies kept elsewhere, so
the README cannot drift from the library. Each block is compiled with top-level
`await` allowed (as a notebook cell runs) and executed on its own.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
from pathlib import Path
from typing import Any

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
EXAMPLE = re.compile(
    r"^### (?P<title>[^\n]+?) — `patterns/flows/(?P<module>\w+)\.py`.*?^#### Your own agents\n\n```python\n(?P<code>.*?)^```",
    re.M | re.S,
)


#: The declared flow run on every framework, in "Four frameworks, the same flows".
ON_EVERY_FRAMEWORK = re.compile(
    r"^### Your own flow on every framework\n.*?^```python\n(?P<code>.*?)^```", re.M | re.S
)


def examples() -> dict[str, str]:
    found = {m["module"]: m["code"] for m in EXAMPLE.finditer(README.read_text(encoding="utf-8"))}
    declared = ON_EVERY_FRAMEWORK.search(README.read_text(encoding="utf-8"))
    assert declared is not None, "the README shows a declared flow run on every framework"
    return found | {"every_framework": declared["code"]}


def test_every_pattern_section_has_an_example() -> None:
    sections = re.findall(r"^### .+ — `patterns/flows/(\w+)\.py`", README.read_text(encoding="utf-8"), re.M)
    modules = {p.stem for p in (README.parent / "patterns" / "flows").glob("*.py")} - {"__init__"}
    assert sorted(set(examples()) - {"every_framework"}) == sorted(sections) == sorted(modules)


@pytest.mark.parametrize("module", sorted(examples()))
async def test_the_example_runs_and_prints_what_it_says(module: str) -> None:
    code = examples()[module]
    expected = code.rstrip().splitlines()[-1]
    assert expected.startswith("# "), f"the {module} example must end with its output as a comment"
    compiled = compile(code, f"README:{module}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    printed = io.StringIO()
    namespace: dict[str, Any] = {"__name__": f"readme_{module}"}
    with contextlib.redirect_stdout(printed):
        pending = eval(compiled, namespace)  # a coroutine when the block awaits
        if pending is not None:
            await pending
    assert printed.getvalue().strip() == expected.removeprefix("# ")
