"""The seven canonical flows, as presets of the agent-taking builders.

Each preset is one of `patterns`' builders called with the agents declared here
(name, instructions, output model) and nothing else: what a user does with their
own agents. `RESPONDERS` are the scripted model's answers for these agents; the
scripted model uses them when given no responders of its own, so the shipped
flows run offline with no setup.

```python
from patterns import presets

graph = presets.invoice_pipeline(checkpointer=saver)
```
"""

from __future__ import annotations

from typing import Any

from langgraph.types import RetryPolicy
from pydantic import Field

from patterns.agents import DEFAULT_RETRY, Agent, PatternGraph
from patterns.debate import Debate, Position, Ruling, build_debate
from patterns.handoff import DeskReply, build_handoff
from patterns.map_reduce import MapReduceOutput, MapReply, build_map_reduce
from patterns.pipeline import Extracted, Record, Validation, build_pipeline
from patterns.presets._responders import RESPONDERS
from patterns.refinement import Critique, Draft, Refinement, RefinementInput, build_refinement
from patterns.routing import Answer, Classification, build_routing
from patterns.scatter_gather import Merged, SourceFindings, build_scatter_gather

__all__ = [
    "AGENTS",
    "COUNCIL",
    "PRODUCT_COPY",
    "RESPONDERS",
    "SUPPORT_DESKS",
    "SUPPORT_ROUTES",
    "council_debate",
    "invoice_pipeline",
    "product_refinement",
    "research_scatter_gather",
    "review_map_reduce",
    "support_handoff",
    "support_routing",
]

# -- invoice pipeline ----------------------------------------------------------

EXTRACTOR = Agent(
    "extractor",
    "Extract the invoice fields from the document. "
    "Keys: invoice_id, customer, date, currency, items [{description, quantity, unit_price}], total.",
    output=Extracted,
)
VALIDATOR = Agent(
    "validator",
    "Check the extracted invoice record: required fields, a real date, positive quantities, "
    "and line items that add up to the total. Keys: valid (bool), reasons [str].",
    output=Validation,
)
TRANSFORMER = Agent(
    "transformer",
    "Normalise the validated record: upper-case ids and currency, ISO dates, amounts in cents. "
    "Keys: invoice_id, customer, date, currency, items [{description, quantity, unit_price_cents, "
    "amount_cents}], total_cents, line_count.",
    output=Record,
)

# -- research scatter-gather ------------------------------------------------------

RESEARCHER = Agent(
    "researcher",
    "Find the sentences in your source's documents that answer the question, best first, "
    "at most three. Keys: findings [{text, score}].",
    output=SourceFindings,
)
AGGREGATOR = Agent(
    "aggregator",
    "Merge the findings of all sources, remove duplicates, keep which sources support each. "
    "Keys: findings [{text, sources, score}], summary.",
    output=Merged,
)

# -- review map-reduce -------------------------------------------------------------

MAPPER = Agent(
    "mapper",
    "Score the sentiment of each review from -1 to 1 and label it. Keys: results [{id, score, label}].",
    output=MapReply,
)
REDUCER = Agent(
    "reducer",
    "Combine the partial aggregates into one. "
    "Keys: count, score_sum, mean_sentiment, histogram, most_positive, most_negative.",
    output=MapReduceOutput,
)

# -- product-copy refinement ---------------------------------------------------------

GENERATOR = Agent(
    "generator",
    "Write or revise the draft so it covers every required point within the word limit. Keys: draft.",
    output=Draft,
)
CRITIC = Agent(
    "critic",
    "Score the draft from 0 to 1 against the rubric: coverage of the required points, "
    "and the word limit. Keys: score, missing [str], word_count, over_length.",
    output=Critique,
)


class ProductBrief(RefinementInput):
    topic: str = Field(min_length=1)
    required_points: list[str] = Field(min_length=1)
    max_words: int = Field(default=120, ge=5)


#: The critic grades the copy against the points and the limit, not the topic line.
PRODUCT_COPY = Refinement(
    GENERATOR, CRITIC, critic_sees=("required_points", "max_words"), history_fields=("missing", "word_count")
)

# -- decision debate -------------------------------------------------------------------

DEBATER = Agent(
    "debater",
    "Take a position on the question from your evidence and your peers' positions. "
    "Keys: position, confidence, argument.",
    output=Position,
)
JUDGE = Agent(
    "judge",
    "The debaters did not agree. Weigh all the evidence and decide. Keys: decision, rationale.",
    output=Ruling,
)

