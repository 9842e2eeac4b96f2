"""The patterns, one module each: state, nodes, edges, builder, and the pattern's `SPEC`.

Every builder takes the user's agents (`Agent` values or plain functions) and
returns a compiled LangGraph graph with durable checkpoints. The modules are
public: their input and output models are the patterns' documented schemas.
"""

from patterns.flows.approval import Approval, ApprovalRejected, approval_step
from patterns.flows.debate import Debate, build_debate
from patterns.flows.guardrails import Guardrail, GuardrailTripped, Verdict, build_guardrails, with_guardrails
from patterns.flows.handoff import build_handoff
from patterns.flows.map_reduce import build_map_reduce
from patterns.flows.orchestrator import Orchestrator, Plan, build_orchestrator
from patterns.flows.pipeline import build_pipeline
from patterns.flows.refinement import Refinement, Turn, build_refinement
from patterns.flows.routing import build_routing
from patterns.flows.scatter_gather import Panel, QuorumNotMet, build_scatter_gather
from patterns.flows.supervisor import Decision, Supervisor, build_supervisor
from patterns.flows.tools import Tool, ToolBudgetExceeded, as_tool, build_tool_agent

__all__ = [
    "Approval",
    "ApprovalRejected",
    "Debate",
    "Decision",
    "Guardrail",
    "GuardrailTripped",
    "Orchestrator",
    "Panel",
    "Plan",
    "QuorumNotMet",
    "Refinement",
    "Supervisor",
    "Tool",
    "ToolBudgetExceeded",
    "Turn",
    "Verdict",
    "approval_step",
    "as_tool",
    "build_debate",
    "build_guardrails",
    "build_handoff",
    "build_map_reduce",
    "build_orchestrator",
    "build_pipeline",
    "build_refinement",
    "build_routing",
    "build_scatter_gather",
    "build_supervisor",
    "build_tool_agent",
    "with_guardrails",
]
