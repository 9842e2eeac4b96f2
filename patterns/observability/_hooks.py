"""The hooks the runtime, the framework adapters and the resilience primitives call.

With nothing configured every hook is one module-global read and a return (or a
shared no-op object): no span, no label lookup, no log record.

What a configured run emits, on every framework:

    invoke_workflow {pattern}          one per run: `arun`, or an adapter's FlowRun
      invoke_agent {agent}             one per agent call (`call_agent`, `FlowState.protected`)
        chat {model}                   one per attempt: the model call and its reply's parsing
      events: orch.step per finished step; orch.retry, orch.breaker.transition,
              orch.bulkhead.rejected, orch.dead_letter on the span current when they happen

Per attempt: `orch_agent_calls_total`, `orch_agent_call_seconds` and an
`agent_invocation` record (or `agent_failure`, logged once whether it will be
retried is known). Tokens and cost are counted per attempt on LangGraph, from the
model's own usage report; the other frameworks answer from the scripted brain,
whose ledger is exact only per flow, so there they are counted when the flow ends.
"""

from __future__ import annotations

import logging
import os
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, TypeVar

from patterns.errors import UsageError
from patterns.observability import _logs
from patterns.observability import _semconv as sc
from patterns.observability._pricing import SCRIPTED_MODEL, Pricing, active_pricing, set_pricing

if TYPE_CHECKING:
    from langgraph.types import RetryPolicy
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, TracerProvider
    from prometheus_client import CollectorRegistry

    from patterns.observability._metrics import Metrics, MetricsServer
    from patterns.observability._tracing import Tracing
    from patterns.runtime._result import RunResult

R = TypeVar("R")


# -- configuration ------------------------------------------------------------------------


@dataclass(frozen=True)
class Telemetry:
    """What `configure` turned on: `traces`, the `/metrics` URL if served, the log format."""

    traces: bool
    metrics: bool
    metrics_url: str | None
    logs: bool
    log_format: str | None


@dataclass
class _State:
    tracing: Tracing | None
    metrics: Metrics | None
    logs: bool
    server: MetricsServer | None
    handler: _logs.InstalledHandler | None


_active: _State | None = None
_env_checked = False


def _now() -> _State | None:
    """The active telemetry; the standard OTLP variables turn traces on once, lazily."""
    if _active is None and not _env_checked:
        _from_env()
    return _active


def _from_env() -> None:
    global _env_checked
    from patterns.observability._tracing import traces_wanted_by_env

    _env_checked = True
    if traces_wanted_by_env():
        configure()


def configure(
    *,
    otel_endpoint: str | None = None,
    tracer_provider: TracerProvider | None = None,
    metrics: bool = False,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
    metrics_registry: CollectorRegistry | None = None,
    logs: bool = False,
    log_format: _logs.LogFormat | None = None,
    log_stream: IO[str] | None = None,
    pricing: str | os.PathLike[str] | Pricing | Mapping[str, Any] | None = None,
    service_name: str = "orchestration-patterns",
) -> Telemetry:
    """Turn on traces, metrics and structured logs for every run in this process; replaces any earlier call.

    Args:
        otel_endpoint: An OTLP/HTTP collector's base URL (`http://127.0.0.1:4318`,
            Phoenix's `http://127.0.0.1:6006`); spans go to `{url}/v1/traces`. Without
            it, `OTEL_EXPORTER_OTLP_ENDPOINT` / `..._TRACES_ENDPOINT` turn traces on.
        tracer_provider: Your own OpenTelemetry `TracerProvider` instead of ours (it is
            flushed, never closed, by `shutdown`).
        metrics: Count metrics into `metrics_registry` without serving them (your
            application serves its own `/metrics`).
        metrics_port: Serve `/metrics` on `metrics_host:metrics_port` (0: a free port,
            see the returned `metrics_url`); implies `metrics`.
        metrics_registry: The prometheus-client registry (default: its global `REGISTRY`).
        logs: Emit the `agent_invocation` / `agent_failure` / `flow_run` records to
            stdlib `logging` for your own handlers.
        log_format: "json" or "text": also write them (INFO and up of every `patterns`
            logger) to `log_stream` (default stderr); implies `logs`.
        pricing: A pricing file (TOML/JSON), a `Pricing`, or `{model: {"prompt": .., "completion": ..}}`.
        service_name: `service.name` of our spans, unless `OTEL_SERVICE_NAME` says otherwise.

    Frameworks read their telemetry settings when imported: configure before a
    framework's first run, so Semantic Kernel's GenAI diagnostics are turned on
    and nest their spans under ours (see the README's Observability section).

    Example:
        ```python
        from patterns import observability

        observability.configure(otel_endpoint="http://127.0.0.1:4318", metrics_port=9464, log_format="json")
        ```
    """
    global _active, _env_checked
    table = _pricing(pricing) if pricing is not None else None  # a bad file fails before anything changes
    shutdown()
    _env_checked = True  # an explicit configuration is the answer; the variables are read below
    set_pricing(table)
    tracing = _tracing(otel_endpoint, tracer_provider, service_name)
    registry = metrics_registry
    if registry is None and (metrics or metrics_port is not None):
        try:
            from prometheus_client import REGISTRY
        except ImportError:
            if tracing is not None:
                tracing.shutdown()
            raise UsageError("metrics need prometheus-client: pip install prometheus-client") from None
        registry = REGISTRY
    counted = server = None
    if registry is not None:
        from patterns.observability._metrics import metrics_for, serve

        counted = metrics_for(registry)
        if metrics_port is not None:
            try:
                server = serve(registry, metrics_port, metrics_host)
            except OSError as exc:
                if tracing is not None:
                    tracing.shutdown()
                raise UsageError(
                    f"cannot serve metrics on {metrics_host}:{metrics_port}: {exc.strerror or exc}"
                ) from None
    handler = _logs.install_handler(log_format, log_stream) if log_format is not None else None
    emits_logs = logs or log_format is not None
    if tracing or counted or emits_logs:
        _active = _State(tracing, counted, emits_logs, server, handler)
    return Telemetry(
        traces=tracing is not None,
        metrics=counted is not None,
        metrics_url=server.url if server else None,
        logs=emits_logs,
        log_format=log_format,
    )


