"""The scenarios' sizes: `full` (the committed results), `quick` (3 min 30 s measured on 2 busy cores) and `tiny` (tests).

Every size a measure uses is here, and every profile's values are copied into
the result JSON, so a report always says what it ran.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "ALL_MEASURES",
    "FLOW_MEASURES",
    "MEASURES",
    "OPT_IN_MEASURES",
    "PROFILES",
    "RESILIENCE_CONFIGS",
    "Profile",
]

#: Every measure the suite knows, in report order.
MEASURES = (
    "overhead",
    "parallel",
    "throughput",
    "scaling_branches",
    "scaling_state",
    "checkpoint",
    "wire",
    "footprint",
    "resilience",
)

#: Measures run only when named (`orch bench --measures distributed`): they need services
#: the framework comparison does not (RabbitMQ, PostgreSQL, worker processes), and write
#: their results to a folder of their own (`--results-dir benchmarks/results/distributed`).
OPT_IN_MEASURES = ("distributed",)
ALL_MEASURES = (*MEASURES, *OPT_IN_MEASURES)

#: The measures that apply to one declared flow (`orch bench --flow`), besides the equivalence check.
FLOW_MEASURES = ("overhead", "resilience")

#: The resilience measure's configurations, each framework set up as its users would:
#: in-process with the framework's own defaults; over HTTP with the framework's production
#: OpenAI client and that client's default retries; in-process with the kit's `AgentPolicies`.
RESILIENCE_CONFIGS = ("in_process", "http_client_retries", "kit_policies")


@dataclass(frozen=True)
class Profile:
    name: str
    seed: int
    # timing discipline (in-process measures)
    warmup: int
    repeats: int
    min_repeats: int
    budget_s: float  # per candidate and scenario: stop repeating after this, keeping at least min_repeats
    timeout_s: float  # per single flow run: a framework slower than this is reported as timed out
    deadline_s: float | None  # past this, scenarios still to come run once (recorded as reduced)
    # overhead: the patterns' samples, with map-reduce cut to this many reviews (None: the 1,000 of the sample)
    map_reduce_items: int | None
    # overhead: rounds of the LangGraph adapter against the pattern graph alone, paired (the runner's cost)
    paired_repeats: int
    # parallel efficiency
    scatter_sources: int
    scatter_latency_s: float
    map_items: int
    map_concurrency: int
    map_latency_s: float
    parallel_repeats: int
    # throughput and scaling
    throughput_pattern: str
    throughput_levels: tuple[int, ...]
    branch_counts: tuple[int, ...]
    state_sizes: tuple[int, ...]  # bytes of input JSON
    state_items: int
    scaling_repeats: int
    # checkpoint cost
    checkpoint_patterns: tuple[str, ...]
    checkpoint_savers: tuple[str, ...]
    durabilities: tuple[str, ...]
    # resilience
    fault_rates: tuple[float, ...]
    fault_runs: int
    fault_concurrency: int
    # footprint
    footprint_pattern: str
    footprint_repeats: int
    # resilience: how each framework is configured (see `RESILIENCE_CONFIGS`), and the kit's
    # retry for "kit_policies" (`AgentPolicies(retry=Backoff(...))`)
    resilience_configs: tuple[str, ...] = RESILIENCE_CONFIGS
    policy_max_attempts: int = 4
    policy_base_delay_s: float = 0.1
    policy_max_delay_s: float = 2.0
    # distributed (`benchmarks/distributed.py`): real `orch worker` processes (solo pool) on
    # RabbitMQ + PostgreSQL, pipeline flows on the scripted model at this latency per call
    dist_latency_s: float = 0.05
    dist_workers: tuple[int, ...] = (1, 2, 4)  # worker processes per throughput run
    # flows queued per throughput run: the issue asks 1,000; at the rates measured on 2 cores
    # (benchmarks/results/distributed) that is about 10 minutes for the measure, its whole allowance
    dist_flows: int = 600
    dist_idle_flows: int = 20  # flows one at a time on idle workers: dispatch latency and overhead
    dist_checked_outputs: int = 20  # flows per throughput run whose output is compared with an in-process run
    dist_kills: int = 3  # SIGKILLs of a worker mid-run, each followed by a replacement
    dist_kill_batch: int = 6  # flows submitted before each kill
    dist_queue_bound: int = 40  # the bounded partition of the backpressure run; 2x this is offered
    dist_partitions: int = 4  # partitions of the tenants run
    dist_tenant_workers: int = 2
    dist_flood_flows: int = 150  # the flooding tenant's burst
    dist_quiet_tenants: int = 3  # one shares the flood's partition, the others do not
    dist_quiet_flows: int = 10  # per quiet tenant, one each per gap
    dist_quiet_gap_s: float = 0.5
    dist_timeout_s: float = 300.0  # the longest wait for a scenario's flows before it fails
    dist_settle_s: float = 2.5  # after workers start, before anything is timed (see _Cluster.start)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


FULL = Profile(
    name="full",
    seed=0,
    warmup=3,
    repeats=30,
    min_repeats=5,
    budget_s=20.0,
    timeout_s=120.0,
    deadline_s=1500.0,
    map_reduce_items=None,
    paired_repeats=100,
    scatter_sources=50,
    scatter_latency_s=0.1,
    map_items=1000,
    map_concurrency=50,
    map_latency_s=0.02,
    parallel_repeats=7,
    throughput_pattern="pipeline",
    throughput_levels=(1, 10, 100),
    branch_counts=(10, 100, 1000),
    state_sizes=(10_000, 100_000, 1_000_000),
    state_items=8,
    scaling_repeats=7,
    checkpoint_patterns=("pipeline", "scatter_gather", "refinement", "debate"),
    checkpoint_savers=("none", "memory", "sqlite", "postgresql"),
    durabilities=("sync", "async", "exit"),
    fault_rates=(0.1, 0.3),
    fault_runs=20,
    fault_concurrency=32,
    footprint_pattern="pipeline",
    footprint_repeats=3,
)

QUICK = Profile(
    name="quick",
    seed=0,
    warmup=1,
    repeats=9,
    min_repeats=3,
    budget_s=2.0,
    timeout_s=30.0,
    deadline_s=120.0,
    map_reduce_items=200,
    paired_repeats=20,
    scatter_sources=50,
    scatter_latency_s=0.1,
    map_items=150,
    map_concurrency=50,
    map_latency_s=0.02,
    parallel_repeats=3,
    throughput_pattern="pipeline",
    throughput_levels=(1, 10, 50),
    branch_counts=(10, 100),
    state_sizes=(10_000, 100_000),
    state_items=8,
    scaling_repeats=3,
    checkpoint_patterns=("pipeline", "refinement"),
    checkpoint_savers=("none", "memory", "sqlite", "postgresql"),
    durabilities=("sync", "async", "exit"),
    fault_rates=(0.1, 0.3),
    fault_runs=6,
    fault_concurrency=32,
    footprint_pattern="pipeline",
    footprint_repeats=1,
    dist_workers=(1, 2),
    dist_flows=60,
    dist_idle_flows=5,
    dist_checked_outputs=5,
    dist_kills=1,
    dist_kill_batch=4,
    dist_queue_bound=10,
    dist_partitions=4,
    dist_flood_flows=30,
    dist_quiet_flows=3,
    dist_quiet_gap_s=0.3,
    dist_timeout_s=120.0,
)

TINY = Profile(
    name="tiny",
    seed=0,
    warmup=1,
    repeats=3,
    min_repeats=2,
    budget_s=1.0,
    timeout_s=20.0,
    deadline_s=None,
    map_reduce_items=50,
    paired_repeats=3,
    scatter_sources=5,
    scatter_latency_s=0.02,
    map_items=20,
    map_concurrency=5,
    map_latency_s=0.01,
    parallel_repeats=2,
    throughput_pattern="routing",
    throughput_levels=(1, 4),
    branch_counts=(4, 8),
    state_sizes=(2_000, 8_000),
    state_items=4,
    scaling_repeats=2,
    checkpoint_patterns=("pipeline",),
    checkpoint_savers=("none", "memory", "sqlite", "postgresql"),
    durabilities=("sync", "exit"),
    fault_rates=(0.3,),
    fault_runs=2,
    fault_concurrency=8,
    footprint_pattern="routing",
    footprint_repeats=1,
    dist_workers=(2,),  # one run, two workers: the test's time goes to worker starts
    dist_flows=8,
    dist_idle_flows=2,
    dist_checked_outputs=3,
    dist_kills=1,
    dist_kill_batch=3,
    dist_queue_bound=4,
    dist_partitions=2,
    dist_tenant_workers=1,
    dist_flood_flows=6,
    dist_quiet_tenants=2,
    dist_quiet_flows=2,
    dist_quiet_gap_s=0.1,
    dist_timeout_s=60.0,
    dist_settle_s=0.0,
)

PROFILES: dict[str, Profile] = {p.name: p for p in (FULL, QUICK, TINY)}
