"""The Semantic Kernel agent every flow is made of: one pattern turn per invocation, over the flow state.

`TurnAgent` is a small `semantic_kernel.agents.Agent`. The orchestration actors
invoke it (`invoke_stream`, as they do a `ChatCompletionAgent`); its turn builds
the pattern's payload from the flow state, sends exactly the two messages of
`patterns.wire.render` through the kernel's chat completion service,
validates the reply into the pattern's pydantic model and merges the pattern's
update into the state. The conversation the orchestration hands the agent is
not sent to the model: the state already holds everything the turn needs, and
the brain (like a benchmark) must see the same two messages on every framework.
"""

from __future__ import annotations

import asyncio
import operator
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass, field
from functools import reduce
from typing import Any, TypeVar

from pydantic import BaseModel, PrivateAttr
from semantic_kernel import Kernel
from semantic_kernel.agents import Agent, AgentResponseItem, AgentThread, ChatHistoryAgentThread
from semantic_kernel.connectors.ai.chat_completion_client_base import ChatCompletionClientBase
from semantic_kernel.connectors.ai.open_ai import OpenAIChatPromptExecutionSettings
from semantic_kernel.contents import ChatHistory, ChatMessageContent, StreamingChatMessageContent
from semantic_kernel.contents.utils.author_role import AuthorRole
from typing_extensions import override

from adapters._common import FlowState, parse
from patterns.presets import AGENTS  # the presets run by role name until the adapters take declared flows
from patterns.runtime import wire

__all__ = ["Context", "Turn", "TurnAgent", "TurnFn"]

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Turn:
    """What one invocation of a `TurnAgent` hands its turn."""

    kernel: Kernel | None  # the kernel the orchestration invoked the agent with (handoff: its Handoff plugin)
    history: ChatHistory  # the agent's thread: what it sent the model and what came back
    stream: bool  # stream the model call: invoked as a stream (orchestrations) and the `stream` option on


TurnFn = Callable[[Turn], Awaitable[str]]


@dataclass
class Context(FlowState):
    """One flow run on Semantic Kernel: the flow state, the chat service, and each agent's thread."""

    service: ChatCompletionClientBase = field(kw_only=True)
    threads: dict[str, ChatHistory] = field(default_factory=dict, kw_only=True)
    running: set[asyncio.Task[Any]] = field(default_factory=set, kw_only=True)
    failed: asyncio.Event = field(default_factory=asyncio.Event, kw_only=True)

    def fail(self, error: BaseException) -> None:
        super().fail(error)
        self.failed.set()  # some SK paths swallow an actor's error; run_flow waits on this too

    async def complete(
        self,
        turn: Turn,
        role: str,
        payload: dict[str, Any],
        *,
        name: str | None = None,
        tools: list[dict[str, Any]] | None = None,
    ) -> ChatMessageContent:
        """One model call with exactly the pattern's two rendered messages (and `tools`, if any)."""
        system, user = wire.render(AGENTS[role], payload, label=name)
        history = ChatHistory()
        history.add_system_message(system)
        history.add_user_message(user)
        settings = OpenAIChatPromptExecutionSettings(tools=tools, tool_choice="auto" if tools else None)
        if turn.stream:
            chunks = [
                message
                async for batch in self.service.get_streaming_chat_message_contents(history, settings)
                for message in batch
                if message.choice_index == 0
            ]
            reply: ChatMessageContent = reduce(operator.add, chunks)
        else:
            reply = (await self.service.get_chat_message_contents(history, settings))[0]
        turn.history.add_message(history.messages[0])
        turn.history.add_message(history.messages[1])
        turn.history.add_message(reply)
        return reply

    async def ask(
        self, turn: Turn, role: str, payload: dict[str, Any], schema: type[M], *, name: str | None = None
    ) -> M:
        reply = await self.complete(turn, role, payload, name=name)
        return parse(reply.content, schema, agent=name or role)


class TurnAgent(Agent):
    """A Semantic Kernel agent running one pattern turn per invocation, recorded as one step.

    The message it answers with is the turn's outcome (the reply, or the flow's
    result for a final step); the pattern's decisions travel in the flow state.
    """

    _ctx: Context = PrivateAttr()
    _turn: TurnFn = PrivateAttr()
    _record: bool = PrivateAttr(default=True)

    def __init__(
        self, ctx: Context, name: str, turn: TurnFn, *, description: str | None = None, record: bool = True
    ) -> None:
        # A description is what SK's group chat requires of every member.
        super().__init__(name=name, description=description or f"{ctx.pattern} step {name}")
        self._ctx, self._turn, self._record = ctx, turn, record

    async def _run(
        self, thread: AgentThread | None, kernel: Kernel | None, *, stream: bool
    ) -> tuple[str, AgentThread]:
        history = self._ctx.threads.setdefault(self.name, ChatHistory())
        thread = thread or ChatHistoryAgentThread(chat_history=history)
        task = asyncio.current_task()
        if task is not None:  # so a failed run can cancel turns SK leaves running
            self._ctx.running.add(task)
        turn = Turn(kernel, history, stream and bool(self._ctx.options.get("stream", True)))
        try:
            if self._record:
                with self._ctx.flow.recorder.step(self.name):
                    text = await self._turn(turn)
            else:
                text = await self._turn(turn)
        except Exception as exc:
            self._ctx.fail(exc)
            raise
        finally:
            if task is not None:
                self._ctx.running.discard(task)
        return text, thread

    @override
    async def get_response(
        self,
        messages: str | ChatMessageContent | list[str | ChatMessageContent] | None = None,
        *,
        thread: AgentThread | None = None,
        **kwargs: Any,
    ) -> AgentResponseItem[ChatMessageContent]:
        text, thread = await self._run(thread, kwargs.get("kernel"), stream=False)
        message = ChatMessageContent(role=AuthorRole.ASSISTANT, content=text, name=self.name)
        return AgentResponseItem(message=message, thread=thread)

    @override
    async def invoke(
        self,
        messages: str | ChatMessageContent | list[str | ChatMessageContent] | None = None,
        *,
        thread: AgentThread | None = None,
        on_intermediate_message: Callable[[ChatMessageContent], Awaitable[None]] | None = None,
        **kwargs: Any,
    ) -> AsyncIterable[AgentResponseItem[ChatMessageContent]]:
        yield await self.get_response(messages, thread=thread, **kwargs)

    @override
    async def invoke_stream(
        self,
        messages: str | ChatMessageContent | list[str | ChatMessageContent] | None = None,
        *,
        thread: AgentThread | None = None,
        on_intermediate_message: Callable[[ChatMessageContent], Awaitable[None]] | None = None,
        **kwargs: Any,
    ) -> AsyncIterable[AgentResponseItem[StreamingChatMessageContent]]:
        text, thread = await self._run(thread, kwargs.get("kernel"), stream=True)
        message = StreamingChatMessageContent(
            role=AuthorRole.ASSISTANT, choice_index=0, content=text, name=self.name
        )
        yield AgentResponseItem(message=message, thread=thread)
