"""Every preset served by LangGraph's own server (`langgraph dev`), driven by the official SDK.

The server packages (`langgraph-cli[inmem]`, `langgraph-api`) pin protobuf 6, which
AutoGen's pin (5.29) refuses, so they live in a virtualenv of their own:
/opt/langgraph-server-venv (or $ORCH_LANGGRAPH_VENV) holding them and our runtime
dependencies; the repo reaches it on PYTHONPATH. Without it the server tests skip
locally and fail in CI. The in-process tests below need nothing but our own venv.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command
from pydantic import TypeAdapter

import patterns
from patterns.errors import UsageError
from patterns.langgraph_server import GRAPHS
from patterns.presets import PATTERNS, SAMPLES
from patterns.runtime import AgentContext, resolve_model, validate_input
from tests._samples import SPLIT_VOTE, UNATTENDED
from tests.conftest import service_unavailable

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(os.environ.get("ORCH_LANGGRAPH_VENV", "/opt/langgraph-server-venv"))


def _graph_input(name: str, given: dict[str, Any]) -> dict[str, Any]:
    spec = PATTERNS[name]
    return spec.initial_state(validate_input(spec, given))


def _output(name: str, values: dict[str, Any]) -> dict[str, Any]:
    return PATTERNS[name].output_model.model_validate(values["result"]).model_dump(mode="json")


async def _in_process(name: str) -> dict[str, Any]:
    result = await patterns.arun(name, SAMPLES[name], model=resolve_model(), checkpoint="memory")
    assert result.status == "completed", result.error
    assert result.output is not None
    return result.output


# --- in process: the config, the graphs and the JSON context -------------------------------------


def test_langgraph_json_names_every_preset_graph() -> None:
    config = json.loads((ROOT / "langgraph.json").read_text())
    assert config["graphs"] == {name: f"patterns.langgraph_server:{name}" for name in PATTERNS}
    assert set(GRAPHS) == set(PATTERNS)
    assert all(graph.checkpointer is None for graph in GRAPHS.values())  # the server brings its own


def test_the_context_schema_is_the_json_form() -> None:
    for graph in GRAPHS.values():
        schema = graph.get_context_jsonschema()
        assert schema is not None
        assert schema["title"] == "AgentContext" and schema["additionalProperties"] is False
        assert set(schema["properties"]) == {"model", "policies"}
    context = TypeAdapter(AgentContext).validate_python({"model": "scripted", "policies": {"timeout": 30}})
    assert isinstance(context, AgentContext) and context.policies is not None
    assert context.policies.timeout == 30


def test_a_context_takes_a_live_model_a_name_or_nothing() -> None:
    live = resolve_model()
    assert AgentContext(model=live).model is live
    assert type(AgentContext(model="scripted").model) is type(live)
    assert type(AgentContext().model) is type(live)
    with pytest.raises(UsageError, match="not 'scripted' or PROVIDER:MODEL"):
        AgentContext(model="gpt-4o")
    with pytest.raises(UsageError, match="invalid AgentContext policies"):
        AgentContext(policies={"retries": 3})


@pytest.mark.parametrize("name", UNATTENDED)
async def test_a_dict_context_runs_like_arun(name: str) -> None:
    # What the server does with a run's JSON context: LangGraph coerces it to AgentContext.
    graph = PATTERNS[name].compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": name}, "recursion_limit": 100}
    values = await graph.ainvoke(_graph_input(name, SAMPLES[name]), config, context={"model": "scripted"})
    assert _output(name, values) == await _in_process(name)


# --- served by `langgraph dev` ----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    langgraph = VENV / "bin" / "langgraph"
    if not langgraph.exists():
        service_unavailable(
            f"langgraph-cli is not installed in {VENV}: python -m venv {VENV} && "
            f"{VENV}/bin/pip install 'langgraph-cli[inmem]' plus our runtime dependencies "
            "(or set ORCH_LANGGRAPH_VENV)"
        )
    port = _free_port()
    workdir = tmp_path_factory.mktemp("langgraph-dev")  # the dev server persists into .langgraph_api here
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "LANGSMITH_TRACING": "false",
        "LANGCHAIN_TRACING_V2": "false",
        "ORCH_MODEL": "scripted",
    }
    env.pop("LANGSMITH_API_KEY", None)
    log = (workdir / "server.log").open("wb")
    command = [str(langgraph), "dev", "--config", str(ROOT / "langgraph.json"), "--no-browser", "--no-reload"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(
        command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):  # up to a minute, polling every 0.1 s
            if process.poll() is not None:
                pytest.fail(
                    f"langgraph dev exited {process.returncode}: {(workdir / 'server.log').read_text()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail(f"langgraph dev did not listen on {url}: {(workdir / 'server.log').read_text()}")
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


@pytest.fixture
async def client(server_url: str) -> AsyncIterator[Any]:
    from langgraph_sdk import get_client

    sdk = get_client(url=server_url, api_key=None)
    for _ in range(300):  # the port opens before the graphs are registered
        if len(await sdk.assistants.search(limit=100)) >= len(PATTERNS):
            break
        await asyncio.sleep(0.1)
    yield sdk


async def _assistant(client: Any, name: str) -> str:
    (assistant,) = await client.assistants.search(graph_id=name, limit=1)
    return str(assistant["assistant_id"])


async def test_every_graph_publishes_its_schemas(client: Any) -> None:
    for name in PATTERNS:
        schemas = await client.assistants.get_schemas(await _assistant(client, name))
        assert schemas["context_schema"]["title"] == "AgentContext", name
        assert schemas["state_schema"], name


async def test_every_graph_publishes_input_and_output_schemas(client: Any) -> None:
    for name in PATTERNS:
        schemas = await client.assistants.get_schemas(await _assistant(client, name))
        assert schemas["input_schema"] and schemas["output_schema"], name


@pytest.mark.parametrize("name", UNATTENDED)
async def test_every_preset_runs_on_the_server_like_in_process(client: Any, name: str) -> None:
    thread = await client.threads.create()
    context = None if name == "pipeline" else {"model": "scripted"}  # no context: $ORCH_MODEL's default
    values = await client.runs.wait(
        thread["thread_id"], name, input=_graph_input(name, SAMPLES[name]), context=context
    )
    assert _output(name, values) == await _in_process(name)


async def test_stream_messages_carries_each_agents_model_reply(client: Any) -> None:
    name = "pipeline"
    thread = await client.threads.create()
    events = [
        part
        async for part in client.runs.stream(
            thread["thread_id"],
            name,
            input=_graph_input(name, SAMPLES[name]),
            context={"model": "scripted"},
            stream_mode="messages-tuple",
        )
        if part.event == "messages"
    ]
    # (message chunk, metadata) pairs: the model's replies, tagged with the node that asked.
    nodes = {metadata["langgraph_node"] for _chunk, metadata in (part.data for part in events)}
    assert {"extract", "validate", "transform"} <= nodes, nodes
    text = "".join(str(chunk.get("content", "")) for chunk, _ in (part.data for part in events))
    assert "INV-2026-0042" in text  # the transformer's record, as the model wrote it


async def test_stream_history_and_a_fork_from_an_earlier_checkpoint(client: Any) -> None:
    name = "pipeline"
    thread = await client.threads.create()
    updates = [
        part.data
        async for part in client.runs.stream(
            thread["thread_id"],
            name,
            input=_graph_input(name, SAMPLES[name]),
            context={"model": "scripted"},
            stream_mode="updates",
        )
        if part.event == "updates"
    ]
    nodes = [node for update in updates for node in update]
    assert nodes[0] == "validate_input" and len(nodes) > 2
    expected = await _in_process(name)
    final = await client.threads.get_state(thread["thread_id"])
    assert _output(name, final["values"]) == expected

    history = await client.threads.get_history(thread["thread_id"], limit=100)
    assert history[0]["checkpoint"]["checkpoint_id"] == final["checkpoint"]["checkpoint_id"]
    # The checkpoint after the input was validated: every agent still to run.
    validating = next(i for i, h in enumerate(history) if h["next"] == ["validate_input"])
    after_input = history[validating - 1]  # history is newest first
    assert after_input["next"] and after_input["next"] != ["validate_input"]
    forked = await client.threads.update_state(
        thread["thread_id"], values={}, checkpoint_id=after_input["checkpoint"]["checkpoint_id"]
    )
    values = await client.runs.wait(
        thread["thread_id"], name, input=None, checkpoint=forked["checkpoint"], context={"model": "scripted"}
    )
    assert _output(name, values) == expected
    assert len(await client.threads.get_history(thread["thread_id"], limit=100)) > len(history)


async def test_a_debates_human_arbitration_resumes_with_command(client: Any) -> None:
    name = "debate"
    graph = PATTERNS[name].compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "local"}}
    context = AgentContext(model=resolve_model())
    local = await graph.ainvoke(_graph_input(name, SPLIT_VOTE), config, context=context)
    (ask,) = local["__interrupt__"]
    local = await graph.ainvoke(Command(resume="kafka"), config, context=context)

    thread = await client.threads.create()
    paused = await client.runs.wait(
        thread["thread_id"], name, input=_graph_input(name, SPLIT_VOTE), context={"model": "scripted"}
    )
    (served_ask,) = paused["__interrupt__"]
    assert served_ask["value"] == ask.value
    state = await client.threads.get_state(thread["thread_id"])
    assert state["interrupts"] and state["next"]
    values = await client.runs.wait(
        thread["thread_id"], name, command={"resume": "kafka"}, context={"model": "scripted"}
    )
    assert _output(name, values) == _output(name, local)
    assert values["result"]["decided_by"] == "human"
