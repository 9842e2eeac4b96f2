"""Checkpoints and resume with CrewAI's own formats and calls: `@persist`, `RuntimeState`, `Flow.from_checkpoint`.

After every flow method CrewAI's `@persist` hook calls our `FlowPersistence`,
which writes a CrewAI checkpoint (`RuntimeState.checkpoint`, JSON files under
`state_path/main/`) of the flow: its completed methods, method outputs and
state. `Flow.from_checkpoint` restores it and `kickoff` skips the completed
methods and runs the rest.

Why not CrewAI's automatic checkpoints (`Flow(checkpoint=CheckpointConfig(on_events=...))`):
their handler runs on the event bus's worker threads and serialises the whole
live runtime state while the flow goes on. Measured on the two-step routing flow
(`on_events=["method_execution_finished"]`), four runs: twice a checkpoint
missing (once with a pyo3 `PanicException`, "dictionary changed size during
iteration"), once two checkpoints of the run with no parent link. This one
serialises only our flow, on the event loop between steps, so completed methods
and state are one consistent snapshot; the checkpoints of a run form one chain.

One repair, on a copy of the checkpoint before it is restored (`rearmed`): on
resume CrewAI skips a completed router without re-emitting its label, so the
branch the router had chosen (and not yet finished) never runs. Our routers
only read the checkpointed state: we mark them not completed and they choose again.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

from crewai.flow.flow import Flow
from crewai.flow.persistence.base import FlowPersistence
from crewai.state.runtime import RuntimeState
from pydantic import BaseModel, PrivateAttr

from patterns.errors import UsageError

__all__ = ["FlowCheckpointer", "latest_checkpoint", "rearmed", "saved_flow_state"]


class FlowCheckpointer(FlowPersistence):
    """CrewAI's `@persist` backend that writes a CrewAI checkpoint of the flow after each method."""

    # CrewAI finds a serialised backend's class by this name (its registry is keyed on class names).
    persistence_type: str = "FlowCheckpointer"
    location: str
    _runtime: RuntimeState | None = PrivateAttr(default=None)
    _loop: asyncio.AbstractEventLoop | None = PrivateAttr(default=None)
    _loop_thread: int | None = PrivateAttr(default=None)

    def attach(self, flow: Flow[Any]) -> None:
        """Checkpoint `flow` from now on; call from the event loop that runs it."""
        self._runtime = RuntimeState(root=[flow])  # one state for the run: checkpoints chain parent -> child
        self._loop, self._loop_thread = asyncio.get_running_loop(), threading.get_ident()

    def init_db(self) -> None:
        Path(self.location).mkdir(parents=True, exist_ok=True)

    def save_state(self, flow_uuid: str, method_name: str, state_data: dict[str, Any] | BaseModel) -> None:
        if self._runtime is None or self._loop is None:
            raise RuntimeError("FlowCheckpointer.attach(flow) was not called before the flow ran")
        if threading.get_ident() == self._loop_thread:
            self._write()
            return
        # CrewAI calls this from a worker thread while parallel branches go on: write from the loop.
        asyncio.run_coroutine_threadsafe(self._awrite(), self._loop).result()

    def load_state(self, flow_uuid: str) -> dict[str, Any] | None:
        return None  # restoring goes through Flow.from_checkpoint, not @persist's re-run from the start

    def _write(self) -> None:
        assert self._runtime is not None
        self._runtime.checkpoint(self.location)

    async def _awrite(self) -> None:
        self._write()  # no await inside: atomic with respect to the flow's other tasks


def latest_checkpoint(state_path: str | Path) -> Path:
    """The newest checkpoint under `state_path` (CrewAI's main branch)."""
    files = sorted(Path(state_path, "main").glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
    if not files:
        raise UsageError(f"no CrewAI checkpoint in {state_path}; run without resume=True to start the flow")
    return files[-1]


def _flow_entity(saved: dict[str, Any], path: Path) -> dict[str, Any]:
    flows: list[dict[str, Any]] = [e for e in saved.get("entities", []) if e.get("entity_type") == "flow"]
    if not flows or "pattern" not in (flows[0].get("checkpoint_state") or {}):
        raise UsageError(f"{path} is not a checkpoint of an adapters.crewai flow")
    return flows[0]


def saved_flow_state(path: Path) -> dict[str, Any]:
    """The flow state (`FlowData` fields) saved in the checkpoint at `path`."""
    entity = _flow_entity(json.loads(path.read_text(encoding="utf-8")), path)
    return dict(entity["checkpoint_state"])


def rearmed(path: Path, flow_class: type[Flow[Any]], workdir: Path) -> Path:
    """A copy of the checkpoint at `path`, in `workdir`, with its routers marked not completed.

    The copy keeps the file name, so CrewAI's lineage (the checkpoint id is
    the name) continues from the original.
    """
    saved = json.loads(path.read_text(encoding="utf-8"))
    entity = _flow_entity(saved, path)
    routers = {name for name, method in flow_class.flow_definition().methods.items() if method.router}
    done = entity.get("checkpoint_completed_methods") or []
    entity["checkpoint_completed_methods"] = [m for m in done if m not in routers]
    copy = workdir / path.name
    copy.write_text(json.dumps(saved), encoding="utf-8")
    return copy