def shutdown() -> None:
    """Flush and close what `configure` opened (spans sent, `/metrics` stopped, log handler removed).

    The global tracer provider, once set, stays set: OpenTelemetry allows it once per process.
    """
    global _active
    state, _active = _active, None
    while _set_env:
        os.environ.pop(_set_env.pop(), None)
    if state is None:
        return
    if state.tracing is not None:
        state.tracing.shutdown()
    if state.server is not None:
        state.server.close()
    if state.handler is not None:
        state.handler.remove()


def _pricing(given: str | os.PathLike[str] | Pricing | Mapping[str, Any]) -> Pricing:
    if isinstance(given, Pricing):
        return given
    if isinstance(given, Mapping):
        from patterns.observability._pricing import ModelPrice

        return Pricing({name: ModelPrice(p["prompt"], p["completion"]) for name, p in given.items()})
    return Pricing.load(given)


def _tracing(endpoint: str | None, provider: TracerProvider | None, service_name: str) -> Tracing | None:
    from patterns.observability import _tracing as tr

    if provider is None and endpoint is None and not tr.traces_wanted_by_env():
        return None
    if provider is None and tr.sdk_disabled():
        # The SDK would hand out spans that record nothing; say so instead of exporting nothing quietly.
        _logs.AGENTS.warning(
            "OTEL_SDK_DISABLED=true: no traces are exported. Unset it, and configure before the first "
            "framework run (adapters set it for the frameworks' own telemetry)."
        )
        return None
    _enable_framework_spans()
    if provider is not None:
        return tr.Tracing(provider, owned=False)
    return tr.Tracing(tr.exporting_provider(endpoint, service_name), owned=True)


#: Semantic Kernel reads it when imported; AutoGen traces through the global provider by default.
_SK_DIAGNOSTICS = "SEMANTICKERNEL_EXPERIMENTAL_GENAI_ENABLE_OTEL_DIAGNOSTICS"


def _enable_framework_spans() -> None:
    # `adapters.disable_telemetry` only sets what is unset, so this wins when it runs first.
    # The `_SENSITIVE` variant (prompts and replies in spans) stays the user's decision.
    if _SK_DIAGNOSTICS not in os.environ:
        os.environ[_SK_DIAGNOSTICS] = "true"
        _set_env.append(_SK_DIAGNOSTICS)


#: The variables `configure` set, unset again by `shutdown`.
_set_env: list[str] = []


# -- the spans' and records' shared pieces ----------------------------------------------------------


def _error_type(error: BaseException | str) -> str:
    if isinstance(error, BaseException):
        return type(error).__name__
    head = error.split(":", 1)[0]
    return head if head.isidentifier() else "_OTHER"  # the conventions' fallback value


def _ids(span: Span | None) -> dict[str, str]:
    if span is None:
        return {}
    context = span.get_span_context()
    return {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}


