"""The Semantic Kernel agent every flow is made of: one pattern turn per invocation, over the flow state.

`TurnAgent` is a small `semantic_kernel.agents.Agent`. The orchestration actors
invoke it (`invoke_stream`, as they do a `ChatCompletionAgent`); its turn is the
pattern module's own (payload, call, update), given `Context.ask` as its
`patterns.runtime.Ask`: a call sends exactly the two messages of
`patterns.runtime.wire.render` for the user's `Agent` through the kernel's chat
completion service and validates the reply into the agent's `output`. The agent
merges the turn's update into the flow state and answers with it. The
conversation the orchestration hands the agent is not sent to the model: the
state already holds everything the turn needs, and the brain (like a benchmark)
must see the same two messages on every framework.
"""

from __future__ import annotations

import asyncio
import operator
import re
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping
from contextlib import nullcontext
from contextvars import ContextVar
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
from semantic_kernel.utils.validation import AGENT_NAME_REGEX
from typing_extensions import override

from adapters._common import FlowState, parse
from adapters.semantic_kernel._service import ScriptedChatCompletion
from patterns.errors import UsageError
from patterns.runtime import Agent as PatternAgent
from patterns.runtime import Ask, wire

__all__ = ["Context", "Turn", "TurnAgent", "TurnFn", "Update"]

OutputT = TypeVar("OutputT", bound=BaseModel)

#: A turn's state update; None when there is nothing (left) to merge.
Update = Mapping[str, Any] | None
#: A pattern turn, as its module writes it: `turn(state, ask) -> update` (LangGraph's nodes call the same).
TurnFn = Callable[[Any, Ask], Awaitable[Update]]


@dataclass(frozen=True, slots=True)
class Turn:
    """One invocation of a `TurnAgent`: what its model calls need from SK."""

    kernel: Kernel | None  # the kernel the orchestration invoked the agent with (handoff: its Handoff plugin)
    history: ChatHistory  # the agent's thread: what it sent the model and what came back
    stream: bool  # stream the model call: invoked as a stream (orchestrations) and the `stream` option on


# A pattern's turns reach the model through `Ask(agent, payload, label=...)`, which has no room
# for SK's invocation (its kernel, the agent's thread); each TurnAgent sets its own here, for
# the task SK invokes it in, so `Context.ask` can be handed to the pattern's turns as it is.
_RUNNING: ContextVar[Turn] = ContextVar("semantic_kernel_turn")


@dataclass
class Context(FlowState):
    """One flow run on Semantic Kernel: the flow state, the chat service, and each agent's thread."""

    service: ChatCompletionClientBase = field(kw_only=True)
    threads: dict[str, ChatHistory] = field(default_factory=dict, kw_only=True)
    running: set[asyncio.Task[Any]] = field(default_factory=set, kw_only=True)
    failed: asyncio.Event = field(default_factory=asyncio.Event, kw_only=True)

    @property
    def turn(self) -> Turn:
        """The invocation running in this task (a model call is made from one)."""
        try:
            return _RUNNING.get()
        except LookupError:
            raise RuntimeError("a Semantic Kernel flow calls the model from a TurnAgent's turn") from None

    def fail(self, error: BaseException) -> None:
        super().fail(error)
        self.failed.set()  # some SK paths swallow an actor's error; run_flow waits on this too

    async def complete(
        self,
        agent: PatternAgent[Any],
        payload: dict[str, Any],
        *,
        label: str | None = None,
        tools: list[dict[str, Any]] | None = None,
    ) -> ChatMessageContent:
        """One model call with exactly the agent's two rendered messages (and `tools`, if any)."""
        turn = self.turn
        system, user = wire.render(agent, payload, label=label)
        history = ChatHistory()
        history.add_system_message(system)
        history.add_user_message(user)
        settings = OpenAIChatPromptExecutionSettings(tools=tools, tool_choice="auto" if tools else None)
        service = self.client_for(agent, self.service, ScriptedChatCompletion)
        if turn.stream:
            chunks = [
                message
                async for batch in service.get_streaming_chat_message_contents(history, settings)
                for message in batch
                if message.choice_index == 0
            ]
            reply: ChatMessageContent = reduce(operator.add, chunks)
        else:
            reply = (await service.get_chat_message_contents(history, settings))[0]
        turn.history.add_message(history.messages[0])
        turn.history.add_message(history.messages[1])
        turn.history.add_message(reply)
        return reply

    async def ask(
        self, agent: PatternAgent[OutputT], payload: dict[str, Any], *, label: str | None = None
    ) -> OutputT:
        """The `patterns.runtime.Ask` a pattern's turns are given: the reply validated into `agent.output`.

        Under the run's `AgentPolicies`, if any: a malformed reply is retried like a fault.
        """

        async def once() -> OutputT:
            reply = await self.complete(agent, payload, label=label)
            return parse(reply.content, agent.output, agent=label or agent.name)

        return await self.protected(agent, payload, label, once)


class TurnAgent(Agent):
    """A Semantic Kernel agent running one pattern turn per invocation, recorded as one step.

    It merges the turn's update into the flow state and answers with it; the
    pattern's decisions travel in the flow state, not in the messages.
    """

    _ctx: Context = PrivateAttr()
    _turn: TurnFn = PrivateAttr()
    _record: bool = PrivateAttr(default=True)

    def __init__(
        self,
        ctx: Context,
        name: str,
        turn: TurnFn,
        *,
        asks: PatternAgent[Any] | Callable[..., Any] | None = None,
        record: bool = True,
    ) -> None:
        """`asks`: the user's agent (or function) behind this member; an `Agent` lends its instructions.

        `record=False`: the turn records its own steps (named otherwise, or several).
        """
        if not re.fullmatch(AGENT_NAME_REGEX, name):
            raise UsageError(
                f"{name!r} cannot name a Semantic Kernel agent: stage, route and desk names "
                "are letters, digits, '_' and '-' there"
            )
        agent = asks if isinstance(asks, PatternAgent) else None
        super().__init__(
            name=name,
            instructions=agent.instructions if agent else None,
            # A description is what SK's group chat requires of every member.
            description=(agent.description if agent else None) or f"{ctx.pattern} step {name}",
        )
        self._ctx, self._turn, self._record = ctx, turn, record

    async def _run(
        self, thread: AgentThread | None, kernel: Kernel | None, *, stream: bool
    ) -> tuple[str, AgentThread]:
        history = self._ctx.threads.setdefault(self.name, ChatHistory())
        thread = thread or ChatHistoryAgentThread(chat_history=history)
        task = asyncio.current_task()
        if task is not None:  # so a failed run can cancel turns SK leaves running
            self._ctx.running.add(task)
        running = _RUNNING.set(Turn(kernel, history, stream and bool(self._ctx.options.get("stream", True))))
        try:
            with self._ctx.flow.recorder.step(self.name) if self._record else nullcontext():
                update = await self._turn(self._ctx.state, self._ctx.ask)
            self._ctx.apply(update)
        except Exception as exc:
            self._ctx.fail(exc)
            raise
        finally:
            _RUNNING.reset(running)
            if task is not None:
                self._ctx.running.discard(task)
        return wire.canonical_json(update), thread

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
