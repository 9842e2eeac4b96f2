"""The benchmark suite: the asyncio floor does LangGraph's work, the timing helper, and
`orch bench --quick` on the tiny size end to end: every measure in the JSON, a report
and one chart per measure, and every number in the report taken from the JSON."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

import adapters
from adapters import PORTABLE
from benchmarks import cli as bench_cli
from benchmarks.floor import arun_floor
from benchmarks.overhead import superstep_shape
from benchmarks.profiles import MEASURES, PROFILES
from benchmarks.report import NUMBER, fmt, render_markdown
from benchmarks.suite import Suite
from benchmarks.timing import interleave, percentile, summarize
from patterns import ScriptedChatModel
from patterns import arun as langgraph_arun
from patterns.testing import FaultPolicy, LatencyPolicy, ScriptedBrain

FRAMEWORKS_UNDER_TEST = ["langgraph", "autogen"]  # autogen imports in ~0.1 s; ok or recorded as unavailable


# -- the floor --------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", PORTABLE)
async def test_the_asyncio_floor_does_exactly_what_langgraph_does(pattern: str) -> None:
    floor = await arun_floor(pattern, brain=ScriptedBrain())
    graph = await langgraph_arun(pattern, model=ScriptedChatModel(brain=ScriptedBrain()), checkpoint="memory")
    assert floor.status == graph.status == "completed", (floor.error, graph.error)
    assert floor.output == graph.output
    # The same model work: the same calls with the same prompts, so the same tokens per agent.
    assert floor.usage == graph.usage
    assert floor.framework == "asyncio"


@pytest.mark.parametrize("pattern", ["scatter_gather", "map_reduce", "refinement"])
async def test_the_floor_survives_the_same_faults_with_the_same_answer(pattern: str) -> None:
    clean = await arun_floor(pattern, brain=ScriptedBrain())
    faulty = await arun_floor(pattern, brain=ScriptedBrain(seed=3, faults=FaultPolicy.transient(0.3)))
    assert faulty.status == "completed" and faulty.output == clean.output
    assert faulty.calls + faulty.failed_calls > clean.calls


async def test_the_floor_runs_fan_out_branches_concurrently() -> None:
    sources = [{"name": f"s{i}", "documents": ["Heat causes battery degradation."]} for i in range(10)]
    brain = ScriptedBrain(latency=LatencyPolicy(mean=0.05))
    result = await arun_floor(
        "scatter_gather", {"question": "What causes degradation?", "sources": sources}, brain=brain
    )
    assert result.status == "completed"
    # Concurrent, not one after another: every researcher started before any of them finished
    # (an order of events, which a loaded machine cannot reverse).
    researchers = [s for s in result.steps if s.agent.startswith("s")]
    assert len(researchers) == 10
    assert max(s.start for s in researchers) < min(s.end for s in researchers)


async def test_superstep_shape_matches_the_graph() -> None:
    from adapters._common import initial_state

    assert await superstep_shape("pipeline", initial_state("pipeline", None)) == [1, 1, 1, 1]
    assert await superstep_shape("scatter_gather", initial_state("scatter_gather", None)) == [1, 5, 1]


# -- the timing helper ----------------------------------------------------------------


def test_percentile_and_summary() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert percentile([0.0, 10.0], 95) == pytest.approx(9.5)
    stats = summarize([0.001, 0.002, 0.003], scale=1000)
    assert stats["n"] == 3 and stats["median"] == pytest.approx(2.0) and stats["min"] == pytest.approx(1.0)


async def test_interleave_warms_up_repeats_and_drops_a_failing_candidate() -> None:
    calls: dict[str, int] = {"ok": 0, "bad": 0, "slow": 0}

    async def ok() -> str:
        calls["ok"] += 1
        return "fine"

    async def bad() -> None:
        calls["bad"] += 1
        raise RuntimeError("broken")

    async def slow() -> None:
        calls["slow"] += 1
        await asyncio.sleep(1)

    out = await interleave({"ok": ok, "bad": bad, "slow": slow}, warmup=2, repeats=5, timeout_s=0.05)
    assert calls["ok"] == 7 and len(out["ok"].samples) == 5 and out["ok"].last == "fine"
    assert calls["bad"] == 1 and out["bad"].error == "RuntimeError: broken" and not out["bad"].samples
    assert out["slow"].error is not None and "timed out" in out["slow"].error


async def test_interleave_stops_at_the_budget_but_keeps_the_minimum() -> None:
    async def nap() -> None:
        await asyncio.sleep(0.005)

    out = await interleave({"nap": nap}, warmup=0, repeats=100, min_repeats=3, budget_s=0.01)
    assert 3 <= len(out["nap"].samples) < 10


async def test_a_run_longer_than_the_budget_is_warmed_up_once_and_stops_at_the_hard_cap() -> None:
    calls = {"long": 0, "short": 0}

    async def long() -> None:
        calls["long"] += 1
        await asyncio.sleep(0.035)

    async def short() -> None:
        calls["short"] += 1

    out = await interleave({"long": long, "short": short}, warmup=3, repeats=10, min_repeats=5, budget_s=0.02)
    # One warm-up (a run is over the 0.02 s budget), then one timed run takes it past 3 budgets.
    assert calls["long"] == 2 and len(out["long"].samples) == 1
    assert len(out["short"].samples) == 10


# -- a failing framework is recorded, never dropped -------------------------------------


async def test_a_failing_or_missing_framework_is_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(framework: str, pattern: str, data: Any = None, **kwargs: Any) -> Any:
        raise RuntimeError("adapter exploded")

    monkeypatch.setattr(adapters, "arun", broken)
    suite = Suite(PROFILES["tiny"], ["routing"], ["langgraph", "haystack"])
    await suite.probe()
    assert suite.status["haystack"]["status"] == "unavailable"
    equivalence = await suite.equivalence()
    overhead = await suite.overhead()
    failed = {r["candidate"]: r["error"] for r in equivalence["rows"] if r["status"] == "failed"}
    assert "adapter exploded" in failed["langgraph"] and "haystack" in failed
    assert {r["candidate"] for r in overhead["rows"] if r["status"] == "failed"} == {"langgraph", "haystack"}
    assert {r["candidate"] for r in overhead["rows"] if r["status"] == "ok"} == {
        "asyncio",
        "langgraph_bare",
        "langgraph_graph",
    }


async def test_a_framework_failing_one_pattern_is_timed_on_the_others_and_the_deadline_holds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stand-in framework (the LangGraph adapter, but failing `routing`) under a profile whose
    deadline has already passed: it is timed on the pattern it runs, reported failed on the
    other, and every scenario runs once and is listed as reduced."""
    import types

    from adapters import langgraph as real

    async def run_flow(state: dict[str, Any], flow: Any, **kwargs: Any) -> dict[str, Any]:
        if flow.pattern == "routing":
            raise RuntimeError("routing is not implemented")
        return await real.run_flow(state, flow, **kwargs)

    fake = types.ModuleType("fake_framework_adapter")
    fake.run_flow = run_flow  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_framework_adapter", fake)
    monkeypatch.setitem(adapters.FRAMEWORKS, "fake", ("fake_framework_adapter", "json", ""))
    profile = dataclasses.replace(PROFILES["tiny"], deadline_s=0.0)
    suite = Suite(profile, ["pipeline", "routing"], ["fake"], ["overhead", "resilience"])
    await suite.probe()
    equivalence = await suite.equivalence()
    overhead = await suite.overhead()
    resilience = await suite.resilience()
    status = {(r["candidate"], r["pattern"]): r["status"] for r in equivalence["rows"]}
    assert status["fake", "pipeline"] == "ok" and status["fake", "routing"] == "failed"
    timed = {(r["candidate"], r["pattern"]): r for r in overhead["rows"]}
    assert timed["fake", "pipeline"]["status"] == "ok" and timed["fake", "pipeline"]["n"] == 1
    assert "not implemented" in timed["fake", "routing"]["error"]
    assert suite.reduced == ["overhead: pipeline", "overhead: routing", "resilience"]
    assert {r["runs"] for r in resilience["rows"] if r["status"] == "ok"} == {2}


