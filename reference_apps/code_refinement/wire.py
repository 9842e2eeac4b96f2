"""What crosses the pipe between the trusted test run and the sandboxed candidate: plain data only.

One JSON document per line. Values are `None`, `bool`, `int`, `float`, `str`,
`bytes`, and lists, tuples, dicts, sets and frozensets of them; JSON objects
only ever carry a tag (`{"$": "tuple", "v": [...]}`), so `decode` knows every
shape it may receive and builds fresh builtins from them. That is the point:
the trusted side compares values it built itself, never objects the candidate
made (an object whose `__eq__` always says yes cannot cross).

Standard library only: this file is copied into the sandbox and next to the trusted tests.
"""

from __future__ import annotations

import base64
import builtins
import json
from typing import Any

__all__ = ["MAX_LINE", "WireError", "builtin_base", "describe_error", "dumps", "decode", "encode", "loads"]

MAX_LINE = 16 * 1024 * 1024
"""The longest line either side reads; a longer reply is refused, so the candidate cannot exhaust the test run."""
_MAX_DEPTH = 64


class WireError(ValueError):
    """A line that is not a well-formed message: too long, not JSON, or a shape `decode` does not know."""


def dumps(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def loads(line: bytes) -> dict[str, Any]:
    if len(line) > MAX_LINE:
        raise WireError(f"a message longer than {MAX_LINE} bytes")
    try:
        message = json.loads(line)
    except (ValueError, RecursionError) as exc:  # ValueError covers ints beyond the digit limit too
        raise WireError(f"not a JSON message: {exc}") from None
    if type(message) is not dict:
        raise WireError("a message must be a JSON object")
    return message


def encode(value: Any, depth: int = 0) -> Any:
    """`value` as JSON-able data; TypeError for anything that is not plain data."""
    if depth > _MAX_DEPTH:
        raise TypeError("the value is nested too deeply to pass between the sandbox and the tests")
    if value is None or type(value) in (bool, int, float, str):
        return value
    # Subclasses (an IntEnum, a str subclass) travel as their builtin value, read through the base type.
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int.__index__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bytes | bytearray):
        return {"$": "bytes", "v": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, list):
        return [encode(item, depth + 1) for item in value]
    if isinstance(value, tuple):
        return {"$": "tuple", "v": [encode(item, depth + 1) for item in value]}
    if isinstance(value, frozenset | set):
        tag = "frozenset" if isinstance(value, frozenset) else "set"
        return {"$": tag, "v": [encode(item, depth + 1) for item in value]}
    if isinstance(value, dict):
        return {"$": "dict", "v": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]}
    raise TypeError(
        f"a {type(value).__name__} cannot pass between the sandbox and the tests: "
        "only None, bool, int, float, str, bytes and lists, tuples, dicts and sets of them"
    )


def decode(data: Any, depth: int = 0) -> Any:
    """Fresh builtins from `encode`'s output; WireError for any other shape."""
    if depth > _MAX_DEPTH:
        raise WireError("a value nested too deeply")
    if data is None or type(data) in (bool, int, float, str):
        return data
    if type(data) is list:
        return [decode(item, depth + 1) for item in data]
    if type(data) is not dict or set(data) != {"$", "v"}:
        raise WireError(f"an unknown value shape: {type(data).__name__}")
    tag, payload = data["$"], data["v"]
    try:
        if tag == "bytes" and type(payload) is str:
            return base64.b64decode(payload.encode("ascii"), validate=True)
        if type(payload) is not list:
            raise WireError(f"a {tag!r} value without a list")
        items = [decode(item, depth + 1) for item in payload]
        if tag == "tuple":
            return tuple(items)
        if tag == "set":
            return set(items)
        if tag == "frozenset":
            return frozenset(items)
        if tag == "dict" and all(type(pair) is list and len(pair) == 2 for pair in items):
            return {key: value for key, value in items}
    except (TypeError, ValueError) as exc:  # an unhashable key or set item, bad base64
        raise WireError(f"a malformed {tag!r} value: {exc}") from None
    raise WireError(f"an unknown value tag: {tag!r}")


def builtin_base(kind: type) -> str:
    """The name of the nearest builtin class in `kind`'s MRO: what a stand-in for it derives from."""
    return next(
        (
            c.__name__
            for c in kind.__mro__
            if c.__module__ == "builtins" and getattr(builtins, c.__name__, None) is c
        ),
        "Exception",
    )


def describe_error(exc: BaseException) -> dict[str, Any]:
    """An exception as data: its type, the nearest builtin exception it derives from, its args."""
    kind = type(exc)
    try:
        args = encode(list(exc.args))
    except TypeError:
        args = None
    where = ""
    tb = exc.__traceback__
    while tb is not None:  # the innermost frame: where the candidate's code raised
        where = f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}, line {tb.tb_lineno}"
        tb = tb.tb_next
    try:
        message = str(exc)[:2000]
    except Exception:  # a hostile __str__ only spoils its own report
        message = "<unprintable>"
    return {
        "type": kind.__name__,
        "module": kind.__module__,
        "base": builtin_base(kind),
        "message": message,
        "args": args,
        "where": where,
    }
