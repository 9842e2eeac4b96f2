"""Observability a person can look at: OpenTelemetry traces, Prometheus metrics, JSON logs, cost per flow.

Everything is off until asked for, and nothing is imported or sent until then:

```python
from patterns import observability

observability.configure(
    otel_endpoint="http://127.0.0.1:4318",  # or set OTEL_EXPORTER_OTLP_ENDPOINT
    metrics_port=9464,                      # /metrics on 127.0.0.1:9464
    log_format="json",                      # agent_invocation / agent_failure records on stderr
    pricing="prices.toml",                  # USD per 1M tokens per model; cost_usd on every RunResult
)
```

`orch --otel-endpoint URL --metrics-port N --log-format json --pricing FILE run ...`
does the same from the command line. A run on LangGraph, AutoGen, CrewAI or
Semantic Kernel then emits one trace (`invoke_workflow {pattern}` >
`invoke_agent {agent}` > `chat {model}`, with the GenAI semantic-convention
attributes and span events for retries, breaker transitions, bulkhead rejections
and dead letters), the `orch_*` metrics, and one log record per attempt and per run.

`RunResult.cost_usd` is computed whether or not anything is configured: the
scripted model is free, other models cost what the pricing table says, and a model
it does not price makes the cost None (unknown).

The runtime, the adapters and the resilience primitives call the private
`_hooks` module; applications only need what is exported here.
"""

from patterns.observability._hooks import Telemetry, configure, shutdown
from patterns.observability._logs import JsonFormatter, TextFormatter
from patterns.observability._pricing import PRICING_ENV, ModelPrice, Pricing

__all__ = [
    "PRICING_ENV",
    "JsonFormatter",
    "ModelPrice",
    "Pricing",
    "Telemetry",
    "TextFormatter",
    "configure",
    "shutdown",
]
