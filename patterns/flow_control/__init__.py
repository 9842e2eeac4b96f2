"""Backpressure and flow control for agent calls (BRIEF, "Scaling Architecture").

Each module is one idea:

- `queue`: bounded work queue with N workers; refuses with `Overloaded` when full.
- `ratelimit`: `TokenBucket` (rate + burst) and `SlidingWindow` (N per window).
- `cache`: result cache keyed by `canonical_key()`, TTL + LRU (`MemoryCache`);
  `redis_cache.RedisCache` is the shared variant (import it from its module).
- `coalesce`: one in-flight call per key, shared by concurrent callers.
- `batching`: split/reassemble batches, and a `MicroBatcher` for live traffic.
- `clock`: the injectable time source all of them read.

They compose; a typical agent call behind all of them::

    key = canonical_key(request)
    result = await coalescer.run(key, lambda: cache.get_or_compute(request, call_agent))

where `call_agent` does `await limiter.acquire()` before calling the model.
"""

from patterns.flow_control.batching import Batch, MicroBatcher, MicroBatchPolicy, reassemble, split_batches
from patterns.flow_control.cache import CacheStats, MemoryCache, MemoryCachePolicy, ResultCache, canonical_key
from patterns.flow_control.clock import Clock, ManualClock, MonotonicClock
from patterns.flow_control.coalesce import Coalescer
from patterns.flow_control.queue import Overloaded, QueuePolicy, QueueStats, WorkQueue
from patterns.flow_control.ratelimit import (
    RateLimiter,
    SlidingWindow,
    SlidingWindowPolicy,
    TokenBucket,
    TokenBucketPolicy,
)

__all__ = [
    "Batch",
    "CacheStats",
    "Clock",
    "Coalescer",
    "ManualClock",
    "MemoryCache",
    "MemoryCachePolicy",
    "MicroBatchPolicy",
    "MicroBatcher",
    "MonotonicClock",
    "Overloaded",
    "QueuePolicy",
    "QueueStats",
    "RateLimiter",
    "ResultCache",
    "SlidingWindow",
    "SlidingWindowPolicy",
    "TokenBucket",
    "TokenBucketPolicy",
    "WorkQueue",
    "canonical_key",
    "reassemble",
    "split_batches",
]
