"""The model bridge: Semantic Kernel's chat completion service over the scripted brain, in-process or HTTP.

In-process, `ScriptedChatCompletion` is a `ChatCompletionClientBase`: it turns
SK's `ChatHistory` into the OpenAI-style messages the brain reads (only role and
content, exactly what `patterns.testing` passes on), waits the brain's
latency, raises its injected faults, and answers with a `ChatMessageContent`
(text or `FunctionCallContent` tool calls) carrying `usage` in its metadata.
Both of SK's paths are implemented: orchestrations invoke agents as streams,
`get_response` does not. Over HTTP, SK's own `OpenAIChatCompletion` drives an
`openai.AsyncOpenAI` client with its retries off, so a fault reaches the flow as
it would from a real endpoint instead of being hidden and multiplied.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, ClassVar

from openai import AsyncOpenAI
from pydantic import PrivateAttr
from semantic_kernel.connectors.ai.chat_completion_client_base import ChatCompletionClientBase
from semantic_kernel.connectors.ai.completion_usage import CompletionUsage
from semantic_kernel.connectors.ai.function_call_choice_configuration import FunctionCallChoiceConfiguration
from semantic_kernel.connectors.ai.function_calling_utils import (
    update_settings_from_function_call_configuration,
)
from semantic_kernel.connectors.ai.function_choice_type import FunctionChoiceType
from semantic_kernel.connectors.ai.open_ai import OpenAIChatCompletion, OpenAIChatPromptExecutionSettings
from semantic_kernel.connectors.ai.prompt_execution_settings import PromptExecutionSettings
from semantic_kernel.contents import (
    ChatHistory,
    ChatMessageContent,
    FunctionCallContent,
    StreamingChatMessageContent,
    StreamingTextContent,
    TextContent,
)
from semantic_kernel.contents.utils.author_role import AuthorRole
from semantic_kernel.contents.utils.finish_reason import FinishReason
from semantic_kernel.exceptions import ServiceResponseException
from typing_extensions import override

from adapters._common import scripted_reply
from patterns.testing import MODEL_ID, Reply, ScriptedBrain, split_tokens

__all__ = ["ScriptedChatCompletion", "chat_service"]


class ScriptedChatCompletion(ChatCompletionClientBase):
    """SK's chat completion interface over a `ScriptedBrain`: same answers, latency, faults and ledger.

    Function calling is supported the OpenAI way (`tools` / `tool_choice` on
    `OpenAIChatPromptExecutionSettings`), so SK's `FunctionChoiceBehavior` works
    with it as it does with `OpenAIChatCompletion`.
    """

    SUPPORTS_FUNCTION_CALLING: ClassVar[bool] = True
    _brain: ScriptedBrain = PrivateAttr()

    def __init__(self, brain: ScriptedBrain, *, service_id: str = "scripted") -> None:
        super().__init__(ai_model_id=MODEL_ID, service_id=service_id)
        self._brain = brain

    @override
    def get_prompt_execution_settings_class(self) -> type[PromptExecutionSettings]:
        return OpenAIChatPromptExecutionSettings

    @override
    def _update_function_choice_settings_callback(
        self,
    ) -> Callable[[FunctionCallChoiceConfiguration, PromptExecutionSettings, FunctionChoiceType], None]:
        return update_settings_from_function_call_configuration

    @override
    def _reset_function_choice_settings(self, settings: PromptExecutionSettings) -> None:
        if isinstance(settings, OpenAIChatPromptExecutionSettings):
            settings.tools = None
            settings.tool_choice = None

    async def _answer(self, chat_history: ChatHistory, settings: PromptExecutionSettings) -> Reply:
        tools = getattr(settings, "tools", None)
        tool_choice = getattr(settings, "tool_choice", None)
        messages = _wire(self._prepare_chat_history_for_request(chat_history))
        delay, reply = scripted_reply(self._brain, messages, tools=tools, tool_choice=tool_choice)
        await asyncio.sleep(delay)
        if isinstance(reply, Exception):
            raise reply  # the injected fault, after its delay, as a real endpoint would
        return reply

    @override
    async def _inner_get_chat_message_contents(
        self, chat_history: ChatHistory, settings: PromptExecutionSettings
    ) -> list[ChatMessageContent]:
        reply = await self._answer(chat_history, settings)
        items: list[Any] = [*_calls(reply)] or [TextContent(text=reply.content)]
        return [
            ChatMessageContent(
                role=AuthorRole.ASSISTANT,
                items=items,
                ai_model_id=self.ai_model_id,
                metadata={"usage": _usage(reply)},
                finish_reason=_finish_reason(reply),
            )
        ]

    @override
    async def _inner_get_streaming_chat_message_contents(
        self, chat_history: ChatHistory, settings: PromptExecutionSettings, function_invoke_attempt: int = 0
    ) -> AsyncGenerator[list[StreamingChatMessageContent], Any]:
        reply = await self._answer(chat_history, settings)

        def chunk(items: list[Any], **extra: Any) -> list[StreamingChatMessageContent]:
            return [
                StreamingChatMessageContent(
                    role=AuthorRole.ASSISTANT,
                    choice_index=0,
                    items=items,
                    ai_model_id=self.ai_model_id,
                    function_invoke_attempt=function_invoke_attempt,
                    **extra,
                )
            ]

        # Token pieces, then whole tool calls, then usage on the last chunk, as OpenAI streams them.
        for piece in split_tokens(reply.content):
            yield chunk([StreamingTextContent(choice_index=0, text=piece)])
        for call in _calls(reply):
            yield chunk([call])
        yield chunk([], metadata={"usage": _usage(reply)}, finish_reason=_finish_reason(reply))


def _wire(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """SK's request messages as the HTTP server hands them to the brain: role and text content only."""
    out = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):  # content parts, joined as the server joins them
            content = "".join(
                str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text"
            )
        out.append({"role": message["role"], "content": content or ""})
    return out


