"""The scripted model as an OpenAI-compatible HTTP server on loopback.

Every framework ships a production OpenAI client; pointing it at this server
drives a flow through that client (its request building, streaming parser, tool
call handling and error mapping) while the answers still come from the same
deterministic `ScriptedBrain` the in-process model uses. Usage numbers, faults
and latency are therefore identical over HTTP and in-process.

Every request is appended to a JSONL request log: that is how the project
measures what each framework really sends (how many messages and tools, which
body keys, how many tokens) and how often it retries.

Starlette rather than FastAPI: it is already a dependency and we need four routes.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from patterns.errors import ModelError, RateLimited, UsageError
from patterns.testing._brain import Plan, Reply, ScriptedBrain
from patterns.testing._tokens import split_tokens

__all__ = [
    "DEFAULT_PORT",
    "MAX_BODY_BYTES",
    "MODEL_ID",
    "check_host",
    "create_app",
    "running_server",
    "serve",
]

MODEL_ID = "scripted"
DEFAULT_PORT = 8765
#: Larger request bodies are refused with 413 before they are read: parsing one
#: blocks the event loop, and with it every other request and `/health`. The
#: largest request the seven flows send is about 10 KB.
MAX_BODY_BYTES = 1 << 20

_log = logging.getLogger(__name__)

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_TOOL_CHOICES = frozenset({"none", "auto", "required"})
# Where the chat handler leaves what it learnt for the request recorder.
_RECORD_KEY = "patterns.request_record"
_ERROR_TYPES = {
    400: "invalid_request_error",
    429: "rate_limit_error",
    503: "server_error",
    504: "server_error",
}
_ERROR_CODES = {429: "rate_limit_exceeded", 503: "service_unavailable", 504: "timeout"}


# --------------------------------------------------------------------------- app


def create_app(brain: ScriptedBrain, *, request_log: Path | None = None) -> Starlette:
    """The ASGI app: `POST /v1/chat/completions`, `GET /v1/models[/{id}]`, `GET /health`."""

    async def chat_completions(request: Request) -> Response:
        return await _chat(brain, request)

    middleware: list[Middleware] = []
    if request_log is not None:
        _check_writable(request_log)
        middleware.append(Middleware(_RequestRecorder, path=request_log))
    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/models", _list_models, methods=["GET"]),
            Route("/v1/models/{model_id:path}", _get_model, methods=["GET"]),
            Route("/health", _health, methods=["GET"]),
        ],
        middleware=middleware,
        exception_handlers={HTTPException: _http_error},  # type: ignore[dict-item]
    )


async def _health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def _model_card() -> dict[str, Any]:
    return {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "patterns"}


async def _list_models(request: Request) -> Response:
    return JSONResponse({"object": "list", "data": [_model_card()]})


async def _get_model(request: Request) -> Response:
    model_id = request.path_params["model_id"]
    if model_id != MODEL_ID:
        return _client_error(_no_such_model(model_id))
    return JSONResponse(_model_card())


async def _http_error(request: Request, exc: HTTPException) -> Response:
    # Clients parse OpenAI's error shape; Starlette's plain-text 404/405 would
    # surface as an opaque APIStatusError body.
    return _error(
        exc.status_code, f"{request.method} {request.url.path}: {exc.detail}", "invalid_request_error"
    )


def _error(
    status: int,
    message: str,
    kind: str,
    *,
    param: str | None = None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


# --------------------------------------------------------------------------- chat


@dataclass(frozen=True, slots=True)
class _ChatRequest:
    model: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None
    tool_choice: Any
    stream: bool
    include_usage: bool


class _BadRequest(Exception):
    """The client's mistake: answered with `status` (a 4xx) in OpenAI's error shape."""

    def __init__(
        self, message: str, param: str | None = None, *, status: int = 400, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.param, self.status, self.code = param, status, code


def _client_error(exc: _BadRequest) -> JSONResponse:
    return _error(exc.status, str(exc), "invalid_request_error", param=exc.param, code=exc.code)


def _no_such_model(model_id: str) -> _BadRequest:
    return _BadRequest(f"The model {model_id!r} does not exist", status=404, code="model_not_found")


# What the brain and the responders raise on an INPUT payload they cannot read
# (a field of the wrong type, nesting too deep, an over-long integer). The
# payload is the client's, and the same input fails the same way every time: a
# 400 the client will not retry, not a 500 it would.
_UNREADABLE_INPUT = (TypeError, ValueError, LookupError, AttributeError, RecursionError)


async def _chat(brain: ScriptedBrain, request: Request) -> Response:
    record: dict[str, Any] = request.scope.get(_RECORD_KEY, {})
    try:
        body = await _json_body(request)
        _describe_raw(body, record)
        chat = _validate(body)
        plan, reply = await _reply(brain, chat, record)
    except _BadRequest as exc:
        record["error"] = str(exc)
        return _client_error(exc)
    except ModelError as exc:
        record["error"] = str(exc)
        return _fault_response(exc)
    except Exception as exc:  # a responder bug must reach the client and the log, not kill the request
        _log.exception("scripted model failed (agent %r)", record.get("agent"))
        record["error"] = f"{type(exc).__name__}: {exc}"
        return _error(500, f"scripted model error: {type(exc).__name__}: {exc}", "server_error")
    record["completion_tokens"] = reply.completion_tokens

    completion_id = f"chatcmpl-{plan.prompt_sha}"
    created = int(time.time())
    if chat.stream:
        return StreamingResponse(
            _sse(_chunks(reply, chat, completion_id, created)),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
        )
    return JSONResponse(_completion(reply, chat, completion_id, created))


async def _json_body(request: Request) -> Any:
    declared = request.headers.get("content-length", "")
    if declared.isdecimal() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    # A chunked body declares no length: count while reading and stop at the limit.
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_BODY_BYTES:
            raise _too_large()
    try:
        body = json.loads(data)
    except (ValueError, RecursionError) as exc:  # ValueError: bad JSON or UTF-8, an over-long integer
        raise _BadRequest(f"could not parse the JSON body of the request: {exc}") from None
    try:
        # json.loads accepts a lone surrogate ("\ud800"), which no UTF-8 reply or log line can carry.
        json.dumps(body, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise _BadRequest(
            "the request body contains a lone UTF-16 surrogate (such as \\ud800), which is not valid Unicode"
        ) from None
    return body


def _too_large() -> _BadRequest:
    return _BadRequest(
        f"the request body is larger than {MAX_BODY_BYTES} bytes", status=413, code="request_too_large"
    )


async def _reply(brain: ScriptedBrain, chat: _ChatRequest, record: dict[str, Any]) -> tuple[Plan, Reply]:
    try:
        plan = brain.plan(chat.messages)
    except _UNREADABLE_INPUT as exc:
        raise _BadRequest(
            f"the prompt's INPUT cannot be read: {type(exc).__name__}: {exc}", "messages"
        ) from None
    record.update(agent=plan.agent, role=plan.role, prompt_tokens=plan.prompt_tokens, fault=plan.fault)
    if plan.delay > 0:
        await asyncio.sleep(plan.delay)
    try:
        reply = brain.finish(plan, chat.messages, tools=chat.tools, tool_choice=chat.tool_choice)
    except _UNREADABLE_INPUT as exc:
        raise _BadRequest(
            f"agent {plan.agent!r} cannot answer this INPUT: {type(exc).__name__}: {exc}", "messages"
        ) from None
    return plan, reply


def _describe_raw(body: Any, record: dict[str, Any]) -> None:
    # Recorded before validation so a rejected request still shows what was sent.
    if not isinstance(body, dict):
        return
    record["keys"] = sorted(body)
    if isinstance(body.get("model"), str):
        record["model"] = body["model"]
    record["stream"] = body.get("stream") is True
    if isinstance(body.get("messages"), list):
        record["messages"] = len(body["messages"])
    if isinstance(body.get("tools"), list):
        record["tools"] = len(body["tools"])


def _validate(body: Any) -> _ChatRequest:
    if not isinstance(body, dict):
        raise _BadRequest("the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _BadRequest("'model' is required and must be a non-empty string", "model")
    if model != MODEL_ID:
        raise _no_such_model(model)
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise _BadRequest("'messages' must be a non-empty array of {role, content} objects", "messages")
    messages = [_message(m, i) for i, m in enumerate(raw_messages)]
    tools = _tools(body.get("tools"))
    tool_choice = body.get("tool_choice")
    _check_tool_choice(tool_choice, tools)
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _BadRequest("'stream' must be a boolean", "stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise _BadRequest("'stream_options' must be an object", "stream_options")
    include_usage = bool(stream) and bool((options or {}).get("include_usage"))
    return _ChatRequest(model, messages, tools, tool_choice, bool(stream), include_usage)


def _message(raw: Any, index: int) -> dict[str, Any]:
    where = f"messages[{index}]"
    if not isinstance(raw, dict):
        raise _BadRequest(f"{where} must be an object with 'role' and 'content'", where)
    role = raw.get("role")
    if not isinstance(role, str) or role not in _ROLES:
        raise _BadRequest(
            f"{where}.role must be one of {', '.join(sorted(_ROLES))}, not {role!r}", f"{where}.role"
        )
    if "content" not in raw and not (
        role == "assistant" and (raw.get("tool_calls") or raw.get("function_call"))
    ):
        raise _BadRequest(f"{where} has no 'content'", f"{where}.content")
    content = raw.get("content")
    if content is None:
        if role != "assistant":
            raise _BadRequest(f"{where}.content may be null only on an assistant message", f"{where}.content")
        text = ""
    elif isinstance(content, str):
        text = content
    elif isinstance(content, list) and all(
        isinstance(p, dict) and isinstance(p.get("type"), str) for p in content
    ):
        # Join text parts the way LangChain's `BaseMessage.text` does, so the brain
        # sees (and counts) exactly what the in-process model would.
        text = "".join(str(p.get("text", "")) for p in content if p["type"] == "text")
    else:
        raise _BadRequest(
            f"{where}.content must be a string or an array of content parts", f"{where}.content"
        )
    # Only role and content reach the brain, as in-process, and in a tool loop the
    # calls and which call each result answers: names do not change an answer, and
    # counting them would make usage differ.
    message: dict[str, Any] = {"role": role, "content": text}
    if role == "assistant" and raw.get("tool_calls"):
        message["tool_calls"] = _tool_calls(raw["tool_calls"], where)
    if role == "tool" and isinstance(raw.get("tool_call_id"), str):
        message["tool_call_id"] = raw["tool_call_id"]
    return message


def _tool_calls(raw: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise _BadRequest(f"{where}.tool_calls must be an array", f"{where}.tool_calls")
    calls = []
    for i, call in enumerate(raw):
        at = f"{where}.tool_calls[{i}]"
        function = call.get("function") if isinstance(call, dict) else None
        # As OpenAI does: a name and the arguments' text, read as JSON only by whoever runs the call.
        if not (
            isinstance(function, dict)
            and isinstance(function.get("name"), str)
            and isinstance(function.get("arguments"), str)
        ):
            raise _BadRequest(f"{at} must be {{id, type: 'function', function: {{name, arguments}}}}", at)
        calls.append(
            {
                "id": str(call.get("id")),
                "type": "function",
                "function": {"name": function["name"], "arguments": function["arguments"]},
            }
        )
    return calls


def _tools(raw: Any) -> list[dict[str, Any]] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise _BadRequest("'tools' must be an array", "tools")
    for i, tool in enumerate(raw):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise _BadRequest(
                f"tools[{i}] must be {{type: 'function', function: {{name, ...}}}}", f"tools[{i}]"
            )
    return raw or None


def _check_tool_choice(choice: Any, tools: list[dict[str, Any]] | None) -> None:
    if choice is None or (isinstance(choice, str) and choice in _TOOL_CHOICES):
        return
    function = choice.get("function") if isinstance(choice, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise _BadRequest(
            "'tool_choice' must be none, auto, required or {type: 'function', function: {name}}",
            "tool_choice",
        )
    names = {t["function"]["name"] for t in tools or []}
    if function["name"] not in names:
        raise _BadRequest(f"tool_choice names {function['name']!r}, which is not in 'tools'", "tool_choice")


def _fault_response(exc: ModelError) -> Response:
    status = exc.status or 500
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited):
        # Retry-After for any HTTP client; retry-after-ms because the openai
        # client prefers it and it keeps sub-second values exact.
        headers = {
            "Retry-After": f"{exc.retry_after:.3f}".rstrip("0").rstrip("."),
            "retry-after-ms": str(round(exc.retry_after * 1000)),
        }
    return _error(
        status,
        str(exc),
        _ERROR_TYPES.get(status, "server_error"),
        code=_ERROR_CODES.get(status),
        headers=headers,
    )


def _usage(reply: Reply) -> dict[str, int]:
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
    }


def _arguments(arguments: Mapping[str, Any]) -> str:
    # The same serialisation the brain counted completion tokens from.
    return json.dumps(arguments)


def _completion(reply: Reply, chat: _ChatRequest, completion_id: str, created: int) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": None}
    if reply.tool_calls:
        message["content"] = None
        message["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": _arguments(c.arguments)},
            }
            for c in reply.tool_calls
        ]
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": chat.model,
        "system_fingerprint": MODEL_ID,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "tool_calls" if reply.tool_calls else "stop",
            }
        ],
        "usage": _usage(reply),
    }


def _chunks(reply: Reply, chat: _ChatRequest, completion_id: str, created: int) -> Iterator[dict[str, Any]]:
    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": chat.model,
            "system_fingerprint": MODEL_ID,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }
        if chat.include_usage:
            out["usage"] = None  # as OpenAI does: usage only on the last chunk
        return out

    yield chunk({"role": "assistant", "content": "", "refusal": None})
    for piece in split_tokens(reply.content):
        yield chunk({"content": piece})
    for index, call in enumerate(reply.tool_calls):
        # Arguments arrive in fragments, as from OpenAI, so clients' accumulation is exercised.
        head = {
            "index": index,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        yield chunk({"tool_calls": [head]})
        for piece in split_tokens(_arguments(call.arguments)):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk({}, "tool_calls" if reply.tool_calls else "stop")
    if chat.include_usage:
        last = chunk({})
        last["choices"] = []
        last["usage"] = _usage(reply)
        yield last


async def _sse(chunks: Iterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    for item in chunks:
        yield f"data: {json.dumps(item, ensure_ascii=False)}\n\n".encode()
    yield b"data: [DONE]\n\n"


# --------------------------------------------------------------------------- request log


class _RequestRecorder:
    """ASGI middleware: one JSON line per request, whatever happened to it.

    The line is written before the last byte of the response is sent, so a client
    that has its answer can read its own line; a handler that crashed or a client
    that went away still gets one from the `finally`.
    """

    def __init__(self, app: ASGIApp, path: Path) -> None:
        self.app = app
        self.path = path
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Liveness probes are not traffic a framework sends; keep them out of the measurements.
        if scope["type"] != "http" or scope["path"] == "/health":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        record: dict[str, Any] = {
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "method": scope["method"],
            "path": scope["path"],
            "model": None,
            "agent": None,
            "role": None,
            "stream": False,
            "messages": None,
            "tools": None,
            "keys": None,
            "status": None,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "fault": None,
            "error": None,
        }
        scope[_RECORD_KEY] = record
        written = False

        def write(status: int | None) -> None:
            nonlocal written
            if written:
                return
            written = True
            record["status"] = status
            record["duration_s"] = round(time.perf_counter() - started, 6)
            self._write(record)

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                record["status"] = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                write(record["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            # No response start means the app raised: the error middleware answers 500.
            write(record["status"] or 500)

    def _write(self, record: Mapping[str, Any]) -> None:
        data = (json.dumps(record, sort_keys=True) + "\n").encode()
        with self._lock:
            # One os.write on an O_APPEND descriptor: concurrent servers and a
            # killed process never interleave or leave half a line.
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)


def _check_writable(path: Path) -> None:
    # Starlette builds middleware on the first request; a bad path must fail at
    # startup, not turn every request into a 500 that nobody records.
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
    except OSError as exc:
        raise UsageError(f"cannot append to the request log {str(path)!r}: {exc.strerror}") from None


# --------------------------------------------------------------------------- serving


def check_host(host: str, allow_remote: bool = False) -> None:
    """Refuse a non-loopback host unless `allow_remote`: the server has no authentication."""
    if allow_remote:
        return
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise UsageError(
            f"refusing to serve the scripted model on {host!r}: it is not a loopback address and the "
            "server has no authentication; use 127.0.0.1, or pass --allow-remote (allow_remote=True) if you mean it"
        )


def _config(
    brain: ScriptedBrain, host: str, port: int, request_log: Path | None, allow_remote: bool
) -> uvicorn.Config:
    check_host(host, allow_remote)
    return uvicorn.Config(
        create_app(brain, request_log=request_log),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=5,
    )


def _listen(host: str, port: int) -> socket.socket:
    # Bound here, not by uvicorn: on a busy port uvicorn logs and calls sys.exit(1)
    # from inside run(), after the caller has announced the URL. Same address
    # family rule as uvicorn's.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen()  # connections queue from now on, so `on_ready` may announce the URL
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def _base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/v1" if ":" in host else f"http://{host}:{port}/v1"


def serve(
    brain: ScriptedBrain,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    request_log: Path | None = None,
    allow_remote: bool = False,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve `brain` until interrupted (Ctrl-C); blocks.

    Every startup failure (a refused host, an unwritable `request_log`, a busy
    port) raises `UsageError` before `on_ready` is called with the base URL.
    """
    config = _config(brain, host, port, request_log, allow_remote)
    with _listen(host, port) as sock:
        if on_ready is not None:
            on_ready(_base_url(sock))
        uvicorn.Server(config).run(sockets=[sock])


@contextmanager
def running_server(
    brain: ScriptedBrain,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    request_log: Path | None = None,
    allow_remote: bool = False,
    startup_timeout: float = 10.0,
) -> Iterator[str]:
    """Serve `brain` in a background thread; yield the base URL (`http://HOST:PORT/v1`).

    `port=0` lets the OS pick a free port at bind time, so parallel test runs
    cannot race for one. The server is stopped and its thread joined on exit.
    """
    server = uvicorn.Server(_config(brain, host, port, request_log, allow_remote))
    thread = threading.Thread(target=server.run, name=f"scripted-model-{host}:{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive():
            raise UsageError(
                f"the scripted model server could not start on {host}:{port} (see the log above)"
            )
        if time.monotonic() > deadline:
            server.should_exit = True
            thread.join(startup_timeout)
            raise UsageError(f"the scripted model server did not start within {startup_timeout} s")
        time.sleep(0.01)
    try:
        yield _base_url(server.servers[0].sockets[0])
    finally:
        server.should_exit = True
        thread.join(startup_timeout)