def test_register_adds_orch_bench_like_the_adapters_plugin() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    bench_cli.register(sub, {})
    args = parser.parse_args(["bench", "--quick", "--patterns", "pipeline", "--frameworks", "langgraph"])
    assert args.quick and args.patterns == ["pipeline"] and callable(args.handler)


# -- orch bench --quick, tiny size, end to end ------------------------------------------


def _bench(argv: list[str]) -> int:
    """`orch bench ...` through the real CLI when the entry point is installed, else the same handler."""
    if any(ep.name == "benchmarks" for ep in entry_points(group="orch.commands")):
        from patterns.cli import main

        return main(["bench", *argv])
    return bench_cli.main(argv)


def test_a_results_dir_that_cannot_be_written_is_exit_2_before_any_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    not_a_folder = tmp_path / "results.txt"
    not_a_folder.write_text("a file", encoding="utf-8")
    assert _bench(["--size", "tiny", "--results-dir", str(not_a_folder / "sub"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"cannot write results to '{not_a_folder / 'sub'}'" in err[0]


def test_results_go_to_the_working_directory_by_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from benchmarks.harness import results_dir_for

    monkeypatch.chdir(tmp_path)
    assert results_dir_for("quick") == tmp_path / "bench-results" / "quick"
    assert results_dir_for("quick", tmp_path / "mine") == tmp_path / "mine"  # the folder as given


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("bench")
    code = _bench(
        [
            "--quick",
            "--size",
            "tiny",
            "--frameworks",
            *FRAMEWORKS_UNDER_TEST,
            "--results-dir",
            str(base),
            "--no-progress",
        ]
    )
    assert code == 0
    return base


def _allowed_numbers(doc: Any) -> set[str]:
    """Every number token a report may show: each JSON number as `fmt` writes it, and numbers inside JSON strings."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                found.update(NUMBER.findall(str(key)))
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, bool) or value is None:
            return
        elif isinstance(value, int | float):
            found.update(NUMBER.findall(fmt(value)))
        else:
            found.update(NUMBER.findall(str(value)))
            found.update(NUMBER.findall(fmt(value)))

    walk(doc)
    return found


def test_bench_writes_every_measure_with_its_environment(bench_run: Path) -> None:
    doc = json.loads((bench_run / "latest.json").read_text())
    assert list(doc["measures"]) == list(MEASURES)
    for name, measure in doc["measures"].items():
        assert measure["status"] == "ok", (name, measure.get("error"))
        assert any(r["status"] == "ok" for r in measure["rows"]), name
    env = doc["environment"]
    assert env["cpu_count"] and env["python"] and env["packages"]["langgraph"]
    assert doc["profile"]["name"] == "tiny" and doc["run"]["wall_s"] > 0
    # every framework asked for is accounted for: usable, or recorded with the reason
    for framework in FRAMEWORKS_UNDER_TEST:
        status = doc["frameworks"][framework]
        assert status["status"] in ("ok", "unavailable")
        assert status["status"] == "ok" or status["error"]
    # the floor and LangGraph did the same work in the run itself
    same = {(r["candidate"], r["pattern"]): r.get("same_output_as_floor") for r in doc["equivalence"]["rows"]}
    assert all(same["langgraph", p] for p in PORTABLE)
    timestamped = list(bench_run.glob("bench-tiny-*.json"))
    assert len(timestamped) == 1 and json.loads(timestamped[0].read_text()) == doc


def test_bench_report_has_one_chart_per_measure(bench_run: Path) -> None:
    report = (bench_run / "report.md").read_text()
    for name in MEASURES:
        chart = bench_run / f"{name}.png"
        assert chart.stat().st_size > 5_000 and chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({name}.png)" in report
    for framework in FRAMEWORKS_UNDER_TEST:
        assert framework in report.lower().replace(" ", "") or framework.capitalize() in report


def test_every_number_in_the_report_came_from_the_run(bench_run: Path) -> None:
    doc = json.loads((bench_run / "latest.json").read_text())
    report = (bench_run / "report.md").read_text()
    numbers = NUMBER.findall(report)
    assert len(numbers) > 200
    unexplained = sorted(set(numbers) - _allowed_numbers(doc))
    assert not unexplained, f"numbers in report.md that are not in the JSON: {unexplained[:20]}"
    # The report is a function of the JSON alone: regenerating it gives the same text.
    charts = {name: f"{name}.png" for name in MEASURES}
    assert render_markdown(doc, charts) == report


def test_the_report_template_types_in_no_number(bench_run: Path) -> None:
    """Replace every number in the JSON with a value no template would contain: none may survive."""
    doc = json.loads((bench_run / "latest.json").read_text())
    counter = iter(range(10**6))

    def mutate(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: mutate(v) for k, v in value.items()}
        if isinstance(value, list):
            return [mutate(v) for v in value]
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int):
            return 9_100_000 + next(counter)
        if isinstance(value, float):
            return 8_100_000.5 + next(counter)
        return value

    mutated = mutate(doc)
    report = render_markdown(mutated, {name: f"{name}.png" for name in MEASURES})
    unexplained = sorted(set(NUMBER.findall(report)) - _allowed_numbers(mutated))
    assert not unexplained, f"literal numbers in the report template: {unexplained[:20]}"


# -- resilience: each framework configured as its users would ------------------------------


async def test_resilience_reports_every_configuration_with_its_label() -> None:
    from benchmarks.profiles import RESILIENCE_CONFIGS

    suite = Suite(PROFILES["tiny"], ["routing"], FRAMEWORKS_UNDER_TEST, ["resilience"])
    await suite.probe()
    await suite.equivalence()
    resilience = await suite.resilience()
    rows = {(r["candidate"], r["config"]): r for r in resilience["rows"]}
    # the floor has one configuration; each framework has all three, each labelled in the JSON
    assert [c for n, c in rows if n == "asyncio"] == ["in_process"]
    assert set(resilience["configs"]) == set(RESILIENCE_CONFIGS)
    assert all(entry["label"] and entry["description"] for entry in resilience["configs"].values())
    for config in RESILIENCE_CONFIGS:
        row = rows[
            "langgraph", config
        ]  # LangGraph: measured in all three (ChatOpenAI's own retries over HTTP)
        assert row["status"] == "ok" and row["runs"] == PROFILES["tiny"].fault_runs, row
        assert row["completed"] <= row["runs"] and row["mean_calls"] >= row["fault_free_calls"]
    if suite.status["autogen"]["status"] == "ok":
        assert rows["autogen", "kit_policies"]["status"] == "ok"
        assert rows["autogen", "kit_policies"]["completed"] == PROFILES["tiny"].fault_runs
        # measured over HTTP with the OpenAI client's own default retries (`client_retries`)
        http = rows["autogen", "http_client_retries"]
        assert http["status"] == "ok" and http["runs"] == PROFILES["tiny"].fault_runs, http
        assert "unsupported" not in resilience["configs"]["http_client_retries"]["frameworks"]["autogen"]


async def test_an_adapter_with_the_client_retries_option_is_measured_over_http(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stand-in adapter (LangGraph's, over HTTP) that declares `client_retries`: measured and given the SDK's default."""
    import types

    from openai import DEFAULT_MAX_RETRIES

    from adapters import langgraph as real

    given: list[Any] = []

    async def run_flow(state: dict[str, Any], flow: Any, **kwargs: Any) -> dict[str, Any]:
        given.append(kwargs.pop("client_retries", None))
        return await real.run_flow(state, flow, **kwargs)

    fake = types.ModuleType("retrying_framework_adapter")
    fake.run_flow = run_flow  # type: ignore[attr-defined]
    fake.OPTIONS = frozenset({"client_retries"})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "retrying_framework_adapter", fake)
    monkeypatch.setitem(adapters.FRAMEWORKS, "retrying", ("retrying_framework_adapter", "json", ""))
    profile = dataclasses.replace(PROFILES["tiny"], resilience_configs=("http_client_retries",))
    suite = Suite(profile, ["pipeline"], ["retrying"], ["resilience"])
    await suite.probe()
    await suite.equivalence()
    rows = (await suite.resilience())["rows"]
    http = next(r for r in rows if r["candidate"] == "retrying")
    assert http["config"] == "http_client_retries" and http["status"] == "ok", http
    assert http["runs"] == profile.fault_runs and http["mean_calls"] >= http["fault_free_calls"]
    # the faulty runs over HTTP got the SDK's default; the in-process warm-up and baseline none
    assert given.count(DEFAULT_MAX_RETRIES) == profile.fault_runs and set(given) == {
        None,
        DEFAULT_MAX_RETRIES,
    }


# -- orch bench --flow: a declared flow of the user's own --------------------------------

_FLOW_MODULE = """
from adapters._common import initial_state  # noqa: F401  (a user module imports what it likes)
from patterns import Agent
from patterns.flows import routing
from patterns.flows.routing import Answer, Classification

DESK = routing.SPEC.flow(
    router=Agent("triager", "Classify: sales or other. Keys: route, confidence.", output=Classification),
    routes={
        "sales": Agent("seller", "Sell. Keys: answer.", output=Answer),
        "other": Agent("helper", "Help. Keys: answer.", output=Answer),
    },
    default="other",
)
ANSWERS = {
    "triager": lambda p: {"route": "sales" if "buy" in p["message"] else "other", "confidence": 0.9},
    "seller": lambda p: {"answer": "12 EUR a seat"},
    "helper": lambda p: {"answer": "noted"},
}
NOT_A_FLOW = 42
"""


@pytest.fixture
def user_flows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "bench_user_flows.py").write_text(_FLOW_MODULE, encoding="utf-8")
    (tmp_path / "desk.json").write_text(json.dumps({"message": "I want to buy"}), encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # the working directory is on the path, as for `orch bench` run there
    monkeypatch.delitem(sys.modules, "bench_user_flows", raising=False)
    return tmp_path


def test_bench_flow_runs_a_declared_flow_on_the_frameworks(user_flows: Path) -> None:
    out = user_flows / "results"
    code = _bench(
        [
            "--size",
            "tiny",
            "--flow",
            "bench_user_flows:DESK",
            "--responders",
            "bench_user_flows:ANSWERS",
            "--input",
            "desk.json",
            "--frameworks",
            *FRAMEWORKS_UNDER_TEST,
            "--results-dir",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    doc = json.loads((out / "latest.json").read_text())
    label = "bench_user_flows:DESK"
    assert doc["run"]["patterns"] == [label] and doc["run"]["flows"][label]["pattern"] == "routing"
    assert doc["run"]["floor"] is None and doc["run"]["reference"] == "langgraph"
    assert list(doc["measures"]) == ["overhead", "resilience"]
    assert all(m["status"] == "ok" for m in doc["measures"].values())
    ran = {f for f in FRAMEWORKS_UNDER_TEST if doc["frameworks"][f]["status"] == "ok"}
    # equivalence against the LangGraph reference: the user's responders answered (two agent calls)
    same = {r["candidate"]: r for r in doc["equivalence"]["rows"]}
    assert "asyncio" not in same
    assert all(same[f]["status"] == "ok" and same[f]["same_output_as_langgraph"] for f in ran)
    assert all(same[f]["calls"] == 2 for f in ran)
    overhead = {r["candidate"]: r for r in doc["measures"]["overhead"]["rows"]}
    assert set(overhead) == {"langgraph_bare", "langgraph_graph", *ran}
    assert all(
        r["status"] == "ok" and r["agent_steps"] == 2 and r["ratio_to_floor"] is None
        for r in overhead.values()
    )
    # The runner's cost measured paired too: the adapter and the pattern graph alone, round by round.
    paired = overhead["langgraph"]
    assert (
        paired["paired_rounds"] == PROFILES["tiny"].paired_repeats
        and paired["paired_ratio_to_pattern_graph"] > 0
    )
    assert not any("paired_rounds" in r for c, r in overhead.items() if c != "langgraph")
    configs = {(r["candidate"], r["config"]): r["status"] for r in doc["measures"]["resilience"]["rows"]}
    assert configs["langgraph", "in_process"] == configs["langgraph", "http_client_retries"] == "ok"
    assert configs["langgraph", "kit_policies"] == "ok"
    report = (out / "report.md").read_text()
    assert f"`{label}`" in report and "same output as LangGraph (adapter)" in report
    for entry in doc["measures"]["resilience"]["configs"].values():
        assert entry["label"] in report
    # the report is still the JSON's alone
    assert not sorted(set(NUMBER.findall(report)) - _allowed_numbers(doc))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--flow", "bench_user_flows"], "--flow takes MODULE:ATTRIBUTE"),
        (["--flow", "no_such_module_here:DESK"], "cannot import 'no_such_module_here'"),
        (["--flow", "bench_user_flows:NOPE"], "has no attribute 'NOPE'"),
        (["--flow", "bench_user_flows:NOT_A_FLOW"], "is int, not a declared flow"),
        (["--flow", "patterns.flows.routing:SPEC"], "not a declared flow"),
        (["--flow", "bench_user_flows:DESK"], "has no sample input"),
        (["--flow", "bench_user_flows:DESK", "--input", "missing.json"], "--input missing.json"),
        (["--flow", "bench_user_flows:DESK", "--input", "desk.json", "--measures", "wire"], "not wire"),
        (
            [
                "--flow",
                "bench_user_flows:DESK",
                "--input",
                "desk.json",
                "--responders",
                "bench_user_flows:NOT_A_FLOW",
            ],
            "not a mapping",
        ),
        (["--flow", "bench_user_flows:DESK", "--patterns", "routing"], "one or the other"),
        (["--responders", "bench_user_flows:ANSWERS"], "go with --flow"),
    ],
)
def test_a_bad_flow_is_one_line_and_exit_2(
    user_flows: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert _bench(["--size", "tiny", "--no-progress", "--results-dir", str(user_flows / "r"), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (user_flows / "r").exists()  # refused before any run


def test_the_readme_summary_labels_each_resilience_configuration(bench_run: Path) -> None:
    from benchmarks.readme import _summary

    doc = json.loads((bench_run / "latest.json").read_text())
    header = _summary(doc).split("\n\n", 1)[1].splitlines()[0]
    for entry in doc["measures"]["resilience"]["configs"].values():
        assert f"transient faults, {entry['label']}" in header


# -- orch bench --measures distributed: real workers on RabbitMQ + PostgreSQL, tiny size -------


@pytest.fixture
def rabbitmq(monkeypatch: pytest.MonkeyPatch, postgres_url: str) -> str:
    """The broker the measure will use (skipped locally, failed in CI when it is down); PostgreSQL too."""
    import os

    from kombu.connection import Connection

    from benchmarks.distributed import rabbitmq_url

    url = rabbitmq_url()
    try:
        with Connection(url, connect_timeout=3) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as exc:
        reason = f"RabbitMQ unreachable at {url} ({exc})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: the service is required)", pytrace=False)
        pytest.skip(reason)
    monkeypatch.setenv("ORCH_BENCH_POSTGRES_URL", postgres_url)
    return url


@pytest.mark.slow
def test_bench_distributed_runs_real_workers_and_loses_nothing(rabbitmq: str, tmp_path: Path) -> None:
    """The tiny profile end to end: counts, zero duplicates and forks, refusals counted, a report from the JSON."""
    tiny = PROFILES["tiny"]
    out = tmp_path / "distributed"
    argv = ["--size", "tiny", "--measures", "distributed", "--patterns", "pipeline"]
    assert _bench([*argv, "--results-dir", str(out), "--no-progress"]) == 0
    doc = json.loads((out / "latest.json").read_text())
    assert list(doc["measures"]) == ["distributed"] and doc["run"]["frameworks"] == ["langgraph"]
    m = doc["measures"]["distributed"]
    assert m["status"] == "ok", m.get("error")

    # Every queued flow of every worker count ran once, to the in-process run's output.
    assert [r["workers"] for r in m["rows"]] == list(tiny.dist_workers)
    for row in m["rows"]:
        assert row["flows"] == row["completed"] == tiny.dist_flows and row["rejected"] == 0, row
        assert row["duplicates"] == row["forks"] == row["redelivered"] == row["outputs_differing"] == 0, row
        assert row["flows_per_s"] > 0 and row["overhead_p50_ms"] is not None
    assert all(r["completed"] == r["flows"] == tiny.dist_idle_flows for r in m["idle"])

    # Each kill: the flow was redelivered once, to another worker, and finished; only the
    # superstep in flight (one call in a pipeline) may have been made twice.
    recovery = m["recovery"]
    assert len(recovery["kills"]) == tiny.dist_kills
    for kill in recovery["kills"]:
        assert kill["status"] == "completed" and kill["attempts"] == 2, kill
        assert kill["calls_before_kill"] >= 1 and kill["calls_redone"] <= 1 and kill["duplicates"] == 0, kill
    assert recovery["completed"] == recovery["flows"] and recovery["outputs_differing"] == 0
    assert recovery["duplicates"] == recovery["forks"] == 0

    # Twice the bound offered: the excess refused with Overloaded, nothing of it recorded,
    # every accepted flow finished; the depth never passed the bound (plus the one a quorum
    # queue admits over it).
    pressure = m["backpressure"]
    assert pressure["offered"] == 2 * tiny.dist_queue_bound == pressure["accepted"] + pressure["rejected"]
    assert pressure["rejected"] >= 1 and pressure["rejected_but_recorded"] == 0
    assert pressure["completed"] == pressure["accepted"] and pressure["lost"] == 0
    assert pressure["max_depth"] <= tiny.dist_queue_bound + 1

    # The flood and the quiet tenants: every flow finished, each tenant has its p99.
    tenants = {t["tenant"]: t for t in m["tenants"]}
    assert tenants["tenant-flood"]["flows"] == tiny.dist_flood_flows
    assert {t["role"] for t in tenants.values()} == {"flood", "same partition", "quiet"}
    assert all(t["completed"] == t["flows"] > 0 and t["enqueue_to_finish_p99_ms"] for t in tenants.values())
    assert m["duplicates"] == m["forks"] == 0

    # The report section and its chart, every number in it from the JSON.
    report = (out / "report.md").read_text()
    assert "## Distributed workers" in report and "](distributed.png)" in report
    assert (out / "distributed.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    unexplained = sorted(set(NUMBER.findall(report)) - _allowed_numbers(doc))
    assert not unexplained, f"numbers in report.md that are not in the JSON: {unexplained[:20]}"
