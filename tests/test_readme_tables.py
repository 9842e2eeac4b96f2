"""The README's measured tables are the committed benchmark results, and still true.

The summary and the wire-cost table are rendered from `benchmarks/results/latest.json`
by `benchmarks.readme`, never typed in. The wire cost is deterministic (the scripted
model's token counts, no timing), so each committed figure must also be what the
flow sends today: a change to a prompt or an adapter that alters it fails here until
`orch bench` and `python -m benchmarks.readme` are run again.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import adapters
from benchmarks.profiles import PROFILES
from benchmarks.readme import README, RESULTS, committed_distributed, update
from benchmarks.suite import Suite
from patterns.testing import ScriptedBrain, running_server


def _committed() -> dict[str, Any]:
    assert RESULTS.exists(), f"{RESULTS} is missing: run `orch bench` and commit benchmarks/results/"
    return json.loads(RESULTS.read_text(encoding="utf-8"))


def test_the_readme_tables_are_rendered_from_the_committed_results() -> None:
    text = README.read_text(encoding="utf-8")
    fresh = update(text, _committed(), committed_distributed())
    assert fresh == text, "README.md is out of date: run `python -m benchmarks.readme`"


def test_the_committed_run_is_a_full_run_of_every_framework() -> None:
    doc = _committed()
    assert doc["run"]["profile"] == "full"
    assert set(doc["run"]["frameworks"]) == set(adapters.FRAMEWORKS)
    assert all(m["status"] == "ok" for m in doc["measures"].values())


@pytest.mark.parametrize("framework", list(adapters.FRAMEWORKS))
async def test_the_committed_wire_cost_is_what_each_flow_sends_today(framework: str) -> None:
    doc = _committed()
    profile = PROFILES[doc["profile"]["name"]]
    suite = Suite(profile, doc["run"]["patterns"], [framework])
    committed = {
        r["pattern"]: (r["requests"], r["prompt_tokens"], r["completion_tokens"])
        for r in doc["measures"]["wire"]["rows"]
        if r["candidate"] == framework and r["status"] == "ok"
    }
    assert committed, f"no wire rows for {framework} in the committed results"
    for pattern, expected in committed.items():
        brain = ScriptedBrain(seed=profile.seed)
        with running_server(brain) as url:
            result = await adapters.arun(
                framework, pattern, suite.pattern_input(pattern), brain=brain, base_url=url
            )
        assert result.status == "completed", (pattern, result.error)
        measured = (result.calls + result.failed_calls, result.prompt_tokens, result.completion_tokens)
        assert measured == expected, pattern
