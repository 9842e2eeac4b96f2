"""Per-call protections for agent calls: the resilience and flow-control toolkit, composed.

`AgentPolicies` bundles the optional protections; `protected_call` applies them
around one agent call, outermost first:

    cache -> coalesce -> bulkhead -> rate limit -> breaker -> dead letters
          -> retry (with budget, honouring Retry-After) -> timeout -> model

Why this order: a cache hit or a joined in-flight call costs nothing, so they
come before anything that waits or counts. The bulkhead and the rate limiter
bound what reaches the provider. The breaker sees one outcome per logical call
(after its retries), so a flaky-but-recovering agent does not trip it, and an
open circuit refuses without spending retries. Dead letters record the work
once its retries are spent. Each attempt gets its own deadline, so a timeout is
one more transient failure to retry.

Every piece is an existing primitive (`patterns.resilience`,
`patterns.flow_control`); nothing here retries or counts failures on its own.
`patterns.runtime.call_agent` applies these when the run's `AgentContext` has
`policies`. When `retry` is set, build the pattern graph with
`retry_policy=None` so LangGraph's node retry does not multiply the attempts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from patterns.flow_control.cache import ResultCache, canonical_key
from patterns.flow_control.coalesce import Coalescer
from patterns.flow_control.ratelimit import RateLimiter
from patterns.resilience.breaker import BreakerRegistry
from patterns.resilience.bulkhead import Bulkhead
from patterns.resilience.deadletter import DeadLetterQueue
from patterns.resilience.retry import Attempt, Backoff, RetryBudget, retry_call
from patterns.resilience.timeouts import AgentClass, AttemptTimeout, per_attempt_timeout

__all__ = ["AgentPolicies", "Deadline", "PolicyFields", "protected_call"]

T = TypeVar("T")

#: A deadline: seconds, a `AttemptTimeout`, or an agent class ("fast", "standard", "research").
Deadline: TypeAlias = float | AttemptTimeout | AgentClass


@dataclass(frozen=True)
class AgentPolicies:
    """Optional protections for every agent call of a run; leave a field None to skip it.

    `timeout` is one deadline for every agent, or a mapping agent name -> deadline
    (agents not in it get none). `cache` and `coalescer` key on
    `canonical_key({"agent", "role", "payload"})`. `dead_letters` records a call
    that failed for good (its input, error and attempts) under `flow`. `sleep` is
    the retry's wait (inject a fake one in tests).
    """

    breakers: BreakerRegistry | None = None
    retry: Backoff | None = None
    budget: RetryBudget | None = None
    timeout: Deadline | Mapping[str, Deadline] | None = None
    bulkhead: Bulkhead | None = None
    limiter: RateLimiter | None = None
    cache: ResultCache[Any] | None = None
    coalescer: Coalescer[Any] | None = None
    dead_letters: DeadLetterQueue | None = None
    flow: str = "agents"
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def deadline(self, agent: str) -> Deadline | None:
        if isinstance(self.timeout, Mapping):
            return self.timeout.get(agent)
        return self.timeout


#: A deadline in JSON: seconds, or an agent class' name.
_JSONDeadline: TypeAlias = float | AgentClass


class PolicyFields(BaseModel):
    """`AgentPolicies` as plain JSON fields: what a run context sent over LangGraph's server carries.

    Only the protections that are values travel as JSON: per-attempt deadlines and
    the dead-letter flow name. Breakers, limiters, bulkheads, caches and dead-letter
    queues are live objects shared across runs, built in process
    (`AgentContext(model=..., policies=AgentPolicies(...))`). A retry `Backoff` is
    not offered here either: a served graph keeps LangGraph's node retry, and both
    would multiply attempts.
    """

    model_config = ConfigDict(extra="forbid", title="AgentPolicies")

    timeout: _JSONDeadline | dict[str, _JSONDeadline] | None = Field(
        default=None,
        description="Per-attempt deadline: seconds or an agent class (fast, standard, research), "
        "for every agent or by agent name.",
        examples=[30.0, "standard", {"researcher": "research"}],
    )
    flow: str = Field(default="agents", description="The flow name dead letters are recorded under.")

    def to_policies(self) -> AgentPolicies:
        """The `AgentPolicies` these fields describe."""
        return AgentPolicies(timeout=self.timeout, flow=self.flow)


async def protected_call(
    policies: AgentPolicies,
    agent: str,
    role: str,
    payload: dict[str, Any],
    attempt: Callable[[], Awaitable[T]],
) -> T:
    """Run `attempt()` (one model call, parsed) for `agent` under `policies`."""
    p = policies
    request = {"agent": agent, "role": role, "payload": payload}

    deadline = p.deadline(agent)
    # One per logical call, so a growing AttemptTimeout grows with each retry.
    timed = attempt if deadline is None else per_attempt_timeout(attempt, deadline, agent=agent)

    async def retried() -> T:
        attempts: list[Attempt] = []
        try:
            if p.retry is None:
                return await timed()
            return await retry_call(
                timed, p.retry, budget=p.budget, on_attempt=attempts.append, sleep=p.sleep
            )
        except Exception as exc:
            # Whatever escapes here failed for good: retries or budget spent, or permanent.
            if p.dead_letters is not None:
                p.dead_letters.put(
                    flow=p.flow, agent=agent, input=request, error=exc, attempts=max(len(attempts), 1)
                )
            raise

    async def guarded() -> T:
        if p.breakers is None:
            return await retried()
        return await p.breakers.get(agent).call(retried)

    async def limited() -> T:
        if p.limiter is not None:
            await p.limiter.acquire()
        return await guarded()

    async def isolated() -> T:
        if p.bulkhead is None:
            return await limited()
        return await p.bulkhead.call(agent, limited)

    async def coalesced() -> T:
        if p.coalescer is None:
            return await isolated()
        result: T = await p.coalescer.run(canonical_key(request), isolated)
        return result

    if p.cache is None:
        return await coalesced()
    cached: T = await p.cache.get_or_compute(request, coalesced)
    return cached
