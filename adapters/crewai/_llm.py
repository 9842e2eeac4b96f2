"""The model bridge: CrewAI's `BaseLLM` over the scripted brain, or CrewAI's own OpenAI LLM over HTTP.

In-process, `ScriptedLLM` hands CrewAI's messages to the `ScriptedBrain` as
OpenAI-style dicts (the brain recognises the agent from CrewAI's system message,
never from call order or `from_agent`), waits the planned latency and returns
the reply text or raises the injected error, emitting CrewAI's LLM call events
as its native providers do. Over HTTP, CrewAI's native OpenAI provider
(`OpenAICompletion`, the class `crewai.LLM("openai/...", base_url=...)` builds;
no litellm) talks to `patterns.testing`, with the OpenAI SDK's retries off.

Both count prompt tokens offline with `patterns.testing`: CrewAI's own
estimate for a non-OpenAI endpoint is characters / 4 with a warning per call.

Retries that remain, because CrewAI applies them to every `BaseLLM`: its
`call`/`acall` wrapper retries a rate-limit error (HTTP 429, or "rate limit" in
the message) up to 3 attempts with 1 s and 2 s backoff. It does not read our
`Retry-After` (it only looks for a dict of headers on the exception).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from crewai.events.types.llm_events import LLMCallType
from crewai.llms.base_llm import BaseLLM, llm_call_context
from crewai.llms.providers.openai.completion import OpenAICompletion
from pydantic import PrivateAttr

from adapters._common import scripted_reply
from patterns.testing import MODEL_ID, Reply, ScriptedBrain, count_message_tokens, count_tokens

if TYPE_CHECKING:
    from crewai.agents.agent_builder.base_agent import BaseAgent
    from crewai.task import Task

__all__ = ["CONTEXT_WINDOW", "OfflineOpenAICompletion", "ScriptedLLM", "flow_llm"]

#: Context window the scripted model reports (CrewAI keeps 85 % of it usable).
CONTEXT_WINDOW = 128_000


def _openai_messages(messages: str | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """CrewAI's messages as the plain `{role, content}` dicts the brain and the server read."""
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    out = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):  # content parts: keep the text ones
            content = "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
        out.append({"role": str(message.get("role", "user")), "content": content or ""})
    return out


def _count(messages: Any) -> int:
    return (
        count_tokens(messages)
        if isinstance(messages, str)
        else count_message_tokens(_openai_messages(messages))
    )


