"""What a run runs: a preset by name, or a declared flow by `module:attribute`.

A message carries neither: the runs table names the flow, and each worker
imports it. A declared flow must therefore be importable on every worker
(installed, or on PYTHONPATH); one that is not fails on every delivery and
ends, after the delivery limit, in the dead-letter queue.
"""

from __future__ import annotations

import importlib

from patterns.errors import UsageError
from patterns.runtime import PatternSpec, get_flow

__all__ = ["load_flow"]


def load_flow(pattern: str | None, flow: str | None) -> PatternSpec:
    """The preset `pattern`, or the `PatternSpec` at `flow` (`package.module:ATTRIBUTE`)."""
    if flow is None:
        if not pattern:
            raise UsageError(
                "name a pattern (one of the presets) or a declared flow with --flow MODULE:ATTRIBUTE"
            )
        return get_flow(pattern)
    module_name, sep, attribute = flow.partition(":")
    if not sep or not module_name or not attribute.isidentifier():
        raise UsageError(f"--flow takes MODULE:ATTRIBUTE, e.g. myapp.flows:REVIEW, not {flow!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(f"cannot import the module of flow {flow!r}: {exc}") from exc
    spec = getattr(module, attribute, None)
    if not isinstance(spec, PatternSpec):
        raise UsageError(
            f"{flow} is not a declared flow (a PatternSpec made with SPEC.flow(...)), "
            f"it is {type(spec).__name__}"
        )
    return spec
