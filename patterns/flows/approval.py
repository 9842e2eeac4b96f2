"""Human approval: a step that shows a value to a person and waits for approve, edit or reject.

Before a step with side effects (a stage that sends, pays or publishes; a tool
call), a person sees the value and answers. The step pauses the run with
LangGraph's `interrupt`; the run's checkpoint holds it until the answer comes,
in this process or another (`orch run PATTERN --resume --thread ID --answer
JSON`). `{"action": "approve"}` passes the value on unchanged; `{"action":
"edit", "value": {...}}` passes the edited value on, validated against the
step's `editable` model; `{"action": "reject", "reason": "..."}` stops the flow
with `ApprovalRejected`, naming the step and the reason, and nothing after the
step runs.

The pause carries what an answer must look like (`answer_schema`, a JSON
schema), so `patterns.arun` refuses a wrong answer before it is stored in the
thread, without knowing the pattern. An answer given some other way (straight
to `graph.ainvoke(Command(resume=...))`) is checked by the step itself, which
asks again with the problem stated instead of failing the run.

One `Approval` serves three places: a pipeline stage (`build_pipeline(stages=
[drafter, approval_step("review"), publisher])`), a node of any graph
(`graph.add_node("review", step.node("draft"))`), and a call inside a node or
a tool, before its side effect (`args = step.decide(args)`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from langgraph.types import interrupt
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model

from patterns.errors import OrchError, UsageError

__all__ = ["Approval", "ApprovalRejected", "Approve", "Reject", "approval_step"]

Value = dict[str, Any]


class ApprovalRejected(OrchError):
    """A person rejected what an approval step showed them: the flow stops at that step."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(step, reason)  # the args rebuild the error (copy, pickle)
        self.step, self.reason = step, reason

    def __str__(self) -> str:
        return f"approval step {self.step!r} was rejected: {self.reason}"


class Approve(BaseModel):
    """Pass the value on as shown."""

    model_config = ConfigDict(extra="forbid")  # a mistyped key is a mistake, not a comment
    action: Literal["approve"]


class Reject(BaseModel):
    """Stop the flow; the reason is what the run reports."""

    model_config = ConfigDict(extra="forbid")
    action: Literal["reject"]
    reason: str = Field(pattern=r"\S", description="Why the value is refused.")


@dataclass(frozen=True, slots=True)
class Approval:
    """An approve / edit / reject pause, declared once and usable in any flow.

    Args:
        name: The step's name: its node name as a pipeline stage, and what a
            rejection names.
        show: What the person is shown, from the value (default: the value).
        editable: The pydantic model an edited value must match; None: the value
            can be approved or rejected, not edited.
        ask: The question put to the person (default: one naming the step and its actions).
    """

    name: str
    show: Callable[[Value], Any] | None = None
    editable: type[BaseModel] | None = None
    ask: str | None = None
    _answers: TypeAdapter[Any] = field(init=False, repr=False, compare=False)
    _schema: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise UsageError(f"an approval step needs a name of letters, digits and _, got {self.name!r}")
        if self.editable is not None and not (
            isinstance(self.editable, type) and issubclass(self.editable, BaseModel)
        ):
            raise UsageError(
                f"approval step {self.name!r}: editable must be a pydantic model class, not {self.editable!r}"
            )
        forms: Any = Approve | Reject
        if self.editable is not None:
            edit = create_model(
                "Edit",
                __config__=ConfigDict(extra="forbid"),
                __doc__="Pass this value on instead: the whole value, as the schema describes it.",
                action=(Literal["edit"], ...),
                value=(self.editable, ...),
            )
            forms = Approve | edit | Reject
        answers: TypeAdapter[Any] = TypeAdapter(Annotated[forms, Field(discriminator="action")])
        object.__setattr__(self, "_answers", answers)
        object.__setattr__(self, "_schema", answers.json_schema())

    @property
    def __name__(self) -> str:
        """The pipeline names a function stage's node by its `__name__`: the step's name."""
        return self.name

    @property
    def actions(self) -> list[str]:
        return ["approve", "edit", "reject"] if self.editable is not None else ["approve", "reject"]

    def request(self, value: Value) -> dict[str, Any]:
        """What the pause shows: the step, the question, the actions, the value, the answer's schema.

        The schema's `examples` are answers to this very value (the edit one is the
        value itself, a template to change), which the CLI shows in its resume hint.
        """
        examples: list[dict[str, Any]] = [{"action": "approve"}]
        if self.editable is not None:
            examples.append({"action": "edit", "value": value})
        examples.append({"action": "reject", "reason": "why it is refused"})
        verbs = "approve, edit or reject" if self.editable is not None else "approve or reject"
        return {
            "step": self.name,
            "ask": self.ask or f"{self.name}: {verbs} this value (a rejection needs a reason)",
            "actions": self.actions,
            "value": self.show(value) if self.show is not None else value,
            "answer_schema": {**self._schema, "examples": examples},
        }

    def decide(self, value: Value) -> Value:
        """Pause for a person's answer on `value`; return the value to go on with.

        Call it inside a node or a tool, before the side effect: a node resumed after
        the pause runs again from its start, so whatever precedes this call runs twice.
        An answer that does not fit is asked again, with the problem, in a new pause.

        Raises:
            ApprovalRejected: The person rejected the value.
        """
        request = self.request(value)
        while True:
            answer = interrupt(request)
            try:
                # As JSON, strictly: what the runner's schema check accepts, no more.
                decision = self._answers.validate_json(json.dumps(answer), strict=True)
            except ValidationError as exc:
                request = {**request, "problem": self._problems(exc)}
                continue
            except (TypeError, ValueError) as exc:  # not JSON data, which no answer schema describes
                request = {**request, "problem": f"the answer must be JSON data ({exc})"}
                continue
            if isinstance(decision, Reject):
                raise ApprovalRejected(self.name, decision.reason.strip())
            if isinstance(decision, Approve):
                return value
            edited: BaseModel = decision.value
            return edited.model_dump(mode="json")

    def _problems(self, exc: ValidationError) -> str:
        def where(loc: tuple[int | str, ...]) -> str:
            inside = loc[1:] if loc and loc[0] in self.actions else loc  # pydantic puts the action first
            return ".".join(map(str, inside)) or "the answer"

        return "; ".join(f"{where(e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)[:3])

    async def __call__(self, value: Value) -> Value:
        """As a pipeline stage: the previous stage's output, approved or edited."""
        return self.decide(value)

    def node(self, key: str) -> Callable[[Value], Value]:
        """A node for any graph: it pauses on `state[key]` and writes the approved value back to `key`."""

        def approve(state: Value) -> Value:
            return {key: self.decide(state[key])}

        approve.__name__ = self.name
        return approve


def approval_step(
    name: str,
    *,
    show: Callable[[Value], Any] | None = None,
    editable: type[BaseModel] | None = None,
    ask: str | None = None,
) -> Approval:
    """A human approval step: approve, edit (against `editable`) or reject the value it is given.

    Example:
        ```python
        review = approval_step("review", editable=Draft)
        graph = build_pipeline(stages=[drafter, review, publisher], checkpointer=saver)
        await graph.ainvoke({"input": brief}, config, context=context)  # pauses at review
        await graph.ainvoke(Command(resume={"action": "approve"}), config, context=context)
        ```
    """
    return Approval(name, show=show, editable=editable, ask=ask)