#: N copies of one debater, and a judge for a split vote.
COUNCIL = Debate(debater=DEBATER, judge=JUDGE)

# -- customer support: routing and handoff -------------------------------------------

ROUTER = Agent(
    "router",
    "Classify the customer message. Keys: route (billing | technical | general), confidence.",
    output=Classification,
)
SPECIALIST = Agent(
    "specialist", "Answer the customer message within your speciality. Keys: answer.", output=Answer
)
SUPPORT = Agent(
    "support",
    "Handle the customer message if it is within your speciality; otherwise hand off. "
    "Keys: action (answer | handoff), to, reason, answer.",
    output=DeskReply,
)

#: The support presets' routes (routing) and desks (handoff, entered at triage).
SUPPORT_ROUTES = ("billing", "technical", "general")
SUPPORT_DESKS = ("triage", *SUPPORT_ROUTES)

#: Every preset agent by name (what the framework adapters run the presets with).
AGENTS: dict[str, Agent[Any]] = {
    agent.name: agent
    for agent in (
        EXTRACTOR, VALIDATOR, TRANSFORMER, RESEARCHER, AGGREGATOR, MAPPER, REDUCER,
        GENERATOR, CRITIC, DEBATER, JUDGE, ROUTER, SPECIALIST, SUPPORT,
    )
}  # fmt: skip


def invoice_pipeline(
    *, checkpointer: Any = None, retry_policy: RetryPolicy | None = DEFAULT_RETRY
) -> PatternGraph:
    """extract -> validate -> transform an invoice, with a validation gate."""
    return build_pipeline(
        extractor=EXTRACTOR,
        validator=VALIDATOR,
        transformer=TRANSFORMER,
        checkpointer=checkpointer,
        retry_policy=retry_policy,
    )


def research_scatter_gather(
    *, checkpointer: Any = None, retry_policy: RetryPolicy | None = DEFAULT_RETRY
) -> PatternGraph:
    """Ask N sources in parallel, merge with provenance, tolerate failures."""
    return build_scatter_gather(
        researcher=RESEARCHER, aggregator=AGGREGATOR, checkpointer=checkpointer, retry_policy=retry_policy
    )


def review_map_reduce(
    *, checkpointer: Any = None, retry_policy: RetryPolicy | None = DEFAULT_RETRY
) -> PatternGraph:
    """Score reviews in batches with bounded concurrency, then reduce."""
    return build_map_reduce(
        mapper=MAPPER, reducer=REDUCER, checkpointer=checkpointer, retry_policy=retry_policy
    )


def product_refinement(
    *, checkpointer: Any = None, retry_policy: RetryPolicy | None = DEFAULT_RETRY
) -> PatternGraph:
    """Product copy written and critiqued until it covers every point within the word limit."""
    copy = PRODUCT_COPY
    return build_refinement(
        generator=copy.generator,
        critic=copy.critic,
        critic_sees=copy.critic_sees,
        history_fields=copy.history_fields,
        checkpointer=checkpointer,
        retry_policy=retry_policy,
    )


def council_debate(
    *, checkpointer: Any = None, retry_policy: RetryPolicy | None = DEFAULT_RETRY
) -> PatternGraph:
    """N debaters, R rounds, a vote, a judge (or a human) on no consensus."""
    return build_debate(
        debater=COUNCIL.debater, judge=COUNCIL.judge, checkpointer=checkpointer, retry_policy=retry_policy
    )


def support_routing(
    *, checkpointer: Any = None, retry_policy: RetryPolicy | None = DEFAULT_RETRY
) -> PatternGraph:
    """Classify a customer message, route it to the billing, technical or general specialist."""
    return build_routing(
        router=ROUTER,
        routes=dict.fromkeys(SUPPORT_ROUTES, SPECIALIST),
        default="general",
        checkpointer=checkpointer,
        retry_policy=retry_policy,
    )


def support_handoff(
    *, checkpointer: Any = None, retry_policy: RetryPolicy | None = DEFAULT_RETRY
) -> PatternGraph:
    """Support desks hand a conversation to each other with full context."""
    return build_handoff(
        desks=dict.fromkeys(SUPPORT_DESKS, SUPPORT),
        entry="triage",
        fallback="general",
        checkpointer=checkpointer,
        retry_policy=retry_policy,
    )
