"""The invoice pipeline: extract -> validate -> transform, with the validator as the gate.

The responders parse the document with regular expressions, check dates, quantities
and totals, and normalise to cents: the work a model would be asked for, done for real
so the output is checkable.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from langgraph.types import RetryPolicy

from patterns.flows import pipeline
from patterns.flows.pipeline import Extracted, Record, Validation
from patterns.runtime import DEFAULT_RETRY, Agent, PatternGraph

__all__ = ["EXTRACTOR", "RESPONDERS", "SPEC", "TRANSFORMER", "VALIDATOR", "invoice_pipeline"]

Payload = dict[str, Any]


EXTRACTOR = Agent(
    "extractor",
    "Extract the invoice fields from the document. "
    "Keys: invoice_id, customer, date, currency, items [{description, quantity, unit_price}], total.",
    output=Extracted,
)
VALIDATOR = Agent(
    "validator",
    "Check the extracted invoice record: required fields, a real date, positive quantities, "
    "and line items that add up to the total. Keys: valid (bool), reasons [str].",
    output=Validation,
)
TRANSFORMER = Agent(
    "transformer",
    "Normalise the validated record: upper-case ids and currency, ISO dates, amounts in cents. "
    "Keys: invoice_id, customer, date, currency, items [{description, quantity, unit_price_cents, "
    "amount_cents}], total_cents, line_count.",
    output=Record,
)


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


RESPONDERS = {"extractor": _extract, "validator": _validate, "transformer": _transform}


SAMPLE: dict[str, Any] = {
    "document": "Invoice: inv-2026-0042\nCustomer:  northwind traders\nDate: 05/11/2026\n"
    "Items:\n- Espresso machine x 1 @ 249.00\n- Descaling kit x 3 @ 12.50\n- Coffee beans 1kg x 4 @ 18.75\n"
    "Total: 361.50 EUR\n",
}


def invoice_pipeline(
    *, checkpointer: Any = None, retry_policy: RetryPolicy | None = DEFAULT_RETRY
) -> PatternGraph:
    """extract -> validate -> transform an invoice, with a validation gate."""
    return SPEC.compile(checkpointer=checkpointer, retry_policy=retry_policy)


SPEC = pipeline.SPEC.preset(
    extractor=EXTRACTOR,
    validator=VALIDATOR,
    transformer=TRANSFORMER,
    summary="extract -> validate -> transform an invoice, with a validation gate",
    sample=SAMPLE,
)
