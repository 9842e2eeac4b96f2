"""Group chat managers that let the pattern decide who speaks: refinement, debate, routing.

SK's `GroupChatManagerActor` asks its manager, after every message, three
things in this order: `should_request_user_input`, `should_terminate`, then
`select_next_agent`; `filter_results` produces the final message. `FlowManager`
answers all three from one decision per turn, `after(speaker)`, which each
subclass takes from the pattern module's own functions (`should_continue`,
`next_round`, `vote`, `arbitrate`, `pick_specialist`). The turn bound is SK's
own `max_rounds`, set from the pattern's bound; passing it is an error, as
LangGraph's recursion limit is, not a silent stop.
"""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import PrivateAttr
from semantic_kernel.agents import BooleanResult, GroupChatManager, MessageResult, StringResult
from semantic_kernel.contents import ChatHistory, ChatMessageContent
from semantic_kernel.contents.utils.author_role import AuthorRole
from typing_extensions import override

from adapters._common import human_prompt
from adapters.semantic_kernel._agents import Context
from patterns.flows import debate, refinement, routing
from patterns.runtime import wire

__all__ = ["ASK_HUMAN", "FINISH", "DebateManager", "FlowManager", "RefinementManager", "RoutingManager"]

#: Decisions that are not a speaker: no agent can be named so (SK names are letters, digits, _ and -).
FINISH = "<finish>"
ASK_HUMAN = "<ask_human>"

#: The final step a manager runs before the result (the pattern's `finish`).
Finish = Callable[[Any], Mapping[str, Any]]


class FlowManager(GroupChatManager):
    """A `GroupChatManager` whose every answer follows from the flow state, one decision per turn."""

    _ctx: Context = PrivateAttr()
    _finish: Finish | None = PrivateAttr(default=None)
    _next: str | None = PrivateAttr(default=None)  # decided, not yet acted on
    _spoke: str | None = PrivateAttr(default=None)  # the speaker whose turn has not been decided on

    def __init__(self, ctx: Context, *, max_rounds: int, finish: Finish | None = None) -> None:
        super().__init__(max_rounds=max_rounds)
        self._ctx, self._finish = ctx, finish

    @abstractmethod
    def after(self, speaker: str | None) -> str:
        """Who speaks after `speaker` (None: the chat just started), `FINISH` or `ASK_HUMAN`."""

    def _decide(self) -> str:
        if self._next is None:
            try:
                self._next = self.after(self._spoke)
            except Exception as exc:
                self._ctx.fail(exc)
                raise
            self._spoke = None
        return self._next

    def _spoken(self, speaker: str) -> None:
        self._next, self._spoke = None, speaker

    @override
    async def should_request_user_input(self, chat_history: ChatHistory) -> BooleanResult:
        asking = self._decide() == ASK_HUMAN
        return BooleanResult(
            result=asking, reason="no consensus: a human arbitrates" if asking else "no input needed"
        )

    @override
    async def should_terminate(self, chat_history: ChatHistory) -> BooleanResult:
        bound = await super().should_terminate(chat_history)  # counts this turn against max_rounds
        if bound.result:
            error = RuntimeError(
                f"the {self._ctx.pattern} group chat passed its bound of {self.max_rounds} turns without finishing"
            )
            self._ctx.fail(error)
            raise error
        done = self._decide() == FINISH
        return BooleanResult(result=done, reason="the pattern's stop condition holds" if done else "going on")

    @override
    async def select_next_agent(
        self, chat_history: ChatHistory, participant_descriptions: dict[str, str]
    ) -> StringResult:
        speaker = self._decide()
        self._spoken(speaker)
        return StringResult(result=speaker, reason=f"the {self._ctx.pattern} pattern's next step")

    @override
    async def filter_results(self, chat_history: ChatHistory) -> MessageResult:
        if self._finish is not None:
            with self._ctx.flow.recorder.step("finish"):
                self._ctx.apply(self._finish(self._ctx.state))
        content = wire.canonical_json(self._ctx.state.get("result"))
        return MessageResult(
            result=ChatMessageContent(role=AuthorRole.ASSISTANT, content=content), reason="the flow's result"
        )


