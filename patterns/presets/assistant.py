"""A country-facts assistant: looks figures up, computes with a calculator, answers with the numbers.

The assistant has two tools over a small table of countries: `lookup` (async, as
a database or an API would be) and `calculate` (sync). Its scripted responder
plans the calls a careful model would make: every figure it needs, in one turn
of parallel lookups; then one division per country for a density; then the
answer, computed from the tools' results. A country the table does not have
makes `lookup` raise; the assistant sees the error and answers without it.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from langgraph.types import RetryPolicy
from pydantic import BaseModel, Field

from patterns.flows import tools
from patterns.runtime import DEFAULT_RETRY, Agent, PatternGraph, wire
from patterns.testing import TOOL_RESULTS, ToolCall

__all__ = [
    "ASSISTANT",
    "COUNTRIES",
    "RESPONDERS",
    "SAMPLE",
    "SPEC",
    "AssistantInput",
    "Figures",
    "assistant_tools",
    "calculate",
    "lookup",
]

Payload = dict[str, Any]
Measure = Literal["population", "area_km2"]

#: Rounded mid-2020s figures, for the example: people, and square kilometres.
COUNTRIES: dict[str, dict[str, int]] = {
    "Australia": {"population": 26_600_000, "area_km2": 7_692_024},
    "Brazil": {"population": 203_100_000, "area_km2": 8_515_767},
    "Canada": {"population": 40_100_000, "area_km2": 9_984_670},
    "Germany": {"population": 84_500_000, "area_km2": 357_588},
    "India": {"population": 1_428_600_000, "area_km2": 3_287_263},
    "Japan": {"population": 124_500_000, "area_km2": 377_975},
    "Netherlands": {"population": 17_900_000, "area_km2": 41_850},
    "New Zealand": {"population": 5_200_000, "area_km2": 268_021},
}


async def lookup(country: str, field: Measure) -> float:
    """Look one figure up for a country.

    Args:
        country: The country's English name, e.g. "Japan".
        field: population (people) or area_km2 (square kilometres).
    """
    if country not in COUNTRIES:
        raise LookupError(f"no figures for {country!r}; the table has {', '.join(COUNTRIES)}")
    return float(COUNTRIES[country][field])


def calculate(operation: Literal["add", "subtract", "multiply", "divide"], a: float, b: float) -> float:
    """Compute `a <operation> b`.

    Args:
        operation: add, subtract, multiply or divide.
        a: The left operand.
        b: The right operand.
    """
    if operation == "add":
        return a + b
    if operation == "subtract":
        return a - b
    if operation == "multiply":
        return a * b
    return a / b  # a zero divisor raises: the model is told, and can do without


class Figures(BaseModel):
    answer: str
    figures: dict[str, float]
    """The figure the question is about, by country, as computed."""


class Question(BaseModel):
    question: str = Field(min_length=1)


class AssistantInput(BaseModel):
    """The preset's input: `{"input": {"question": "..."}}`."""

    input: Question


ASSISTANT = Agent(
    "assistant",
    "Answer the question about countries from figures you look up with the lookup tool; "
    "compute with the calculate tool, never in your head. Keys: answer, figures (by country).",
    output=Figures,
)


# -- the scripted assistant ---------------------------------------------------

_METRICS: dict[str, tuple[Measure, ...]] = {
    "density": ("population", "area_km2"),
    "population": ("population",),
    "area_km2": ("area_km2",),
}
#: How each figure is named and shown: label, unit, decimals.
_SHOWN = {
    "density": ("population density", "people per km²", 1),
    "population": ("population", "people", 0),
    "area_km2": ("area", "km²", 0),
}
_NAME = re.compile(r"[A-Z][a-z]+(?: [A-Z][a-z]+)*")
#: Capitalised words that open a question rather than name a country.
_NOT_NAMES = frozenset(
    {"Which", "What", "How", "Is", "Are", "Does", "Compare", "Rank", "Of", "Tell", "Please"}
)


def _countries(question: str) -> list[str]:
    """The capitalised names in the question, in order: the ones the table has and the ones it lacks."""
    names: list[str] = []
    for phrase in _NAME.findall(question):
        words = phrase.split()
        while words and words[0] in _NOT_NAMES:
            words.pop(0)
        if words and " ".join(words) not in names:
            names.append(" ".join(words))
    return names


def _metric(question: str) -> str:
    text = question.lower()
    if "dens" in text:
        return "density"
    if "area" in text or "largest" in text or "biggest" in text:
        return "area_km2"
    return "population"


def _assistant(payload: Payload) -> Payload | list[ToolCall]:
    """Look up what is missing, then divide what a density needs, then answer from the results."""
    question = str(payload.get("question", ""))
    countries, metric = _countries(question), _metric(question)
    done = {
        (r["name"], wire.canonical_json(r["arguments"])): json.loads(r["content"])
        for r in payload.get(TOOL_RESULTS, [])
    }

    def outcome(call: ToolCall) -> Any:
        return done.get((call.name, wire.canonical_json(call.arguments)))

    lookups = {
        (c, f): ToolCall("lookup", {"country": c, "field": f}) for c in countries for f in _METRICS[metric]
    }
    missing = [call for call in lookups.values() if outcome(call) is None]
    if missing:
        return missing
    failed = {
        c: outcome(call)["error"] for (c, _f), call in lookups.items() if isinstance(outcome(call), dict)
    }
    found = [c for c in countries if c not in failed]
    if metric == "density":
        divisions = {
            c: ToolCall(
                "calculate",
                {
                    "operation": "divide",
                    "a": outcome(lookups[c, "population"]),
                    "b": outcome(lookups[c, "area_km2"]),
                },
            )
            for c in found
        }
        missing = [call for call in divisions.values() if outcome(call) is None]
        if missing:
            return missing
        values = {c: outcome(divisions[c]) for c in found}
    else:
        (measure,) = _METRICS[metric]
        values = {c: outcome(lookups[c, measure]) for c in found}
    return {
        "answer": _sentence(metric, values, failed),
        "figures": {c: round(v, 1) for c, v in values.items()},
    }


def _sentence(metric: str, values: dict[str, float], failed: dict[str, str]) -> str:
    label, unit, decimals = _SHOWN[metric]
    ranked = sorted(values, key=lambda c: -values[c])
    if not ranked:
        sentence = "I found no figures to compare."
    else:
        sentence = f"Highest {label}: {ranked[0]}, {values[ranked[0]]:,.{decimals}f} {unit}"
        rest = ", ".join(f"{c} {values[c]:,.{decimals}f}" for c in ranked[1:])
        sentence += f"; then {rest}." if rest else "."
    if failed:
        sentence += f" No figures for {', '.join(failed)}."
    return sentence


RESPONDERS = {"assistant": _assistant}


SAMPLE: dict[str, Any] = {
    "input": {"question": "Which is more densely populated, Japan, Germany or the Netherlands?"}
}


def assistant_tools(
    *, checkpointer: Any = None, retry_policy: RetryPolicy | None = DEFAULT_RETRY
) -> PatternGraph:
    """The assistant with its lookup and calculator tools."""
    return SPEC.compile(checkpointer=checkpointer, retry_policy=retry_policy)


SPEC = tools.SPEC.preset(
    agent=ASSISTANT,
    tools=[lookup, calculate],
    max_tool_calls=12,
    summary="an assistant looks figures up and computes with tools, then answers",
    sample=SAMPLE,
    input_model=AssistantInput,
)
