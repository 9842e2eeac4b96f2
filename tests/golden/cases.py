"""The preset flows' golden outputs: captured once from the flows as they were before
the builders took agents (`python -m tests.golden.cases`), compared by `tests/test_presets.py`.

Each case is a pattern and an input (None: the pattern's sample). Calls and tokens
per agent are recorded too: equal token counts mean the prompts did not change.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tests._samples import SPLIT_VOTE

GOLDEN = Path(__file__).with_name("presets.json")

_INVOICE_BAD_TOTAL = (
    "Invoice: inv-2026-0099\nCustomer: initech\nDate: 2026-03-04\nItems:\n"
    "- Stapler x 2 @ 10.00\nTotal: 99.00 USD\n"
)

CASES: dict[str, tuple[str, dict[str, Any] | None]] = {
    "pipeline": ("pipeline", None),
    "pipeline-rejected": ("pipeline", {"document": _INVOICE_BAD_TOTAL}),
    "scatter_gather": ("scatter_gather", None),
    "map_reduce": ("map_reduce", None),
    "map_reduce-small": (
        "map_reduce",
        {
            "items": [
                {"id": f"r{i}", "text": t} for i, t in enumerate(["great", "terrible", "is blue"] * 10)
            ],
            "batch_size": 7,
            "max_concurrency": 2,
        },
    ),
    "refinement": ("refinement", None),
    "debate": ("debate", None),
    "debate-split-human": ("debate", SPLIT_VOTE),
    "debate-split-judge-weighted": (
        "debate",
        SPLIT_VOTE
        | {"rounds": 2, "voting": "weighted", "weights": {"debater_1": 2.0}, "arbitration": "judge"},
    ),
    "routing": ("routing", None),
    "routing-technical": ("routing", {"message": "The app crashes with an error when I log in."}),
    "routing-general": ("routing", {"message": "What are your opening hours?"}),
    "handoff": ("handoff", None),
    "handoff-billing": (
        "handoff",
        {"message": "Please refund the double charge on my invoice.", "max_handoffs": 2},
    ),
}


async def run_case(pattern: str, data: dict[str, Any] | None) -> dict[str, Any]:
    from patterns import arun, resolve_model

    result = await arun(pattern, data, model=resolve_model(), checkpoint="memory")
    return {
        "status": result.status,
        "output": result.output,
        "interrupt": result.interrupt,
        "error": result.error,
        "calls": result.calls,
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "usage": {agent: u.model_dump() for agent, u in sorted(result.usage.items())},
    }


async def _capture() -> dict[str, Any]:
    return {name: await run_case(pattern, data) for name, (pattern, data) in CASES.items()}


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(asyncio.run(_capture()), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN}")
