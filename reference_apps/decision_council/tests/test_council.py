"""The council file: checked with clear errors, and dealt to the debaters member by member."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from patterns.presets import COUNCIL

from council import CouncilError, load_council

APP = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "council.json"
    path.write_text(json.dumps(data))
    return path


def test_each_member_receives_exactly_their_own_briefing() -> None:
    council = load_council(APP / "council.json")
    spec = council.debate_input("judge")
    for task, member in zip(COUNCIL.argue_tasks({"task": spec}), council.members, strict=True):
        assert COUNCIL.debater_payload(task)["evidence"] == [e.model_dump() for e in member.briefing]
    assert spec["weights"] == {"debater_1": 3.0, "debater_2": 1.0, "debater_3": 2.0, "debater_4": 1.0}


def test_uneven_briefings_are_refused_with_the_reason(tmp_path: Path) -> None:
    data = json.loads((APP / "council.json").read_text())
    data["members"][0]["briefing"].pop()
    with pytest.raises(CouncilError, match=r"same number of briefing items.*'Head of SRE' has 1"):
        load_council(write(tmp_path, data))


def test_evidence_for_an_unknown_option_is_refused(tmp_path: Path) -> None:
    data = json.loads((APP / "council.json").read_text())
    data["members"][1]["briefing"][0]["supports"] = "ship_on_friday"
    with pytest.raises(CouncilError, match="not in `options`: ship_on_friday"):
        load_council(write(tmp_path, data))


def test_a_missing_or_broken_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(CouncilError, match="cannot read council file"):
        load_council(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(CouncilError, match="not valid JSON"):
        load_council(tmp_path / "bad.json")
