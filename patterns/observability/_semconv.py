"""Every span, attribute and event name we emit, pinned in one module.

The OpenTelemetry GenAI conventions are marked Development and now live in their
own repository (open-telemetry/semantic-conventions-genai, `gen-ai-spans.md` and
`gen-ai-agent-spans.md`, registry v1.41); `opentelemetry-semantic-conventions`
0.66b2 marks its copies of them deprecated. So the names are written out here
rather than imported: a rename upstream is one edit, and dashboards keyed on
these names change only when this file does.

We emit the latest names (`gen_ai.provider.name`, not the older `gen_ai.system`):
this kit has no earlier GenAI telemetry whose consumers an upgrade would break.
Names under `orch.` are ours, for what the conventions have no name for.
"""

from __future__ import annotations

from typing import Final

# -- GenAI conventions ----------------------------------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
GEN_AI_AGENT_DESCRIPTION: Final = "gen_ai.agent.description"
GEN_AI_WORKFLOW_NAME: Final = "gen_ai.workflow.name"
#: "The unique identifier for a conversation (session, thread)": the run's thread id.
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
#: General (stable) convention: the exception class name, low-cardinality by design.
ERROR_TYPE: Final = "error.type"

#: `gen_ai.operation.name` values, and the first word of each span name.
OP_INVOKE_WORKFLOW: Final = "invoke_workflow"  # span `invoke_workflow {pattern}`, INTERNAL
OP_INVOKE_AGENT: Final = "invoke_agent"  # span `invoke_agent {agent}`, INTERNAL
OP_CHAT: Final = "chat"  # span `chat {model}`, CLIENT

# -- ours ---------------------------------------------------------------------------------
ORCH_FRAMEWORK: Final = "orch.framework"
ORCH_RESUMED: Final = "orch.resumed"
ORCH_STATUS: Final = "orch.status"
ORCH_COST_USD: Final = "orch.cost_usd"
#: The declared agent's name; `gen_ai.agent.name` is the instance (a source, a debater).
ORCH_AGENT_ROLE: Final = "orch.agent.role"
ORCH_ATTEMPT: Final = "orch.attempt"
ORCH_CALLS: Final = "orch.calls"
ORCH_FAILED_CALLS: Final = "orch.failed_calls"
#: Token totals of a whole flow (the GenAI usage attributes are defined per call).
ORCH_INPUT_TOKENS: Final = "orch.usage.input_tokens"
ORCH_OUTPUT_TOKENS: Final = "orch.usage.output_tokens"

# -- span events --------------------------------------------------------------------------
EVENT_STEP: Final = "orch.step"
EVENT_RETRY: Final = "orch.retry"
EVENT_BREAKER: Final = "orch.breaker.transition"
EVENT_BULKHEAD_REJECTED: Final = "orch.bulkhead.rejected"
EVENT_DEAD_LETTER: Final = "orch.dead_letter"
