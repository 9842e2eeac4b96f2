"""The canonical flows, as presets of the agent-taking builders, and the registry.

Each preset module declares its agents (name, instructions, output model), the
scripted responders that answer them offline, a sample input, and its builder:
one of `patterns.flows`' builders called with those agents and nothing else,
which is what a user does with their own. `PATTERNS` lists the presets by
pattern name; the runner, the CLI, the adapters and the benchmarks read it and
keep no table of their own. A new pattern is its flow module, its preset
module, and one line below.

```python
from patterns import presets

graph = presets.invoice_pipeline(checkpointer=saver)
```
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from patterns.presets import (
    assistant,
    council,
    invoices,
    planning,
    product_copy,
    product_reviews,
    publishing,
    research,
    support,
    team,
)
from patterns.presets.assistant import assistant_tools
from patterns.presets.council import COUNCIL, council_debate
from patterns.presets.invoices import invoice_pipeline
from patterns.presets.planning import trip_planning
from patterns.presets.product_copy import PRODUCT_COPY, ProductBrief, product_refinement
from patterns.presets.product_reviews import review_map_reduce, reviews, sentiment
from patterns.presets.publishing import publishing_pipeline
from patterns.presets.research import research_scatter_gather
from patterns.presets.support import (
    SUPPORT_DESKS,
    SUPPORT_ROUTES,
    classify_message,
    support_handoff,
    support_routing,
)
from patterns.presets.team import incident_hierarchy, incident_team
from patterns.runtime import Agent, PatternSpec

__all__ = [
    "AGENTS",
    "COUNCIL",
    "PATTERNS",
    "PRODUCT_COPY",
    "RESPONDERS",
    "SAMPLES",
    "SUPPORT_DESKS",
    "SUPPORT_ROUTES",
    "ProductBrief",
    "assistant_tools",
    "classify_message",
    "council_debate",
    "incident_hierarchy",
    "incident_team",
    "invoice_pipeline",
    "product_refinement",
    "publishing_pipeline",
    "research_scatter_gather",
    "review_map_reduce",
    "reviews",
    "sentiment",
    "support_handoff",
    "support_routing",
    "trip_planning",
]

_MODULES = (
    invoices,
    research,
    product_reviews,
    product_copy,
    council,
    support,
    planning,
    team,
    assistant,
    publishing,
)

#: Every preset by pattern name, in the order `orch list` shows them.
PATTERNS: dict[str, PatternSpec] = {
    spec.name: spec
    for spec in (
        invoices.SPEC,
        research.SPEC,
        product_reviews.SPEC,
        product_copy.SPEC,
        council.SPEC,
        support.ROUTING_SPEC,
        support.HANDOFF_SPEC,
        planning.SPEC,
        team.SPEC,
        assistant.SPEC,
        publishing.SPEC,  # pauses for a human's approval: resume with --answer '{"action": "approve"}'
    )
}

#: Each preset's sample input: what `orch run PATTERN` runs when given no `--input`.
SAMPLES: dict[str, dict[str, Any]] = {name: dict(spec.sample or {}) for name, spec in PATTERNS.items()}

#: The scripted model's answers for every preset agent, by agent name.
RESPONDERS: Mapping[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    name: fn for module in _MODULES for name, fn in module.RESPONDERS.items()
}

#: Every preset agent by name (what the framework adapters run the presets with).
AGENTS: dict[str, Agent[Any]] = {
    value.name: value for module in _MODULES for value in vars(module).values() if isinstance(value, Agent)
}
