"""The scripted model as a LangChain chat model: what the LangGraph patterns call.

A real `BaseChatModel`, so `invoke`, `ainvoke`, streaming, `bind_tools` and
`with_structured_output` behave as they do with a provider's model, and usage
arrives in `AIMessage.usage_metadata` the way `ChatOpenAI` reports it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolCallChunk, ToolMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.runnables.config import var_child_runnable_config
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field

from patterns.testing._brain import Plan, Reply, ScriptedBrain
from patterns.testing._tokens import split_tokens

__all__ = ["ScriptedChatModel"]


class ScriptedChatModel(BaseChatModel):
    """Deterministic chat model that answers each agent from its prompt.

    ```python
    model = ScriptedChatModel(brain=ScriptedBrain(latency=LatencyPolicy(mean=0.05)))
    ```
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    brain: ScriptedBrain = Field(default_factory=ScriptedBrain)
    model_name: str = "scripted"

    #: `call_agent` may call `areply` instead of `ainvoke` (see `patterns.runtime.ask_model`).
    answers_directly: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A subclass that changes how a call is made is called the way it expects.
        if any(name in vars(cls) for name in _CALL_PATH):
            cls.answers_directly = False

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "seed": self.brain.seed}

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | dict[str, Any] | bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        if isinstance(tool_choice, str) and tool_choice not in ("auto", "none", "any", "required"):
            tool_choice = {"type": "function", "function": {"name": tool_choice}}
        return self.bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    # Front ends only translate and wait; the brain decides and answers.
    def _plan(self, messages: list[BaseMessage]) -> tuple[list[dict[str, Any]], Plan]:
        wire = _to_wire(messages)
        return wire, self.brain.plan(wire)

    def _finish(
        self,
        wire: list[dict[str, Any]],
        plan: Plan,
        run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None,
        kwargs: dict[str, Any],
    ) -> Reply:
        return self.brain.finish(plan, wire, extra=_meta(run_manager), **_tool_kwargs(kwargs))

    # -- non-streaming --------------------------------------------------------

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        wire, plan = self._plan(messages)
        if plan.delay:
            time.sleep(plan.delay)
        reply = self._finish(wire, plan, run_manager, kwargs)
        return _result(reply, self.model_name)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        wire, plan = self._plan(messages)
        if plan.delay:
            await asyncio.sleep(plan.delay)
        reply = self._finish(wire, plan, run_manager, kwargs)
        return _result(reply, self.model_name)

    async def areply(self, messages: list[BaseMessage]) -> AIMessage:
        """The reply `ainvoke` gives, without LangChain's callback and run-tree machinery.

        `call_agent` calls this when nothing observes the call (see `ask_model`):
        a scripted reply costs microseconds, and `ainvoke` would add more than
        the reply itself. The call log still gets the LangGraph node and step.
        """
        config = var_child_runnable_config.get() or {}
        wire, plan = self._plan(messages)
        # Always yields to the event loop, as a call over the network does (and `ainvoke`'s
        # callbacks do): a cancellation, such as a worker's step budget, lands here.
        await asyncio.sleep(plan.delay)
        reply = self.brain.finish(plan, wire, extra=_step_of(config.get("metadata")))
        message = _message(reply, self.model_name)
        # What `ainvoke` merges in from the result's `llm_output`.
        message.response_metadata = {"token_usage": dict(_usage(reply)), **message.response_metadata}
        return message

    # -- streaming ------------------------------------------------------------

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        wire, plan = self._plan(messages)
        if plan.delay:
            time.sleep(plan.delay)
        reply = self._finish(wire, plan, run_manager, kwargs)
        for chunk in _chunks(reply):
            if run_manager and isinstance(chunk.message.content, str) and chunk.message.content:
                run_manager.on_llm_new_token(chunk.message.content, chunk=chunk)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        wire, plan = self._plan(messages)
        if plan.delay:
            await asyncio.sleep(plan.delay)
        reply = self._finish(wire, plan, run_manager, kwargs)
        for chunk in _chunks(reply):
            if run_manager and isinstance(chunk.message.content, str) and chunk.message.content:
                await run_manager.on_llm_new_token(chunk.message.content, chunk=chunk)
            yield chunk


#: What `ainvoke` runs on its way to the reply: a subclass overriding one is never answered by `areply`.
_CALL_PATH = (
    "ainvoke",
    "agenerate",
    "agenerate_prompt",
    "_agenerate_with_cache",
    "_agenerate",
    "_plan",
    "_finish",
)

_ROLE = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}


def _to_wire(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    return [_wire_message(m) for m in messages]


def _wire_message(message: BaseMessage) -> dict[str, Any]:
    """A message as the OpenAI API carries it: what the brain gets from the HTTP server too."""
    wire: dict[str, Any] = {
        "role": _ROLE.get(message.type, message.type),
        "content": message.text if not isinstance(message.content, str) else message.content,
    }
    # The calls a tool loop made, and which call each result answers: the brain pairs them.
    if isinstance(message, AIMessage) and message.tool_calls:
        wire["tool_calls"] = [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": json.dumps(c["args"])},
            }
            for c in message.tool_calls
        ]
    if isinstance(message, ToolMessage):
        wire["tool_call_id"] = message.tool_call_id
    return wire


def _tool_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {"tools": kwargs.get("tools"), "tool_choice": kwargs.get("tool_choice")}


def _meta(run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None) -> dict[str, Any]:
    return _step_of(getattr(run_manager, "metadata", None))


def _step_of(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    # LangGraph puts the node and superstep in the run metadata; the call log keeps
    # them so crash tests can tell which steps had already been done.
    metadata = metadata or {}
    return {key: metadata[key] for key in ("langgraph_node", "langgraph_step") if key in metadata}


def _usage(reply: Reply) -> UsageMetadata:
    return UsageMetadata(
        input_tokens=reply.prompt_tokens,
        output_tokens=reply.completion_tokens,
        total_tokens=reply.prompt_tokens + reply.completion_tokens,
    )


def _message(reply: Reply, model_name: str) -> AIMessage:
    return AIMessage(
        content=reply.content,
        tool_calls=[
            {"name": c.name, "args": c.arguments, "id": c.id, "type": "tool_call"} for c in reply.tool_calls
        ],
        usage_metadata=_usage(reply),
        response_metadata={"model_name": model_name, "agent": reply.agent, "finish_reason": "stop"},
    )


def _result(reply: Reply, model_name: str) -> ChatResult:
    message = _message(reply, model_name)
    return ChatResult(
        generations=[ChatGeneration(message=message)],
        llm_output={"token_usage": dict(_usage(reply)), "model_name": model_name},
    )


def _chunks(reply: Reply) -> Iterator[ChatGenerationChunk]:
    for piece in split_tokens(reply.content):
        yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
    tool_chunks = [
        ToolCallChunk(name=c.name, args=json.dumps(c.arguments), id=c.id, index=i, type="tool_call_chunk")
        for i, c in enumerate(reply.tool_calls)
    ]
    yield ChatGenerationChunk(
        message=AIMessageChunk(
            content="",
            tool_call_chunks=tool_chunks,
            usage_metadata=_usage(reply),
            response_metadata={"finish_reason": "stop", "agent": reply.agent},
        )
    )
