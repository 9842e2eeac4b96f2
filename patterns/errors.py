"""The exceptions a flow can raise, and how each is classified for retries.

Model failures carry the same classification whether they come from the scripted
model, an OpenAI-compatible HTTP endpoint, or a real provider, so one retry
policy serves all three. `is_transient` is the single predicate the retry
machinery asks: transient failures are retried with backoff, permanent ones never.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "FailureKind",
    "ModelError",
    "ModelTimeout",
    "RateLimited",
    "ServerError",
    "PermanentModelError",
    "MalformedOutput",
    "OrchError",
    "ThreadBusy",
    "UsageError",
    "classify",
    "is_transient",
    "retry_after",
]


class FailureKind(StrEnum):
    """How a failure should be handled (BRIEF, "Failure Classification")."""

    TRANSIENT = "transient"  # retry with backoff
    PERMANENT = "permanent"  # fail fast, never retry
    PARTIAL = "partial"  # some branches failed: degrade or compensate
    CASCADING = "cascading"  # a dependency is down: isolate with a breaker


class OrchError(Exception):
    """Base of every error this package raises on purpose."""


class UsageError(OrchError):
    """Bad input or options from the caller; the message says what to change."""


class ThreadBusy(UsageError):
    """Another owner holds the thread: one process at a time runs (and writes) a thread.

    A distinct type because the right reaction is to wait and try again, not to
    change the input: a queue worker puts the run back for later, a person waits
    for the other run or picks another thread.
    """


class ModelError(OrchError):
    """A chat-model call failed."""

    kind: FailureKind = FailureKind.PERMANENT
    status: int | None = None

    def __init__(self, message: str, *, agent: str | None = None) -> None:
        super().__init__(message)
        self.agent = agent


class ModelTimeout(ModelError, TimeoutError):
    """The model did not answer within its deadline."""

    kind = FailureKind.TRANSIENT
    status = 504


class RateLimited(ModelError):
    """HTTP 429: retry, but not before `retry_after` seconds."""

    kind = FailureKind.TRANSIENT
    status = 429

    def __init__(self, message: str, *, retry_after: float, agent: str | None = None) -> None:
        super().__init__(message, agent=agent)
        self.retry_after = retry_after


class ServerError(ModelError):
    """HTTP 5xx from the model service."""

    kind = FailureKind.TRANSIENT
    status = 503


class PermanentModelError(ModelError):
    """HTTP 400/401/403/404: retrying cannot help."""

    kind = FailureKind.PERMANENT
    status = 400


class MalformedOutput(ModelError):
    """The model answered, but not in the shape the agent asked for.

    Transient: a language model asked again usually complies.
    """

    kind = FailureKind.TRANSIENT
    status = None

    def __init__(self, message: str, *, raw: str, agent: str | None = None) -> None:
        super().__init__(message, agent=agent)
        self.raw = raw


_TRANSIENT_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


def classify(exc: BaseException) -> FailureKind:
    """Classify any exception, including those of the `openai` and `httpx` clients."""
    if isinstance(exc, ModelError):
        return exc.kind
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return FailureKind.TRANSIENT
    status = getattr(exc, "status_code", None) or getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(status, int):
        return FailureKind.TRANSIENT if status in _TRANSIENT_STATUS else FailureKind.PERMANENT
    name = type(exc).__name__
    # openai/httpx connection and timeout errors do not subclass the builtins.
    if name in {"APIConnectionError", "APITimeoutError", "ConnectError", "ReadTimeout", "ConnectTimeout"}:
        return FailureKind.TRANSIENT
    return FailureKind.PERMANENT


def is_transient(exc: BaseException) -> bool:
    """True when a retry may succeed; the predicate given to every retry policy."""
    return classify(exc) is FailureKind.TRANSIENT


def retry_after(exc: BaseException) -> float | None:
    """Seconds a 429 asks us to wait, from our `RateLimited` or an HTTP client's response headers."""
    if isinstance(exc, RateLimited):
        return exc.retry_after
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return float(value) / scale
            except ValueError:
                continue  # an HTTP date; not worth honouring precisely
    return None
