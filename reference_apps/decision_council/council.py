"""A council brief (question, options, members with expertise and briefings) as debate input.

The debate pattern names its debaters `debater_1..N` and deals the evidence
round-robin: item n goes to debater n mod N. A council is friendlier to write
per member, so this module interleaves each member's briefing into that order
and turns each member's expertise into the vote weight of their debater.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from patterns.flows.debate import Arbitration, debater_name
from pydantic import BaseModel, Field, ValidationError, model_validator

__all__ = ["Council", "CouncilError", "Member", "load_council"]


class CouncilError(ValueError):
    """The council file is missing or malformed; the message names the fix."""


class Evidence(BaseModel):
    claim: str = Field(min_length=1)
    supports: str
    weight: float = Field(default=1.0, gt=0)


class Member(BaseModel):
    name: str = Field(min_length=1)
    expertise: float = Field(default=1.0, gt=0, description="Multiplies this member's vote.")
    briefing: list[Evidence] = Field(min_length=1)


class Council(BaseModel):
    question: str = Field(min_length=1)
    options: list[str] = Field(min_length=2)
    members: list[Member] = Field(min_length=2, max_length=25)
    voting_threshold: float = Field(default=0.5, ge=0.0, lt=1.0, description="Weighted share needed.")
    rounds: int = Field(default=2, ge=1, le=10)

    @model_validator(mode="after")
    def _check(self) -> Council:
        names = [m.name for m in self.members]
        if len(set(names)) != len(names):
            raise ValueError("member names must be unique")
        sizes = {m.name: len(m.briefing) for m in self.members}
        if len(set(sizes.values())) > 1:
            listing = ", ".join(f"{name!r} has {n}" for name, n in sizes.items())
            raise ValueError(
                "every member needs the same number of briefing items, because the debate deals "
                f"evidence round-robin ({listing})"
            )
        return self

    def debater_names(self) -> dict[str, str]:
        """Debater id -> member name, for showing the transcript and the vote."""
        return {debater_name(i): m.name for i, m in enumerate(self.members)}

    def debate_input(self, arbitration: Arbitration) -> dict[str, Any]:
        depth = len(self.members[0].briefing)
        dealt = [member.briefing[k] for k in range(depth) for member in self.members]
        return {
            "question": self.question,
            "options": self.options,
            "evidence": [e.model_dump() for e in dealt],
            "debaters": len(self.members),
            "rounds": self.rounds,
            "voting": "weighted",
            "threshold": self.voting_threshold,
            "weights": {debater_name(i): m.expertise for i, m in enumerate(self.members)},
            "arbitration": arbitration,
        }


def load_council(path: str | Path) -> Council:
    """Read and check a council file, naming the first problem and where it is."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CouncilError(f"cannot read council file {str(path)!r}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise CouncilError(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    try:
        council = Council.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(map(str, first["loc"])) or "council"
        raise CouncilError(f"{path}: {where}: {first['msg'].removeprefix('Value error, ')}") from None
    unknown = sorted({e.supports for m in council.members for e in m.briefing} - set(council.options))
    if unknown:
        raise CouncilError(f"{path}: briefings support options not in `options`: {', '.join(unknown)}")
    return council