class RefinementManager(FlowManager):
    """generate -> critique -> (generate | finish), by `refinement.should_continue`."""

    def __init__(self, ctx: Context) -> None:
        bound = refinement.recursion_limit(int(ctx.state["task"]["max_iterations"]))
        super().__init__(ctx, max_rounds=bound, finish=refinement.finish)

    @override
    def after(self, speaker: str | None) -> str:
        if speaker == "generate":
            return "critique"
        if speaker == "critique" and refinement.should_continue(self._ctx.state) == "finish":
            return FINISH
        return "generate"


class RoutingManager(FlowManager):
    """classify -> the specialist `routing.pick_specialist` names -> done."""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx, max_rounds=4)  # classify, one specialist, and the closing turn

    @override
    def after(self, speaker: str | None) -> str:
        if speaker is None:
            return "classify"
        if speaker == "classify":
            return routing.pick_specialist(self._ctx.state)
        return FINISH


class DebateManager(FlowManager):
    """Rounds of debaters, then the vote; a split goes to the judge or a human, as `debate.arbitrate` says.

    SK's group chat has one speaker per turn, so a round's debaters speak one
    after another; each argues from the round's task fixed when the round opened
    (`Debate.next_round`), so the outcome is the one of parallel branches.
    """

    _panel: debate.Debate = PrivateAttr()
    _tasks: dict[str, debate.ArgueTask] = PrivateAttr()
    _queue: list[str] = PrivateAttr(default_factory=list)
    _opened: bool = PrivateAttr(default=False)
    _choose: Callable[[str], str] | None = PrivateAttr(default=None)

    def __init__(
        self,
        ctx: Context,
        panel: debate.Debate,
        tasks: dict[str, debate.ArgueTask],
        choose: Callable[[str], str] | None,
    ) -> None:
        spec = ctx.state["task"]
        # One turn per debater per round, the judge, and the closing turn.
        super().__init__(
            ctx, max_rounds=len(panel.names(spec)) * int(spec["rounds"]) + 2, finish=debate.finish
        )
        self._panel, self._tasks, self._choose = panel, tasks, choose
        if choose is not None:
            self.human_response_function = self._ask_human

    @override
    def after(self, speaker: str | None) -> str:
        if speaker in ("judge", ASK_HUMAN):
            return FINISH
        if self._queue:
            return self._queue.pop(0)
        return self._open_round()

    def _open_round(self) -> str:
        recorder, ctx = self._ctx.flow.recorder, self._ctx
        if self._opened:
            with recorder.step("close_round"):
                ctx.apply(debate.close_round(ctx.state))
        self._opened = True
        sends = self._panel.next_round(ctx.state)
        if sends == "vote":
            with recorder.step("vote"):
                ctx.apply(debate.vote(ctx.state))
            return {"finish": FINISH, "judge": "judge", "ask_human": ASK_HUMAN}[debate.arbitrate(ctx.state)]
        names = self._panel.names(ctx.state["task"])
        self._tasks.clear()
        self._tasks.update({names[send.arg["debater"]]: send.arg for send in sends})
        self._queue = list(self._tasks)
        return self._queue.pop(0)

    async def _ask_human(self, chat_history: ChatHistory) -> ChatMessageContent:
        """SK's `human_response_function`: the arbitrator's choice becomes the ruling."""
        assert self._choose is not None  # set together with this function
        prompt = human_prompt(self._ctx.state)
        try:
            with self._ctx.flow.recorder.step("ask_human"):
                choice = await asyncio.to_thread(self._choose, prompt)
                self._ctx.apply(debate.human_update(self._ctx.state, choice))
        except Exception as exc:
            self._ctx.fail(exc)
            raise
        self._spoken(ASK_HUMAN)
        return ChatMessageContent(role=AuthorRole.USER, name="human", content=choice)
