"""Model selection by one setting: `scripted` (default) or `PROVIDER:MODEL`.

`openai:gpt-4o-mini` talks to OpenAI (needs OPENAI_API_KEY); with a base URL
the same client talks to any OpenAI-compatible server: Ollama, vLLM, or our own
`orch serve-model`. `ollama:NAME` is a shorthand with Ollama's default URL.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from langchain_core.language_models import BaseChatModel

from patterns.errors import UsageError

if TYPE_CHECKING:  # imported when a model is resolved: patterns.testing itself imports the runtime
    from patterns.testing import FaultPolicy, LatencyPolicy
    from patterns.testing._brain import Responder

__all__ = ["resolve_model", "MODEL_ENV", "BASE_URL_ENV"]

MODEL_ENV = "ORCH_MODEL"
BASE_URL_ENV = "ORCH_BASE_URL"
_OLLAMA_URL = "http://127.0.0.1:11434/v1"


def resolve_model(
    spec: str | None = None,
    *,
    base_url: str | None = None,
    seed: int = 0,
    latency: LatencyPolicy | None = None,
    faults: FaultPolicy | None = None,
    log_path: Path | None = None,
    responders: Mapping[str, Responder] | None = None,
) -> BaseChatModel:
    """The chat model named by `spec` (default: $ORCH_MODEL, else the scripted model).

    `responders` are the scripted model's answers per agent name (default: the presets').
    """
    from patterns.testing import FaultPolicy, LatencyPolicy, ScriptedBrain, ScriptedChatModel

    spec = spec or os.environ.get(MODEL_ENV) or "scripted"
    base_url = base_url or os.environ.get(BASE_URL_ENV)
    if spec == "scripted":
        brain = ScriptedBrain(
            responders=responders,
            seed=seed,
            latency=latency or LatencyPolicy(),
            faults=faults or FaultPolicy(),
            log_path=log_path,
        )
        return ScriptedChatModel(brain=brain)
    provider, sep, name = spec.partition(":")
    if not sep or not name:
        raise UsageError(f"model {spec!r} is not 'scripted' or PROVIDER:MODEL (e.g. openai:gpt-4o-mini)")
    if provider not in ("openai", "ollama", "vllm"):
        raise UsageError(
            f"unknown model provider {provider!r}: use openai, ollama or vllm (any OpenAI-compatible "
            "server works as openai:MODEL with --base-url)"
        )
    if provider == "ollama":
        base_url = base_url or _OLLAMA_URL
    if provider == "vllm" and not base_url:
        raise UsageError("vllm:MODEL needs --base-url (or $ORCH_BASE_URL), e.g. http://127.0.0.1:8000/v1")
    api_key = os.environ.get("OPENAI_API_KEY")
    if not api_key and not base_url:
        raise UsageError("openai:MODEL needs OPENAI_API_KEY, or --base-url for an OpenAI-compatible server")
    from langchain_openai import ChatOpenAI

    # Retries belong to the graph's RetryPolicy, which classifies failures; the
    # client's own retries would hide them and multiply attempts.
    return ChatOpenAI(
        model=name,
        base_url=base_url,
        api_key=api_key or "not-needed",  # type: ignore[arg-type]
        temperature=0,
        max_retries=0,
        timeout=120,
    )