def _end(span: Span, error: BaseException | str | None) -> None:
    from opentelemetry.trace import Status, StatusCode

    if error is not None:
        span.set_attribute(sc.ERROR_TYPE, _error_type(error))
        span.set_status(Status(StatusCode.ERROR, str(error)[:500]))
        if isinstance(error, BaseException):
            span.record_exception(error)
    span.end()


def _attach(span: Span) -> Token[Context]:
    from opentelemetry import context, trace

    return context.attach(trace.set_span_in_context(span))


def _detach(token: Token[Context]) -> None:
    from opentelemetry import context

    context.detach(token)


def _current_span() -> Span | None:
    from opentelemetry import trace

    span = trace.get_current_span()
    return span if span.is_recording() else None


# -- flows ---------------------------------------------------------------------------------------


class FlowScope:
    """A run's telemetry hooks; this base does nothing, for a process with nothing configured."""

    async def __aenter__(self) -> FlowScope:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def watch(self, saver: Any, checkpoint: str) -> None:
        """Time the checkpointer's writes (`orch_checkpoint_write_seconds`)."""

    def finish(self, result: RunResult) -> RunResult:
        """Report the finished run (span, `orch_flow_seconds`, a `flow_run` record); returns `result`."""
        return result


_NO_FLOW = FlowScope()
_FLOW: ContextVar[_Flow | None] = ContextVar("orch_flow", default=None)


class _Flow(FlowScope):
    def __init__(
        self,
        state: _State,
        framework: str,
        pattern: str,
        thread_id: str | None,
        *,
        resumed: bool,
        node_retry: RetryPolicy | None,
        start_ns: int | None = None,
        parent: Context | None = None,
    ) -> None:
        self.state, self.framework, self.pattern, self.thread_id = state, framework, pattern, thread_id
        self.node_retry = node_retry
        self.started_perf = time.perf_counter()
        self.start_ns = start_ns or time.time_ns()
        #: agent label -> declared name, learnt from the calls (the adapters' metrics need the name).
        self.roles: dict[str, str] = {}
        self.span: Span | None = None
        self._tokens: tuple[Token[_Flow | None], Token[Context] | None] | None = None
        if state.tracing is not None:
            from opentelemetry.trace import SpanKind

            attributes: dict[str, Any] = {
                sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_WORKFLOW,
                sc.GEN_AI_WORKFLOW_NAME: pattern,
                sc.ORCH_FRAMEWORK: framework,
                sc.ORCH_RESUMED: resumed,
            }
            if thread_id:
                attributes[sc.GEN_AI_CONVERSATION_ID] = thread_id
            self.span = state.tracing.tracer.start_span(
                f"{sc.OP_INVOKE_WORKFLOW} {pattern}",
                context=parent,
                kind=SpanKind.INTERNAL,
                attributes=attributes,
                start_time=self.start_ns,
            )

    async def __aenter__(self) -> _Flow:
        self._tokens = (_FLOW.set(self), _attach(self.span) if self.span is not None else None)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._tokens is not None:
            flow_token, span_token = self._tokens
            if span_token is not None:
                _detach(span_token)
            _FLOW.reset(flow_token)
        if exc is not None and self.span is not None:  # refused or cancelled: no result will come
            _end(self.span, exc)

    def parent_of_calls(self) -> Context | None:
        """Where an agent call's span goes: under the current span if that is in this run's trace
        (the framework's own span, nested under ours), else directly under the run's span."""
        if self.span is None:
            return None
        from opentelemetry import trace

        current = trace.get_current_span().get_span_context()
        if current.is_valid and current.trace_id == self.span.get_span_context().trace_id:
            return None
        return trace.set_span_in_context(self.span)

    def watch(self, saver: Any, checkpoint: str) -> None:
        metrics = self.state.metrics
        if metrics is None:
            return
        backend = checkpoint.split(":", 1)[0] if ":" in checkpoint else checkpoint
        backend = "postgres" if backend.startswith("postgres") else backend
        for op, name in (("checkpoint", "aput"), ("writes", "aput_writes")):
            histogram = metrics.checkpoint_write_seconds.labels(backend, op)
            setattr(saver, name, _timed(getattr(saver, name), histogram.observe))

    def finish(self, result: RunResult, *, count_usage: bool = False) -> RunResult:
        state = self.state
        error = result.error if result.status == "failed" else None
        if self.span is not None:
            span = self.span
            span.set_attributes(
                {
                    sc.ORCH_STATUS: result.status,
                    sc.ORCH_CALLS: result.calls,
                    sc.ORCH_FAILED_CALLS: result.failed_calls,
                    sc.ORCH_INPUT_TOKENS: result.prompt_tokens,
                    sc.ORCH_OUTPUT_TOKENS: result.completion_tokens,
                }
            )
            if result.cost_usd is not None:
                span.set_attribute(sc.ORCH_COST_USD, result.cost_usd)
            for step in result.steps:
                step_attributes: dict[str, Any] = {
                    "orch.step.agent": step.agent,
                    "orch.step.status": step.status,
                    "orch.step.duration_s": round(step.end - step.start, 6),
                }
                if step.error:
                    step_attributes[sc.ERROR_TYPE] = _error_type(step.error)
                span.add_event(sc.EVENT_STEP, step_attributes, timestamp=self.start_ns + int(step.end * 1e9))
            _end(span, error)
        if state.metrics is not None:
            m = state.metrics
            m.flow_seconds.labels(self.framework, self.pattern, result.status).observe(result.wall_time_s)
            if count_usage:
                self._count_usage(result, m)
        if state.logs:
            level = logging.WARNING if result.status == "failed" else logging.INFO
            _logs.FLOWS.log(
                level,
                "flow_run",
                extra={
                    "orch": {
                        "flow": self.pattern,
                        "framework": self.framework,
                        "thread_id": self.thread_id,
                        "status": result.status,
                        "resumed": result.resumed,
                        "steps": len(result.steps),
                        "calls": result.calls,
                        "failed_calls": result.failed_calls,
                        "prompt_tokens": result.prompt_tokens,
                        "completion_tokens": result.completion_tokens,
                        "cost_usd": result.cost_usd,
                        "duration_ms": round(result.wall_time_s * 1000, 3),
                        "error": error,
                        **_ids(self.span),
                    }
                },
            )
        return result

    def _count_usage(self, result: RunResult, m: Metrics) -> None:
        pricing = active_pricing()
        for who, usage in result.usage.items():
            labels = (self.framework, self.pattern, self.roles.get(who, who))
            m.tokens.labels(*labels, "prompt").inc(usage.prompt_tokens)
            m.tokens.labels(*labels, "completion").inc(usage.completion_tokens)
            cost = pricing.cost(SCRIPTED_MODEL, usage.prompt_tokens, usage.completion_tokens)
            if cost is not None:
                m.cost_usd.labels(*labels).inc(cost)


