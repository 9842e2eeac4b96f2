"""The model bridge: AutoGen's `ChatCompletionClient` over the scripted brain, in-process or HTTP.

In-process, `ScriptedChatCompletionClient` translates AutoGen's `LLMMessage`s to
the OpenAI-style dicts the brain reads and its `Reply` back to a `CreateResult`.
Over HTTP, AutoGen's own `OpenAIChatCompletionClient` talks to
`patterns.testing`; the only thing we change on it is token counting
(`count_tokens`/`remaining_tokens`), which in AutoGen needs tiktoken, and
tiktoken downloads its encodings at run time. Both clients count with
`patterns.testing` through the same translation, so nothing can trigger a
download (the flows never call `count_tokens` anyway; the override is for any
AutoGen component that would, such as a token-limited model context).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Mapping, Sequence
from functools import cache
from typing import Any, Literal

from autogen_core import CancellationToken, FunctionCall
from autogen_core.models import (
    AssistantMessage,
    ChatCompletionClient,
    CreateResult,
    FunctionExecutionResultMessage,
    LLMMessage,
    ModelCapabilities,
    ModelFamily,
    ModelInfo,
    RequestUsage,
    SystemMessage,
    UserMessage,
)
from autogen_core.tools import Tool, ToolSchema
from pydantic import BaseModel

from adapters._common import scripted_reply
from patterns.errors import UsageError
from patterns.testing import MODEL_ID, Reply, ScriptedBrain, count_message_tokens, split_tokens

__all__ = ["MODEL_INFO", "ScriptedChatCompletionClient", "model_client", "to_openai"]

#: What the scripted model can do. Function calling is on: the handoff desks
#: offer AutoGen `Handoff` tools and the brain calls them.
MODEL_INFO: ModelInfo = {
    "vision": False,
    "function_calling": True,
    "json_output": True,
    "family": ModelFamily.UNKNOWN,
    "structured_output": False,
    "multiple_system_messages": True,
}

#: Context window we report for `remaining_tokens`.
CONTEXT_WINDOW = 128_000

ToolChoice = Tool | Literal["auto", "required", "none"]


def to_openai(messages: Sequence[LLMMessage]) -> list[dict[str, Any]]:
    """AutoGen `LLMMessage`s as OpenAI chat messages (what the brain and the server read)."""
    out: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, SystemMessage):
            out.append({"role": "system", "content": message.content})
        elif isinstance(message, UserMessage):
            content = message.content
            text = content if isinstance(content, str) else "".join(p for p in content if isinstance(p, str))
            out.append({"role": "user", "content": text})
        elif isinstance(message, AssistantMessage):
            if isinstance(message.content, str):
                out.append({"role": "assistant", "content": message.content})
            else:
                calls = [
                    {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                    for c in message.content
                ]
                out.append({"role": "assistant", "content": None, "tool_calls": calls})
        elif isinstance(message, FunctionExecutionResultMessage):
            out.extend(
                {"role": "tool", "tool_call_id": r.call_id, "content": r.content} for r in message.content
            )
    return out


def _tools(tools: Sequence[Tool | ToolSchema]) -> list[dict[str, Any]] | None:
    schemas = [t.schema if isinstance(t, Tool) else t for t in tools]
    return [{"type": "function", "function": dict(s)} for s in schemas] or None


def _tool_choice(choice: ToolChoice) -> Any:
    if isinstance(choice, Tool):
        return {"type": "function", "function": {"name": choice.name}}
    return choice


def _count(messages: Sequence[LLMMessage]) -> int:
    return count_message_tokens(to_openai(messages))


def _result(reply: Reply) -> CreateResult:
    usage = RequestUsage(prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens)
    if reply.tool_calls:
        calls = [
            FunctionCall(id=c.id, name=c.name, arguments=json.dumps(c.arguments)) for c in reply.tool_calls
        ]
        return CreateResult(finish_reason="function_calls", content=calls, usage=usage, cached=False)
    return CreateResult(finish_reason="stop", content=reply.content, usage=usage, cached=False)


class ScriptedChatCompletionClient(ChatCompletionClient):
    """AutoGen's model interface over a `ScriptedBrain`: same answers, latency, faults and ledger."""

    def __init__(self, brain: ScriptedBrain) -> None:
        self.brain = brain
        self._actual = RequestUsage(prompt_tokens=0, completion_tokens=0)
        self._total = RequestUsage(prompt_tokens=0, completion_tokens=0)

    async def _answer(
        self,
        messages: Sequence[LLMMessage],
        tools: Sequence[Tool | ToolSchema],
        tool_choice: ToolChoice,
        cancellation_token: CancellationToken | None,
    ) -> CreateResult:
        delay, reply = scripted_reply(
            self.brain, to_openai(messages), tools=_tools(tools), tool_choice=_tool_choice(tool_choice)
        )
        wait = asyncio.ensure_future(asyncio.sleep(delay))
        if cancellation_token is not None:
            cancellation_token.link_future(wait)
        await wait
        if isinstance(reply, Exception):
            raise reply  # the injected fault, after its delay, as a real client would
        result = _result(reply)
        self._actual = result.usage
        self._total = RequestUsage(
            prompt_tokens=self._total.prompt_tokens + result.usage.prompt_tokens,
            completion_tokens=self._total.completion_tokens + result.usage.completion_tokens,
        )
        return result

    async def create(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: ToolChoice = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> CreateResult:
        return await self._answer(messages, tools, tool_choice, cancellation_token)

    async def create_stream(  # an async generator, as AutoGen's own clients
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: ToolChoice = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> AsyncGenerator[str | CreateResult, None]:
        result = await self._answer(messages, tools, tool_choice, cancellation_token)
        if isinstance(result.content, str):
            for piece in split_tokens(result.content):
                yield piece
        yield result

    async def close(self) -> None:
        return None

    def actual_usage(self) -> RequestUsage:
        return self._actual

    def total_usage(self) -> RequestUsage:
        return self._total

    def count_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []) -> int:
        return _count(messages)

    def remaining_tokens(
        self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []
    ) -> int:
        return CONTEXT_WINDOW - _count(messages)

    @property
    def capabilities(self) -> ModelCapabilities:  # deprecated in AutoGen
        return {"vision": False, "function_calling": True, "json_output": True}

    @property
    def model_info(self) -> ModelInfo:
        return MODEL_INFO


@cache
def _http_client_class() -> type[ChatCompletionClient]:
    try:
        from autogen_ext.models.openai import OpenAIChatCompletionClient
    except ImportError:  # autogen-ext[openai] is what drives the HTTP path
        raise UsageError(
            "the AutoGen HTTP path needs AutoGen's OpenAI client: pip install 'autogen-ext[openai]'"
        ) from None

    class OfflineOpenAIChatCompletionClient(OpenAIChatCompletionClient):
        """AutoGen's production OpenAI client, counting tokens offline (no tiktoken download)."""

        def count_tokens(
            self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []
        ) -> int:
            return _count(messages)

        def remaining_tokens(
            self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []
        ) -> int:
            return CONTEXT_WINDOW - _count(messages)

    return OfflineOpenAIChatCompletionClient


def model_client(
    brain: ScriptedBrain, base_url: str | None = None, *, client_retries: int = 0
) -> ChatCompletionClient:
    """The scripted brain in-process, or AutoGen's OpenAI client pointed at `base_url`.

    Over HTTP the client's own retries are off by default (`max_retries=0`): a fault
    must reach the flow as it does in-process, not be hidden and multiplied;
    `client_retries=2` is the OpenAI SDK's own default, as a production user runs it.
    """
    if base_url is None:
        return ScriptedChatCompletionClient(brain)
    client_class: Any = _http_client_class()
    return client_class(  # type: ignore[no-any-return]
        model=MODEL_ID,
        base_url=base_url,
        api_key="not-needed",
        model_info=MODEL_INFO,
        max_retries=client_retries,
        timeout=120,
    )
