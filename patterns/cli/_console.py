"""Command-line scaffolding shared by `orch` and the reference apps: one exit-code contract.

The apps import nothing but `patterns`, so their common command-line code lives
here. Bad arguments or input end in one line on stderr (`PROG: error: ...`) and
exit code 2, never argparse's usage dump; a reader that goes away (`| head`) is
a quiet 0; Ctrl-C is `PROG: interrupted` and 130. `ArgumentParser` and `number`
turn bad arguments into `UsageError`, and `run_main` maps how a command ends to
its exit code.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import NoReturn, overload

from rich.console import Console

from patterns.errors import UsageError

__all__ = ["ArgumentParser", "number", "run_main"]

# Like every command's own stderr console: plain text (no markup, no highlighting), never wrapped.
_err = Console(stderr=True, highlight=False, soft_wrap=True)


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, but a bad argument raises `UsageError` instead of printing usage and exiting.

    Pass it as `parser_class` to `add_subparsers` too, so subcommands behave the same.
    """

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


@overload
def number(kind: type[int], *, low: int = 0, high: int | None = None) -> Callable[[str], int]: ...


@overload
def number(
    kind: type[float] = ...,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    unit: str = "",
    expected: str | None = None,
) -> Callable[[str], float]: ...


def number(
    kind: type[int] | type[float] = float,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    unit: str = "",
    expected: str | None = None,
) -> Callable[[str], int] | Callable[[str], float]:
    """An argparse `type=` that parses a number and checks it lies in `low..high`.

    `number(int, low=1, high=64)` takes digits only ("must be a whole number from
    1 to 64, got '0'"). `number(low=0, low_open=True, unit="seconds")` takes any
    float above 0, never nan ("expected seconds, got 'x'", "must be > 0 seconds,
    got 0"); `expected` replaces what the first message says the text should be.
    """
    if kind is int:
        return _whole(int(low or 0), None if high is None else int(high))
    suffix = f" {unit}" if unit else ""
    rule = ""  # no bounds: any number will do
    if low is not None and high is not None:
        rule = f"must be between {low:g} and {high:g}{suffix}"
    elif low is not None:
        rule = f"must be {'>' if low_open else '>='} {low:g}{suffix}"
    elif high is not None:
        rule = f"must be <= {high:g}{suffix}"
    wanted = expected or unit or "a number"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from None
        # Written as "inside the range" so that nan, which compares false to everything, is refused.
        above = low is None or (low < value if low_open else low <= value)
        if not (above and (high is None or value <= high)):
            raise argparse.ArgumentTypeError(f"{rule}, got {text}")
        return value

    return parse


def _whole(low: int, high: int | None) -> Callable[[str], int]:
    rule = (
        f"expected a whole number >= {low}"
        if high is None
        else f"must be a whole number from {low} to {high}"
    )

    def parse(text: str) -> int:
        # Digits only: "+3", " 3" and "3.0" are refused rather than quietly read as 3.
        if not text.isdecimal() or int(text) < low or (high is not None and int(text) > high):
            raise argparse.ArgumentTypeError(f"{rule}, got {text!r}")
        return int(text)

    return parse


def run_main(
    prog: str,
    fn: Callable[[], int],
    *,
    usage_errors: tuple[type[Exception], ...] = (),
    interrupted: str = "interrupted",
    internal_errors: bool = False,
) -> int:
    """Run a command's body `fn` and return its exit code, mapping how it ends to the contract.

    `UsageError` and `usage_errors` print `PROG: error: ...` and return 2; a closed
    stdout returns 0; Ctrl-C prints `PROG: <interrupted>` and returns 130 (say there
    how to continue). With `internal_errors`, any other exception is one line and 1
    unless `ORCH_DEBUG` is set, when it propagates with its traceback.
    """
    usage: tuple[type[Exception], ...] = (UsageError, *usage_errors)
    try:
        return fn()
    except usage as exc:
        _err.print(f"{prog}: error: {exc}", markup=False)
        return 2
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away; that is not an error of ours. Pointing stdout
        # at devnull keeps the interpreter's last flush from failing again on the way out.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        _err.print(f"{prog}: {interrupted}", markup=False)
        return 130
    except Exception as exc:
        if not internal_errors or os.environ.get("ORCH_DEBUG"):
            raise
        _err.print(
            f"{prog}: internal error: {type(exc).__name__}: {exc} (set ORCH_DEBUG=1 for the traceback)",
            markup=False,
        )
        return 1
