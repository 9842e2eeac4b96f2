"""Run the suite, write the result JSON, then the report from that JSON alone.

Where results go. A `full` run writes `benchmarks/results/bench-full-<UTC time>.json`,
`latest.json`, `report.md` and one PNG per measure: that is what the README links.
Any other profile writes the same files under `benchmarks/results/<profile>/`,
so a `--quick` run never overwrites the committed full report.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import environment
from benchmarks.floor import FRAMEWORK as FLOOR
from benchmarks.profiles import MEASURES, Profile
from benchmarks.report import write_report
from benchmarks.suite import Suite
from patterns.runtime import PatternSpec
from patterns.testing import Responder

__all__ = ["RESULTS_DIR", "SCHEMA", "results_dir_for", "run_bench"]

#: The committed full run (`orch bench --results-dir benchmarks/results`), which the README quotes.
RESULTS_DIR = Path(__file__).resolve().parent / "results"
SCHEMA = 1


def results_dir_for(profile: str, base: Path | None = None) -> Path:
    """`base` itself when given; else `bench-results/PROFILE` in the working directory.

    Never next to the installed package: a user's run must not land in site-packages
    or overwrite the committed results.
    """
    return base if base is not None else Path.cwd() / "bench-results" / profile


async def run_bench(
    profile: Profile,
    *,
    patterns: list[str],
    frameworks: list[str],
    measures: list[str] | None = None,
    results_dir: Path | None = None,
    progress: Callable[[str, int, int], None] = lambda _label, _done, _total: None,
    flows: dict[str, PatternSpec] | None = None,
    inputs: dict[str, Any] | None = None,
    responders: Mapping[str, Responder] | None = None,
    responders_name: str | None = None,
) -> Path:
    """Run the selected measures; return the path of the timestamped result JSON.

    With `flows` (label -> declared flow, each with its input in `inputs`, answered by
    `responders`), `patterns` are those labels: `orch bench --flow`.
    """
    measures = list(measures or MEASURES)
    out = results_dir_for(profile.name, results_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    total = 2 + len(measures)
    done = 0

    def step(label: str) -> None:
        progress(label, done, total)

    suite = Suite(
        profile,
        patterns,
        [f for f in frameworks if f != FLOOR],
        measures,
        progress=step,
        flows=dict(flows or {}),
        inputs=dict(inputs or {}),
        responders=responders,
    )
    env = environment.collect()
    await suite.probe()
    done += 1
    document: dict[str, Any] = {
        "schema": SCHEMA,
        "run": {
            "profile": profile.name,
            "started": started.isoformat(timespec="seconds"),
            "patterns": patterns,
            "frameworks": suite.frameworks,
            "floor": None if flows else FLOOR,
            "reference": suite.reference,
            "measures": measures,
            **(
                {
                    "flows": {k: {"pattern": f.name, "summary": f.summary} for k, f in flows.items()},
                    "responders": responders_name,
                }
                if flows
                else {}
            ),
        },
        "environment": env,
        "profile": profile.as_dict(),
        "frameworks": suite.status,
        "equivalence": await suite.equivalence(),
        "measures": {},
    }
    done += 1
    for name in measures:
        step(name)
        m0 = time.perf_counter()
        try:
            result = await getattr(suite, name)()
            result["status"] = "ok"
        except Exception as exc:  # one broken measure must not lose the others
            result = {"status": "failed", "error": f"{type(exc).__name__}: {exc}", "rows": []}
        result["wall_s"] = time.perf_counter() - m0
        document["measures"][name] = result
        done += 1
        step(name)
    document["run"]["reduced"] = suite.reduced
    document["run"]["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    document["run"]["wall_s"] = time.perf_counter() - t0

    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    path = out / f"bench-{profile.name}-{stamp}.json"
    text = json.dumps(document, indent=1, sort_keys=False, allow_nan=False, default=str)
    path.write_text(text + "\n", encoding="utf-8")
    (out / "latest.json").write_text(text + "\n", encoding="utf-8")
    write_report(out / "latest.json", out)
    return path
