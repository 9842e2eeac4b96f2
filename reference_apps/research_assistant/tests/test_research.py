"""Five sources answer in parallel; findings are merged with provenance; failures are shown, not hidden."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app import main

SOURCES = ["encyclopedia", "energy_agency", "forum", "journal", "news"]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    code = main([*args, "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out.strip() else {}, captured.err


def test_all_five_sources_answer_and_shared_findings_are_merged(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys)
    assert code == 0
    assert [(s["name"], s["status"]) for s in out["sources"]] == [(name, "answered") for name in SOURCES]
    assert out["quorum"] == 3  # a majority of five
    texts = [f["text"] for f in out["findings"]]
    assert len(texts) == len(set(texts)), "a finding reported by two sources appears once"
    shared = {f["text"]: f["sources"] for f in out["findings"] if len(f["sources"]) > 1}
    assert shared["Heat pumps deliver two to four units of heat for each unit of electricity they use."] == [
        "energy_agency",
        "news",
    ]
    # Provenance is complete: every source's own findings are attributed to it.
    for source in out["sources"]:
        assert source["findings"] == sum(source["name"] in f["sources"] for f in out["findings"]) > 0


@pytest.mark.parametrize("offline", [["news"], ["news", "forum"]])
def test_offline_sources_are_reported_and_the_rest_still_answer(
    offline: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, *[arg for name in offline for arg in ("--offline", name)])
    assert code == 0
    failed = {s["name"]: s["error"] for s in out["sources"] if s["status"] == "failed"}
    assert sorted(failed) == sorted(offline)
    assert all("503 service unavailable" in error for error in failed.values())
    assert not any(set(offline) & set(f["sources"]) for f in out["findings"])
    assert out["findings"]


def test_below_quorum_fails_clearly_naming_the_failed_sources(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--quorum", "4", "--offline", "news", "--offline", "journal")
    assert code == 1
    assert out["status"] == "quorum_not_met"
    assert out["error"].startswith("3 of 5 sources answered, quorum is 4; failed: journal (ServerError")
    assert err.startswith("research_assistant: quorum not met: 3 of 5 sources answered, quorum is 4")


def test_the_question_decides_what_is_found(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "Which insulation reduces heat loss through windows?")
    assert code == 0
    best = max(out["findings"], key=lambda f: f["score"])
    assert (best["text"], best["sources"]) == (
        "Triple glazing reduces heat loss through windows.",
        ["encyclopedia"],
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--offline", "tabloid"], "--offline tabloid: no such source; sources are encyclopedia"),
        (["--quorum", "6"], "--quorum 6 exceeds the number of sources (5)"),
        (["--quorum", "0"], "expected a whole number >= 1"),
        (["  "], "the question is empty"),
        (["--sources", "/no/such/folder"], "is not a folder"),
        (["--offline", "news", "--model", "openai:gpt-4o-mini"], "--offline injects failures"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_a_source_folder_without_documents_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty_source").mkdir()
    assert main(["--sources", str(tmp_path)]) == 2
    assert "source 'empty_source' has no .txt documents" in capsys.readouterr().err