class ScriptedLLM(BaseLLM):
    """CrewAI's model interface over a `ScriptedBrain`: same answers, latency, faults and ledger."""

    llm_type: str = "scripted"
    model: str = MODEL_ID
    provider: str = "scripted"
    _brain: ScriptedBrain = PrivateAttr()

    def __init__(self, brain: ScriptedBrain, **data: Any) -> None:
        super().__init__(**{"model": MODEL_ID, "provider": "scripted", **data})
        self._brain = brain

    @property
    def brain(self) -> ScriptedBrain:
        return self._brain

    def _start(
        self, messages: Any, tools: Any, from_task: Task | None, from_agent: BaseAgent | None
    ) -> list[dict[str, Any]]:
        self._emit_call_started_event(
            messages=messages, tools=tools, from_task=from_task, from_agent=from_agent
        )
        self._invoke_before_llm_call_hooks(messages if isinstance(messages, list) else [], from_agent)
        return _openai_messages(messages)

    def _finish(
        self, messages: Any, reply: Reply, from_task: Task | None, from_agent: BaseAgent | None
    ) -> str:
        usage = {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        }
        self._track_token_usage_internal(usage)
        text = self._apply_stop_words(reply.content)
        self._emit_call_completed_event(
            response=text,
            call_type=LLMCallType.LLM_CALL,
            from_task=from_task,
            from_agent=from_agent,
            messages=messages,
            usage=usage,
            finish_reason="stop",
        )
        if isinstance(messages, list):
            text = self._invoke_after_llm_call_hooks(messages, text, from_agent)
        return text

    def _settle(
        self, messages: Any, reply: Reply | Exception, from_task: Task | None, from_agent: BaseAgent | None
    ) -> str:
        """After the call's delay: the reply's text, or the injected error announced and raised."""
        if isinstance(reply, Exception):
            self._emit_call_failed_event(
                error=f"{type(reply).__name__}: {reply}", from_task=from_task, from_agent=from_agent
            )
            raise reply
        return self._finish(messages, reply, from_task, from_agent)

    def call(
        self,
        messages: Any,
        tools: list[dict[str, Any]] | None = None,
        callbacks: list[Any] | None = None,
        available_functions: dict[str, Any] | None = None,
        from_task: Task | None = None,
        from_agent: BaseAgent | None = None,
        response_model: Any = None,
    ) -> str:
        with llm_call_context():
            chat = self._start(messages, tools, from_task, from_agent)
            delay, reply = scripted_reply(self._brain, chat)
            time.sleep(delay)  # CrewAI runs agent steps in worker threads: a blocking wait, as a real client
            return self._settle(messages, reply, from_task, from_agent)

    async def acall(
        self,
        messages: Any,
        tools: list[dict[str, Any]] | None = None,
        callbacks: list[Any] | None = None,
        available_functions: dict[str, Any] | None = None,
        from_task: Task | None = None,
        from_agent: BaseAgent | None = None,
        response_model: Any = None,
    ) -> str:
        with llm_call_context():
            chat = self._start(messages, tools, from_task, from_agent)
            delay, reply = scripted_reply(self._brain, chat)
            await asyncio.sleep(delay)
            return self._settle(messages, reply, from_task, from_agent)

    def supports_function_calling(self) -> bool:
        # The flows give agents no tools; a tool-less CrewAI agent's whole reply is its final answer.
        return False

    def get_context_window_size(self) -> int:
        # The usable share, as CrewAI's native providers report it (they keep 15 % in reserve).
        return int(CONTEXT_WINDOW * 0.85)

    def get_input_tokens_count(self, messages: Any, tools: Any = None, response_model: Any = None) -> int:
        return _count(messages)


class OfflineOpenAICompletion(OpenAICompletion):
    """CrewAI's native OpenAI provider, counting prompt tokens offline instead of estimating them.

    It also keeps the provider from configuring the application's logging: it logs
    through the module-level `logging.info`/`error`/..., which, while the root
    logger has no handler, call `logging.basicConfig()` and leave a stderr handler
    on the root logger for the rest of the process. During a call the root logger
    holds a `NullHandler` if it has no handler of its own.
    """

    def get_input_tokens_count(self, messages: Any, tools: Any = None, response_model: Any = None) -> int:
        return _count(messages)

    def call(self, *args: Any, **kwargs: Any) -> Any:
        with _root_logger_held():
            return super().call(*args, **kwargs)

    async def acall(self, *args: Any, **kwargs: Any) -> Any:
        with _root_logger_held():
            return await super().acall(*args, **kwargs)


_held = 0
_held_lock = threading.Lock()
_placeholder = logging.NullHandler()


@contextmanager
def _root_logger_held() -> Iterator[None]:
    """A `NullHandler` on a handler-less root logger while any call is in flight (calls overlap)."""
    global _held
    root = logging.getLogger()
    with _held_lock:
        if _held == 0 and not root.handlers:
            root.addHandler(_placeholder)
        _held += 1
    try:
        yield
    finally:
        with _held_lock:
            _held -= 1
            if _held == 0:
                root.removeHandler(_placeholder)


def flow_llm(brain: ScriptedBrain, base_url: str | None = None, *, client_retries: int = 0) -> BaseLLM:
    """The scripted brain in-process, or CrewAI's OpenAI provider pointed at `base_url`.

    Over HTTP the client's own retries are off by default (`max_retries=0`): a fault
    must reach the flow as it does in-process, not be hidden and multiplied;
    `client_retries=2` is the OpenAI SDK's own default, as a production user runs it.
    """
    if base_url is None:
        return ScriptedLLM(brain)
    return OfflineOpenAICompletion(
        model=MODEL_ID,
        custom_openai=True,
        base_url=base_url,
        api_key="not-needed",
        max_retries=client_retries,
        timeout=120,
    )
