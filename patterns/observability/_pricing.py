"""What a model call costs: USD per million prompt and completion tokens, per model.

Prices belong to the user: providers change them, and contracts differ from the
list price, so the kit prices only its scripted model (free) and reads the rest
from a TOML or JSON file. A model is named exactly, or by a glob, so
`gpt-4o-mini*` also prices the dated snapshots:

```toml
[models."gpt-4o-mini"]
prompt = 0.15      # USD per 1M prompt tokens
completion = 0.60  # USD per 1M completion tokens
```

A call to a model with no price makes the run's cost unknown (`cost_usd` None),
never a silent 0. The file is `configure(pricing=PATH)`, `orch --pricing PATH`,
or `$ORCH_PRICING`.
"""

from __future__ import annotations

import fnmatch
import json
import math
import os
import threading
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from patterns.errors import UsageError

__all__ = ["PRICING_ENV", "ModelPrice", "Pricing", "active_pricing", "set_pricing"]

PRICING_ENV = "ORCH_PRICING"

#: The model name the scripted model reports; every framework adapter answers from it.
SCRIPTED_MODEL = "scripted"


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per million prompt (input) tokens and per million completion (output) tokens."""

    prompt: float
    completion: float

    def __post_init__(self) -> None:
        for name, value in (("prompt", self.prompt), ("completion", self.completion)):
            if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                raise UsageError(f"a {name} price must be a number of USD per 1M tokens, not {value!r}")
            if value < 0:
                raise UsageError(f"a {name} price cannot be negative, got {value}")

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.prompt + completion_tokens * self.completion) / 1_000_000


class Pricing:
    """Prices by model name: exact names first, then globs in the order given.

    The scripted model is free unless `prices` prices it.
    """

    def __init__(self, prices: Mapping[str, ModelPrice] | None = None) -> None:
        merged = {SCRIPTED_MODEL: ModelPrice(0.0, 0.0), **(prices or {})}
        self._exact = {name: p for name, p in merged.items() if not _is_glob(name)}
        self._globs = [(name, p) for name, p in merged.items() if _is_glob(name)]

    def price(self, model: str) -> ModelPrice | None:
        """The price of `model`, or None when nothing prices it."""
        found = self._exact.get(model)
        if found is not None:
            return found
        for pattern, price in self._globs:
            if fnmatch.fnmatchcase(model, pattern):
                return price
        return None

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        """USD for one call's tokens, or None when `model` has no price."""
        price = self.price(model)
        return None if price is None else price.cost(prompt_tokens, completion_tokens)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Pricing:
        """Read a pricing file: TOML (`.toml`) or JSON (anything else), a `models` table of prices."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read pricing file {str(path)!r}: {exc.strerror or exc}") from None
        try:
            data: Any = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
            raise UsageError(f"pricing file {str(path)!r} is not valid {_kind(path)}: {exc}") from None
        models = data.get("models") if isinstance(data, dict) else None
        if not isinstance(models, dict) or not models:
            raise UsageError(
                f"pricing file {str(path)!r} needs a 'models' table, e.g. "
                '[models."gpt-4o-mini"] prompt = 0.15, completion = 0.60 (USD per 1M tokens)'
            )
        prices: dict[str, ModelPrice] = {}
        for name, entry in models.items():
            if not isinstance(entry, dict) or set(entry) != {"prompt", "completion"}:
                raise UsageError(
                    f"pricing file {str(path)!r}: model {name!r} needs exactly 'prompt' and 'completion' "
                    "(USD per 1M tokens)"
                )
            try:
                prices[name] = ModelPrice(entry["prompt"], entry["completion"])
            except UsageError as exc:
                raise UsageError(f"pricing file {str(path)!r}: model {name!r}: {exc}") from None
        return cls(prices)


def _is_glob(name: str) -> bool:
    return any(c in name for c in "*?[")


def _kind(path: Path) -> str:
    return "TOML" if path.suffix == ".toml" else "JSON"


_lock = threading.Lock()
_active: Pricing | None = None


def set_pricing(pricing: Pricing | None) -> None:
    """Make `pricing` the table every run prices its calls with; None goes back to $ORCH_PRICING."""
    global _active
    with _lock:
        _active = pricing


def active_pricing() -> Pricing:
    """The configured table; else `$ORCH_PRICING`'s file, read once; else the scripted model alone."""
    global _active
    if _active is not None:
        return _active
    with _lock:
        if _active is None:
            path = os.environ.get(PRICING_ENV)
            _active = Pricing.load(path) if path else Pricing()
        return _active
