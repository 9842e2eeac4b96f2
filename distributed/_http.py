"""The HTTP front door: submit, status, result and answer over JSON, with an OpenAPI description.

Every refusal is a JSON error in the scripted model server's shape
(`{"error": {"message", "type", "param", "code"}}`), never a 500: 400 for a
body that is not the documented JSON, 404 for an unknown thread, 409 for a
request the run's state does not allow, 413 for a body over 1 MiB, 422 for an
input or answer the flow refuses, and 503 with `Retry-After` when the queue
is full or the broker or database cannot be reached.

Handlers call the synchronous client in Starlette's thread pool: a confirmed
publish and a transaction are blocking I/O and must not stall the event loop.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from distributed._client import answer, get_result, get_status, submit
from distributed._errors import RunConflict, UnknownRun, Unreachable
from distributed._runs import TERMINAL, Run
from distributed._settings import Settings
from patterns.errors import UsageError
from patterns.flow_control import Overloaded

__all__ = ["MAX_BODY_BYTES", "create_front_door", "openapi"]

#: A run's input is a few KB; a larger body is refused before it is read.
MAX_BODY_BYTES = 1 << 20


class SubmitRequest(BaseModel):
    """`POST /runs`: a preset by name, or one of the declared flows this door serves."""

    model_config = ConfigDict(extra="forbid")

    pattern: str | None = Field(None, description="A preset's name, e.g. debate.")
    flow: str | None = Field(None, description="A declared flow's MODULE:ATTRIBUTE, if this door serves it.")
    thread_id: str | None = Field(None, description="The run's thread id (default: a new one).")
    tenant: str | None = Field(None, description="Routes the run: all runs of a tenant share a partition.")
    input: dict[str, Any] | None = Field(None, description="The flow's input (default: its sample).")


class AnswerRequest(BaseModel):
    """`POST /runs/{thread_id}/answer`: the human's answer to a waiting run."""

    model_config = ConfigDict(extra="forbid")

    answer: JsonValue = Field(description="One of the options the run's interrupt lists, or text.")


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class _BadRequest(Exception):
    def __init__(self, message: str, *, status: int = 400, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.param, self.code = status, param, code


Handler = Callable[[Request], Awaitable[Response]]
M = TypeVar("M", bound=BaseModel)


def create_front_door(settings: Settings, *, flows: Sequence[str] = ()) -> Starlette:
    """The ASGI app for `settings`' cluster; `flows` lists the declared flows it accepts.

    Presets are always accepted. A declared flow is imported by name, so the
    door takes only those listed: a request cannot make it import any module.
    """
    served = frozenset(flows)

    async def create_run(request: Request) -> Response:
        body = _parse(SubmitRequest, await _json_body(request))
        if body.flow is not None and body.flow not in served:
            listed = ", ".join(sorted(served)) or "none"
            raise _BadRequest(
                f"this front door does not serve flow {body.flow!r} (it serves: {listed})",
                status=422,
                param="flow",
            )
        run = await run_in_threadpool(
            submit,
            settings,
            body.pattern,
            flow=body.flow,
            thread_id=body.thread_id,
            tenant=body.tenant,
            input=body.input,
        )
        location = f"/runs/{run.thread_id}"
        return JSONResponse(run.public(), status_code=202, headers={"Location": location})

    async def read_run(request: Request) -> Response:
        run = await run_in_threadpool(get_status, settings, request.path_params["thread_id"])
        return JSONResponse(run.public())

    async def read_result(request: Request) -> Response:
        run = await run_in_threadpool(get_result, settings, request.path_params["thread_id"])
        if run.status not in TERMINAL:
            hint = "answer it: POST /runs/{id}/answer" if run.status == "waiting" else "try again later"
            return _error(
                409,
                f"thread {run.thread_id!r} is {run.status}, not finished: {hint}",
                code=f"run_{run.status}",
            )
        return JSONResponse(_result_view(run))

    async def answer_run(request: Request) -> Response:
        body = _parse(AnswerRequest, await _json_body(request))
        run = await run_in_threadpool(answer, settings, request.path_params["thread_id"], body.answer)
        return JSONResponse(run.public(), status_code=202)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def spec(request: Request) -> Response:
        return JSONResponse(openapi())

    return Starlette(
        routes=[
            Route("/runs", _guarded(create_run), methods=["POST"]),
            Route("/runs/{thread_id}/result", _guarded(read_result), methods=["GET"]),
            Route("/runs/{thread_id}/answer", _guarded(answer_run), methods=["POST"]),
            Route("/runs/{thread_id}", _guarded(read_run), methods=["GET"]),
            Route("/openapi.json", spec, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
        ],
        exception_handlers={HTTPException: _http_error},  # type: ignore[dict-item]
    )


def _guarded(handler: Handler) -> Handler:
    """Map every refusal to its status; anything else is a bug, and still answers in JSON."""

    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)
        except _BadRequest as exc:
            return _error(exc.status, str(exc), param=exc.param, code=exc.code)
        except Overloaded as exc:
            return _error(
                503,
                str(exc),
                kind="overloaded",
                code="queue_full",
                headers={"Retry-After": retry_after_header(exc.retry_after)},
            )
        except Unreachable as exc:
            return _error(
                503, str(exc), kind="unavailable", code="backend_unreachable", headers={"Retry-After": "5"}
            )
        except UnknownRun as exc:
            return _error(404, str(exc), code="unknown_run")
        except RunConflict as exc:
            return _error(409, str(exc), code="conflict")
        except UsageError as exc:  # an input, pattern or answer the flow refuses
            return _error(422, str(exc))

    return guarded


def retry_after_header(seconds: float) -> str:
    """`Retry-After` takes whole seconds (RFC 9110): round up, and never say 0."""
    return str(max(1, math.ceil(seconds)))


def _result_view(run: Run) -> dict[str, Any]:
    result = run.result or {}
    return {
        "thread_id": run.thread_id,
        "status": run.status,
        "output": result.get("output"),
        "error": run.error,
        "result": run.result,
    }


async def _json_body(request: Request) -> Any:
    declared = request.headers.get("content-length", "")
    if declared.isdecimal() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    data = bytearray()
    async for chunk in request.stream():  # a chunked body declares no length: count as it comes
        data += chunk
        if len(data) > MAX_BODY_BYTES:
            raise _too_large()
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise _BadRequest(f"the body is not valid JSON: {exc}", code="invalid_json") from None


def _too_large() -> _BadRequest:
    return _BadRequest(f"the body is larger than {MAX_BODY_BYTES} bytes", status=413, code="body_too_large")


def _parse(model: type[M], body: Any) -> M:
    if not isinstance(body, dict):
        raise _BadRequest("the body must be a JSON object", code="invalid_body")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(map(str, first["loc"])) or None
        raise _BadRequest(f"{where or 'body'}: {first['msg']}", param=where, code="invalid_body") from None


async def _http_error(request: Request, exc: HTTPException) -> Response:
    # Starlette's own 404/405 are plain text: answer in the same JSON shape as every other error.
    return _error(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}")


def _error(
    status: int,
    message: str,
    *,
    kind: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = ErrorResponse(error=ErrorBody(message=message, type=kind, param=param, code=code))
    return JSONResponse(body.model_dump(), status_code=status, headers=dict(headers or {}))


def openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 description of the front door, its schemas taken from the pydantic models."""
    schemas: dict[str, Any] = {}
    for model in (SubmitRequest, AnswerRequest, Run, ErrorResponse):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        if model is Run:  # what `Run.public()` shows
            for hidden in ("input", "answer"):
                schema["properties"].pop(hidden, None)
        schemas[model.__name__] = schema

    def ref(name: str) -> dict[str, Any]:
        return {"$ref": f"#/components/schemas/{name}"}

    def errors(*statuses: int) -> dict[str, Any]:
        described = {
            400: "The body is not the documented JSON",
            404: "No run has this thread id",
            409: "The run's state does not allow this request",
            413: "The body is larger than 1 MiB",
            422: "The flow refuses this pattern, input or answer",
            503: "The queue is full, or the broker or database is unreachable: retry after Retry-After seconds",
        }
        out: dict[str, Any] = {}
        for status in statuses:
            response: dict[str, Any] = {
                "description": described[status],
                "content": {"application/json": {"schema": ref("ErrorResponse")}},
            }
            if status == 503:
                response["headers"] = {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}}
            out[str(status)] = response
        return out

    thread = {"name": "thread_id", "in": "path", "required": True, "schema": {"type": "string"}}
    run_json = {"application/json": {"schema": ref("Run")}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "orch front door",
            "version": "1",
            "description": "Submit runs to the Celery workers, follow them, answer the ones waiting for a human.",
        },
        "paths": {
            "/runs": {
                "post": {
                    "summary": "Submit a run: recorded as queued and published to its partition",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": ref("SubmitRequest")}},
                    },
                    "responses": {
                        "202": {"description": "Queued", "content": run_json},
                        **errors(400, 409, 413, 422, 503),
                    },
                }
            },
            "/runs/{thread_id}": {
                "get": {
                    "summary": "The run's status",
                    "parameters": [thread],
                    "responses": {"200": {"description": "The run", "content": run_json}, **errors(404, 503)},
                }
            },
            "/runs/{thread_id}/result": {
                "get": {
                    "summary": "The finished run's output or error",
                    "parameters": [thread],
                    "responses": {
                        "200": {"description": "Completed, failed or dead"},
                        **errors(404, 409, 503),
                    },
                }
            },
            "/runs/{thread_id}/answer": {
                "post": {
                    "summary": "Answer a run waiting for a human; it is queued again",
                    "parameters": [thread],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": ref("AnswerRequest")}},
                    },
                    "responses": {
                        "202": {"description": "Queued with the answer", "content": run_json},
                        **errors(400, 404, 409, 413, 422, 503),
                    },
                }
            },
        },
        "components": {"schemas": schemas},
    }
