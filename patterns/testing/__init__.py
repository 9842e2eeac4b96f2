"""Test doubles any user can drive: the scripted model, its faults, and an OpenAI-compatible server.

`ScriptedBrain(responders={agent_name: fn(payload) -> dict})` answers each agent
with the function registered for its name, like pydantic-ai's `FunctionModel`
(a function may return `ToolCall`s to call tools, and finds their results in its
next payload under `TOOL_RESULTS`);
`ScriptedChatModel` puts it behind LangChain's chat-model interface;
`FaultPolicy` and `LatencyPolicy` add seeded faults and latency; `serve` and
`running_server` expose it as an OpenAI-compatible HTTP endpoint, so a real
client (`ChatOpenAI`, the OpenAI SDK, any framework) runs against it offline.
"""

from patterns.testing._brain import TOOL_RESULTS, NoResponder, Plan, Reply, Responder, ScriptedBrain, ToolCall
from patterns.testing._chat_model import ScriptedChatModel
from patterns.testing._faults import Fault, FaultInjector, FaultPolicy, LatencyPolicy
from patterns.testing._server import DEFAULT_PORT, MODEL_ID, check_host, create_app, running_server, serve
from patterns.testing._tokens import count_message_tokens, count_tokens, split_tokens

__all__ = [
    "DEFAULT_PORT",
    "MODEL_ID",
    "TOOL_RESULTS",
    "Fault",
    "FaultInjector",
    "FaultPolicy",
    "LatencyPolicy",
    "NoResponder",
    "Plan",
    "Reply",
    "Responder",
    "ScriptedBrain",
    "ScriptedChatModel",
    "ToolCall",
    "check_host",
    "count_message_tokens",
    "count_tokens",
    "create_app",
    "running_server",
    "serve",
    "split_tokens",
]