def _timed(method: Callable[..., Awaitable[Any]], observe: Callable[[float], None]) -> Callable[..., Any]:
    # Called synchronously like the method it wraps: a wrapper that defers the call would defer
    # what the method does before its first await (`WriteReceipts` registers a receipt there).
    def timed(*args: Any, **kwargs: Any) -> Awaitable[Any]:
        return _observe(method(*args, **kwargs), observe)

    return timed


async def _observe(work: Awaitable[Any], observe: Callable[[float], None]) -> Any:
    started = time.perf_counter()
    try:
        return await work
    finally:
        observe(time.perf_counter() - started)


def flow(
    framework: str,
    pattern: str,
    thread_id: str | None,
    *,
    resumed: bool = False,
    node_retry: RetryPolicy | None = None,
) -> FlowScope:
    """The telemetry of one run, made current by `async with`; `node_retry` is the graph's node
    retry policy, which decides whether a failed agent call is tried again."""
    state = _now()
    if state is None:
        return _NO_FLOW
    return _Flow(state, framework, pattern, thread_id, resumed=resumed, node_retry=node_retry)


# -- agent calls ---------------------------------------------------------------------------------


class AttemptScope:
    """One attempt's hooks (no-op base)."""

    def __enter__(self) -> AttemptScope:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def reply(self, message: Any) -> None:
        """Read the usage the model reported on its reply (`usage_metadata`)."""


class AgentScope:
    """One agent call's hooks (no-op base); `with` it around the whole call, retries included."""

    def __enter__(self) -> AgentScope:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def attempt(self) -> AttemptScope:
        """The hooks of one attempt: `with` it around the model call and the reply's parsing."""
        return _NO_ATTEMPT

    def attempts(self, call: Callable[[], Awaitable[R]]) -> Callable[[], Awaitable[R]]:
        """`call` with every invocation wrapped in `attempt()`."""
        return call


_NO_ATTEMPT = AttemptScope()
_NO_CALL = AgentScope()
_CALL: ContextVar[_Call | None] = ContextVar("orch_agent_call", default=None)
_ATTEMPT: ContextVar[_Attempt | None] = ContextVar("orch_attempt", default=None)


@dataclass
class _Failure:
    attempt: int
    error: BaseException
    duration_s: float
    span: Span | None


