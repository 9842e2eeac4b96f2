"""`patterns.astream`: typed events as a run happens, then the `RunResult`; `orch run --stream`."""

from __future__ import annotations

import json
import operator
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel

from patterns import (
    CustomEvent,
    ModelToken,
    PatternSpec,
    RunResult,
    StateUpdate,
    StepEvent,
    StepFinished,
    StepStarted,
    arun,
    astream,
    resolve_model,
)
from patterns.cli import main


async def _collect(*args: Any, **kwargs: Any) -> list[Any]:
    return [event async for event in astream(*args, model=resolve_model(), checkpoint="memory", **kwargs)]


async def test_astream_yields_steps_updates_tokens_then_the_result_arun_returns() -> None:
    events = await _collect("routing", thread_id="s1")
    result = events[-1]
    assert isinstance(result, RunResult) and result.status == "completed"
    assert not any(isinstance(e, RunResult) for e in events[:-1])
    started = [e for e in events if isinstance(e, StepStarted)]
    finished = [e for e in events if isinstance(e, StepFinished)]
    assert [e.agent for e in started] == [e.agent for e in finished] == ["classify", result.output["route"]]
    assert {e.task_id for e in started} == {e.task_id for e in finished}
    for begin in started:  # each step finishes after it starts, and after its own tokens and update
        end = next(e for e in finished if e.task_id == begin.task_id)
        assert events.index(begin) < events.index(end) and end.status == "ok" and end.end is not None
    tokens = [e for e in events if isinstance(e, ModelToken)]
    assert tokens and {t.node for t in tokens} <= {"classify", result.output["route"]}
    updates = {e.node: e.update for e in events if isinstance(e, StateUpdate)}
    assert updates["classify"]["route"] == result.output["route"]
    assert [(s.agent, s.status) for s in result.steps] == [(e.agent, e.status) for e in finished]

    plain = await arun("routing", model=resolve_model(), checkpoint="memory", thread_id="s2")
    assert (plain.status, plain.output, plain.calls) == (result.status, result.output, result.calls)
    assert (plain.prompt_tokens, plain.completion_tokens) == (result.prompt_tokens, result.completion_tokens)


async def test_arun_gives_on_step_the_stream_step_events() -> None:
    seen: list[StepEvent] = []
    result = await arun("pipeline", model=resolve_model(), checkpoint="memory", on_step=seen.append)
    assert seen and all(isinstance(e, StepStarted | StepFinished) for e in seen)
    assert len([e for e in seen if isinstance(e, StepFinished)]) == len(result.steps)
    assert all(e.end is None for e in seen if isinstance(e, StepStarted))


async def test_without_tokens_no_token_events() -> None:
    events = await _collect("routing", tokens=False)
    assert not any(isinstance(e, ModelToken) for e in events)
    assert isinstance(events[-1], RunResult) and events[-1].status == "completed"


class _In(BaseModel):
    items: int = 3


class _Out(BaseModel):
    done: int


class _State(TypedDict, total=False):
    items: int
    seen: Annotated[list[int], operator.add]
    result: dict[str, Any]


def _build(*, checkpointer: Any = None, retry_policy: Any = None) -> Any:
    async def work(state: _State) -> dict[str, Any]:
        write = get_stream_writer()
        for i in range(state["items"]):
            write({"progress": i + 1, "of": state["items"]})
        return {"seen": list(range(state["items"])), "result": {"done": state["items"]}}

    graph = StateGraph(_State)
    graph.add_node("work", work)
    graph.add_edge(START, "work")
    graph.add_edge("work", END)
    return graph.compile(checkpointer=checkpointer)


_FLOW = PatternSpec(
    name="counting", summary="counts", input_model=_In, output_model=_Out, state_type=_State, build=_build
)


async def test_a_nodes_own_progress_comes_as_custom_events() -> None:
    events = await _collect(_FLOW, {"items": 3})
    assert [e.data for e in events if isinstance(e, CustomEvent)] == [
        {"progress": n, "of": 3} for n in (1, 2, 3)
    ]
    assert all(e.pattern == "counting" for e in events if isinstance(e, CustomEvent))
    result = events[-1]
    assert isinstance(result, RunResult) and result.output == {"done": 3}


async def test_bad_arguments_raise_at_the_first_step() -> None:
    from patterns import UsageError

    events = astream("routing", model=resolve_model(), checkpoint="memory", resume=True)
    with pytest.raises(UsageError, match="thread id"):
        await events.__anext__()


def test_orch_run_stream_json_prints_json_lines_ending_with_the_result(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["run", "routing", "--stream", "--json", "--checkpoint", "memory"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0
    kinds = [line["event"] for line in lines]
    assert kinds[-1] == "result" and lines[-1]["status"] == "completed"
    assert {"step_started", "step_finished", "update", "token"} <= set(kinds)
    assert kinds.index("step_started") < kinds.index("step_finished")


def test_orch_run_stream_prints_one_line_per_event_then_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "pipeline", "--stream", "--checkpoint", "memory"])
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    assert any("started   extract" in line for line in lines)
    assert any("finished  extract ok" in line for line in lines)
    assert any("update    extract:" in line for line in lines)
    assert "orch run pipeline" in out  # the result table after the events
