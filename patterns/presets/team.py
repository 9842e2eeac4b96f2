"""An incident review, as a team: a lead gives the turn to analysts, then to a scribe, twice over.

`SPEC`: the lead (a manager agent) gives the turn to whoever's findings are still
missing: the log analyst (errors, the first one, the commonest), the metrics
analyst (what spiked, against the first minute), the deploy analyst (the last
deploy before the first error; skipped when the logs show none), then the scribe,
who writes it up; then it says "done". `HIERARCHY_SPEC`: the same lead and scribe
over a nested team, `INVESTIGATION`, the three analysts taking one turn each in
order; the scribe reads their findings from the nested team's transcript.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from langgraph.types import RetryPolicy
from pydantic import BaseModel

from patterns.flows import supervisor
from patterns.flows.supervisor import Chat, Decision, build_supervisor
from patterns.runtime import DEFAULT_RETRY, Agent, PatternGraph

__all__ = [
    "DEPLOY_ANALYST",
    "HIERARCHY_SPEC",
    "INCIDENT_LEAD",
    "INVESTIGATION",
    "LOG_ANALYST",
    "METRICS_ANALYST",
    "RESPONDERS",
    "SAMPLE",
    "SCRIBE",
    "SPEC",
    "DeployFindings",
    "IncidentReport",
    "LogFindings",
    "MetricFindings",
    "incident_hierarchy",
    "incident_team",
]

Payload = dict[str, Any]

#: How many times its first minute's value a metric must reach to count as a spike.
SPIKE_RATIO = 2.0


class LogFindings(BaseModel):
    errors: int
    first_error: str | None
    top_error: str | None
    top_error_count: int


class Spike(BaseModel):
    metric: str
    baseline: float
    peak: float
    at: str
    ratio: float


class MetricFindings(BaseModel):
    spikes: list[Spike]


class DeployFindings(BaseModel):
    suspect: str | None
    change: str | None
    deployed_at: str | None
    minutes_before: int | None


class IncidentReport(BaseModel):
    summary: str
    cause: str
    action: str


INCIDENT_LEAD = Agent(
    "incident_lead",
    "Give the next turn to the member whose findings the review still lacks, in the members' order; "
    "skip the deploy analyst when the logs show no errors; say done once the scribe has written "
    "it up. Keys: next (a member's name or done), reason.",
    output=Decision,
)
LOG_ANALYST = Agent(
    "log_analyst",
    "Count the ERROR lines; give the first one's time and the commonest message. "
    "Keys: errors, first_error, top_error, top_error_count.",
    output=LogFindings,
    description="reads the logs: errors, when they started, the commonest",
)
METRICS_ANALYST = Agent(
    "metrics_analyst",
    "Find the metrics that reached twice their first minute's value, largest rise first. "
    "Keys: spikes [{metric, baseline, peak, at, ratio}].",
    output=MetricFindings,
    description="reads the metrics: what spiked, and when",
)
DEPLOY_ANALYST = Agent(
    "deploy_analyst",
    "Name the last deploy before the first error the log analyst found. "
    "Keys: suspect, change, deployed_at, minutes_before.",
    output=DeployFindings,
    description="matches the first error to the deploys before it",
)
SCRIBE = Agent(
    "scribe",
    "Write the incident up from the findings: what happened, the likely cause, the action. "
    "Keys: summary, cause, action.",
    output=IncidentReport,
    description="writes the incident up once the findings are in",
)


def _everyone_spoke(chat: Chat) -> bool:
    return chat.turns >= len(chat.members)


#: The analysts as a team of their own: one turn each, in order (round-robin, until all have spoken).
INVESTIGATION = build_supervisor(
    members=[LOG_ANALYST, METRICS_ANALYST, DEPLOY_ANALYST], until=_everyone_spoke, name="investigation"
)


# -- the scripted answers --------------------------------------------------------

_LINE = re.compile(r"^(?P<time>\d\d:\d\d:\d\d) (?P<level>[A-Z]+) (?P<message>.*)$")


def _incident(payload: Payload) -> Payload:
    """The incident under review: the team's input, or, inside the nested team, its parent team's."""
    task: Payload = payload["input"]
    return task if "logs" in task else _incident(task)


def _findings(transcript: list[Payload]) -> dict[str, Payload]:
    """Each speaker's latest reply, a nested team's own speakers included."""
    found: dict[str, Payload] = {}
    for message in transcript:
        output = message["output"]
        if "speakers" in output and "transcript" in output:  # a nested team's result
            found |= _findings(output["transcript"])
        else:
            found[message["speaker"]] = output
    return found


def _minutes(clock: str) -> float:
    hours, minutes, *seconds = (int(part) for part in clock.split(":"))
    return hours * 60 + minutes + (seconds[0] / 60 if seconds else 0)


def _read_logs(payload: Payload) -> Payload:
    lines = [m for m in (_LINE.match(line) for line in _incident(payload)["logs"]) if m]
    errors = [m for m in lines if m["level"] == "ERROR"]
    counts = Counter(m["message"] for m in errors)
    top = min(counts, key=lambda message: (-counts[message], message)) if counts else None
    return {
        "errors": len(errors),
        "first_error": min((m["time"] for m in errors), default=None),
        "top_error": top,
        "top_error_count": counts[top] if top else 0,
    }


def _read_metrics(payload: Payload) -> Payload:
    spikes = []
    for metric, series in sorted(_incident(payload)["metrics"].items()):
        minutes = sorted(series)
        baseline = float(series[minutes[0]])
        at = max(minutes, key=lambda minute: (series[minute], minute))
        ratio = float(series[at]) / baseline if baseline else float("inf")
        if ratio >= SPIKE_RATIO:
            spikes.append(
                {
                    "metric": metric,
                    "baseline": baseline,
                    "peak": float(series[at]),
                    "at": at,
                    "ratio": round(ratio, 1),
                }
            )
    return {"spikes": sorted(spikes, key=lambda s: (-s["ratio"], s["metric"]))}


def _match_deploy(payload: Payload) -> Payload:
    first: str | None = _findings(payload["transcript"]).get("log_analyst", {}).get("first_error")
    before = [d for d in _incident(payload)["deploys"] if first and _minutes(d["at"]) <= _minutes(first)]
    if first is None or not before:
        return {"suspect": None, "change": None, "deployed_at": None, "minutes_before": None}
    last = max(before, key=lambda d: _minutes(d["at"]))
    return {
        "suspect": last["version"],
        "change": last.get("change"),
        "deployed_at": last["at"],
        "minutes_before": int(_minutes(first) - _minutes(last["at"])),
    }


def _write_up(payload: Payload) -> Payload:
    incident, found = _incident(payload), _findings(payload["transcript"])
    logs, metrics = found.get("log_analyst") or {}, found.get("metrics_analyst") or {}
    deploy = found.get("deploy_analyst") or {}
    parts = [
        f"{logs['errors']} errors from {logs['first_error']}, mostly {logs['top_error']!r} ({logs['top_error_count']})"
        if logs.get("errors")
        else "no errors in the logs"
    ]
    parts += [
        f"{s['metric']} x{s['ratio']:g} (peak {s['peak']:g} at {s['at']})" for s in metrics.get("spikes", [])
    ]
    if deploy.get("suspect"):
        parts.append(
            f"{deploy['suspect']} was deployed at {deploy['deployed_at']}, "
            f"{deploy['minutes_before']} min before the first error"
        )
        cause, action = f"{deploy['suspect']} ({deploy['change']})", f"roll back {deploy['suspect']}"
    elif logs.get("errors"):
        cause, action = str(logs["top_error"]), f"investigate {logs['top_error']!r}"
    else:
        cause, action = "unknown", "keep watching the metrics"
    return {"summary": f"{incident['service']}: {'; '.join(parts)}.", "cause": cause, "action": action}


_WHY = {
    "log_analyst": "start from the errors in the logs",
    "metrics_analyst": "check what the metrics did meanwhile",
    "deploy_analyst": "the errors have a start: was it a deploy?",
    "investigation": "investigate the logs, the metrics and the deploys",
    "scribe": "the findings are in: write it up",
}


def _lead(payload: Payload) -> Payload:
    spoken = {m["speaker"] for m in payload["transcript"]}
    logs = _findings(payload["transcript"]).get("log_analyst")
    for member in (m["name"] for m in payload["members"]):
        if member in spoken or (member == "deploy_analyst" and logs is not None and not logs["errors"]):
            continue
        return {"next": member, "reason": _WHY.get(member, f"{member} has not spoken yet")}
    return {"next": "done", "reason": "the incident is written up"}


RESPONDERS = {
    "incident_lead": _lead,
    "log_analyst": _read_logs,
    "metrics_analyst": _read_metrics,
    "deploy_analyst": _match_deploy,
    "scribe": _write_up,
}


def _series(*values: float) -> dict[str, float]:
    return {f"10:0{minute}": value for minute, value in enumerate(values)}


SAMPLE: dict[str, Any] = {
    "input": {
        "service": "checkout",
        "logs": [
            "10:03:55 INFO checkout ok order=1812",
            "10:04:12 ERROR ConnectionPool exhausted (db-primary)",
            "10:04:13 ERROR ConnectionPool exhausted (db-primary)",
            "10:04:20 WARN retrying payment call",
            "10:04:31 ERROR ConnectionPool exhausted (db-primary)",
            "10:05:02 ERROR payment timeout after 3000 ms",
            "10:05:40 ERROR ConnectionPool exhausted (db-primary)",
            "10:06:10 INFO pool resized to 50",
            "10:07:02 ERROR payment timeout after 3000 ms",
            "10:08:30 INFO checkout ok order=1840",
        ],
        "metrics": {
            "p99_ms": _series(210, 220, 215, 230, 1850, 2400, 2300, 900, 260),
            "error_rate_pct": _series(0.2, 0.2, 0.3, 0.2, 6.5, 12.0, 11.2, 3.1, 0.4),
            "cpu_pct": _series(41, 43, 40, 44, 52, 55, 54, 47, 42),
        },
        "deploys": [
            {"at": "09:12", "version": "v2.3.0", "change": "new receipt emails"},
            {"at": "10:01", "version": "v2.3.1", "change": "db pool size 50 -> 10"},
        ],
    },
    "max_turns": 6,
}


def incident_team(
    *, checkpointer: Any = None, retry_policy: RetryPolicy | None = DEFAULT_RETRY
) -> PatternGraph:
    """A lead gives the turn to three analysts and a scribe until the incident is written up."""
    return SPEC.compile(checkpointer=checkpointer, retry_policy=retry_policy)


def incident_hierarchy(
    *, checkpointer: Any = None, retry_policy: RetryPolicy | None = DEFAULT_RETRY
) -> PatternGraph:
    """The lead over a nested team of analysts, then the scribe."""
    return HIERARCHY_SPEC.compile(checkpointer=checkpointer, retry_policy=retry_policy)


SPEC = supervisor.SPEC.preset(
    members=[LOG_ANALYST, METRICS_ANALYST, DEPLOY_ANALYST, SCRIBE],
    manager=INCIDENT_LEAD,
    summary="a lead gives the turn to analysts, then a scribe, until the incident is written up",
    sample=SAMPLE,
)

#: The nested team is one member: a turn of the lead's team is the whole investigation.
HIERARCHY_SPEC = supervisor.SPEC.preset(
    members=[INVESTIGATION, SCRIBE],
    manager=INCIDENT_LEAD,
    summary="a lead over a nested team of analysts, then a scribe",
    sample={**SAMPLE, "max_turns": 4},
)