class _Call(AgentScope):
    def __init__(
        self,
        state: _State,
        flow: _Flow | None,
        *,
        framework: str,
        who: str,
        role: str,
        description: str | None,
        provider: str,
        model: str,
        parent: Context | None,
        count_usage: bool,
    ) -> None:
        self.state, self.flow, self.framework = state, flow, framework
        self.pattern = flow.pattern if flow else ""
        self.who, self.role, self.description = who, role, description
        self.provider, self.model, self.parent = provider, model, parent
        self.count_usage = count_usage
        self.attempts_made = 0
        self.node_attempt = 1
        self.input_tokens = self.output_tokens = 0
        self.cost: float | None = 0.0
        self.pending: _Failure | None = None
        self.span: Span | None = None
        self._tokens: tuple[Token[_Call | None], Token[Context] | None] | None = None

    @property
    def labels(self) -> tuple[str, str, str]:
        return (self.framework, self.pattern, self.role)

    def __enter__(self) -> _Call:
        if self.flow is not None and self.flow.node_retry is not None:
            self.node_attempt = _node_attempt()
        span_token = None
        if self.state.tracing is not None:
            from opentelemetry.trace import SpanKind

            attributes: dict[str, Any] = {
                sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_AGENT,
                sc.GEN_AI_PROVIDER_NAME: self.provider,
                sc.GEN_AI_AGENT_NAME: self.who,
                sc.ORCH_AGENT_ROLE: self.role,
                sc.GEN_AI_REQUEST_MODEL: self.model,
                sc.ORCH_FRAMEWORK: self.framework,
            }
            if self.description:
                attributes[sc.GEN_AI_AGENT_DESCRIPTION] = self.description
            if self.flow is not None and self.flow.thread_id:
                attributes[sc.GEN_AI_CONVERSATION_ID] = self.flow.thread_id
            self.span = self.state.tracing.tracer.start_span(
                f"{sc.OP_INVOKE_AGENT} {self.who}",
                context=self.parent,
                kind=SpanKind.INTERNAL,
                attributes=attributes,
            )
            span_token = _attach(self.span)
        self._tokens = (_CALL.set(self), span_token)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        will_retry = isinstance(exc, Exception) and self._node_will_retry(exc)
        if will_retry and exc is not None:
            retrying(self.node_attempt, exc, None)
        else:
            self.flush(will_retry=False, retry_in=None)
        if self._tokens is not None:
            call_token, span_token = self._tokens
            _CALL.reset(call_token)
            if span_token is not None:
                _detach(span_token)
        if self.span is not None:
            self.span.set_attributes(
                {
                    sc.GEN_AI_USAGE_INPUT_TOKENS: self.input_tokens,
                    sc.GEN_AI_USAGE_OUTPUT_TOKENS: self.output_tokens,
                    sc.ORCH_ATTEMPT: self.attempts_made,
                }
            )
            if self.cost is not None:
                self.span.set_attribute(sc.ORCH_COST_USD, self.cost)
            _end(self.span, exc)

    def attempt(self) -> _Attempt:
        return _Attempt(self)

    def attempts(self, call: Callable[[], Awaitable[R]]) -> Callable[[], Awaitable[R]]:
        async def attempted() -> R:
            with self.attempt():
                return await call()

        return attempted

    def _node_will_retry(self, exc: Exception) -> bool:
        # LangGraph retries the node, hence this call, when its policy takes the error.
        policy = self.flow.node_retry if self.flow is not None else None
        if policy is None or self.node_attempt >= policy.max_attempts:
            return False
        retry_on = policy.retry_on
        if isinstance(retry_on, type):
            return isinstance(exc, retry_on)
        if callable(retry_on):
            return bool(retry_on(exc))
        return isinstance(exc, tuple(retry_on))

    def number(self) -> int:
        """The attempt number a record reports: node retries and the call's own retries add up."""
        return self.node_attempt - 1 + self.attempts_made

    def flush(self, *, will_retry: bool, retry_in: float | None) -> None:
        """Log the last failed attempt, now that whether it is retried is known."""
        failure, self.pending = self.pending, None
        if failure is None or not self.state.logs:
            return
        _logs.AGENTS.warning(
            "agent_failure",
            extra={
                "orch": {
                    **self._record(failure.attempt, failure.span),
                    "error_type": _error_type(failure.error),
                    "error_message": str(failure.error)[:500],
                    "will_retry": will_retry,
                    "retry_in_s": retry_in,
                    "duration_ms": round(failure.duration_s * 1000, 3),
                }
            },
        )

    def _record(self, attempt: int, span: Span | None) -> dict[str, Any]:
        flow = self.flow
        return {
            "flow": self.pattern,
            "framework": self.framework,
            "thread_id": flow.thread_id if flow else None,
            "agent": self.who,
            "role": self.role,
            "model": self.model,
            "attempt": attempt,
            **_ids(span),
        }


