"""Structured log records through stdlib `logging`, and the JSON and text formatters for them.

Stdlib `logging`, not structlog: the records are a handful of fixed events
(`agent_invocation`, `agent_failure`, `breaker_transition`, `flow_run`) whose
fields travel in `extra`, so every handler an application already has receives
them, and the JSON form is one small formatter. structlog would add a
dependency and a second configuration to do the same.

Logger names: `patterns.agents` (agent calls and breakers) and `patterns.flows`
(one record per run). Each record's fields are in `record.orch`.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any, Literal

__all__ = [
    "AGENTS",
    "FLOWS",
    "InstalledHandler",
    "JsonFormatter",
    "LogFormat",
    "TextFormatter",
    "install_handler",
]

LogFormat = Literal["json", "text"]

AGENTS = logging.getLogger("patterns.agents")
FLOWS = logging.getLogger("patterns.flows")
_ROOT = "patterns"

# The attributes every LogRecord has: anything else came in through `extra`.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = dict(getattr(record, "orch", None) or {})
    for key, value in vars(record).items():
        if key not in _STANDARD and key != "orch":
            fields[key] = value
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, event (the message), then the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """`TIME LEVEL logger event key=value ...`, for a person reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S.%f")[:-3]
        pairs = " ".join(f"{k}={_text(v)}" for k, v in _fields(record).items() if v is not None)
        text = f"{when} {record.levelname:<7} {record.name} {record.getMessage()} {pairs}".rstrip()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return json.dumps(text) if not text or any(c.isspace() for c in text) else text


@dataclass
class InstalledHandler:
    """A handler `install_handler` added, and the level it found, put back by `remove`."""

    handler: logging.Handler
    previous_level: int

    def remove(self) -> None:
        root = logging.getLogger(_ROOT)
        root.removeHandler(self.handler)
        root.setLevel(self.previous_level)
        self.handler.close()


def install_handler(fmt: LogFormat, stream: IO[str] | None = None) -> InstalledHandler:
    """Write the `patterns` loggers' records, INFO and up, to `stream` (default stderr) in `fmt`."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger(_ROOT)
    installed = InstalledHandler(handler, root.level)
    root.addHandler(handler)
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)
    return installed
