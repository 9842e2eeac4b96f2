"""Every preset as a module-level compiled graph: what `langgraph dev` and LangGraph Studio load.

LangGraph's server imports a graph by `module:attribute` (`langgraph.json` at the
repo root names each one) and calls a factory with a `RunnableConfig` only, so it
cannot call our builders, which take agents. Each preset is compiled here once,
without a checkpointer: the server supplies its own. The run context is JSON
(`AgentContextFields`): the model by name, resolved when a run starts, so a
client runs every graph with no context or with `{"model": "scripted"}`.

```bash
langgraph dev --no-browser   # then open Studio, or drive it with langgraph-sdk
```

The attributes are the pattern names of `patterns.presets.PATTERNS` (`pipeline`,
`debate`, ...); nothing here keeps its own list.
"""

from __future__ import annotations

from patterns.presets import PATTERNS
from patterns.runtime import PatternGraph

__all__ = ["GRAPHS", *PATTERNS]

#: Every preset's graph by pattern name, compiled for a server that brings its own checkpointer.
GRAPHS: dict[str, PatternGraph] = {name: spec.compile() for name, spec in PATTERNS.items()}

globals().update(GRAPHS)
