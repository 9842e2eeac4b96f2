"""Where CrewAI keeps its files: the kit's state directory, never the user's home.

CrewAI 1.15 writes, unasked:

- every task's prompt and output to `latest_kickoff_task_outputs.db`, and a
  LanceDB memory, under `~/.local/share/<name of the working directory>/`,
  unless `CREWAI_STORAGE_DIR` names another (relative names still land under
  `~/.local/share`; an absolute one is used as given);
- at import, through its tracing client (built even with tracing off), an
  encryption key in `~/.local/share/crewai/credentials/` and a write test in
  `~/.config/crewai/`; both paths come from `$HOME` and have no setting of their own.

So the adapter points `CREWAI_STORAGE_DIR` at `<state dir>/crewai` and imports
CrewAI with `HOME` pointed at `<state dir>/crewai/home` for the import only.
The state directory is `$ORCH_STATE_DIR`, by default `.orch` in the working
directory, where the default checkpoints live too. A `CREWAI_STORAGE_DIR` the
user set is kept.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

__all__ = ["STATE_DIR_ENV", "import_crewai", "state_dir"]

#: Names the kit's state directory (default: `.orch` in the working directory).
STATE_DIR_ENV = "ORCH_STATE_DIR"


def state_dir() -> Path:
    """The kit's state directory, absolute (CrewAI resolves relative names under the home)."""
    return Path(os.environ.get(STATE_DIR_ENV) or ".orch").resolve()


def import_crewai() -> None:
    """Import CrewAI once, with its storage and its import-time files under the state directory."""
    storage = Path(os.environ.setdefault("CREWAI_STORAGE_DIR", str(state_dir() / "crewai")))
    home = storage / "home"
    home.mkdir(parents=True, exist_ok=True)
    saved = os.environ.get("HOME")
    os.environ["HOME"] = str(home)
    try:
        importlib.import_module("crewai")  # its event listener builds the tracing client here
    finally:
        if saved is None:
            del os.environ["HOME"]
        else:
            os.environ["HOME"] = saved
