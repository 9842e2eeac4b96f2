"""The trusted side of a test run: the stand-in for the candidate module that the task's tests import.

`sandbox.py` runs pytest on the task's tests in a process of its own, outside
the sandbox, with this file loaded by the generated `conftest.py`. `install()`
puts a `CandidateModule` in `sys.modules` under the candidate's module name, so
`from slugify import slugify` in the tests gets a proxy: every attribute read
and every call travels over a pipe, in `wire` format, to the worker in the
sandbox, which runs the candidate's code and sends back plain data or the
exception it raised.

So the candidate's code never runs in this process. It cannot touch pytest,
the tests, their assertions or the junit report; all it controls is what its
functions return (plain data, rebuilt here as fresh builtins) and what they
raise (rebuilt as the builtin exception, or a stand-in class derived from the
nearest builtin). What the tests can exchange with it is limited to that: no
objects, callbacks or classes cross.
"""

from __future__ import annotations

import builtins
import os
import re
import sys
import types
from typing import Any, NoReturn

import wire

__all__ = ["CandidateError", "CandidateModule", "install"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class CandidateError(RuntimeError):
    """The candidate gave no usable answer: its process died, or it sent something that is not a reply."""


class _Channel:
    """The pipe pair to the worker. The first line is its hello, or why the candidate did not import."""

    def __init__(self, module: str, read_fd: int, write_fd: int, log: str | None) -> None:
        self.module = module
        self._replies = os.fdopen(read_fd, "rb")
        self._requests = os.fdopen(write_fd, "wb")
        self._log = log
        self._started = False
        self._broken: tuple[type[Exception], str] | None = None
        self._stand_ins: dict[tuple[str, str], type[Exception]] = {}

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        self._start()
        try:
            self._requests.write(wire.dumps(request))
            self._requests.flush()
        except OSError:
            self._fail(CandidateError, self._died())
        return self._read()

    def _start(self) -> None:
        if self._broken is not None:
            kind, message = self._broken
            raise kind(message)  # a fresh exception per test: each test's report says why
        if self._started:
            return
        self._started = True
        first = self._read()
        if "import_error" in first:
            error = first["import_error"]
            what = f"{error.get('type')}: {error.get('message')}" if type(error) is dict else "unknown error"
            self._fail(ImportError, f"the candidate module {self.module!r} did not import: {what}")
        if first.get("hello") != self.module:
            self._fail(
                CandidateError, f"the candidate's process did not answer as expected: {str(first)[:200]}"
            )

    def _read(self) -> dict[str, Any]:
        line = self._replies.readline(wire.MAX_LINE + 1)
        if not line:
            self._fail(CandidateError, self._died())
        try:
            return wire.loads(line)
        except wire.WireError as exc:
            # The stream can no longer be trusted to line up with our requests: stop using it.
            self._fail(CandidateError, f"the candidate's process sent something that is not a reply: {exc}")

    def _fail(self, kind: type[Exception], message: str) -> NoReturn:
        self._broken = (kind, message)
        raise kind(message)

    def _died(self) -> str:
        message = "the candidate's process died (it exited, crashed or was killed at a sandbox limit)"
        last = _last_line(self._log)
        return f"{message}; its last output: {last}" if last else message

    def result(self, reply: dict[str, Any]) -> Any:
        if "ok" in reply:
            try:
                return wire.decode(reply["ok"])
            except wire.WireError as exc:
                self._fail(CandidateError, f"the candidate's process sent a malformed value: {exc}")
        if "error" in reply:
            raise self.exception(reply["error"])
        self._fail(
            CandidateError, f"the candidate's process sent a reply without a result: {str(reply)[:200]}"
        )

    def exception(self, error: Any) -> BaseException:
        """The candidate's exception, rebuilt here from its description."""
        if type(error) is not dict:
            return CandidateError("the candidate's process sent a malformed error")
        name, module = str(error.get("type")), str(error.get("module"))
        kind = self.exception_class(module, name, str(error.get("base")))
        message = str(error.get("message", ""))
        try:
            args = wire.decode(error["args"]) if error.get("args") is not None else [message]
            return kind(*args)
        except Exception:  # args the class rejects, or a malformed payload: the message still says it
            return kind(message)

    def exception_class(self, module: str, name: str, base: str) -> type[Exception]:
        """The builtin exception itself, else one stand-in class per candidate exception type."""
        builtin = getattr(builtins, name, None)
        if module == "builtins" and isinstance(builtin, type) and issubclass(builtin, Exception):
            return builtin
        parent = getattr(builtins, base, None)
        if not (isinstance(parent, type) and issubclass(parent, Exception)):
            parent = CandidateError  # SystemExit, KeyboardInterrupt: must not stop the trusted test run
        key = (module, name)
        if key not in self._stand_ins:
            safe = _NAME.match(name) is not None and all(_NAME.match(p) for p in module.split("."))
            self._stand_ins[key] = type(
                name if safe else "CandidateException",
                (parent,),
                {"__module__": module if safe else "candidate"},
            )
        return self._stand_ins[key]


class _RemoteFunction:
    """A callable of the candidate module: the call runs in the sandbox, the result comes back as data."""

    def __init__(self, channel: _Channel, name: str) -> None:
        self._channel = channel
        self.__name__ = self.__qualname__ = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            request = {"op": "call", "name": self.__name__, "args": wire.encode(list(args))}
            request["kwargs"] = wire.encode(kwargs)
        except TypeError as exc:
            raise TypeError(f"{self.__name__}(): {exc}") from None
        return self._channel.result(self._channel.ask(request))

    def __repr__(self) -> str:
        return self.__name__  # pytest's assertion messages then read "where ... = slugify('Hello World')"


class CandidateModule(types.ModuleType):
    """What `import MODULE` gives the tests: attribute reads are answered by the sandboxed candidate."""

    def __init__(self, channel: _Channel) -> None:
        super().__init__(channel.module, "the candidate module, run in the sandbox")
        self.__dict__["_channel"] = channel

    def __getattr__(self, name: str) -> Any:
        # Import machinery and pytest probe dunders and pytest's own markers; the candidate has none to offer.
        if name.startswith(("__", "_pytest")):
            raise AttributeError(name)
        channel: _Channel = self.__dict__["_channel"]
        reply = channel.ask({"op": "attr", "name": name})
        if "error" in reply:
            raise channel.exception(reply["error"])  # AttributeError stays one: `from m import x` says so
        what = reply.get("ok")
        if not isinstance(what, dict):
            raise CandidateError(f"the candidate's process sent a malformed attribute: {str(reply)[:200]}")
        kind = what.get("kind")
        if kind == "callable":
            return _RemoteFunction(channel, name)
        if kind == "exception":
            return channel.exception_class(channel.module, name, str(what.get("base")))
        if kind == "value":
            return channel.result({"ok": what.get("value")})
        raise CandidateError(f"the candidate's process sent a malformed attribute: {str(reply)[:200]}")


def install() -> None:
    """Called by the generated conftest.py, before pytest imports the tests."""
    module = os.environ["REFINE_MODULE"]
    read_fd, write_fd = (int(fd) for fd in os.environ["REFINE_RPC"].split(","))
    sys.modules[module] = CandidateModule(_Channel(module, read_fd, write_fd, os.environ.get("REFINE_LOG")))


def _last_line(path: str | None) -> str:
    if not path:
        return ""
    try:
        with open(path, "rb") as log:
            log.seek(max(0, os.fstat(log.fileno()).st_size - 4096))
            lines = [
                line.strip() for line in log.read().decode(errors="replace").splitlines() if line.strip()
            ]
    except OSError:
        return ""
    return lines[-1][:200] if lines else ""