class _Attempt(AttemptScope):
    def __init__(self, call: _Call) -> None:
        self.call = call
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.response_model: str | None = None
        self.span: Span | None = None

    def __enter__(self) -> _Attempt:
        call = self.call
        call.attempts_made += 1
        self.number = call.number()
        self._span_token: Token[Context] | None = None
        if call.state.tracing is not None:
            from opentelemetry.trace import SpanKind

            self.span = call.state.tracing.tracer.start_span(
                f"{sc.OP_CHAT} {call.model}",
                kind=SpanKind.CLIENT,
                attributes={
                    sc.GEN_AI_OPERATION_NAME: sc.OP_CHAT,
                    sc.GEN_AI_PROVIDER_NAME: call.provider,
                    sc.GEN_AI_REQUEST_MODEL: call.model,
                    sc.ORCH_ATTEMPT: self.number,
                },
            )
            self._span_token = _attach(self.span)
        self._attempt_token = _ATTEMPT.set(self)
        self.started = time.perf_counter()
        return self

    def reply(self, message: Any) -> None:
        usage = getattr(message, "usage_metadata", None)
        if usage:
            self.add_usage(int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0)))
        metadata = getattr(message, "response_metadata", None) or {}
        self.response_model = metadata.get("model_name") or metadata.get("model")

    def add_usage(self, prompt_tokens: int, completion_tokens: int) -> None:
        self.input_tokens = (self.input_tokens or 0) + prompt_tokens
        self.output_tokens = (self.output_tokens or 0) + completion_tokens

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        duration = time.perf_counter() - self.started
        call, state = self.call, self.call.state
        _ATTEMPT.reset(self._attempt_token)
        if self._span_token is not None:
            _detach(self._span_token)
        cost: float | None = None
        if self.input_tokens is not None and self.output_tokens is not None:
            cost = active_pricing().cost(call.model, self.input_tokens, self.output_tokens)
            call.input_tokens += self.input_tokens
            call.output_tokens += self.output_tokens
            call.cost = None if cost is None or call.cost is None else call.cost + cost
        if state.metrics is not None:
            m = state.metrics
            m.agent_calls.labels(*call.labels, "error" if exc else "ok").inc()
            m.agent_call_seconds.labels(*call.labels).observe(duration)
            if call.count_usage and self.input_tokens is not None and self.output_tokens is not None:
                m.tokens.labels(*call.labels, "prompt").inc(self.input_tokens)
                m.tokens.labels(*call.labels, "completion").inc(self.output_tokens)
                if cost is not None:
                    m.cost_usd.labels(*call.labels).inc(cost)
        if self.span is not None:
            span = self.span
            if self.input_tokens is not None and self.output_tokens is not None:
                span.set_attribute(sc.GEN_AI_USAGE_INPUT_TOKENS, self.input_tokens)
                span.set_attribute(sc.GEN_AI_USAGE_OUTPUT_TOKENS, self.output_tokens)
            if self.response_model:
                span.set_attribute(sc.GEN_AI_RESPONSE_MODEL, self.response_model)
            if cost is not None:
                span.set_attribute(sc.ORCH_COST_USD, cost)
            _end(span, exc)
        if exc is not None:
            call.pending = _Failure(self.number, exc, duration, self.span)
        elif state.logs:
            tokens = (self.input_tokens or 0) + (self.output_tokens or 0)
            _logs.AGENTS.info(
                "agent_invocation",
                extra={
                    "orch": {
                        **call._record(self.number, self.span),
                        "status": "success",
                        "prompt_tokens": self.input_tokens,
                        "completion_tokens": self.output_tokens,
                        "tokens_used": tokens if self.input_tokens is not None else None,
                        "cost_usd": cost,
                        "duration_ms": round(duration * 1000, 3),
                    }
                },
            )


def _node_attempt() -> int:
    from langgraph.runtime import get_runtime

    try:
        info = get_runtime().execution_info
    except (RuntimeError, KeyError):  # not inside a graph node
        return 1
    return info.node_attempt if info is not None else 1


def agent_call(who: str, role: str, *, description: str | None = None, model: Any = None) -> AgentScope:
    """The hooks of one `call_agent` call: `who` is the instance label, `role` the declared agent's
    name, `model` the chat model asked (its provider and name are read from LangChain's ls params)."""
    state = _now()
    if state is None:
        return _NO_CALL
    flow = _FLOW.get()
    provider, name = describe_model(model)
    return _Call(
        state,
        flow,
        framework=flow.framework if flow else "langgraph",
        who=who,
        role=role,
        description=description,
        provider=provider,
        model=name,
        parent=None,  # the current span: a LangGraph node runs in the context of the run's span
        count_usage=True,
    )


