"""Every public package imports on its own, first in a fresh interpreter.

`import patterns` is lazy (its exports load on first use), so nothing imports the
runtime before, say, `patterns.testing`: a cycle between them would only show in
whichever command happens to import that one first (as `orch compare` did).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

PACKAGES = [
    "patterns",
    "patterns.cli",
    "patterns.coordination",
    "patterns.errors",
    "patterns.flow_control",
    "patterns.flows",
    "patterns.observability",
    "patterns.presets",
    "patterns.resilience",
    "patterns.runtime",
    "patterns.testing",
    "adapters",
    "adapters.cli",
    "benchmarks.cli",
    "distributed",
]


@pytest.mark.parametrize("package", PACKAGES)
def test_the_package_imports_first_in_a_fresh_interpreter(package: str) -> None:
    done = subprocess.run([sys.executable, "-c", f"import {package}"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
