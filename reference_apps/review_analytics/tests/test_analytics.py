"""Every review is counted once, whatever the batching; a second run is served from the cache."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from app import main
from generate_reviews import generate

APP = Path(__file__).resolve().parents[1]
CSV = APP / "data" / "reviews.csv"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main([*args, "--json"]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


def test_the_committed_csv_is_the_generators_output() -> None:
    with CSV.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= 1000
    assert rows == generate(len(rows), seed=2026)


@pytest.mark.parametrize(("batch_size", "concurrency"), [(50, 8), (7, 3), (1000, 1)])
def test_counts_add_up_to_the_csv_rows_for_any_batching(
    batch_size: int, concurrency: int, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run(capsys, "--no-cache", "--batch-size", str(batch_size), "--concurrency", str(concurrency))
    rows = len(list(csv.DictReader(CSV.read_text(encoding="utf-8").splitlines())))
    assert out["count"] == sum(out["histogram"].values()) == rows
    assert out["batches"] == -(-rows // batch_size)
    assert out["model_calls"] == out["batches"] + 1  # one mapper call per batch, one reducer call
    assert (out["histogram"], out["mean_sentiment"]) == (
        {"very_negative": 287, "negative": 76, "neutral": 306, "positive": 51, "very_positive": 480},
        0.1539,
    )


def test_a_second_run_is_served_from_the_cache(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache = str(tmp_path / "cache.sqlite")
    first = run(capsys, "--cache", cache)
    assert first["cache"] == {"hits": 0, "misses": first["batches"] + 1}
    assert first["model_calls"] == first["batches"] + 1

    second = run(capsys, "--cache", cache)
    assert second["model_calls"] == 0
    assert second["cache"] == {"hits": second["batches"] + 1, "misses": 0}
    assert {k: second[k] for k in ("count", "histogram", "mean_sentiment")} == {
        k: first[k] for k in ("count", "histogram", "mean_sentiment")
    }

    # Another batch size asks other questions: those miss; clearing the cache forgets everything.
    assert run(capsys, "--cache", cache, "--batch-size", "100")["cache"]["hits"] == 0
    assert run(capsys, "--cache", cache, "--clear-cache")["cache"]["hits"] == 0


def test_the_histogram_is_drawn_for_people(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--no-cache"]) == 0
    shown = capsys.readouterr().out
    assert "Sentiment of 1,200 reviews" in shown and "very positive" in shown and "█" in shown
    png = tmp_path / "histogram.png"
    if importlib.util.find_spec("matplotlib") is None:
        assert main(["--no-cache", "--png", str(png)]) == 2
        assert "--png needs matplotlib" in capsys.readouterr().err
    else:
        assert main(["--no-cache", "--png", str(png)]) == 0
        assert png.read_bytes()[:4] == b"\x89PNG"


def test_a_byte_order_mark_is_read_like_plain_utf8(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Spreadsheets (Excel's "CSV UTF-8") write a BOM first; it must not stick to the id column's name.
    head = "".join(CSV.read_text(encoding="utf-8").splitlines(keepends=True)[:41])
    plain, marked = tmp_path / "plain.csv", tmp_path / "marked.csv"
    plain.write_text(head, encoding="utf-8")
    marked.write_bytes(b"\xef\xbb\xbf" + head.encode("utf-8"))
    results = [run(capsys, str(path), "--no-cache", "--batch-size", "7") for path in (plain, marked)]
    for result in results:
        del result["wall_time_s"]
    assert results[0]["count"] == 40
    assert results[1] == results[0]
    assert results[1]["most_positive"]["id"].startswith("r")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("id,body\nr1,great\n", "missing column(s) text; the header has id, body"),
        ("id,text\nr1,great\nr1,awful\n", "line 3: duplicate id 'r1' (first on line 2)"),
        ("id,text\nr1,great\nr2,\n", "line 3: empty text"),
        ("id,text\nr1,great,extra\n", "line 2: more fields than the header has columns"),
        ("id,text\n", "has a header but no reviews"),
        ("", "missing column(s) id, text; the header has nothing"),
    ],
)
def test_a_bad_csv_is_one_line_and_exit_2(
    tmp_path: Path, content: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "reviews.csv"
    path.write_text(content, encoding="utf-8")
    assert main([str(path), "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_unreadable_input_and_bad_options_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("id,text\nr1,tr\xe8s bien\n".encode("latin-1"))
    for args, message in [
        ([str(tmp_path / "missing.csv")], "no such CSV file"),
        ([str(latin1)], "as a UTF-8 CSV"),
        (["--batch-size", "0"], "must be a whole number from 1 to 1000"),
        (["--concurrency", "many"], "must be a whole number from 1 to 64"),
    ]:
        assert main([*args, "--no-cache"]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