#: LangChain derives `ls_provider` from the class name when a model names none; ours says "scripted".
_PROVIDERS = {"scriptedchatmodel": SCRIPTED_MODEL}


def describe_model(model: Any) -> tuple[str, str]:
    """A chat model's provider and name, from LangChain's ls params (what spans and prices use)."""
    try:
        params = model._get_ls_params()
    except Exception:  # not a LangChain model, or one whose params need arguments
        return "unknown", "unknown"
    provider = str(params.get("ls_provider") or "unknown")
    return _PROVIDERS.get(provider, provider), str(params.get("ls_model_name") or "unknown")


# -- the framework adapters' runs ----------------------------------------------------------------------

# One telemetry per live FlowRun (dataclasses with eq are unhashable: keyed by id, dropped with the run).
_adapter_flows: dict[int, _Flow] = {}


def _adapter_flow(state: _State, run: Any, *, scoped: bool = False) -> _Flow:
    key = id(run)
    found = _adapter_flows.get(key)
    if found is not None:
        return found
    # The span starts when the run did (the recorder's clock), though it may be opened later.
    age_ns = int((time.perf_counter() - run.recorder.started) * 1e9)
    flow = _Flow(
        state,
        run.framework,
        run.pattern,
        None,
        resumed=False,
        node_retry=None,
        start_ns=time.time_ns() - age_ns,
        # Opened at the first agent call, the current span is the framework's: a root of our own instead.
        parent=None if scoped else _empty_context(),
    )
    _adapter_flows[key] = flow
    weakref.finalize(run, _adapter_flows.pop, key, None)
    return flow


def _empty_context() -> Context:
    from opentelemetry.context import Context

    return Context()


# -- across processes: a run's messages carry the trace they were sent from -----------------------


def trace_headers() -> dict[str, str]:
    """The current trace context as W3C `traceparent`/`tracestate`, for a message another
    process picks up (a distributed run's task); empty when no span is current."""
    try:
        from opentelemetry import propagate
    except ImportError:  # the [otel] extra is not installed: there is no trace to carry
        return {}
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


@contextmanager
def continued_trace(headers: Mapping[str, str] | None) -> Iterator[None]:
    """Spans started inside continue the trace `headers` carry (from `trace_headers` elsewhere)."""
    if not headers or "traceparent" not in headers:
        yield
        return
    from opentelemetry import context, propagate

    token = context.attach(propagate.extract(dict(headers)))
    try:
        yield
    finally:
        context.detach(token)


@contextmanager
def adapter_run(run: Any) -> Iterator[None]:
    """Open `run`'s workflow span now, under the caller's span, and make it current while the
    framework runs, so the framework's own spans (AutoGen's runtime) nest under it.

    Without it the span opens at the run's first agent call, as a root: AutoGen's runtime
    spans then land in traces of their own. `FlowRun.result` ends the span either way.
    """
    state = _now()
    if state is None or run.framework == "langgraph":  # `arun` reports a LangGraph run itself
        yield
        return
    flow = _adapter_flow(state, run, scoped=True)
    flow_token = _FLOW.set(flow)
    span_token = _attach(flow.span) if flow.span is not None else None
    try:
        yield
    finally:
        if span_token is not None:
            _detach(span_token)
        _FLOW.reset(flow_token)


def adapter_call(run: Any, who: str, role: str, *, description: str | None = None) -> AgentScope:
    """The hooks of one agent call of a framework adapter's `FlowRun` (`FlowState.protected`)."""
    state = _now()
    if state is None:
        return _NO_CALL
    flow = _adapter_flow(state, run)
    flow.roles[who] = role
    _attribute_usage(run.brain.ledger)
    return _Call(
        state,
        flow,
        framework=run.framework,
        who=who,
        role=role,
        description=description,
        provider=SCRIPTED_MODEL,
        model=SCRIPTED_MODEL,
        parent=flow.parent_of_calls(),
        count_usage=False,  # counted from the ledger when the flow ends: exact, whatever the threads
    )


def adapter_finished(run: Any, result: RunResult) -> RunResult:
    """Report a framework adapter's finished `FlowRun`; returns `result`."""
    state = _now()
    # A LangGraph FlowRun runs `arun`, which reports itself.
    if state is None or run.framework == "langgraph":
        return result
    flow = _adapter_flow(state, run)  # made now if the run ended before its first agent call
    del _adapter_flows[id(run)]
    return flow.finish(result, count_usage=True)


