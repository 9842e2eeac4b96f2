"""The patterns, one module each: state, nodes, edges, builder, and the pattern's `SPEC`.

Every builder takes the user's agents (`Agent` values or plain functions) and
returns a compiled LangGraph graph with durable checkpoints. The modules are
public: their input and output models are the patterns' documented schemas.
"""

from patterns.flows.debate import Debate, build_debate
from patterns.flows.handoff import build_handoff
from patterns.flows.map_reduce import build_map_reduce
from patterns.flows.pipeline import build_pipeline
from patterns.flows.refinement import Refinement, Turn, build_refinement
from patterns.flows.routing import build_routing
from patterns.flows.scatter_gather import QuorumNotMet, build_scatter_gather

__all__ = [
    "Debate",
    "QuorumNotMet",
    "Refinement",
    "Turn",
    "build_debate",
    "build_handoff",
    "build_map_reduce",
    "build_pipeline",
    "build_refinement",
    "build_routing",
    "build_scatter_gather",
]
