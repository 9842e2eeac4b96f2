"""`orch`: run, resume, compare and serve the patterns from a shell.

`main` is the entry point; `ArgumentParser`, `number` and `run_main` give every
command of the project (the adapters', the benchmarks', the reference apps')
the same behaviour on bad input: one clear line and exit status 2.
"""

from patterns.cli._app import PLUGIN_GROUP, brain_from_args, main, read_input, result_table, summarize
from patterns.cli._console import ArgumentParser, number, run_main

__all__ = [
    "PLUGIN_GROUP",
    "ArgumentParser",
    "brain_from_args",
    "main",
    "number",
    "read_input",
    "result_table",
    "run_main",
    "summarize",
]
