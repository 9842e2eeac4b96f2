"""The scripted model over HTTP: real OpenAI clients get what the in-process model gives."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from langchain_core.messages import HumanMessage, SystemMessage, ToolMessage
from langchain_openai import ChatOpenAI
from openai.types.chat import (
    ChatCompletionMessageParam,
    ChatCompletionNamedToolChoiceParam,
    ChatCompletionToolParam,
)
from pydantic import BaseModel, SecretStr

from patterns.errors import UsageError
from patterns.presets import AGENTS
from patterns.runtime import Agent, arun, resolve_model, wire
from patterns.testing import (
    TOOL_RESULTS,
    FaultPolicy,
    LatencyPolicy,
    ScriptedBrain,
    ScriptedChatModel,
    ToolCall,
    create_app,
    running_server,
    serve,
)
from patterns.testing._server import MAX_BODY_BYTES

from ._samples import UNATTENDED

MESSAGE = {"message": "I was charged twice"}


class Route(BaseModel):
    route: str
    confidence: float


ROUTE_TOOL: ChatCompletionToolParam = {
    "type": "function",
    "function": {
        "name": "Route",
        "description": "Where the message goes.",
        "parameters": {
            "type": "object",
            "properties": {"route": {"type": "string"}, "confidence": {"type": "number"}},
            "required": ["route", "confidence"],
        },
    },
}
FORCE_ROUTE: ChatCompletionNamedToolChoiceParam = {"type": "function", "function": {"name": "Route"}}


def _wire(role: str = "router", payload: dict[str, Any] = MESSAGE) -> list[ChatCompletionMessageParam]:
    system, user = wire.render(AGENTS[role], payload)
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def _langchain(role: str = "router", payload: dict[str, Any] = MESSAGE) -> list[SystemMessage | HumanMessage]:
    system, user = wire.render(AGENTS[role], payload)
    return [SystemMessage(system), HumanMessage(user)]


def _prompt(agent: str, input_json: str) -> list[dict[str, str]]:
    # What wire.render would send, but with any agent name and any INPUT text.
    return [
        {"role": "system", "content": f"You are the {agent} agent. Reply with one JSON object."},
        {"role": "user", "content": f"Do your task on this input.\n\nINPUT:\n{input_json}"},
    ]


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key="x", max_retries=0, timeout=10)


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "requests.jsonl"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    # One server for the stateless tests: starting and stopping one costs ~0.2 s.
    with running_server(ScriptedBrain()) as base_url:
        yield base_url


@pytest.fixture
def logged_url(log_path: Path) -> Iterator[str]:
    with running_server(ScriptedBrain(), request_log=log_path) as base_url:
        yield base_url


# --------------------------------------------------------------------------- openai client


def test_completion_matches_in_process(url: str) -> None:
    local = ScriptedChatModel().invoke(_langchain())
    response = _client(url).chat.completions.create(model="scripted", messages=_wire())
    choice = response.choices[0]
    assert choice.message.content == local.content
    assert json.loads(choice.message.content or "") == {"route": "billing", "confidence": 1.0}
    assert choice.finish_reason == "stop"
    assert response.object == "chat.completion" and response.model == "scripted"
    assert response.usage is not None and local.usage_metadata is not None
    assert response.usage.prompt_tokens == local.usage_metadata["input_tokens"]
    assert response.usage.completion_tokens == local.usage_metadata["output_tokens"]
    assert response.usage.total_tokens == local.usage_metadata["total_tokens"]


def test_completion_id_is_deterministic(url: str) -> None:
    client = _client(url)
    a = client.chat.completions.create(model="scripted", messages=_wire())
    b = client.chat.completions.create(model="scripted", messages=_wire())
    assert a.id == b.id and a.id.startswith("chatcmpl-")


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_an_unknown_model_is_404_as_models_retrieve_says(url: str, stream: bool) -> None:
    client = _client(url)
    with pytest.raises(openai.NotFoundError) as retrieved:
        client.models.retrieve("gpt-4o-mini")
    with pytest.raises(openai.NotFoundError) as completed:
        client.chat.completions.create(model="gpt-4o-mini", messages=_wire(), stream=stream)
    assert completed.value.status_code == 404
    assert completed.value.body == retrieved.value.body
    assert isinstance(completed.value.body, dict)
    assert completed.value.body["code"] == "model_not_found"
    assert completed.value.body["type"] == "invalid_request_error"


def test_stream_reassembles_content_and_reports_usage(url: str) -> None:
    local = ScriptedChatModel().invoke(_langchain())
    stream = _client(url).chat.completions.create(
        model="scripted",
        messages=_wire(),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == local.content
    assert len(chunks) > 5  # one chunk per token piece, not one blob
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None and local.usage_metadata is not None
    assert last.usage.prompt_tokens == local.usage_metadata["input_tokens"]
    assert last.usage.completion_tokens == local.usage_metadata["output_tokens"]
    assert all(c.usage is None for c in chunks[:-1])


def test_stream_without_include_usage_sends_no_usage_chunk(url: str) -> None:
    chunks = list(_client(url).chat.completions.create(model="scripted", messages=_wire(), stream=True))
    assert all(c.choices for c in chunks) and all(c.usage is None for c in chunks)


def test_forced_tool_call_matches_in_process(url: str) -> None:
    local = ScriptedChatModel().bind_tools([dict(ROUTE_TOOL)], tool_choice="Route").invoke(_langchain())
    response = _client(url).chat.completions.create(
        model="scripted",
        messages=_wire(),
        tools=[ROUTE_TOOL],
        tool_choice=FORCE_ROUTE,
    )
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    assert choice.message.tool_calls and len(choice.message.tool_calls) == 1
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.function.name == "Route"
    assert json.loads(call.function.arguments) == local.tool_calls[0]["args"]
    assert call.id == local.tool_calls[0]["id"]
    assert response.usage is not None and local.usage_metadata is not None
    assert response.usage.completion_tokens == local.usage_metadata["output_tokens"]


def test_streamed_tool_call_arguments_reassemble(url: str) -> None:
    chunks = list(
        _client(url).chat.completions.create(
            model="scripted",
            messages=_wire(),
            tools=[ROUTE_TOOL],
            tool_choice=FORCE_ROUTE,
            stream=True,
        )
    )
    deltas = [d for c in chunks for d in (c.choices[0].delta.tool_calls or [])]
    assert len(deltas) > 2 and deltas[0].function and deltas[0].function.name == "Route"
    arguments = "".join((d.function.arguments or "") if d.function else "" for d in deltas)
    assert json.loads(arguments) == {"route": "billing", "confidence": 1.0}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_models_list_and_retrieve(url: str) -> None:
    client = _client(url)
    assert "scripted" in [m.id for m in client.models.list()]
    assert client.models.retrieve("scripted").id == "scripted"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")


def test_rate_limit_is_429_with_retry_after(log_path: Path) -> None:
    brain = ScriptedBrain(faults=FaultPolicy(rate_limit=1.0, retry_after=0.2))
    with running_server(brain, request_log=log_path) as url:
        client = _client(url)
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(model="scripted", messages=_wire())
        # Streaming requests fail with the same HTTP error before any event is sent.
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="scripted", messages=_wire(), stream=True)
    error = caught.value
    assert error.status_code == 429
    assert error.response.headers["retry-after"] == "0.2"
    assert error.response.headers["retry-after-ms"] == "200"
    assert isinstance(error.body, dict) and error.body["type"] == "rate_limit_error"
    assert [r["status"] for r in _records(log_path)] == [429, 429]
    assert brain.ledger.total().failures == 2


@pytest.mark.parametrize(
    ("faults", "status"),
    [(FaultPolicy(server_error=1.0), 503), (FaultPolicy(timeout=1.0), 504)],
    ids=["server_error", "timeout"],
)
def test_server_faults_are_5xx(faults: FaultPolicy, status: int) -> None:
    with (
        running_server(ScriptedBrain(faults=faults)) as url,
        pytest.raises(openai.InternalServerError) as caught,
    ):
        _client(url).chat.completions.create(model="scripted", messages=_wire())
    assert caught.value.status_code == status
    assert isinstance(caught.value.body, dict) and caught.value.body["type"] == "server_error"


def test_latency_is_slept_before_a_timeout_answers() -> None:
    brain = ScriptedBrain(latency=LatencyPolicy(mean=0.15), faults=FaultPolicy(timeout=1.0))
    with running_server(brain) as url:
        started = time.perf_counter()
        with pytest.raises(openai.InternalServerError):
            _client(url).chat.completions.create(model="scripted", messages=_wire())
        assert time.perf_counter() - started >= 0.15


def test_malformed_body_is_400_from_the_openai_client(url: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        _client(url).chat.completions.create(model="scripted", messages=[])
    assert caught.value.status_code == 400
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["type"] == "invalid_request_error"
    assert caught.value.body["param"] == "messages"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        (b"[1, 2]", None),
        (json.dumps({"messages": _wire()}).encode(), "model"),
        (json.dumps({"model": "scripted"}).encode(), "messages"),
        (json.dumps({"model": "scripted", "messages": "hi"}).encode(), "messages"),
        (json.dumps({"model": "scripted", "messages": ["hi"]}).encode(), "messages[0]"),
        (
            json.dumps({"model": "scripted", "messages": [{"role": "wizard", "content": "x"}]}).encode(),
            "messages[0].role",
        ),
        (json.dumps({"model": "scripted", "messages": [{"role": "user"}]}).encode(), "messages[0].content"),
        (
            json.dumps({"model": "scripted", "messages": [{"role": "user", "content": 3}]}).encode(),
            "messages[0].content",
        ),
        (json.dumps({"model": "scripted", "messages": _wire(), "stream": "yes"}).encode(), "stream"),
        pytest.param(
            json.dumps({"model": "scripted", "messages": [{"role": ["user"], "content": "x"}]}).encode(),
            "messages[0].role",
            id="unhashable-role",
        ),
        # A lone surrogate parses, but no UTF-8 reply or log line can carry it.
        pytest.param(
            b'{"model": "scripted", "messages": [{"role": "user", "content": "\\ud800"}]}',
            None,
            id="lone-surrogate",
        ),
        pytest.param(
            json.dumps({"model": "scripted", "messages": _wire("router", {"message": "\ud800"})}).encode(),
            None,
            id="lone-surrogate-in-input",
        ),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, None, id="nested-too-deep"),
        pytest.param(b'{"model": "scripted", "n": ' + b"1" * 5000 + b"}", None, id="integer-too-long"),
        pytest.param(
            json.dumps({"model": "scripted", "messages": _prompt("wizard", "{}")}).encode(),
            None,
            id="agent-without-responder",
        ),
        # INPUT payloads the brain or the responders cannot read.
        pytest.param(
            json.dumps({"model": "scripted", "messages": _wire("debater", {})}).encode(),
            "messages",
            id="input-missing-fields",
        ),
        pytest.param(
            json.dumps({"model": "scripted", "messages": _wire("mapper", {"items": 3})}).encode(),
            "messages",
            id="input-field-of-wrong-type",
        ),
        pytest.param(
            json.dumps({"model": "scripted", "messages": _prompt("router", "[" * 10_000)}).encode(),
            "messages",
            id="input-nested-too-deep",
        ),
        pytest.param(
            json.dumps({"model": "scripted", "messages": _prompt("router", "1" * 5000)}).encode(),
            "messages",
            id="input-integer-too-long",
        ),
        (
            json.dumps({"model": "scripted", "messages": _wire(), "tools": [{"type": "function"}]}).encode(),
            "tools[0]",
        ),
        (
            json.dumps(
                {
                    "model": "scripted",
                    "messages": _wire(),
                    "tools": [ROUTE_TOOL],
                    "tool_choice": {"type": "function", "function": {"name": "Nope"}},
                }
            ).encode(),
            "tool_choice",
        ),
        pytest.param(
            json.dumps(
                {
                    "model": "scripted",
                    "messages": [
                        *_wire(),
                        {"role": "assistant", "content": None, "tool_calls": {"id": "c1"}},
                    ],
                }
            ).encode(),
            "messages[2].tool_calls",
            id="tool-calls-not-an-array",
        ),
        pytest.param(
            json.dumps(
                {
                    "model": "scripted",
                    "messages": [
                        *_wire(),
                        {
                            "role": "assistant",
                            "content": None,
                            "tool_calls": [{"id": "c1", "type": "function", "function": {"arguments": "{}"}}],
                        },
                    ],
                }
            ).encode(),
            "messages[2].tool_calls[0]",
            id="tool-call-without-a-name",
        ),
    ],
)
def test_bad_bodies_get_openai_style_400_never_500(url: str, body: bytes, param: str | None) -> None:
    response = httpx.post(
        f"{url}/chat/completions", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["param"] == param and error["message"]


def test_content_parts_and_tool_call_history_are_accepted(url: str) -> None:
    system, user = wire.render(AGENTS["router"], MESSAGE)
    local = ScriptedChatModel().invoke(_langchain())
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": [{"type": "text", "text": system}]},
        {"role": "user", "content": [{"type": "text", "text": user}]},
    ]
    response = _client(url).chat.completions.create(model="scripted", messages=messages)
    assert response.choices[0].message.content == local.content
    assert response.usage and local.usage_metadata
    assert response.usage.prompt_tokens == local.usage_metadata["input_tokens"]
    history: list[ChatCompletionMessageParam] = [
        *_wire(),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "done"},
    ]
    again = _client(url).chat.completions.create(model="scripted", messages=history)
    assert again.choices[0].message.content == local.content


ADD_TOOL: ChatCompletionToolParam = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "Add two numbers.",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
            "required": ["a", "b"],
        },
    },
}


def _adder(payload: dict[str, Any]) -> dict[str, Any] | ToolCall:
    done = payload.get(TOOL_RESULTS)
    if not done:
        return ToolCall("add", {"a": payload["a"], "b": payload["b"]})
    return {"total": float(done[0]["content"]), "added": done[0]["arguments"]}


class Sum(BaseModel):
    total: float


def test_a_tool_loop_over_http_matches_in_process() -> None:
    adder = Agent("adder", "Add with the tool. Keys: total.", output=Sum)
    system, user = wire.render(adder, {"a": 2, "b": 3})
    brain = ScriptedBrain(responders={"adder": _adder})
    local_model = ScriptedChatModel(brain=brain).bind_tools([dict(ADD_TOOL)])
    local = local_model.invoke([SystemMessage(system), HumanMessage(user)])
    with running_server(brain) as url:
        client = _client(url)
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
        ]
        first = client.chat.completions.create(model="scripted", messages=messages, tools=[ADD_TOOL])
        calls = first.choices[0].message.tool_calls
        assert first.choices[0].finish_reason == "tool_calls" and calls and len(calls) == 1
        assert (calls[0].id, calls[0].function.name) == (local.tool_calls[0]["id"], "add")  # type: ignore[union-attr]
        assert json.loads(calls[0].function.arguments) == local.tool_calls[0]["args"] == {"a": 2, "b": 3}  # type: ignore[union-attr]
        history: list[ChatCompletionMessageParam] = [
            *messages,
            {"role": "assistant", "content": None, "tool_calls": [calls[0].model_dump()]},  # type: ignore[list-item]
            {"role": "tool", "tool_call_id": calls[0].id, "content": "5"},
        ]
        second = client.chat.completions.create(model="scripted", messages=history, tools=[ADD_TOOL])
    local_second = local_model.invoke(
        [
            SystemMessage(system),
            HumanMessage(user),
            local,
            ToolMessage("5", tool_call_id=local.tool_calls[0]["id"]),
        ]
    )
    assert json.loads(second.choices[0].message.content or "") == {"total": 5.0, "added": {"a": 2, "b": 3}}
    assert second.choices[0].message.content == local_second.content
    assert second.usage and local_second.usage_metadata
    assert second.usage.prompt_tokens == local_second.usage_metadata["input_tokens"]


def test_health_and_unknown_routes(url: str) -> None:
    root = url.removesuffix("/v1")
    assert httpx.get(f"{root}/health").json() == {"status": "ok"}
    missing = httpx.post(f"{url}/responses", json={})
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "invalid_request_error"
    assert httpx.get(f"{url}/chat/completions").status_code == 405


def _assert_too_large(status: int, body: dict[str, Any]) -> None:
    assert status == 413
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["type"] == "invalid_request_error" and body["error"]["code"] == "request_too_large"


def _post_raw(url: str, headers: str, body: bytes = b"") -> tuple[int, dict[str, Any]]:
    # httpx always sends the whole body it declares; these requests must not.
    target = httpx.URL(url)
    assert target.host and target.port
    with (
        socket.create_connection((target.host, target.port), timeout=10) as sock,
        sock.makefile("rb") as reply,
    ):
        request = f"POST {target.path}/chat/completions HTTP/1.1\r\nHost: {target.host}\r\n{headers}\r\n"
        sock.sendall(request.encode() + body)
        status = int(reply.readline().split()[1])
        length = 0
        while line := reply.readline().strip():
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        return status, json.loads(reply.read(length))


def test_a_body_just_over_the_size_limit_is_413(url: str) -> None:
    body = json.dumps({"model": "scripted", "messages": _wire()}).encode()
    body += b" " * (MAX_BODY_BYTES - len(body))  # trailing whitespace is valid JSON
    assert httpx.post(f"{url}/chat/completions", content=body).status_code == 200
    over = httpx.post(f"{url}/chat/completions", content=body + b" ")
    _assert_too_large(over.status_code, over.json())
    assert httpx.get(f"{url.removesuffix('/v1')}/health").status_code == 200


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_sent(url: str) -> None:
    status, body = _post_raw(url, f"Content-Length: {10 * MAX_BODY_BYTES}\r\n")
    _assert_too_large(status, body)


def test_a_chunked_body_is_refused_once_it_passes_the_limit(url: str) -> None:
    # No final zero-length chunk: the server must answer without waiting for the end of the body.
    chunk = b" " * 65536
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(MAX_BODY_BYTES // len(chunk) + 1))
    status, body = _post_raw(url, "Transfer-Encoding: chunked\r\n", chunks)
    _assert_too_large(status, body)


def test_request_log_has_one_line_per_request(logged_url: str, log_path: Path) -> None:
    url = logged_url
    client = _client(url)
    client.chat.completions.create(model="scripted", messages=_wire())
    list(
        client.chat.completions.create(
            model="scripted",
            messages=_wire("specialist", {"message": "hi", "route": "billing"}),
            stream=True,
        )
    )
    client.chat.completions.create(
        model="scripted",
        messages=_wire(),
        tools=[ROUTE_TOOL],
        tool_choice=FORCE_ROUTE,
    )
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="scripted", messages=[])
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=_wire())
    client.models.list()
    httpx.get(f"{url.removesuffix('/v1')}/health")  # probes are not recorded

    records = _records(log_path)
    assert [(r["path"], r["status"]) for r in records] == [
        ("/v1/chat/completions", 200),
        ("/v1/chat/completions", 200),
        ("/v1/chat/completions", 200),
        ("/v1/chat/completions", 400),
        ("/v1/chat/completions", 404),
        ("/v1/models", 200),
    ]
    plain, streamed, tooled, bad, unknown, _models = records
    assert (plain["agent"], plain["role"], plain["model"], plain["stream"]) == (
        "router",
        "router",
        "scripted",
        False,
    )
    assert (streamed["agent"], streamed["stream"]) == ("specialist", True)
    assert (plain["messages"], plain["tools"], tooled["tools"]) == (2, None, 1)
    assert plain["prompt_tokens"] > 10 and plain["completion_tokens"] > 0 and plain["fault"] is None
    assert "tool_choice" in tooled["keys"]
    assert (bad["agent"], bad["messages"], bad["completion_tokens"]) == (None, 0, 0) and bad["error"]
    assert (unknown["model"], unknown["agent"]) == ("gpt-4o", None) and "gpt-4o" in unknown["error"]
    assert plain["error"] is None
    assert all(r["timestamp"] and r["duration_s"] >= 0 for r in records)


# --------------------------------------------------------------------------- langchain-openai


def _chat_openai(url: str, **kwargs: Any) -> ChatOpenAI:
    return ChatOpenAI(
        base_url=url, api_key=SecretStr("x"), model="scripted", max_retries=0, timeout=10, **kwargs
    )


def test_chat_openai_invoke_stream_and_structured_output(url: str) -> None:
    local = ScriptedChatModel().invoke(_langchain())
    llm = _chat_openai(url)

    reply = llm.invoke(_langchain())
    assert reply.content == local.content
    assert reply.usage_metadata and local.usage_metadata
    for key in ("input_tokens", "output_tokens", "total_tokens"):
        assert reply.usage_metadata[key] == local.usage_metadata[key]

    chunks = list(llm.stream(_langchain(), stream_usage=True))
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk
    assert len(chunks) > 3 and merged.content == local.content
    assert (
        merged.usage_metadata
        and merged.usage_metadata["output_tokens"] == local.usage_metadata["output_tokens"]
    )

    routed = llm.with_structured_output(Route, method="function_calling").invoke(_langchain())
    assert routed == Route(route="billing", confidence=1.0)


async def test_chat_openai_async_and_streamed_structured_output(url: str) -> None:
    llm = _chat_openai(url)
    structured = llm.with_structured_output(Route, method="function_calling")
    assert await structured.ainvoke(_langchain()) == Route(route="billing", confidence=1.0)
    parts = [part async for part in structured.astream(_langchain())]
    assert parts[-1] == Route(route="billing", confidence=1.0)


# --------------------------------------------------------------------------- flows


@pytest.mark.parametrize("pattern", UNATTENDED)
async def test_every_pattern_gives_the_same_result_over_http(pattern: str, log_path: Path) -> None:
    local = await arun(pattern, model=resolve_model(), checkpoint="memory")
    brain = ScriptedBrain()
    with running_server(brain, request_log=log_path) as url:
        remote = await arun(
            pattern, model=resolve_model("openai:scripted", base_url=url), checkpoint="memory"
        )
    assert remote.status == local.status == "completed", remote.error
    assert remote.output == local.output
    assert (remote.calls, remote.failed_calls) == (local.calls, local.failed_calls)
    assert (remote.prompt_tokens, remote.completion_tokens) == (local.prompt_tokens, local.completion_tokens)
    assert remote.usage == local.usage
    records = _records(log_path)
    assert len(records) == remote.calls and all(r["status"] == 200 for r in records)
    assert sum(r["prompt_tokens"] for r in records) == remote.prompt_tokens
    assert brain.ledger.total().completion_tokens == remote.completion_tokens


# --------------------------------------------------------------------------- binding


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "::"])
def test_refuses_non_loopback_hosts(host: str) -> None:
    with pytest.raises(UsageError, match="loopback"), running_server(ScriptedBrain(), host=host):
        pass
    with pytest.raises(UsageError, match="allow_remote"):
        serve(ScriptedBrain(), host=host)


def test_unwritable_request_log_fails_at_startup(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="request log"):
        create_app(ScriptedBrain(), request_log=tmp_path / "missing" / "requests.jsonl")


def test_localhost_is_allowed() -> None:
    with running_server(ScriptedBrain(), host="localhost") as url:
        assert httpx.get(f"{url}/models").status_code == 200