def _attribute_usage(ledger: Any) -> None:
    """Tell each attempt the tokens the scripted brain records for it, for its `chat` span.

    The brain records a call in the task (or thread, if the framework copies the context
    into it) that made it; a record made elsewhere (an HTTP server's thread) is not
    attributed, and the flow's totals still are, from the ledger itself.
    """
    if getattr(ledger, "_orch_attributed", False):
        return
    record = ledger.record

    def attributed(agent: str, prompt_tokens: int, completion_tokens: int, *, failed: bool = False) -> None:
        record(agent, prompt_tokens, completion_tokens, failed=failed)
        attempt = _ATTEMPT.get()
        if attempt is not None and not failed and attempt.call.who == agent:
            attempt.add_usage(prompt_tokens, completion_tokens)

    ledger.record = attributed
    ledger._orch_attributed = True


# -- resilience events ---------------------------------------------------------------------------------


def retrying(attempt: int, error: BaseException, delay: float | None) -> None:
    """A failed attempt will be retried (after `delay` seconds, when known)."""
    state = _now()
    if state is None:
        return
    call = _CALL.get()
    reason = type(error).__name__
    if state.metrics is not None:
        state.metrics.retries.labels(call.role if call else "", reason).inc()
    if state.tracing is not None:
        span = _current_span()
        if span is not None:
            attributes: dict[str, Any] = {
                sc.ORCH_ATTEMPT: call.number() if call else attempt,
                sc.ERROR_TYPE: reason,
            }
            if delay is not None:
                attributes["orch.retry.delay_s"] = round(delay, 6)
            span.add_event(sc.EVENT_RETRY, attributes)
    if call is not None:
        call.flush(will_retry=True, retry_in=delay)


def breaker_transition(agent: str, old: str, new: str, reason: str) -> None:
    """A circuit breaker changed state."""
    state = _now()
    if state is None:
        return
    from patterns.observability._metrics import BREAKER_STATES

    if state.metrics is not None:
        state.metrics.breaker_state.labels(agent).set(BREAKER_STATES.get(new, -1))
    span = _current_span() if state.tracing is not None else None
    if span is not None:
        span.add_event(
            sc.EVENT_BREAKER,
            {
                "orch.breaker.agent": agent,
                "orch.breaker.from": old,
                "orch.breaker.to": new,
                "orch.breaker.reason": reason,
            },
        )
    if state.logs:
        level = logging.WARNING if new == "open" else logging.INFO
        _logs.AGENTS.log(
            level,
            "breaker_transition",
            extra={
                "orch": {
                    **_context(),
                    "breaker": agent,
                    "from": old,
                    "to": new,
                    "reason": reason,
                    **_ids(span),
                }
            },
        )


def bulkhead_rejected(key: str, *, timed_out: bool) -> None:
    """A bulkhead compartment refused a call."""
    _event(
        "bulkhead_rejected",
        sc.EVENT_BULKHEAD_REJECTED,
        {"orch.bulkhead.key": key, "orch.bulkhead.timed_out": timed_out},
        counter="bulkhead_rejected",
    )


def dead_lettered(id: str, flow: str, agent: str | None, error_type: str, attempts: int) -> None:
    """A call that failed for good was recorded as a dead letter."""
    _event(
        "dead_letter",
        sc.EVENT_DEAD_LETTER,
        {
            "orch.dead_letter.id": id,
            "orch.dead_letter.flow": flow,
            "orch.dead_letter.agent": agent or "",
            sc.ERROR_TYPE: error_type,
            "orch.dead_letter.attempts": attempts,
        },
        counter="dead_letters",
    )


def _context() -> dict[str, Any]:
    call = _CALL.get()
    if call is None:
        flow = _FLOW.get()
        return {"flow": flow.pattern, "framework": flow.framework} if flow else {}
    return {"flow": call.pattern, "framework": call.framework, "agent": call.who, "role": call.role}


def _event(record: str, event: str, attributes: dict[str, Any], *, counter: str) -> None:
    state = _now()
    if state is None:
        return
    call = _CALL.get()
    if state.metrics is not None:
        getattr(state.metrics, counter).labels(call.role if call else "").inc()
    span = _current_span() if state.tracing is not None else None
    if span is not None:
        span.add_event(event, attributes)
    if state.logs:
        fields = {k.rsplit(".", 1)[-1]: v for k, v in attributes.items()}
        _logs.AGENTS.warning(record, extra={"orch": {**_context(), **fields, **_ids(span)}})
