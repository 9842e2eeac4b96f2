"""Resilience building blocks for flows: retries, circuit breakers, fallbacks, timeouts,
bulkheads, dead letters and sagas.

Each module holds one idea; this package re-exports their public names. Failures
are classified by `patterns.errors` (transient, permanent, cascading), and every
primitive here takes an injectable clock or sleep so tests never wait.
"""

from patterns.resilience.breaker import (
    BreakerEvent,
    BreakerPolicy,
    BreakerRegistry,
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
)
from patterns.resilience.bulkhead import Bulkhead, BulkheadFull, BulkheadPolicy
from patterns.resilience.deadletter import (
    DeadLetter,
    DeadLetterQueue,
    DeadLetterStatus,
    DeadLetterStore,
    SQLiteDeadLetterStore,
)
from patterns.resilience.fallback import (
    FallbackChain,
    FallbackExhausted,
    FallbackLevel,
    FallbackResult,
    LevelFailure,
    LevelKind,
)
from patterns.resilience.policies import AgentPolicies, protected_call
from patterns.resilience.retry import Attempt, Backoff, RetryBudget, RetryBudgetExhausted, retry_call
from patterns.resilience.saga import (
    CompensationOutcome,
    CompensationRecord,
    Saga,
    SagaResult,
    SagaStatus,
    SagaStep,
)
from patterns.resilience.timeouts import (
    DEFAULT_TIMEOUTS,
    AgentClass,
    AttemptTimeout,
    call_with_timeout,
    per_attempt_timeout,
    with_timeout,
)

__all__ = [
    "AgentPolicies",
    "protected_call",
    "DEFAULT_TIMEOUTS",
    "AgentClass",
    "Attempt",
    "BreakerEvent",
    "BreakerPolicy",
    "BreakerRegistry",
    "Bulkhead",
    "BulkheadFull",
    "BulkheadPolicy",
    "CircuitBreaker",
    "CircuitOpenError",
    "CircuitState",
    "CompensationOutcome",
    "CompensationRecord",
    "DeadLetter",
    "DeadLetterQueue",
    "DeadLetterStatus",
    "DeadLetterStore",
    "FallbackChain",
    "FallbackExhausted",
    "FallbackLevel",
    "FallbackResult",
    "LevelFailure",
    "LevelKind",
    "RetryBudget",
    "RetryBudgetExhausted",
    "Backoff",
    "SQLiteDeadLetterStore",
    "Saga",
    "SagaResult",
    "SagaStatus",
    "SagaStep",
    "AttemptTimeout",
    "call_with_timeout",
    "per_attempt_timeout",
    "retry_call",
    "with_timeout",
]
