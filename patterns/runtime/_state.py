"""Apply a node's update to a plain dict with the state's reducers, as LangGraph would.

The adapters run each pattern's agent turns natively on other frameworks but
reuse the pattern's own payload builders and update functions; this is the one
piece of LangGraph semantics they need to keep state the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, get_args, get_origin, get_type_hints

__all__ = ["apply_update"]


def _reducers(state_type: type) -> dict[str, Callable[[Any, Any], Any]]:
    reducers = {}
    for key, hint in get_type_hints(state_type, include_extras=True).items():
        if get_origin(hint) is Annotated:
            reducer = next((m for m in get_args(hint)[1:] if callable(m)), None)
            if reducer is not None:
                reducers[key] = reducer
    return reducers


def apply_update(
    state_type: type, state: Mapping[str, Any], update: Mapping[str, Any] | None
) -> dict[str, Any]:
    """A new state: `update` merged into `state`, reducer channels reduced, others overwritten."""
    reducers = _reducers(state_type)
    merged = dict(state)
    for key, value in (update or {}).items():
        if key in reducers and key in merged:
            merged[key] = reducers[key](merged[key], value)
        else:
            merged[key] = value
    return merged