def _calls(reply: Reply) -> list[FunctionCallContent]:
    # Arguments serialised as the server does: the brain counted completion tokens on this text.
    return [
        FunctionCallContent(id=call.id, index=i, name=call.name, arguments=json.dumps(call.arguments))
        for i, call in enumerate(reply.tool_calls)
    ]


def _usage(reply: Reply) -> CompletionUsage:
    return CompletionUsage(prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens)


def _finish_reason(reply: Reply) -> FinishReason:
    return FinishReason.TOOL_CALLS if reply.tool_calls else FinishReason.STOP


class _OpenAIChatCompletion(OpenAIChatCompletion):
    """SK's production OpenAI connector, raising the client's own error instead of SK's wrapper.

    SK wraps every client error in `ServiceResponseException("... failed to
    complete the prompt")`; the flows report `openai.RateLimitError` (429),
    `InternalServerError` (5xx), ... as they come, like the other adapters.
    """

    def __init__(self, client: AsyncOpenAI) -> None:
        super().__init__(ai_model_id=MODEL_ID, async_client=client, service_id="scripted-http")

    @override
    async def _send_request(self, settings: PromptExecutionSettings) -> Any:
        try:
            return await super()._send_request(settings)
        except ServiceResponseException as exc:
            if exc.__cause__ is not None:
                raise exc.__cause__ from None
            raise


@asynccontextmanager
async def chat_service(
    brain: ScriptedBrain, base_url: str | None = None, *, client_retries: int = 0
) -> AsyncIterator[ChatCompletionClientBase]:
    """The scripted brain in-process, or SK's `OpenAIChatCompletion` pointed at `base_url`; closed on exit."""
    if base_url is None:
        yield ScriptedChatCompletion(brain)
        return
    client = AsyncOpenAI(base_url=base_url, api_key="not-needed", max_retries=client_retries, timeout=120)
    try:
        yield _OpenAIChatCompletion(client)
    finally:
        await client.close()
