"""The presets' scripted responders: what each preset agent answers, computed from its input.

Each responder is a pure function from the agent's JSON payload to its JSON
reply. They do the real work a language model would be asked for (parse an
invoice, score sentiment with a lexicon, critique a draft against a rubric,
weigh evidence), so a flow's output is meaningful and checkable, not canned.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from patterns.map_reduce import BINS, combine_partials

__all__ = ["RESPONDERS", "classify_message", "sentiment"]

Payload = dict[str, Any]

# --------------------------------------------------------------------------- pipeline

_FIELD = re.compile(
    r"^\s*(?P<key>invoice|invoice id|invoice no|customer|date|currency|total)\s*[:#]\s*(?P<value>.+?)\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_ITEM = re.compile(
    r"^\s*[-*]\s*(?P<desc>.+?)\s+x\s*(?P<qty>-?\d+)\s*@\s*(?P<price>-?\d+(?:\.\d+)?)\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%B %d, %Y", "%d %B %Y")


def _money(text: str) -> float | None:
    match = re.search(r"-?\d+(?:[.,]\d+)?", text.replace(",", ""))
    return float(match.group()) if match else None


def _extract(payload: Payload) -> Payload:
    document = str(payload.get("document", ""))
    fields: dict[str, str] = {}
    for match in _FIELD.finditer(document):
        key = match["key"].lower()
        key = "invoice_id" if key.startswith("invoice") else key
        fields.setdefault(key, match["value"])
    items = [
        {"description": m["desc"].strip(), "quantity": int(m["qty"]), "unit_price": float(m["price"])}
        for m in _ITEM.finditer(document)
    ]
    total = fields.get("total")
    currency = fields.get("currency")
    if currency is None and total is not None:
        code = re.search(r"\b[A-Z]{3}\b", total)
        currency = code.group() if code else None
    return {
        "invoice_id": fields.get("invoice_id"),
        "customer": fields.get("customer"),
        "date": fields.get("date"),
        "currency": currency,
        "items": items,
        "total": _money(total) if total is not None else None,
    }


def _parse_date(text: str) -> date | None:
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    return None


def _validate(payload: Payload) -> Payload:
    record = payload.get("record") or {}
    reasons: list[str] = []
    for key in ("invoice_id", "customer", "date", "total"):
        if record.get(key) in (None, ""):
            reasons.append(f"missing field: {key}")
    if record.get("date") and _parse_date(str(record["date"])) is None:
        reasons.append(f"unparseable date: {record['date']!r}")
    items = record.get("items") or []
    if not items:
        reasons.append("no line items")
    for item in items:
        if item.get("quantity", 0) <= 0:
            reasons.append(f"non-positive quantity for {item.get('description')!r}")
        if item.get("unit_price", 0) < 0:
            reasons.append(f"negative price for {item.get('description')!r}")
    if items and record.get("total") is not None:
        computed = round(sum(i.get("quantity", 0) * i.get("unit_price", 0.0) for i in items), 2)
        if abs(computed - float(record["total"])) > 0.005:
            reasons.append(
                f"line items add up to {computed:.2f}, not the stated total {float(record['total']):.2f}"
            )
    return {"valid": not reasons, "reasons": reasons}


def _cents(amount: float) -> int:
    return round(amount * 100)


def _transform(payload: Payload) -> Payload:
    record = payload.get("record") or {}
    parsed = _parse_date(str(record.get("date", "")))
    items = [
        {
            "description": str(i["description"]).strip(),
            "quantity": int(i["quantity"]),
            "unit_price_cents": _cents(float(i["unit_price"])),
            "amount_cents": int(i["quantity"]) * _cents(float(i["unit_price"])),
        }
        for i in record.get("items") or []
    ]
    return {
        "invoice_id": str(record.get("invoice_id", "")).strip().upper(),
        "customer": " ".join(str(record.get("customer", "")).split()).title(),
        "date": parsed.isoformat() if parsed else None,
        "currency": str(record.get("currency") or "USD").upper(),
        "items": items,
        "total_cents": sum(i["amount_cents"] for i in items),
        "line_count": len(items),
    }


# --------------------------------------------------------------------------- scatter-gather

_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "how",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
    ]
)
_WORD = re.compile(r"[a-z0-9]+")


def _keywords(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS and len(w) > 1}


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]


def _research(payload: Payload) -> Payload:
    wanted = _keywords(str(payload.get("question", "")))
    scored: list[tuple[float, str]] = []
    for document in payload.get("documents") or []:
        for sentence in _sentences(str(document)):
            overlap = len(wanted & _keywords(sentence))
            if overlap:
                scored.append((round(overlap / max(1, len(wanted)), 4), sentence))
    scored.sort(key=lambda pair: (-pair[0], pair[1]))
    return {"findings": [{"text": text, "score": score} for score, text in scored[:3]]}


def _normalise(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def _aggregate(payload: Payload) -> Payload:
    merged: dict[str, Payload] = {}
    for result in payload.get("results") or []:
        for finding in result.get("findings") or []:
            key = _normalise(finding["text"])
            entry = merged.setdefault(key, {"text": finding["text"], "sources": [], "score": 0.0})
            if result["source"] not in entry["sources"]:
                entry["sources"].append(result["source"])
            entry["score"] = max(entry["score"], float(finding["score"]))
    findings = sorted(merged.values(), key=lambda f: (-len(f["sources"]), -f["score"], f["text"]))
    for finding in findings:
        finding["sources"].sort()
    corroborated = sum(1 for f in findings if len(f["sources"]) > 1)
    summary = (
        f"{len(findings)} distinct findings from {len(payload.get('results') or [])} sources; "
        f"{corroborated} corroborated by more than one source."
    )
    return {"findings": findings, "summary": summary}


# --------------------------------------------------------------------------- map-reduce

_POSITIVE = frozenset(
    [
        "good",
        "great",
        "excellent",
        "love",
        "loved",
        "amazing",
        "wonderful",
        "fantastic",
        "happy",
        "perfect",
        "best",
        "nice",
        "recommend",
        "pleasant",
        "fast",
        "helpful",
        "easy",
        "reliable",
        "sturdy",
        "comfortable",
        "beautiful",
        "delighted",
        "superb",
        "impressive",
    ]
)
_NEGATIVE = frozenset(
    [
        "bad",
        "terrible",
        "awful",
        "hate",
        "hated",
        "poor",
        "worst",
        "broken",
        "slow",
        "disappointing",
        "disappointed",
        "useless",
        "cheap",
        "annoying",
        "difficult",
        "unreliable",
        "flimsy",
        "ugly",
        "refund",
        "defective",
        "rude",
        "horrible",
        "waste",
    ]
)
_NEGATIONS = frozenset({"not", "no", "never", "hardly", "isn't", "wasn't", "don't", "didn't", "doesn't"})


def sentiment(text: str) -> float:
    """Lexicon sentiment in [-1, 1]; a negation flips the next sentiment word."""
    positive = negative = 0
    negate = False
    for word in re.findall(r"[a-z']+", text.lower()):
        if word in _NEGATIONS:
            negate = True
            continue
        polarity = 1 if word in _POSITIVE else -1 if word in _NEGATIVE else 0
        if polarity:
            if negate:
                polarity = -polarity
            positive += polarity > 0
            negative += polarity < 0
            negate = False
    return round((positive - negative) / max(1, positive + negative), 4)


def _label(score: float) -> str:
    return BINS[min(4, int((score + 1) / 0.4000001))]


def _map(payload: Payload) -> Payload:
    results = []
    for item in payload.get("items") or []:
        score = sentiment(str(item["text"]))
        results.append({"id": item["id"], "score": score, "label": _label(score)})
    return {"results": results}


def _reduce(payload: Payload) -> Payload:
    return combine_partials(list(payload.get("partials") or []))


# --------------------------------------------------------------------------- refinement


def _covers(draft: str, point: str) -> bool:
    return _normalise(point) in _normalise(draft)


def _generate(payload: Payload) -> Payload:
    points = [str(p) for p in payload.get("required_points") or []]
    per_revision = int(payload.get("points_per_revision", 2))
    topic = str(payload.get("topic", "")).strip()
    draft = payload.get("draft")
    if not draft:
        covered = points[:per_revision]
    else:
        feedback = payload.get("feedback") or {}
        have = [p for p in points if _covers(draft, p)]
        missing = [p for p in feedback.get("missing") or [] if p in points and p not in have]
        covered = [p for p in points if p in have or p in missing[:per_revision]]
    sentences = [f"{topic}."] + [f"It offers {point}." for point in covered]
    words = " ".join(sentences).split()
    limit = int(payload.get("max_words", 10_000))
    return {"draft": " ".join(words[:limit])}


def _critique(payload: Payload) -> Payload:
    draft = str(payload.get("draft", ""))
    points = [str(p) for p in payload.get("required_points") or []]
    missing = [p for p in points if not _covers(draft, p)]
    word_count = len(draft.split())
    over = word_count > int(payload.get("max_words", 10_000))
    coverage = (len(points) - len(missing)) / len(points) if points else 1.0
    return {
        "score": round(max(0.0, coverage - (0.2 if over else 0.0)), 4),
        "missing": missing,
        "word_count": word_count,
        "over_length": over,
    }


# --------------------------------------------------------------------------- debate


def _tally(evidence: list[Payload], options: list[str]) -> dict[str, float]:
    totals = dict.fromkeys(options, 0.0)
    for item in evidence:
        if item.get("supports") in totals:
            totals[item["supports"]] += float(item.get("weight", 1.0))
    return totals


def _best(scores: dict[str, float]) -> str:
    # Ties go to the option listed first, a rule every framework can reproduce.
    return max(scores, key=lambda option: scores[option])


def _debate(payload: Payload) -> Payload:
    options = [str(o) for o in payload.get("options") or []]
    own = _tally(payload.get("evidence") or [], options)
    own_total = sum(own.values()) or 1.0
    scores = {o: own[o] / own_total for o in options}
    peers = payload.get("peers") or []
    for peer in peers:
        if peer.get("position") in scores:
            # Peers persuade in proportion to their confidence, but less than own evidence.
            scores[peer["position"]] += 0.5 * float(peer.get("confidence", 0.0)) / max(1, len(peers))
    position = _best(scores)
    confidence = round(scores[position] / (sum(scores.values()) or 1.0), 4)
    argument = f"{position}: evidence weight {own[position]:g} of {own_total:g}" + (
        f", with {sum(1 for p in peers if p.get('position') == position)} of {len(peers)} peers"
        if peers
        else ""
    )
    return {"position": position, "confidence": confidence, "argument": argument}


def _judge(payload: Payload) -> Payload:
    options = [str(o) for o in payload.get("options") or []]
    totals = _tally(payload.get("evidence") or [], options)
    decision = _best(totals)
    return {
        "decision": decision,
        "rationale": f"{decision} has the most evidence weight ({totals[decision]:g})",
    }


# --------------------------------------------------------------------------- routing and handoff

_ROUTE_WORDS: dict[str, frozenset[str]] = {
    "billing": frozenset(
        [
            "invoice",
            "bill",
            "billing",
            "charge",
            "charged",
            "refund",
            "payment",
            "paid",
            "price",
            "subscription",
            "card",
        ]
    ),
    "technical": frozenset(
        [
            "error",
            "crash",
            "bug",
            "install",
            "login",
            "password",
            "broken",
            "slow",
            "api",
            "timeout",
            "update",
            "app",
        ]
    ),
}


def classify_message(message: str) -> tuple[str, float]:
    """Route by keyword evidence; messages with none go to the general desk."""
    words = set(re.findall(r"[a-z]+", message.lower()))
    hits = {route: len(words & vocab) for route, vocab in _ROUTE_WORDS.items()}
    route = max(hits, key=lambda r: (hits[r], r == "billing"))
    total = sum(hits.values())
    if total == 0:
        return "general", 0.5
    return route, round(hits[route] / total, 4)


def _route(payload: Payload) -> Payload:
    route, confidence = classify_message(str(payload.get("message", "")))
    return {"route": route, "confidence": confidence}


_ANSWERS = {
    "billing": "Billing here: I have reviewed the charges on your account and opened a billing case",
    "technical": "Technical support here: I have logged the problem with our engineers and sent reset steps",
    "general": "Thanks for reaching out: I have noted your request and a team member will follow up",
}


def _specialise(payload: Payload) -> Payload:
    speciality = str(payload.get("speciality", "general"))
    topics = sorted(
        set(re.findall(r"[a-z]+", str(payload.get("message", "")).lower()))
        & _ROUTE_WORDS.get(speciality, frozenset())
    )
    about = f" (about: {', '.join(topics)})" if topics else ""
    return {"answer": f"{_ANSWERS.get(speciality, _ANSWERS['general'])}{about}."}


def _support(payload: Payload) -> Payload:
    """A desk agent: answer within its speciality, otherwise hand off once to the right desk."""
    speciality = str(payload.get("speciality", "general"))
    message = str(payload.get("message", ""))
    tried = set(payload.get("visited") or [])
    route, _ = classify_message(message)
    if speciality == "triage" or (route != speciality and route not in tried and speciality != "general"):
        target = route if route not in tried else "general"
        return {"action": "handoff", "to": target, "reason": f"message is about {route}", "answer": None}
    return {
        "action": "answer",
        "to": None,
        "reason": f"within {speciality}",
        "answer": _specialise({"speciality": speciality, "message": message})["answer"],
    }


RESPONDERS: dict[str, Callable[[Payload], Payload]] = {
    "extractor": _extract,
    "validator": _validate,
    "transformer": _transform,
    "researcher": _research,
    "aggregator": _aggregate,
    "mapper": _map,
    "reducer": _reduce,
    "generator": _generate,
    "critic": _critique,
    "debater": _debate,
    "judge": _judge,
    "router": _route,
    "specialist": _specialise,
    "support": _support,
}
