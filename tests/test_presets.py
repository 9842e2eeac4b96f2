"""The seven original presets give today's outputs, calls and tokens, byte for byte.

`tests/golden/presets.json` was captured from the flows before they were rebuilt
as presets of the agent-taking builders; equal token counts per agent mean every
prompt is unchanged, so the scripted model, the HTTP server and the committed
benchmark figures still describe these flows.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.golden.cases import CASES, GOLDEN, run_case

_GOLDEN: dict[str, Any] = json.loads(GOLDEN.read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", sorted(CASES))
async def test_a_preset_gives_the_golden_output(case: str) -> None:
    pattern, data = CASES[case]
    assert await run_case(pattern, data) == _GOLDEN[case]
