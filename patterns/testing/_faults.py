"""Seeded latency and fault injection for the scripted model.

Every decision is a pure function of (seed, agent, prompt, how many times that
exact prompt was seen before). It never depends on call order across agents, so
parallel branches get the same latencies and the same faults on every run and
on every framework, and a retried call can succeed where the first one failed.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from patterns.errors import UsageError

__all__ = ["Fault", "FaultPolicy", "LatencyPolicy", "FaultInjector"]

Fault = Literal["timeout", "rate_limit", "server_error", "malformed"]
Distribution = Literal["fixed", "uniform", "exponential"]


@dataclass(frozen=True, slots=True)
class LatencyPolicy:
    """Simulated model latency in seconds: `fixed` at `mean`, `uniform` in
    `[mean - spread, mean + spread]`, or `exponential` with mean `mean`."""

    mean: float = 0.0
    spread: float = 0.0
    distribution: Distribution = "fixed"

    def __post_init__(self) -> None:
        if self.mean < 0 or self.spread < 0:
            raise UsageError("latency mean and spread must be >= 0 seconds")
        if self.spread > self.mean and self.distribution == "uniform":
            raise UsageError("uniform latency needs spread <= mean so no delay is negative")


@dataclass(frozen=True, slots=True)
class FaultPolicy:
    """Rates (0..1) of each injected fault per call, and agents that are down.

    `down_agents` always fail with a server error: use it to simulate a source
    that is offline (partial failure) rather than one that is flaky.
    """

    timeout: float = 0.0
    rate_limit: float = 0.0
    server_error: float = 0.0
    malformed: float = 0.0
    retry_after: float = 0.05
    timeout_after: float = 0.0
    down_agents: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        rates = (self.timeout, self.rate_limit, self.server_error, self.malformed)
        if any(not 0.0 <= r <= 1.0 for r in rates) or sum(rates) > 1.0:
            raise UsageError("fault rates must each be in [0, 1] and sum to at most 1")
        if self.retry_after < 0 or self.timeout_after < 0:
            raise UsageError("retry_after and timeout_after must be >= 0 seconds")

    @classmethod
    def transient(cls, rate: float) -> FaultPolicy:
        """A mix of transient faults adding up to `rate`, split evenly."""
        share = rate / 4
        return cls(timeout=share, rate_limit=share, server_error=share, malformed=share)

    @property
    def active(self) -> bool:
        return bool(
            self.timeout or self.rate_limit or self.server_error or self.malformed or self.down_agents
        )


class FaultInjector:
    """Decides latency and fault for each call; thread-safe."""

    def __init__(self, seed: int, latency: LatencyPolicy, faults: FaultPolicy) -> None:
        self.seed = seed
        self.latency = latency
        self.faults = faults
        self._seen: Counter[str] = Counter()
        self._lock = threading.Lock()

    def decide(self, agent: str, prompt: str) -> tuple[float, Fault | None]:
        """Return (delay in seconds, fault or None) for this call."""
        prompt_key = hashlib.sha256(f"{agent}\x00{prompt}".encode()).hexdigest()
        with self._lock:
            attempt = self._seen[prompt_key]
            self._seen[prompt_key] += 1
        u_delay, u_fault = _uniforms(f"{self.seed}:{prompt_key}:{attempt}")
        if agent in self.faults.down_agents:
            return self._delay(u_delay), "server_error"
        return self._delay(u_delay), self._fault(u_fault)

    def _delay(self, u: float) -> float:
        lat = self.latency
        if lat.distribution == "uniform":
            return lat.mean - lat.spread + 2 * lat.spread * u
        if lat.distribution == "exponential":
            return -lat.mean * math.log(1.0 - u) if lat.mean else 0.0
        return lat.mean

    def _fault(self, u: float) -> Fault | None:
        f = self.faults
        threshold = 0.0
        for name, rate in (
            ("timeout", f.timeout),
            ("rate_limit", f.rate_limit),
            ("server_error", f.server_error),
            ("malformed", f.malformed),
        ):
            threshold += rate
            if u < threshold:
                return name  # type: ignore[return-value]
        return None


def _uniforms(key: str) -> tuple[float, float]:
    digest = hashlib.sha256(key.encode()).digest()
    scale = float(1 << 64)
    return int.from_bytes(digest[:8], "big") / scale, int.from_bytes(digest[8:16], "big") / scale
